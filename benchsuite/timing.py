"""Warm-up and timed loops: CUDA events on a GPU, perf_counter on a CPU.

Warm-up runs until both a minimum count and a minimum time are met; the timed loop
repeats until both ``min_iters`` and ``min_time_s`` are met (or ``max_iters``). Every raw
step time is kept; statistics are derived from them (`benchsuite.stats`).
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

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


def warm_up_agreed(step: Callable[[], None], settings: TimingSettings, sync: Callable[[], None],
                   agree: Callable[[Sequence[int]], Sequence[int]],
                   clock: Callable[[], float] = time.perf_counter) -> tuple[int, float, TimingSettings]:
    """Warm-up and timed-step counts that every rank shares (steps with collectives must pair up).

    Runs ``warmup_iters`` (at least 1) steps, estimates the step time from them, asks for the
    extra warm-up steps and the timed steps that the warm-up time and ``min_time_s`` need, and
    ``agree`` turns each rank's wishes into one answer (the largest). Returns (warm-up iters,
    warm-up seconds, settings that time exactly the agreed count).
    """
    start = clock()
    first = max(1, settings.warmup_iters)
    for _ in range(first):
        step()
    sync()
    seconds = clock() - start
    per_step = max(seconds / first, 1e-9)
    extra = min(math.ceil(max(0.0, settings.warmup_time_s - seconds) / per_step), settings.max_iters)
    timed = min(max(settings.min_iters, math.ceil(settings.min_time_s / per_step)), settings.max_iters)
    extra, timed = agree((extra, timed))
    for _ in range(extra):
        step()
    sync()
    fixed = replace(settings, min_iters=timed, max_iters=timed, min_time_s=0.0)
    return first + extra, clock() - start, fixed


def measure(step: Callable[[], None], device_type: str, settings: TimingSettings, device=None,
            window: contextlib.AbstractContextManager | None = None,
            agree: Callable[[Sequence[int]], Sequence[int]] | None = None) -> Timings:
    """Warm up, then time ``step`` on a "cpu" or "cuda" device.

    ``window`` (a telemetry window, say) is entered after warm-up and left after the
    last timed step has finished on the device. ``agree`` (under torch.distributed) makes
    every rank run the same number of steps: see `warm_up_agreed`.
    """
    window = window if window is not None else contextlib.nullcontext()
    if device_type == "cuda":
        import torch

        def sync() -> None:
            torch.cuda.synchronize(device)
    else:
        def sync() -> None:
            return None
    if agree is not None:
        iters, seconds, settings = warm_up_agreed(step, settings, sync, agree)
    else:
        iters, seconds = warm_up(step, settings, sync)
    with window:
        times = time_cuda(step, settings, device) if device_type == "cuda" else time_cpu(step, settings)
    return Timings.of(times, "cuda-event" if device_type == "cuda" else "perf_counter", iters, seconds)
