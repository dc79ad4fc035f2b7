"""torch.cuda stand-ins over a fake device clock: Event, device and synchronize, with a log of
what the host did (``record``, ``query``, ``sync``, and the names of the work it launched)."""

from __future__ import annotations

import contextlib
from typing import Callable

import torch


class FakeCuda:
    """torch.cuda.Event/device/synchronize stand-ins over a fake device clock (ms)."""

    def __init__(self):
        self.now_ms, self.log = 0.0, []
        fake = self

        class Event:
            def __init__(self, enable_timing=False):
                self.t = None

            def record(self):
                fake.log.append("record")
                self.t = fake.now_ms

            def synchronize(self):
                raise AssertionError("a blocking Event.synchronize(): signals could not run while it waits")

            def query(self):
                fake.log.append("query")
                return True

            def elapsed_time(self, other):
                return other.t - self.t

        self.Event = Event

    def install(self, monkeypatch) -> FakeCuda:
        """Put the stand-ins in torch.cuda for the test (undone by ``monkeypatch``); returns self."""
        monkeypatch.setattr(torch.cuda, "Event", self.Event)
        monkeypatch.setattr(torch.cuda, "device", lambda d: contextlib.nullcontext())
        monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: self.log.append("sync"))
        return self

    def work(self, ms: float, name: str = "op") -> Callable[[], None]:
        """A step, op or flush: each call logs ``name`` and takes ``ms`` of device time."""
        def run() -> None:
            self.log.append(name)
            self.now_ms += ms
        return run
