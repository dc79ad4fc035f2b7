"""Warm-up and timed loops over blocks of steps: CUDA events on a GPU, clock reads on a CPU.

One timer serves warm-up and measurement. Steps run in **blocks** of consecutive steps (at
least ``block_min_s``, 1 ms, of work each) with nothing between them but one CUDA event
(GPU) or one clock read (CPU), so a block's time is the difference of two marks and no
block waits for the device. Blocks are launched in **chunks** of about `CHUNK_S` seconds;
on a GPU two chunks are in flight, and the host waits for the older one by polling its
last event (`wait_event`), so the GPU always has queued work and signals stay deliverable.
Warm-up runs exactly this launch pattern, so the steady-state rule (`benchsuite.steady`)
judges the load it then measures; the timed blocks follow without a pause. A telemetry
window is entered when warm-up ends and left after the last timed chunk is launched, while
at least `EDGE_BUSY_S` of work is queued, so a window that waits for an energy-counter
update at its edges never leaves the GPU idle.

What is kept: each timed block's seconds (`Timings.block_times_s`) and its steps
(`Timings.steps_per_block`), at most ``max_blocks`` of them: a longer run stores longer
blocks (`_Store` doubles the block past the cap). Statistics come from per-block mean
step times (`benchsuite.stats.summarize`). ``per_step`` and ``flush_l2`` time every step on
its own, at most ``max_step_times`` steps. Under torch.distributed (``agree``) every rank runs
the same agreed number of steps (`_agreed_plan`).

A latency case (batch-1 inference) is timed in blocks like every other case; then, after the
telemetry window has closed, its **latency pass** (`measure` with ``latency``,
`latency_pass`) times single steps, each between its own marks (`latency_steps`: at least
`benchsuite.metrics.LATENCY_MIN_STEPS`, about `benchsuite.metrics.LATENCY_PASS_S` seconds, at
most ``max_step_times``), stored as `Timings.latency_times_s`: the p50/p99 of single steps,
while throughput and the window carry no per-step events.

Before warm-up a case may measure its **burst** (`measure_burst`: an idle, one untimed step,
then a few blocks of about 10 ms; `TimingSettings.burst_blocks`). A workload's per-block
contexts (``block_context``) are entered once around each chunk, so no step runs outside
them and only the timer's marks run between steps.

`time_reps` times single repetitions of an operation with an optional L2 flush between
them (the calibration's loop); calibration warms a GPU with `measure` itself.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

from benchsuite import metrics, stats, steady

#: How results say which cache state their step times were taken in.
CACHE_WARM = "warm-l2"   # back-to-back steps: the operands may sit in L2 from the last step
CACHE_FLUSHED = "flushed"  # a buffer larger than L2 is written before every timed repetition

#: Seconds of work per chunk of blocks: the host looks at results (and judges steady state)
#: this often. 0.25 s, as the chunked timed loop before block timing; the steady rule was
#: studied with judgements every 0.25 s.
CHUNK_S = 0.25
#: GPU chunks in flight: the host reads one while the GPU runs the next.
PIPELINE_DEPTH = 2
#: Work queued on the GPU whenever a telemetry window's edge is read: more than the longest
#: wait for an energy-counter update (`benchsuite.telemetry.window.EDGE_WAIT_S`, 0.15 s).
EDGE_BUSY_S = 0.2
#: Block times are stored rounded to this (s): CUDA events resolve about 0.5 µs and their
#: float32 milliseconds carry 7 digits; rounding to 1 ns loses nothing and halves the JSON.
ROUND_S = 1e-9
_ROUND_DIGITS = 9  # round(t, 9): ROUND_S


def _rounded(times: Any) -> tuple[float, ...]:
    """``times`` (s) as floats rounded to `ROUND_S`, as they are stored."""
    return tuple(round(float(t), _ROUND_DIGITS) for t in times)


@dataclass(frozen=True)
class TimingSettings:
    """How long to warm up and how long to measure one case (seconds, steps)."""

    min_time_s: float = 1.0
    min_iters: int = 3
    warmup_iters: int = 2
    warmup_time_s: float = 0.25
    # A safety cap on timed (and warm-up) steps, for a step that takes no time; block timing
    # bounds what is stored, so this no longer limits a long run of tiny steps.
    max_iters: int = 10_000_000
    # Blocks: at least this much work each (issue 14: "a block being at least about 1 ms").
    block_min_s: float = 1e-3
    # At most this many stored block times per case (~12 bytes each in JSON: ~12 KB).
    max_blocks: int = 1024
    # Time every step on its own (no blocks); then at most max_step_times steps are timed and
    # stored (p99 from >= 100 of them). Latency cases are timed in blocks and add a latency pass
    # of single steps after the window (`latency_pass`), of at most max_step_times steps too.
    per_step: bool = False
    max_step_times: int = 10_000
    # Warm-up: judge steady state on the block times (`benchsuite.steady`), capped at
    # settle_max_s seconds (0: not judged); the GPU default (`benchsuite.settings`). Not
    # judged: a fixed warm-up of warmup_time_s of the timed pattern, and fixed_warmup_why
    # says why in the record ("--quick", "CPU").
    judge_steady: bool = False
    fixed_warmup_why: str | None = None
    steady_span_s: float = steady.SteadyRule.span_s
    steady_spans: int = steady.SteadyRule.spans
    steady_tol: float = steady.SteadyRule.tol
    steady_noisy_rough: float = steady.SteadyRule.noisy_rough
    steady_noisy_k: float = steady.SteadyRule.noisy_k
    settle_max_s: float = 30.0
    # The readings rule that warm-ups used before issue 14 (settled when, over the last
    # settle_window_s, the SM clock varied by at most settle_clock_pct % of its median and the
    # temperature by at most settle_temp_c °C). No warm-up reads them now (at the power cap the
    # clock wanders while the step time is flat); they stay in the run headers' timing
    # settings, so that runs before and after compare as one (`report.hardware.comparable`).
    settle_window_s: float = 3.0
    settle_clock_pct: float = 2.0
    settle_temp_c: float = 2.0
    # GPU only: write a buffer larger than L2 before every timed step (outside its events),
    # so that no step finds its operands in L2; results then say cache_state "flushed".
    flush_l2: bool = False
    # Burst (`measure_burst`): before warm-up, the device idles burst_idle_s, runs 1 untimed
    # step, then burst_blocks blocks of at least burst_block_s of work each; the fastest is
    # the burst figure. 0 blocks: no burst measured (the default here; `benchsuite.settings`
    # turns it on for runs).
    burst_blocks: int = 0
    burst_block_s: float = metrics.BURST_BLOCK_S
    burst_idle_s: float = metrics.BURST_IDLE_S

    @property
    def steady_rule(self) -> steady.SteadyRule:
        """The steady-state rule these settings name."""
        return steady.SteadyRule(self.steady_span_s, self.steady_spans, self.steady_tol,
                                 self.steady_noisy_rough, self.steady_noisy_k)


@dataclass(frozen=True)
class Timings:
    """The timed blocks of one case, and how warm-up ended."""

    block_times_s: tuple[float, ...]  # seconds of each timed block
    steps_per_block: int
    method: str  # "cuda-event" or "perf_counter"
    warmup_iters: int
    warmup_s: float
    stats: dict = field(default_factory=dict, compare=False)
    warmup_settled: bool | None = None  # True: judged steady; False: the cap; None: not judged
    warmup_note: str | None = None
    cache_state: str = CACHE_WARM
    # "trend" / "noisy" (the clause that found it steady), "cap", or "not judged (<why>)"
    warmup_rule: str | None = None
    warmup_drift_pct: float | None = None  # the last judgement's fitted drift D, %
    warmup_rough_pct: float | None = None  # and its span-to-span roughness, %
    warmup_temp_start_c: float | None = None  # the device's temperature as warm-up began
    # Seconds from the first timed block's start to the last one's end (with the L2 flushes
    # between steps, if any): the device's rate over the timed run is steps ÷ span_s.
    span_s: float | None = None
    # The burst blocks (`measure_burst`): {"block_times_s", "steps_per_block", "idle_s",
    # "warmup_steps"}; None when not measured.
    burst: dict | None = field(default=None, compare=False)
    # The latency pass (`latency_pass`): seconds of each single step, after the window; None
    # when not measured (not a latency case).
    latency_times_s: tuple[float, ...] | None = field(default=None, compare=False)

    @classmethod
    def of(cls, block_times_s: Sequence[float], steps_per_block: int, method: str, warmup_iters: int,
           warmup_s: float, **rest: Any) -> "Timings":
        """Timings with block times rounded to `ROUND_S` and statistics derived from them."""
        times = _rounded(block_times_s)
        return cls(times, steps_per_block, method, warmup_iters, warmup_s,
                   stats.summarize(times, steps_per_block), **rest)

    @property
    def median_s(self) -> float:
        """Median step time (of per-block means when blocks hold several steps), s."""
        return self.stats["step_s_median"]

    @property
    def steps(self) -> int:
        """Timed steps that the stored blocks hold."""
        return len(self.block_times_s) * self.steps_per_block

#: How often `wait_event` asks whether the GPU has passed an event (seconds).
EVENT_POLL_S = 0.0005


def wait_event(event, poll_s: float = EVENT_POLL_S, sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until the GPU has passed ``event`` (a ``torch.cuda.Event``) by polling ``query()``
    every ``poll_s`` seconds, never with the blocking ``synchronize()``: between polls Python runs
    signal handlers (SIGTERM from torchrun), which a wait inside CUDA would hold off forever when
    a collective hangs. Timings are unaffected: they come from ``elapsed_time`` between events."""
    while not event.query():
        sleep(poll_s)



