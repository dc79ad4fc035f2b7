"""Warm-up and timed loops: CUDA events on a GPU, perf_counter on a CPU.

Warm-up runs until both a minimum count and a minimum time are met; on a GPU with
readings (SM clock, temperature) it then goes on until they have settled (`settled`,
capped at ``settle_max_s``). The timed loop repeats until both ``min_iters`` and
``min_time_s`` are met (or ``max_iters``). Every raw step time is kept; statistics are
derived from them (`benchsuite.stats`). `time_reps` times single repetitions of an
operation with an optional L2 flush between them (the calibration's loop).

The host waits for the GPU by polling an event (`wait_event`), not by blocking inside CUDA:
a collective that never finishes (a rank died) then still lets Python run signal handlers,
so the launcher's SIGTERM ends the rank with its failure reported.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from benchsuite import stats

#: How results say which cache state their step times were taken in.
CACHE_WARM = "warm-l2"   # back-to-back steps: the operands may sit in L2 from the last step
CACHE_FLUSHED = "flushed"  # a buffer larger than L2 is written before every timed repetition


@dataclass(frozen=True)
class TimingSettings:
    """How long to warm up and how long to measure one case."""

    min_time_s: float = 1.0
    min_iters: int = 3
    warmup_iters: int = 2
    warmup_time_s: float = 0.25
    max_iters: int = 100_000
    # The settle rule (GPU, with telemetry readings): after the minimum warm-up, keep warming
    # until, over the last ``settle_window_s`` seconds, the SM clock varied by at most
    # ``settle_clock_pct`` % of its median and the temperature by at most ``settle_temp_c`` °C;
    # give up (recorded as not settled) when warm-up has lasted ``settle_max_s`` seconds.
    # 0 for settle_max_s turns the rule off.
    settle_window_s: float = 3.0
    settle_clock_pct: float = 2.0
    settle_temp_c: float = 2.0
    settle_max_s: float = 30.0
    # GPU only: write a buffer larger than L2 before every timed step (outside its events),
    # so that no step finds its operands in L2; results then say cache_state "flushed".
    flush_l2: bool = False


@dataclass(frozen=True)
class Timings:
    """Raw step times of one case, and how they were taken."""

    times_s: tuple[float, ...]
    method: str  # "cuda-event" or "perf_counter"
    warmup_iters: int
    warmup_s: float
    stats: dict = field(default_factory=dict, compare=False)
    warmup_settled: bool | None = None  # None: the settle rule did not apply (CPU, no readings)
    warmup_note: str | None = None  # why it did not settle or apply
    cache_state: str = CACHE_WARM

    @classmethod
    def of(cls, times_s, method: str, warmup_iters: int, warmup_s: float,
           settled: bool | None = None, note: str | None = None, cache_state: str = CACHE_WARM) -> "Timings":
        times = tuple(float(t) for t in times_s)
        return cls(times, method, warmup_iters, warmup_s, stats.summarize(times), settled, note, cache_state)

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


#: How often `wait_event` asks whether the GPU has passed an event (seconds).
EVENT_POLL_S = 0.0005


def wait_event(event, poll_s: float = EVENT_POLL_S, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until the GPU has passed ``event`` (a ``torch.cuda.Event``) by polling ``query()``
    every ``poll_s`` seconds, never with the blocking ``synchronize()``: between polls Python runs
    signal handlers (SIGTERM from torchrun), which a wait inside CUDA would hold off forever when
    a collective hangs. Timings are unaffected: they come from ``elapsed_time`` between events."""
    while not event.query():
        sleep(poll_s)


#: The settle rule reads telemetry at most this often (the sampler's default rate is 20 Hz).
SETTLE_POLL_S = 0.05


@dataclass(frozen=True)
class WarmUp:
    """What a warm-up did: steps, seconds, and whether clocks and temperature settled."""

    iters: int
    seconds: float
    settled: bool | None  # None: no rule applied or no readings to judge by
    note: str | None = None


