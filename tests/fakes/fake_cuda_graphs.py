"""A stand-in for the parts of ``torch.cuda`` a CUDA-graph capture uses (graph, streams, sync
debug mode), over CPU tensors: it runs the body eagerly and logs what happened in which order,
so the recipe (`benchsuite.exec_modes.capture_whole_step`) can be checked without a GPU.

What it checks as it goes: a capture never starts while gradients exist (the recipe sets
them to None first, so backward allocates them from the graph's pool) and autocast's weight
cache is off inside it (torch/cuda/graphs.py). Replaying logs "replay"; real kernels are owed
a GPU run.
"""

from __future__ import annotations

import contextlib

import torch


class FakeCudaGraphs:
    def __init__(self, params=()) -> None:
        self.log: list[str] = []
        self.params = list(params)
        self.mode = "default"
        self.capturing = False
        fake = self

        class CUDAGraph:
            def replay(self) -> None:
                fake.log.append("replay")

        class Stream:
            def wait_stream(self, other) -> None:
                fake.log.append("wait")

        self.CUDAGraph, self.Stream = CUDAGraph, Stream
        self._current = Stream()

    def current_stream(self):
        return self._current

    @contextlib.contextmanager
    def stream(self, s):
        self.log.append("side stream")
        yield
        self.log.append("main stream")

    @contextlib.contextmanager
    def graph(self, g):
        if any(p.grad is not None for p in self.params):
            raise AssertionError("capture started while gradients exist")
        self.log.append("capture")
        self.capturing = True
        try:
            yield
        finally:
            self.capturing = False
            self.log.append("end capture")

    def note_step(self) -> None:
        """Called by a test model's forward: where the step ran, and autocast's cache state."""
        self.log.append("step in capture" if self.capturing else "step")
        if self.capturing and torch.is_autocast_enabled("cpu") and torch.is_autocast_cache_enabled():
            raise AssertionError("autocast's weight cache is on inside a capture")

    def get_sync_debug_mode(self) -> str:
        return self.mode

    def set_sync_debug_mode(self, mode: str) -> None:
        self.mode = mode