# ----------------------------------------------------------------------------------------
# The two clocks: a backend launches a chunk of blocks and later resolves it to
# (seconds of each block, seconds from the chunk's first mark to its last). Each chunk
# starts its own chain of marks, so host work between chunks is never counted as a step's;
# on a GPU with queued work the chunk's first mark is passed right after the previous
# chunk's last, and the chain is continuous.

class _CpuBlocks:
    """Blocks timed by clock reads; a chunk runs when it is launched."""

    method = "perf_counter"
    pipelined = False

    def __init__(self, step: Callable[[], None], clock: Callable[[], float],
                 context: Callable[[], contextlib.AbstractContextManager]) -> None:
        self._step, self._clock, self._context = step, clock, context

    def launch(self, blocks: int, steps: int, budget_s: float = math.inf) -> tuple[list[float], float]:
        """Run the chunk; stop early once it has run ``budget_s`` (a busy machine can make
        blocks far slower than estimated: the loop must come back to its limits)."""
        step, clock = self._step, self._clock
        out = []
        with self._context():  # once per chunk: between its blocks only clock reads run
            first = last = clock()
            for _ in range(blocks):
                for _ in range(steps):
                    step()
                now = clock()
                out.append(now - last)
                last = now
                if last - first >= budget_s:
                    break
        return out, last - first

    @staticmethod
    def blocks(handle: tuple[list[float], float]) -> int:
        return len(handle[0])

    def resolve(self, handle: tuple[list[float], float]) -> tuple[list[float], float]:
        return handle