def _spread_ok(history: list[tuple[float, float, float]], now: float, settings: TimingSettings) -> bool:
    """Whether the readings of the last ``settle_window_s`` seconds are steady enough."""
    if not history or history[0][0] > now - settings.settle_window_s:
        return False  # the readings do not yet cover a whole window
    recent = [h for h in history if h[0] >= now - settings.settle_window_s]
    clocks = sorted(h[1] for h in recent)
    temps = [h[2] for h in recent]
    median = clocks[len(clocks) // 2]
    if median <= 0:
        return False
    return (100.0 * (clocks[-1] - clocks[0]) / median <= settings.settle_clock_pct
            and max(temps) - min(temps) <= settings.settle_temp_c)


def settle(step: Callable[[], None], settings: TimingSettings, sync: Callable[[], None],
           readings: Callable[[], dict[str, Any] | None] | None,
           clock: Callable[[], float] = time.perf_counter) -> WarmUp:
    """Warm up by count and time (`warm_up`), then until clocks and temperature settle.

    ``readings()`` returns the device's latest ``{"sm_clock_mhz": ..., "temp_c": ...}``
    (a telemetry sample) or None. The rule is in `TimingSettings`; without readings, or
    with ``settle_max_s`` 0, warm-up ends at the minimum and ``settled`` is None.
    """
    start = clock()
    iters, _ = warm_up(step, settings, sync, clock)
    if readings is None or settings.settle_max_s <= 0:
        return WarmUp(iters, clock() - start, None,
                      "settle rule off" if readings is not None else None)
    history: list[tuple[float, float, float]] = []
    last_poll = None
    while True:
        now = clock()
        fresh = last_poll is None or now - last_poll >= SETTLE_POLL_S
        if fresh:
            last_poll = now
            reading = readings() or {}
            sm, temp = reading.get("sm_clock_mhz"), reading.get("temp_c")
            if sm is not None and temp is not None:
                history.append((now, float(sm), float(temp)))
            elif not history:
                return WarmUp(iters, now - start, None, "no SM clock or temperature readings")
        if fresh and _spread_ok(history, now, settings):
            return WarmUp(iters, now - start, True)
        if now - start >= settings.settle_max_s or iters >= settings.max_iters:
            recent = [h for h in history if h[0] >= now - settings.settle_window_s] or history[-1:]
            return WarmUp(iters, now - start, False,
                          f"not settled after {now - start:.1f} s: SM clock "
                          f"{min(h[1] for h in recent):.0f}-{max(h[1] for h in recent):.0f} MHz, "
                          f"temperature {min(h[2] for h in recent):.0f}-{max(h[2] for h in recent):.0f} °C "
                          f"over the last {settings.settle_window_s:g} s")
        step()
        sync()
        iters += 1


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
    """Time each step with CUDA events; wait for the GPU once per chunk (`wait_event`), never inside a step."""
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
            wait_event(events[-1])
            chunk_times = [events[i].elapsed_time(events[i + 1]) / 1e3 for i in range(n)]
            times.extend(chunk_times)
            total += sum(chunk_times)
            # Grow chunks so that syncs are rare, but keep them near 0.25 s of work.
            per_step = max(total / len(times), 1e-6)
            chunk = max(1, min(chunk * 2, int(0.25 / per_step)))
    return times


def time_cuda_flushed(step: Callable[[], None], settings: TimingSettings, device,
                      flush: Callable[[], Any]) -> list[float]:
    """Like `time_cuda`, with ``flush`` before every step, outside the step's own events."""
    times: list[float] = []
    chunk = 1
    while len(times) < settings.max_iters and (len(times) < settings.min_iters or sum(times) < settings.min_time_s):
        n = min(chunk, settings.max_iters - len(times))
        times.extend(time_reps(step, "cuda", n, warmup=0, flush=flush, device=device))
        per_step = max(sum(times) / len(times), 1e-6)
        chunk = max(1, min(chunk * 2, int(0.25 / per_step)))
    return times


def time_reps(op: Callable[[], Any], device_type: str, reps: int, warmup: int = 1,
              flush: Callable[[], Any] | None = None, device=None,
              clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Seconds of each of ``reps`` single runs of ``op`` after ``warmup`` untimed runs.

    ``flush`` (say, writing a buffer larger than L2) runs before every repetition,
    outside the timed span. On CUDA each repetition is bracketed by its own events and
    the host waits once, for the last event (`wait_event`); on a CPU ``clock`` times each run.
    """
    for _ in range(warmup):
        op()
    if device_type == "cuda":
        import torch

        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        with torch.cuda.device(device):
            for start, end in zip(starts, ends):
                if flush is not None:
                    flush()
                start.record()
                op()
                end.record()
            wait_event(ends[-1])
        return [s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends)]
    times = []
    for _ in range(reps):
        if flush is not None:
            flush()
        t0 = clock()
        op()
        times.append(clock() - t0)
    return times


def l2_flush(device, l2_bytes: int | None = None, minimum_bytes: int = 256 * 2**20):
    """A function that evicts L2 on CUDA ``device`` by writing a buffer, and its size in bytes.

    The buffer is twice the L2 size torch reports (``L2_cache_size``, where present) and
    at least ``minimum_bytes`` (256 MiB, as triton.testing.do_bench uses).
    """
    import torch

    if l2_bytes is None:
        props = torch.cuda.get_device_properties(device)
        l2_bytes = int(getattr(props, "L2_cache_size", 0) or 0)
    nbytes = max(2 * l2_bytes, minimum_bytes)
    buffer = torch.empty(nbytes // 4, dtype=torch.int32, device=device)

    def flush() -> None:
        buffer.zero_()

    return flush, nbytes


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
            readings: Callable[[], dict[str, Any] | None] | None = None,
            flush: Callable[[], Any] | None = None,
            agree: Callable[[Sequence[int]], Sequence[int]] | None = None) -> Timings:
    """Warm up, then time ``step`` on a "cpu" or "cuda" device.

    ``window`` (a telemetry window, say) is entered after warm-up and left after the
    last timed step has finished on the device. ``readings`` (the GPU's latest SM clock
    and temperature) turns on the settle rule for a GPU (`settle`). ``flush`` (GPU:
    `l2_flush`) runs before every timed step, outside its events: cache state "flushed".
    ``agree`` (under torch.distributed) makes every rank run the same number of steps
    (`warm_up_agreed`); the settle rule is then off, since ranks must stay in step.
    """
    window = window if window is not None else contextlib.nullcontext()
    if device_type == "cuda":
        import torch

        def sync() -> None:
            # Poll the current stream's progress first (see `wait_event`), so a hung collective
            # in warm-up leaves signals deliverable; then the device sync returns at once unless
            # work on another stream is still running.
            with torch.cuda.device(device):
                done = torch.cuda.Event()
                done.record()
            wait_event(done)
            torch.cuda.synchronize(device)
    else:
        def sync() -> None:
            return None
    if agree is not None:
        iters, seconds, settings = warm_up_agreed(step, settings, sync, agree)
        warm = WarmUp(iters, seconds, None, "settle rule off: ranks agree on step counts")
    else:
        warm = settle(step, settings, sync, readings if device_type == "cuda" else None)
    with window:
        if device_type != "cuda":
            times = time_cpu(step, settings)
        elif flush is None:
            times = time_cuda(step, settings, device)
        else:
            times = time_cuda_flushed(step, settings, device, flush)
    return Timings.of(times, "cuda-event" if device_type == "cuda" else "perf_counter", warm.iters, warm.seconds,
                      warm.settled, warm.note, CACHE_FLUSHED if flush is not None else CACHE_WARM)
