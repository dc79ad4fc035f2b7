"""Warm-up and timed loops: CUDA events on a GPU, perf_counter on a CPU.

Warm-up runs until both a minimum count and a minimum time are met; the timed loop
repeats until both ``min_iters`` and ``min_time_s`` are met (or ``max_iters``). Every raw
step time is kept; statistics are derived from them (`benchsuite.stats`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Callable

from benchsuite import stats


@dataclass(frozen=True)
class TimingSettings:
    """How long to warm up and how long to measure one case."""

    min_time_s: float = 1.0
    min_iters: int = 3
    warmup_iters: int = 2
    warmup_time_s: float = 0.25
    max_iters: int = 100_000


@dataclass(frozen=True)
class Timings:
    """Raw step times of one case, and how they were taken."""

    times_s: tuple[float, ...]
    method: str  # "cuda-event" or "perf_counter"
    warmup_iters: int
    warmup_s: float
    stats: dict = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, times_s, method: str, warmup_iters: int, warmup_s: float) -> "Timings":
        times = tuple(float(t) for t in times_s)
        return cls(times, method, warmup_iters, warmup_s, stats.summarize(times))

    @property
    def median_s(self) -> float:
        return self.stats["step_s_median"]


def warm_up(step: Callable[[], None], settings: TimingSettings, sync: Callable[[], None],
            clock: Callable[[], float] = time.perf_counter) -> tuple[int, float]:
    """Run ``step`` until the warm-up count and time are both met; return (iters, seconds)."""
    start = clock()
    iters = 0
    while iters < settings.warmup_iters or clock() - start < settings.warmup_time_s:
        step()
        iters += 1
        if iters >= settings.max_iters:
            break
        if iters % 8 == 0 or iters >= settings.warmup_iters:
            sync()
    sync()
    return iters, clock() - start


def time_cpu(step: Callable[[], None], settings: TimingSettings,
             clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Time each step with ``clock`` until min count and min time are met."""
    times: list[float] = []
    total = 0.0
    while len(times) < settings.max_iters and (len(times) < settings.min_iters or total < settings.min_time_s):
        t0 = clock()
        step()
        dt = clock() - t0
        times.append(dt)
        total += dt
    return times


def time_cuda(step: Callable[[], None], settings: TimingSettings, device) -> list[float]:
    """Time each step with CUDA events; synchronise once per chunk, never inside a step."""
    import torch

    times: list[float] = []
    total = 0.0
    chunk = 1
    with torch.cuda.device(device):
        while len(times) < settings.max_iters and (len(times) < settings.min_iters or total < settings.min_time_s):
            n = min(chunk, settings.max_iters - len(times))
            events = [torch.cuda.Event(enable_timing=True) for _ in range(n + 1)]
            events[0].record()
            for i in range(n):
                step()
                events[i + 1].record()
            events[-1].synchronize()
            chunk_times = [events[i].elapsed_time(events[i + 1]) / 1e3 for i in range(n)]
            times.extend(chunk_times)
            total += sum(chunk_times)
            # Grow chunks so that syncs are rare, but keep them near 0.25 s of work.
            per_step = max(total / len(times), 1e-6)
            chunk = max(1, min(chunk * 2, int(0.25 / per_step)))
    return times


def measure(step: Callable[[], None], device_type: str, settings: TimingSettings, device=None,
            window: contextlib.AbstractContextManager | None = None) -> Timings:
    """Warm up, then time ``step`` on a "cpu" or "cuda" device.

    ``window`` (a telemetry window, say) is entered after warm-up and left after the
    last timed step has finished on the device.
    """
    window = window if window is not None else contextlib.nullcontext()
    if device_type == "cuda":
        import torch

        def sync() -> None:
            torch.cuda.synchronize(device)

        iters, seconds = warm_up(step, settings, sync)
        with window:
            times = time_cuda(step, settings, device)
        return Timings.of(times, "cuda-event", iters, seconds)
    iters, seconds = warm_up(step, settings, lambda: None)
    with window:
        times = time_cpu(step, settings)
    return Timings.of(times, "perf_counter", iters, seconds)