class _CudaBlocks:
    """Blocks between CUDA events on the current stream, no synchronisation inside a chunk.

    With ``flush`` (and one step per block) each step gets its own start event after the
    flush, so the flush is outside the step's time but inside the chunk's span.
    """

    method = "cuda-event"
    pipelined = True

    def __init__(self, step: Callable[[], None], context: Callable[[], contextlib.AbstractContextManager],
                 flush: Callable[[], Any] | None = None) -> None:
        import torch

        self._step, self._context, self._flush = step, context, flush
        self._event = lambda: torch.cuda.Event(enable_timing=True)

    def launch(self, blocks: int, steps: int, budget_s: float = math.inf) -> tuple[Any, list[tuple[Any, Any]]]:
        step, flush, event = self._step, self._flush, self._event
        with self._context():  # once per chunk: between its blocks only events (and flushes) run
            mark = event()
            mark.record()
            pairs, last = [], mark
            for _ in range(blocks):
                if flush is not None:
                    flush()
                    start = event()
                    start.record()
                else:
                    start = last
                for _ in range(steps):
                    step()
                end = event()
                end.record()
                pairs.append((start, end))
                last = end
        return mark, pairs

    @staticmethod
    def blocks(handle: tuple[Any, list[tuple[Any, Any]]]) -> int:
        return len(handle[1])

    def resolve(self, handle: tuple[Any, list[tuple[Any, Any]]]) -> tuple[list[float], float]:
        mark, pairs = handle
        wait_event(pairs[-1][1])
        return [s.elapsed_time(e) / 1e3 for s, e in pairs], mark.elapsed_time(pairs[-1][1]) / 1e3


class _Store:
    """The timed blocks kept: raw blocks summed ``group`` at a time; past ``cap`` kept blocks,
    neighbours are summed in pairs and ``group`` doubles (an odd last one waits as pending).

    After n raw blocks the group is the smallest power of two g with n // g <= cap
    (`group_after`), and the kept blocks are complete when n is a multiple of it.
    """

    def __init__(self, cap: int) -> None:
        self.cap, self.group = cap, 1
        self.times: list[float] = []
        self.pending_s, self.pending_n = 0.0, 0

    def add(self, seconds: float) -> None:
        self.pending_s += seconds
        self.pending_n += 1
        if self.pending_n < self.group:
            return
        self.times.append(self.pending_s)
        self.pending_s, self.pending_n = 0.0, 0
        if len(self.times) > self.cap:
            if len(self.times) % 2:
                self.pending_s, self.pending_n = self.times.pop(), self.group
            self.times = [a + b for a, b in zip(self.times[::2], self.times[1::2])]
            self.group *= 2

    @staticmethod
    def group_after(n: int, cap: int) -> int:
        group = 1
        while n // group > cap:
            group *= 2
        return group

    @classmethod
    def complete_count(cls, n: int, cap: int) -> int:
        """The smallest count of raw blocks >= n that leaves no block pending."""
        while True:
            group = cls.group_after(n, cap)
            full = -(-n // group) * group
            if cls.group_after(full, cap) == group:
                return full
            n = full


class _Loop:
    """The launch pattern shared by warm-up and the timed run, and its bookkeeping."""

    def __init__(self, backend: Any, settings: TimingSettings, cap: int) -> None:
        self.backend, self.settings = backend, settings
        self.depth = PIPELINE_DEPTH if backend.pipelined else 1  # chunks in flight at once
        self.in_flight: deque[tuple[str, int, int, Any]] = deque()
        self.steps_per_block = 1
        self.step_s: float | None = None  # block seconds per step, from the last chunk
        self.cycle_s: float | None = None  # chunk span per step (with flushes)
        self.warm_steps = self.warm_steps_done = 0
        self.warm_s = 0.0
        self.recent: deque[tuple[float, int]] = deque()  # warm-up blocks the rule reads
        self._recent_s = 0.0
        self.store = _Store(cap)
        self.burst_times: list[float] = []
        self.timed_raw = self.timed_steps = 0
        self.timed_s = self.timed_span_s = 0.0

    # -- launching and reading -------------------------------------------------------------
    def launch(self, phase: str, blocks: int, steps: int) -> int:
        """Launch a chunk; returns the blocks launched (a CPU chunk may stop early)."""
        planned_s = blocks * steps * (self.cycle_s or self.step_s or 0.0)
        handle = self.backend.launch(blocks, steps, max(2 * planned_s, CHUNK_S) if planned_s > 0 else math.inf)
        blocks = self.backend.blocks(handle)
        self.in_flight.append((phase, blocks, steps, handle))
        if phase in ("warm", "burst"):
            self.warm_steps += blocks * steps
        else:
            self.timed_raw += blocks
            self.timed_steps += blocks * steps
        return blocks

    def resolve(self) -> None:
        phase, blocks, steps, handle = self.in_flight.popleft()
        times, span = self.backend.resolve(handle)
        n, total = blocks * steps, sum(times)
        if total > 0:
            self.step_s = total / n
        if span > 0:
            self.cycle_s = span / n
        if phase == "burst":  # warm-up steps too, but not judged with the blocks of the timed pattern
            self.warm_steps_done += n
            self.warm_s += total
            self.burst_times.extend(times)
        elif phase == "warm":
            self.warm_steps_done += n
            self.warm_s += total
            keep = self.settings.steady_rule.judged_s + CHUNK_S
            for t in times:
                self.recent.append((t, steps))
                self._recent_s += t
            while self.recent and self._recent_s - self.recent[0][0] >= keep:
                self._recent_s -= self.recent.popleft()[0]
        else:
            for t in times:
                self.store.add(t)
            self.timed_s += total
            self.timed_span_s += span

    def queued_s(self) -> float:
        """Estimated seconds of work launched and not yet read back."""
        return sum(b * s for _, b, s, _ in self.in_flight) * (self.cycle_s or 0.0)

    # -- sizes ----------------------------------------------------------------------------------
    def fit_block(self) -> None:
        """Steps per block for at least ``block_min_s`` of work (1 when timing each step); it
        grows at once and shrinks only by more than a quarter, so it does not flicker."""
        if self.settings.per_step or self.settings.flush_l2 or not self.step_s:
            return
        want = max(1, math.ceil(self.settings.block_min_s / self.step_s))
        if want > self.steps_per_block or want < 0.75 * self.steps_per_block:
            self.steps_per_block = want

    def blocks_for(self, seconds: float) -> int:
        """Blocks that hold about ``seconds`` of work (at least 1)."""
        per_block = self.steps_per_block * (self.cycle_s or self.step_s or 0.0)
        return max(1, math.ceil(seconds / per_block)) if per_block > 0 else 1

    def judge(self) -> steady.Verdict | None:
        return steady.judge_blocks([t for t, _ in self.recent], [s for _, s in self.recent],
                                   self.settings.steady_rule)


@dataclass(frozen=True)
class _WarmEnd:
    settled: bool | None
    rule: str
    note: str | None
    verdict: steady.Verdict | None


def _warm_up(loop: _Loop, settings: TimingSettings, start: float, clock: Callable[[], float]) -> _WarmEnd:
    """Run warm-up chunks until the rule says steady (or the cap), or, when not judged, until
    ``warmup_iters`` and ``warmup_time_s`` are met; chunks still in flight carry on."""
    depth = loop.depth
    rule = settings.steady_rule
    why = _not_judged_why(settings)
    verdict = None
    while True:
        minimum = loop.warm_steps_done >= settings.warmup_iters and loop.warm_s >= settings.warmup_time_s
        if why is None:
            if minimum and loop.warm_s >= rule.judged_s:
                verdict = loop.judge()
                if verdict is not None and verdict.steady:
                    return _WarmEnd(True, verdict.clause or "", None, verdict)
            elapsed = clock() - start
            if elapsed >= settings.settle_max_s or loop.warm_steps >= settings.max_iters:
                return _WarmEnd(False, steady.CAP, _cap_note(elapsed, verdict, rule), verdict)
        elif (loop.warm_steps >= settings.warmup_iters and loop.warm_s + loop.queued_s() >= settings.warmup_time_s) \
                or loop.warm_steps >= settings.max_iters:
            # launched enough: what is still in flight runs on while the window opens
            return _WarmEnd(None, f"not judged ({why})", _fixed_note(why, settings), None)
        loop.fit_block()
        while len(loop.in_flight) < depth:
            ahead = loop.warm_s + loop.queued_s()
            seconds = CHUNK_S if why is None else min(CHUNK_S, max(settings.warmup_time_s - ahead, 0.0))
            loop.launch("warm", loop.blocks_for(seconds), loop.steps_per_block)
            if why is not None and loop.warm_s + loop.queued_s() >= settings.warmup_time_s:
                break  # a fixed warm-up launches no more than it needs
        loop.resolve()


def _not_judged_why(settings: TimingSettings) -> str | None:
    if not settings.judge_steady:
        return settings.fixed_warmup_why or "fixed warm-up"
    if settings.settle_max_s <= 0:
        return "--settle-max 0"
    return None


def _fixed_note(why: str, settings: TimingSettings) -> str:
    return (f"steady state not judged ({why}): a fixed warm-up of at least {settings.warmup_time_s:g} s "
            "of the timed pattern")


def _cap_note(elapsed: float, verdict: steady.Verdict | None, rule: steady.SteadyRule) -> str:
    if verdict is None:
        return (f"not steady after {elapsed:.1f} s: the cap came before {rule.judged_s:g} s of blocks "
                "could be judged")
    return (f"not steady after {elapsed:.1f} s: mean step time drifted {100 * verdict.drift:.2f} % over the "
            f"last {rule.judged_s:g} s (tolerance {100 * rule.tol:g} %; roughness {100 * verdict.rough:.2f} %)")


def _next_timed(loop: _Loop, settings: TimingSettings, cap_steps: int, edge_s: float) -> int:
    """How many blocks the timed run launches next (0: all it needs is launched).

    Enough for ``min_time_s`` (chunks in flight count by estimate; a shortfall found when they
    are read is launched then) and ``min_iters``; a chunk at a
    time, the last one at least ``edge_s`` long (work queued while the window closes), and
    the whole a count the store keeps complete (`_Store.complete_count`); never past
    ``cap_steps``.
    """
    spb = loop.steps_per_block
    room = (cap_steps - loop.timed_steps) // spb
    if room <= 0:
        return 0
    ahead_s = loop.timed_s + sum(b * s for p, b, s, _ in loop.in_flight if p == "timed") * (loop.step_s or 0.0)
    need_s = settings.min_time_s - ahead_s
    need_steps = max(settings.min_iters, 1) - loop.timed_steps
    per_block = spb * (loop.step_s or 0.0)
    need = max(math.ceil(need_s / per_block) if need_s > 0 and per_block > 0 else (1 if need_s > 0 else 0),
               -(-need_steps // spb) if need_steps > 0 else 0)
    chunk = loop.blocks_for(CHUNK_S)
    edge = loop.blocks_for(edge_s) if edge_s > 0 else 0
    if need > chunk + edge:
        return min(chunk, room)
    final = _Store.complete_count(loop.timed_raw + max(need, edge if need else 0), loop.store.cap) - loop.timed_raw
    return min(final, room)


def _timed(loop: _Loop, settings: TimingSettings, cap_steps: int, window: contextlib.ExitStack) -> None:
    """Launch the timed chunks, leave ``window`` once the last is launched, read them all."""
    depth = loop.depth
    edge_s = EDGE_BUSY_S if loop.backend.pipelined else 0.0
    closed = False
    while True:
        while len(loop.in_flight) < depth:
            n = _next_timed(loop, settings, cap_steps, 0.0 if closed else edge_s)
            if n <= 0:
                break
            loop.launch("timed", n, loop.steps_per_block)
            if not loop.backend.pipelined:  # a CPU chunk has run: book it before deciding more
                loop.resolve()
        if not closed and _next_timed(loop, settings, cap_steps, edge_s) <= 0:
            window.close()  # work is still queued on a GPU: the window's edge reads it running
            closed = True
        if not loop.in_flight:
            break
        loop.resolve()
    if not closed:
        window.close()


def _agreed_warm_up(loop: _Loop, settings: TimingSettings, agree: Callable[[Sequence[int]], Sequence[int]],
                    cap_steps: int) -> tuple[int, int]:
    """Warm-up under torch.distributed: after the probe, every rank states the block size, the
    extra warm-up blocks and the timed blocks it wants; ``agree`` returns the largest of each,
    so every rank runs the same steps. Returns (steps per block, timed blocks)."""
    step_s = loop.step_s or 1e-9
    spb = 1 if settings.per_step or settings.flush_l2 else max(1, math.ceil(settings.block_min_s / step_s))
    per_block = spb * (loop.cycle_s or step_s)
    extra = max(math.ceil(max(0.0, settings.warmup_time_s - loop.warm_s) / per_block),
                math.ceil(EDGE_BUSY_S / per_block) if loop.backend.pipelined else 0)
    timed = max(math.ceil(settings.min_iters / spb), math.ceil(settings.min_time_s / (spb * step_s)), 1)
    spb, extra, timed = (int(v) for v in agree((spb, extra, timed)))
    most = max(1, cap_steps // spb)
    timed = _Store.complete_count(max(1, min(timed, most)), loop.store.cap)  # kept whole ...
    if timed > most:  # ... within the cap
        group = _Store.group_after(most, loop.store.cap)
        timed = max(group, most // group * group)
    loop.steps_per_block = spb
    depth = loop.depth
    chunk = loop.blocks_for(CHUNK_S)
    while extra > 0:
        while extra > 0 and len(loop.in_flight) < depth:
            n = extra if extra <= 2 * chunk else chunk  # the last chunk holds the edge's work
            extra -= loop.launch("warm", n, spb)
        if extra > 0:
            loop.resolve()
    return spb, timed


def _agreed_timed(loop: _Loop, timed: int, window: contextlib.ExitStack) -> None:
    """The agreed count of timed blocks, in chunks; the last chunk holds the window's close."""
    depth = loop.depth
    chunk = loop.blocks_for(CHUNK_S)
    left = timed
    while left > 0 or loop.in_flight:
        while left > 0 and len(loop.in_flight) < depth:
            n = left if left <= 2 * chunk else chunk
            left -= loop.launch("timed", n, loop.steps_per_block)
        if left == 0:
            window.close()
        if loop.in_flight:
            loop.resolve()
    window.close()


def measure(step: Callable[[], None], device_type: str, settings: TimingSettings, device=None,
            window: contextlib.AbstractContextManager | None = None,
            readings: Callable[[], dict[str, Any] | None] | None = None,
            flush: Callable[[], Any] | None = None,
            agree: Callable[[Sequence[int]], Sequence[int]] | None = None,
            block_context: Callable[[], contextlib.AbstractContextManager] | None = None,
            burst_window: contextlib.AbstractContextManager | None = None,
            latency: bool = False,
            clock: Callable[[], float] = time.perf_counter,
            sleep: Callable[[float], None] = time.sleep) -> Timings:
    """Warm up, then time ``step`` on a "cpu" or "cuda" device, in blocks (module docstring).

    ``window`` (a telemetry window) is entered when warm-up ends and left once the last timed
    chunk is launched. ``readings()`` (the device's latest telemetry row) gives the temperature
    as warm-up starts. ``flush`` (GPU: `l2_flush`) runs before every step, outside its events:
    cache state "flushed", one step per block. ``agree`` (torch.distributed) makes every rank
    run the same steps; steady state is then not judged. ``block_context`` (the workload's
    per-block contexts, `benchsuite.workload`) is entered once around each chunk of blocks: no
    step runs outside it, and between its steps only the timer's marks run. With
    ``settings.burst_blocks``, warm-up starts with the burst (`measure_burst`), during which
    ``burst_window`` (a telemetry span) is entered. With ``latency`` (a latency case), the
    latency pass follows the timed blocks, after ``window`` has closed (`latency_pass`).
    """
    context = block_context or contextlib.nullcontext
    settings = replace(settings, flush_l2=flush is not None)  # --flush-l2 does nothing on a CPU
    per_step = settings.per_step or settings.flush_l2
    cap = settings.max_step_times if per_step else settings.max_blocks
    cap_steps = min(settings.max_iters, settings.max_step_times) if per_step else settings.max_iters
    reading = readings() if readings is not None else None
    temp_start = (reading or {}).get("temp_c")
    with contextlib.ExitStack() as outer:
        if device_type == "cuda":
            import torch

            outer.enter_context(torch.cuda.device(device))
            backend: Any = _CudaBlocks(step, context, flush)
        else:
            backend = _CpuBlocks(step, clock, context)
        loop = _Loop(backend, settings, cap)
        start = clock()
        burst = measure_burst(loop, settings, agree, burst_window, sleep) if settings.burst_blocks > 0 else None
        loop.launch("warm", max(1, settings.warmup_iters), 1)  # the probe: a first step time
        loop.resolve()
        windows = outer.enter_context(contextlib.ExitStack())
        if agree is not None:
            spb, timed = _agreed_warm_up(loop, settings, agree, cap_steps)
            end = _WarmEnd(None, "not judged (ranks agree on step counts)",
                           "steady state not judged: ranks agree on step counts", None)
            warmup_s = clock() - start
            windows.enter_context(window if window is not None else contextlib.nullcontext())
            _agreed_timed(loop, timed, windows)
        else:
            end = _warm_up(loop, settings, start, clock)
            loop.fit_block()
            if backend.pipelined and loop.cycle_s:  # the window's open edge reads the device meanwhile
                while loop.queued_s() < EDGE_BUSY_S:
                    loop.launch("warm", loop.blocks_for(EDGE_BUSY_S - loop.queued_s()), loop.steps_per_block)
            warmup_s = clock() - start
            windows.enter_context(window if window is not None else contextlib.nullcontext())
            _timed(loop, settings, cap_steps, windows)
        windows.close()  # closed already; the latency pass is outside the window
        store = loop.store
        steps_per_block = loop.steps_per_block * store.group
        latency_times = None
        if latency and store.times:
            step_s = stats.summarize(store.times, steps_per_block)["step_s_median"]
            latency_times = latency_pass(backend, latency_steps(step_s, settings, agree))
    verdict = end.verdict
    return Timings.of(store.times, steps_per_block, backend.method, loop.warm_steps, warmup_s,
                      warmup_settled=end.settled, warmup_note=end.note,
                      cache_state=CACHE_FLUSHED if flush is not None else CACHE_WARM,
                      warmup_rule=end.rule,
                      warmup_drift_pct=100 * verdict.drift if verdict is not None else None,
                      warmup_rough_pct=100 * verdict.rough if verdict is not None else None,
                      warmup_temp_start_c=temp_start,
                      span_s=loop.timed_span_s - store.pending_s, burst=burst,
                      latency_times_s=_rounded(latency_times)
                      if latency_times is not None else None)


def latency_steps(step_s: float, settings: TimingSettings,
                  agree: Callable[[Sequence[int]], Sequence[int]] | None = None) -> int:
    """Steps of a latency pass for steps of about ``step_s`` seconds (the blocks' median): enough
    for `benchsuite.metrics.LATENCY_PASS_S` seconds, or for the timed window (``min_time_s``) if
    that is shorter; at least `benchsuite.metrics.LATENCY_MIN_STEPS` (a p99 of single steps) and
    at most ``max_step_times``. Under torch.distributed (``agree``) the ranks take the largest."""
    seconds = min(metrics.LATENCY_PASS_S, settings.min_time_s)
    steps = math.ceil(round(seconds / step_s, 6)) if step_s > 0 else metrics.LATENCY_MIN_STEPS  # 6: float noise
    steps = max(1, min(max(steps, metrics.LATENCY_MIN_STEPS), settings.max_step_times))
    if agree is not None:
        steps = int(agree([steps])[0])
    return steps


def latency_pass(backend: Any, steps: int) -> list[float]:
    """Seconds of each of ``steps`` single steps, each between its own marks (CUDA events, or
    clock reads), after `metrics.LATENCY_UNTIMED_STEPS` untimed ones: the first after the host's
    pause between the timed blocks and this pass. The device is warm from the timed run: no second
    warm-up. On a GPU the steps are launched back to back and read once, by polling the last event."""
    backend.launch(1, metrics.LATENCY_UNTIMED_STEPS)  # on a GPU queued ahead of the timed steps
    times, _ = backend.resolve(backend.launch(steps, 1))
    return times


def _device_idle(backend: Any) -> None:
    """On a GPU, wait until the queued work has run (polling an event, never a blocking
    synchronize), so that the idle before a burst is an idle device."""
    if backend.method == "cuda-event":
        import torch

        event = torch.cuda.Event()
        event.record()
        wait_event(event)


def measure_burst(loop: _Loop, settings: TimingSettings, agree: Callable[[Sequence[int]], Sequence[int]] | None,
                  window: contextlib.AbstractContextManager | None,
                  sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The burst: the device idles ``burst_idle_s`` (nothing queued: clocks and power recover, as
    mamf-finder idles 0.25 s before each burst), runs 1 untimed step (first-call effects), then
    ``burst_blocks`` blocks of ``ceil(burst_block_s / step)`` steps (1 under an L2 flush) back to
    back. On an H100 the SM clock holds its boost for about 0.1 s after a lighter load, so 5
    blocks of 10 ms sit inside it. The blocks are warm-up steps too; ``window`` (a telemetry
    span) is entered around them. Under torch.distributed the ranks agree on the block size."""
    _device_idle(loop.backend)
    sleep(settings.burst_idle_s)
    loop.launch("burst", 1, 1)  # the untimed step; its time sizes the blocks
    loop.resolve()
    loop.burst_times.clear()
    step_s = loop.step_s or settings.burst_block_s
    steps = 1 if settings.flush_l2 else max(1, math.ceil(settings.burst_block_s / step_s))
    if agree is not None:
        steps = int(agree([steps])[0])
    with window if window is not None else contextlib.nullcontext():
        loop.launch("burst", settings.burst_blocks, steps)
        loop.resolve()
    return {"block_times_s": list(_rounded(loop.burst_times)), "steps_per_block": steps,
            "idle_s": settings.burst_idle_s, "warmup_steps": 1}

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


