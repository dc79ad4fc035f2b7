"""Calibration: what a device really reaches, as opposed to its datasheet.

Two ceilings per device, the two a roofline needs:

- **matmul TFLOP/s per precision**: a coarse-to-fine search over matmul shapes
  (`search_matmul`). Coarse: cubes M=N=K on a grid of ``coarse_step`` multiples up to a
  cap that fits memory, and on a GPU the non-square shapes mamf-finder found best on recent
  NVIDIA parts (`MAMF_SEEDS`), smallest first. Fine: from the best so far, each of M, N, K
  is moved by ±step while that helps, then the step is halved, down to ``min_step``. Every
  candidate is timed by `dobench_like` under `CANDIDATE` (on CUDA each repetition between
  its own events, after writing a buffer larger than L2: cache state "flushed"; the median
  counts). The coarse and fine phases stop within `SEARCH_SHARE` of the budget; the rest
  is reserved up front for the **final re-time**: the best `FINAL_TOP` are timed again the
  way ``triton.testing.do_bench`` times (`FINAL`: warm-up by time, repetitions by time, an
  L2 flush before each, the median), and a shape whose re-time would not fit its share of
  that reserve is never a candidate.
- **the spread rule** (`judge`): a re-timed figure is only kept when it rests on at least
  `MIN_FINAL_REPS` repetitions whose interquartile range is within `SPREAD_MAX` of their
  median, and its median is not slower than every repetition the search saw of the same
  shape by more than `SPREAD_MAX` (the machine's load changed between the two). The figure
  is the best accepted median; with none accepted the precision is "not calibrated", with
  the reason, and the calibration is not stored (`calibration_store.store`).
- **memory bandwidth**: device-to-device copy (bytes read + bytes written per second,
  the convention behind datasheet HBM figures), and host-to-device / device-to-host copies
  from pinned memory (PCIe or NVLink-C2C). On a CPU: a large tensor copy in RAM.

A GPU is watched by NVML telemetry during each precision's search (matched by its NVML
index, never the torch index): the share of readings slowed by a power cap or thermal
slowdown, the reasons, mean power and peak temperature are stored with the figure, and a
search throttled for more than `THROTTLED_SHARE_THRESHOLD` of its readings is flagged
``throttled``, since its TFLOP/s is what a capped chip reached. Every record also holds
the torch version and thread count it was made with (`calibration_store.problem` refuses
it under another torch, and on a CPU under another thread count).

torch is imported inside functions only. The search takes a ``time_fn(shape)`` returning
the per-repetition seconds (or their median) and a clock, so tests drive it with fakes.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from benchsuite import calibration_store, files, peaks, results, timing
from benchsuite.telemetry.window import THROTTLED_SHARE_THRESHOLD

Shape = tuple[int, int, int]

# Search grids per device type: (coarse step, min step, largest dimension).
# GPU tensor-core tiles are multiples of 64..256; mamf-finder's published H100 search
# uses steps of 256 up to 20480 (stas00/ml-engineering, compute/accelerator/benchmarks).
GRID = {"cuda": (2048, 256, 20480), "cpu": (256, 64, 2048)}

# Non-square seeds of the GPU search: the best shapes mamf-finder published for NVIDIA parts
# (stas00/ml-engineering, compute/accelerator/README.md, "Maximum Achievable Matmul FLOPS
# comparison table", MxNxK). The cube grid and its ±step moves cannot reach them: the H100
# SXM's bf16 best, 2048x2048x13312 (794.5 TFLOP/s there), is 128 output tiles of 128x256 on
# 132 SMs (one near-full wave) with a long K. Every dimension is a multiple of 256.
MAMF_SEEDS: dict[str, tuple[Shape, ...]] = {
    "16-bit": ((2048, 2048, 13312),   # H100 SXM (H200 the same)
               (1024, 10240, 5120),   # A100 SXM
               (1024, 15360, 4096),   # GH200
               (2048, 5120, 6144),    # A100 PCIe
               (1792, 16128, 3072),   # B200
               (4096, 9728, 2048),    # GB200
               (12288, 18432, 1024)),  # B300
    "fp8": ((1024, 9216, 14336),      # H100 SXM
            (1280, 4096, 12032),      # H200 SXM
            (1024, 14336, 14336),     # GH200
            (15360, 4096, 3072),      # B200
            (3072, 6144, 7168)),      # B300
}


def seeds_for(device_type: str, precision_name: str) -> tuple[Shape, ...]:
    """The non-square seed shapes of a search (`MAMF_SEEDS`): a GPU's only (mamf-finder measured GPUs)."""
    if device_type != "cuda":
        return ()
    return MAMF_SEEDS["fp8" if precision_name == "fp8" else "16-bit"]


@dataclass(frozen=True)
class RepRule:
    """How one shape is timed, after ``triton.testing.do_bench`` (triton/testing.py): one
    untimed run, ``estimate_reps`` flushed runs that estimate one run's time, warm-up runs
    for ``warmup_s``, then repetitions for ``rep_s``, each after the L2 flush and between its
    own CUDA events, the host waiting once at the end; the median counts. Floors and a
    ceiling on the counts: at least ``min_warmup`` warm-up runs and ``min_reps`` repetitions,
    at most ``max_reps`` of each. With ``warmup_s`` and ``rep_s`` both 0 the counts are
    fixed (``min_warmup`` and ``min_reps``) and nothing is estimated."""

    warmup_s: float
    rep_s: float
    min_warmup: int
    min_reps: int
    max_reps: int
    estimate_reps: int = 5  # do_bench's

    @property
    def by_time(self) -> bool:
        return self.warmup_s > 0 or self.rep_s > 0

    def counts(self, per_rep_s: float) -> tuple[int, int]:
        """(warm-up runs, timed repetitions) for an op of ``per_rep_s`` seconds."""
        if not self.by_time or not per_rep_s > 0 or not math.isfinite(per_rep_s):
            return self.min_warmup, self.min_reps
        warmup = min(self.max_reps, max(self.min_warmup, math.ceil(self.warmup_s / per_rep_s)))
        reps = min(self.max_reps, max(self.min_reps, int(self.rep_s / per_rep_s)))
        return warmup, reps

    def expected_s(self, per_rep_s: float) -> float:
        """Seconds the rule keeps an op of ``per_rep_s`` seconds busy (no set-up, no flush)."""
        if not per_rep_s > 0 or not math.isfinite(per_rep_s):
            return self.warmup_s + self.rep_s
        warmup, reps = self.counts(per_rep_s)
        extra = 1 + self.estimate_reps if self.by_time else 0
        return (extra + warmup + reps) * per_rep_s

    def describe(self) -> str:
        if not self.by_time:
            return f"{self.min_warmup} untimed runs, then {self.min_reps} repetitions; median"
        return (f"do_bench-like: warm-up {self.warmup_s * 1e3:g} ms (at least {self.min_warmup} runs), "
                f"repetitions for {self.rep_s * 1e3:g} ms (at least {self.min_reps}, at most {self.max_reps}), "
                "each timed alone after the L2 flush (CUDA); median")


#: At least this many repetitions in a final re-time: its quartiles then rest on at least 5
#: repetitions in each outer quarter, enough to say whether the spread is tight.
MIN_FINAL_REPS = 20
#: Timing of each search candidate. GPU: do_bench's own defaults (warmup=25 ms, rep=100 ms)
#: with the counts this search used before (3 warm-up runs, 10 repetitions) as floors: the
#: ranking sees more than 3 products (9 ms at 10240³ bf16) after the host gap of making the
#: operands, at about 0.15 s a candidate. It is still inside the clock transient after a
#: change of load (0.1-0.6 s on the H100 of 2026-11-25), which is why the figure comes from
#: the final re-time. CPU: 1 untimed run, 3 timed, as before.
CANDIDATE = {"cuda": RepRule(0.025, 0.1, 3, 10, 1000), "cpu": RepRule(0.0, 0.0, 1, 3, 3)}
#: Timing of the final re-time. GPU: exactly how benchmarks/selfcheck/calibration_check.py
#: calls triton.testing.do_bench (warmup=100 ms, rep=500 ms), so that the two measure alike.
#: CPU: do_bench's defaults (warmup=25 ms, rep=100 ms), so that three re-times fit the
#: reserve of a short CPU budget (2 s per precision).
FINAL = {"cuda": RepRule(0.1, 0.5, 3, MIN_FINAL_REPS, 10_000, 5),
         "cpu": RepRule(0.025, 0.1, 1, MIN_FINAL_REPS, 2_000, 3)}
FINAL_TOP = 3                        # how many of the best are re-timed
#: The spread rule (`judge`): a re-time is refused when its interquartile range exceeds this
#: share of its median. 5 % because "% achievable" above 105 % calls a calibration stale
#: (`benchsuite.metrics.STALE_PCT_OF_ACHIEVABLE`): a ceiling whose own middle half of
#: repetitions spans more than 5 % is not known well enough for that judgement. Quiet
#: hardware is far inside it (do_bench-style medians of one H100 shape agree within 1 %,
#: runs of 2026-11-25); the failure it stops was a 2.5x swing (issue 13: 0.186 vs 0.0726).
SPREAD_MAX = 0.05
BUDGET_S = {"cuda": 120.0, "cpu": 20.0}
MATMUL_SHARE = 0.8                   # of the budget for the matmul searches, the rest for bandwidth
#: Of a precision's budget, the share for the coarse and fine phases; the rest is reserved up
#: front for re-timing the best `FINAL_TOP` (on an H100 with the default budget: about 5.7 s
#: for three re-times of about 0.8 s each).
SEARCH_SHARE = 0.7
MEMORY_SHARE = 0.4                   # operands may take at most this share of free device memory
COPY_BYTES = {"cuda": 1 << 30, "cpu": 256 << 20}  # bytes per copy in the bandwidth measurements
COPY_REPS = {"cuda": 20, "cpu": 5}
TELEMETRY_HZ = 20.0                  # NVML readings per second while a GPU search runs
CPU_TELEMETRY_NOTE = "throttling not measured on a CPU"


def check_budget(budget_s: Any) -> None:
    """Raise ValueError unless ``budget_s`` is None (the default budget) or a finite number of
    seconds above 0: a NaN or infinite budget must never reach a stored record."""
    if budget_s is not None and not calibration_store.positive(budget_s):
        raise ValueError(f"calibration budget {budget_s!r}: must be a finite number of seconds above 0 "
                         f"(default {BUDGET_S['cuda']:g} on a GPU, {BUDGET_S['cpu']:g} on a CPU)")


@dataclass(frozen=True)
class Trial:
    """One timed candidate shape: the median of its repetitions and the repetitions."""

    shape: Shape
    seconds: float
    tflop_per_s: float
    phase: str  # "coarse", "seed", "fine" or "final"
    times_s: tuple[float, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True)
class FinalCheck:
    """One finalist's re-time and its verdict (`judge`): ``reason`` None when accepted."""

    shape: Shape
    search: Trial
    trial: Trial | None  # None: not re-timed (no budget left)
    reason: str | None

    @property
    def accepted(self) -> bool:
        return self.trial is not None and self.reason is None


@dataclass
class SearchResult:
    """The outcome of one matmul search: the best accepted shape and everything tried."""

    best: Trial | None
    trials: list[Trial] = field(default_factory=list)
    elapsed_s: float = 0.0
    budget_s: float = 0.0
    stopped_by_budget: bool = False
    too_big_to_retime: int = 0  # shapes not tried: their final re-time would not fit the reserve
    finals: list[FinalCheck] = field(default_factory=list)
    refusal: str | None = None  # why there is no figure (best is None)


def flops(shape: Shape) -> float:
    """FLOPs of one M×K by K×N matmul: 2·M·N·K."""
    m, n, k = shape
    return 2.0 * m * n * k


def coarse_shapes(step: int, cap: int) -> list[Shape]:
    """Cubes on the coarse grid, largest last: (step, step, step) … (cap, cap, cap)."""
    return [(d, d, d) for d in range(step, cap + 1, step)]


def rep_summary(times_s: Sequence[float]) -> dict[str, Any]:
    """Quartiles of per-repetition seconds: n, min, q1, median, q3, max, ``spread``
    ((q3 - q1) / median) and ``trend`` (median of the last tenth ÷ median of the first
    tenth - 1: positive when repetitions slowed down; None under 10 repetitions)."""
    t = sorted(float(x) for x in times_s)
    if not t or not all(math.isfinite(x) for x in t):
        return {"n": len(t), "min_s": None, "q1_s": None, "median_s": None, "q3_s": None, "max_s": None,
                "spread": None, "trend": None}
    q1, median, q3 = statistics.quantiles(t, n=4, method="inclusive") if len(t) > 1 else (t[0],) * 3
    tenth = len(times_s) // 10
    trend = (statistics.median(times_s[-tenth:]) / statistics.median(times_s[:tenth]) - 1.0) if tenth else None
    return {"n": len(t), "min_s": t[0], "q1_s": q1, "median_s": median, "q3_s": q3, "max_s": t[-1],
            "spread": (q3 - q1) / median if median > 0 else None, "trend": trend}


def judge(times_s: Sequence[float], search_times_s: Sequence[float] = ()) -> str | None:
    """Why a final re-time cannot be the ceiling, or None when it can (the spread rule).

    Refused: fewer than `MIN_FINAL_REPS` finite repetitions; an interquartile range above
    `SPREAD_MAX` of the median; a median slower than the slowest of the search's own
    repetitions of the shape (``search_times_s``) by more than `SPREAD_MAX` (the load changed).
    """
    finite = [t for t in times_s if math.isfinite(t) and t > 0]
    if len(finite) < MIN_FINAL_REPS:
        return (f"only {len(finite)} repetitions re-timed (at least {MIN_FINAL_REPS} are needed to know "
                "their spread)")
    summary = rep_summary(finite)
    if summary["spread"] is None or summary["spread"] > SPREAD_MAX:
        return (f"re-timed spread {summary['spread']:.1%} (interquartile range ÷ median of {len(finite)} "
                f"repetitions) is above {SPREAD_MAX:.0%}: the machine was busy or its clocks moved")
    seen = [t for t in search_times_s if math.isfinite(t) and t > 0]
    if seen and summary["median_s"] > max(seen) * (1 + SPREAD_MAX):
        return (f"re-timed median {summary['median_s'] * 1e3:.4g} ms is "
                f"{summary['median_s'] / max(seen) - 1:.0%} slower than the slowest of the search's "
                f"{len(seen)} repetitions of this shape ({max(seen) * 1e3:.4g} ms): the machine's load changed")
    return None


def _times(value: float | Sequence[float]) -> tuple[float, ...]:
    """A time_fn's answer as per-repetition seconds (a bare number is one repetition)."""
    if isinstance(value, (int, float)):
        return (float(value),)
    return tuple(float(v) for v in value) or (math.inf,)


def elements(shape: Shape) -> int:
    """Elements of the three operands of a matmul of ``shape``: M·K + N·K + M·N (what making them costs)."""
    m, n, k = shape
    return m * k + n * k + m * n


def search_matmul(time_fn: Callable[[Shape], float | Sequence[float]], *, budget_s: float, coarse_step: int,
                  min_step: int, cap: int, seeds: Iterable[Shape] = (),
                  final_time_fn: Callable[[Shape], float | Sequence[float]] | None = None,
                  candidate_rule: RepRule | None = None, final_rule: RepRule | None = None,
                  clock: Callable[[], float] = time.monotonic,
                  on_trial: Callable[[Trial], None] | None = None) -> SearchResult:
    """Coarse-to-fine search for the shape with the highest TFLOP/s within ``budget_s``, then
    the final re-time of the best `FINAL_TOP`, judged by the spread rule (`judge`).

    ``time_fn(shape)`` returns the seconds of each repetition of one matmul of that shape (or
    their median); ``final_time_fn`` (default ``time_fn``) re-times a finalist. A candidate
    is only started when the time it is expected to take (its FLOPs times the wall seconds
    per FLOP of the last candidate) still fits within `SEARCH_SHARE` of the budget, and when
    its re-time would fit in ``1/FINAL_TOP`` of the reserved rest. A re-time is expected to
    take ``final_rule.expected_s`` of its repetition time plus the candidate's overhead
    (making operands, flushes: its wall time less ``candidate_rule.expected_s``, scaled by
    the operands' `elements`); without the rules, what the candidate took. Each finalist is
    re-timed when that fits in what is left of the budget; the best one also when its re-time
    without the overhead fits its share of the reserve (promised at admission: a stall that
    overran the search then overruns the budget by about one re-time rather than leave no
    figure).
    """
    start = clock()
    result = SearchResult(best=None, budget_s=budget_s)
    seen: dict[Shape, Trial] = {}
    overheads: dict[Shape, float] = {}
    walls: dict[Shape, float] = {}
    last = {"wall_per_flop": 0.0, "rep_per_flop": 0.0, "overhead_per_element": 0.0}  # for the budget checks
    reserve_each = (1.0 - SEARCH_SHARE) * budget_s / FINAL_TOP

    def retime_cost(wall_s: float, rep_s: float, overhead_s: float) -> float:
        if final_rule is None or candidate_rule is None:
            return wall_s
        return final_rule.expected_s(rep_s) + overhead_s

    def measure(shape: Shape, phase: str, fn: Callable[[Shape], Any]) -> tuple[Trial, float]:
        t0 = clock()
        times = _times(fn(shape))
        wall = clock() - t0
        finite = [t for t in times if math.isfinite(t)]
        seconds = statistics.median(times) if len(finite) == len(times) else math.inf
        trial = Trial(shape, seconds, flops(shape) / seconds / 1e12 if 0 < seconds < math.inf else 0.0, phase,
                      times)
        result.trials.append(trial)
        if on_trial is not None:
            on_trial(trial)
        return trial, wall

    def attempt(shape: Shape, phase: str) -> Trial | None:
        if shape in seen:
            return seen[shape]
        wall_s = last["wall_per_flop"] * flops(shape)
        if clock() - start + wall_s > SEARCH_SHARE * budget_s:
            result.stopped_by_budget = True
            return None
        if retime_cost(wall_s, last["rep_per_flop"] * flops(shape),
                       last["overhead_per_element"] * elements(shape)) > reserve_each:
            result.too_big_to_retime += 1
            return None
        trial, wall = measure(shape, phase, time_fn)
        walls[shape] = wall
        last["wall_per_flop"] = wall / flops(shape)
        if math.isfinite(trial.seconds):
            last["rep_per_flop"] = trial.seconds / flops(shape)
            overheads[shape] = max(0.0, wall - (candidate_rule.expected_s(trial.seconds) if candidate_rule else wall))
            last["overhead_per_element"] = overheads[shape] / elements(shape)
        seen[shape] = trial
        return trial

    # Coarse: cubes and seeds, smallest first, so the budget check learns the cost before big ones.
    cubes = coarse_shapes(coarse_step, cap)
    extra = [s for s in dict.fromkeys(tuple(s) for s in seeds)
             if s not in cubes and all(min_step <= d <= cap for d in s)]
    best: Trial | None = None
    for shape in sorted(cubes + extra, key=lambda s: (flops(s), s)):
        trial = attempt(shape, "coarse" if shape in cubes else "seed")
        if trial is None:
            break  # the budget or the reserve: every later shape is larger
        if best is None or trial.tflop_per_s > best.tflop_per_s:
            best = trial
    # Fine: move one dimension at a time while it helps, halving the step.
    step = coarse_step // 2
    while best is not None and step >= min_step and not result.stopped_by_budget:
        improved = True
        while improved and not result.stopped_by_budget:
            improved = False
            for axis in range(3):
                for sign in (1, -1):
                    shape = list(best.shape)
                    shape[axis] += sign * step
                    if not min_step <= shape[axis] <= cap:
                        continue
                    trial = attempt(tuple(shape), "fine")
                    if trial is None:
                        if result.stopped_by_budget:
                            break
                        continue  # too big to re-time: a smaller move may still help
                    if trial.tflop_per_s > best.tflop_per_s:
                        best, improved = trial, True
        step //= 2
    # Final: re-time the best few the do_bench way; the best accepted median is the figure.
    ranked = sorted((t for t in seen.values() if t.tflop_per_s > 0), key=lambda t: -t.tflop_per_s)[:FINAL_TOP]
    for i, candidate in enumerate(ranked):
        cost = retime_cost(walls[candidate.shape], candidate.seconds, overheads[candidate.shape])
        # the best one's share of the reserve was promised at admission: a stall in its search
        # (its overhead) does not take the figure away
        promised = i == 0 and retime_cost(walls[candidate.shape], candidate.seconds, 0.0) <= reserve_each
        if clock() - start + cost > budget_s and not promised:
            result.stopped_by_budget = True
            result.finals.append(FinalCheck(candidate.shape, candidate, None, "not re-timed: no budget left"))
            continue
        trial, _ = measure(candidate.shape, "final", final_time_fn or time_fn)
        result.finals.append(FinalCheck(candidate.shape, candidate, trial, judge(trial.times_s, candidate.times_s)))
    accepted = [f.trial for f in result.finals if f.accepted]
    result.best = max(accepted, key=lambda t: t.tflop_per_s) if accepted else None
    if result.best is None:
        result.refusal = _refusal(result, ranked, retime_cost(0.0, 0.0, 0.0))
    result.elapsed_s = clock() - start
    return result


def _refusal(result: SearchResult, ranked: list[Trial], least_retime_s: float) -> str:
    """Why a search has no figure, for people (``least_retime_s``: the shortest re-time)."""
    if not result.trials:
        if result.too_big_to_retime:
            return (f"the budget is too small to re-time a candidate: {FINAL_TOP} re-times of at least "
                    f"{least_retime_s:.2g} s each must fit in {1 - SEARCH_SHARE:.0%} of this precision's "
                    f"{result.budget_s:.3g} s: raise --budget")
        return "the budget did not allow a single candidate"
    if not ranked:
        return "every candidate ran out of memory"
    if not any(f.trial for f in result.finals):
        return f"no budget was left to re-time the best {len(ranked)} candidates: raise --budget"
    why = "; ".join(f"{'x'.join(map(str, f.shape))}: {f.reason}" for f in result.finals)
    return f"no re-timed finalist passed the spread rule ({why})"


def dobench_like(op: Callable[[], Any], device_type: str, rule: RepRule, *, flush: Callable[[], Any] | None = None,
                 device=None, reps_fn: Callable[..., list[float]] = timing.time_reps) -> list[float]:
    """Seconds of each timed repetition of ``op`` under ``rule`` (`RepRule`: triton's do_bench
    method, implemented without triton on `timing.time_reps`).

    One untimed run, then ``rule.estimate_reps`` flushed repetitions estimate one run plus
    one flush (medians, robust to one preempted run on a CPU, where do_bench takes the mean),
    then ``rule.counts`` warm-up runs back to back and timed repetitions, each after
    ``flush`` (outside its events). ``reps_fn`` is `timing.time_reps` or a test's fake.
    """
    if not rule.by_time:
        return reps_fn(op, device_type, rule.min_reps, warmup=rule.min_warmup, flush=flush, device=device)
    per_rep = statistics.median(reps_fn(op, device_type, rule.estimate_reps, warmup=1, flush=flush, device=device))
    if flush is not None:  # do_bench's estimate spans the flushes too
        per_rep += statistics.median(reps_fn(flush, device_type, 3, warmup=0, flush=None, device=device))
    warmup, reps = rule.counts(per_rep)
    return reps_fn(op, device_type, reps, warmup=warmup, flush=flush, device=device)


# ------------------------------------------------------------------ measuring on torch


def _operands(device, precision_name: str, shape: Shape):
    """Random normal operands of ``shape`` in ``precision_name``, and the op that multiplies them."""
    import torch

    from benchsuite import precision

    m, n, k = shape
    a = torch.randn(m, k, device=device, dtype=torch.float32)
    b = torch.randn(n, k, device=device, dtype=torch.float32)
    if precision_name == "fp8":
        fp8 = precision.dtype("fp8")
        a8, b8 = a.to(fp8), b.to(fp8).t()  # b column-major, as _scaled_mm needs
        scale = torch.ones((), device=device, dtype=torch.float32)
        del a, b

        def op() -> None:
            torch._scaled_mm(a8, b8, scale_a=scale, scale_b=scale, out_dtype=torch.bfloat16)

        return op
    dtype = precision.dtype(precision_name)
    a, b = a.to(dtype), b.t().contiguous().to(dtype)
    c = torch.empty(m, n, device=device, dtype=dtype)

    def op() -> None:
        torch.mm(a, b, out=c)

    return op


def matmul_timer(device: str, precision_name: str, rule: RepRule, *,
                 flush: Callable[[], Any] | None = None) -> Callable[[Shape], list[float]]:
    """``time_fn(shape)``: seconds of each repetition of one matmul of ``shape`` on ``device``,
    timed by `dobench_like` under ``rule``.

    Under `precision.numerics` (TF32 only for ``tf32``); ``flush`` runs before every
    repetition (CUDA: `timing.l2_flush`). A shape that runs out of memory takes ``[inf]``.
    """
    import torch

    from benchsuite import precision

    dev = torch.device(device)

    def time_fn(shape: Shape) -> list[float]:
        try:
            with precision.numerics(precision_name):
                op = _operands(dev, precision_name, shape)
                times = dobench_like(op, dev.type, rule, flush=flush, device=dev)
        except torch.cuda.OutOfMemoryError:  # a shape that does not fit is a loser, not a crash
            op = None
            torch.cuda.empty_cache()
            return [math.inf]
        del op
        return times

    return time_fn


def max_dim(device_type: str, precision_name: str, free_bytes: int | None, cap: int, step: int) -> int:
    """The largest multiple of ``step`` (≤ ``cap``) whose three square operands (plus the
    fp32 staging copies) fit in ``MEMORY_SHARE`` of ``free_bytes``."""
    if not free_bytes:
        return cap
    per_element = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1}[precision_name]
    out_element = 2 if precision_name == "fp8" else per_element  # fp8 writes bf16
    # a and b in the precision, c in its output type, plus a and b staged in fp32 while made
    need_per_dim2 = 2 * per_element + out_element + 2 * 4
    largest = int(math.sqrt(MEMORY_SHARE * free_bytes / need_per_dim2))
    return max(step, min(cap, largest // step * step))


def copy_bandwidth(device: str, kind: str, nbytes: int, reps: int, warmup: int = 2) -> dict[str, Any]:
    """Achievable bandwidth of one copy kind, from the median of ``reps`` copies of ``nbytes``.

    ``d2d`` (device memory: read + write, 2·nbytes per copy) and, on CUDA, ``h2d`` /
    ``d2h`` (pinned host memory over PCIe or NVLink-C2C, nbytes per copy). On a CPU,
    ``d2d`` is a copy within RAM.
    """
    import torch

    dev = torch.device(device)
    count = nbytes // 4
    if kind == "d2d":
        src = torch.randn(count, device=dev)
        dst = torch.empty_like(src)
        moved = 2 * count * 4
    elif kind in ("h2d", "d2h") and dev.type == "cuda":
        host = torch.empty(count, dtype=torch.float32, pin_memory=True).normal_()
        gpu = torch.empty(count, dtype=torch.float32, device=dev)
        src, dst = (host, gpu) if kind == "h2d" else (gpu, host)
        moved = count * 4
    else:
        raise ValueError(f"copy kind {kind!r} on {device}: allowed are d2d (any device), h2d and d2h (CUDA)")

    def op() -> None:
        dst.copy_(src, non_blocking=True)

    seconds = statistics.median(timing.time_reps(op, dev.type, reps, warmup, device=dev))
    return {"gb_per_s": moved / seconds / 1e9, "bytes_per_copy": moved, "seconds": seconds, "reps": reps}


def default_precisions(device) -> list[str]:
    """fp32, tf32, bf16, fp16 and fp8 on a GPU, fp32 and bf16 on a CPU: those the device runs natively."""
    from benchsuite import precision

    wanted = ["fp32", "tf32", "bf16", "fp16", "fp8"] if device.type == "cuda" else ["fp32", "bf16"]
    return [p for p in wanted if precision.support(p, device).native]


def _free_bytes(device) -> int | None:
    if device.type != "cuda":
        import psutil

        return psutil.virtual_memory().available
    import torch

    free, _total = torch.cuda.mem_get_info(device.index)
    return int(free)


def _warm_device(device, budget_s: float) -> dict[str, Any]:
    """Bring a GPU to its steady state before the search: 4096³ products (bf16, else fp16) in the
    cases' own warm-up (`benchsuite.timing.measure`: blocks of work until the steady rule on
    their times holds, capped at the smaller of `TimingSettings.settle_max_s` and ``budget_s``),
    then a token window. A CPU is not warmed. (Before, the readings rule judged it: SM clock and
    temperature steady; at the power cap the clock wanders while the step time is flat, so that
    rule ran to its cap.)"""
    if device.type != "cuda":
        return {"settled": None, "seconds": 0.0, "note": "CPU: no settle rule"}
    import torch

    op = _operands(torch.device(device.id), "bf16" if "bf16" in device.native_precisions else "fp16",
                   (4096, 4096, 4096))
    settings = timing.TimingSettings(judge_steady=True, min_time_s=0.05, min_iters=1,
                                     settle_max_s=max(1.0, min(timing.TimingSettings.settle_max_s, budget_s)))
    warm = timing.measure(op, "cuda", settings, device=torch.device(device.id))
    del op
    return {"settled": warm.warmup_settled, "seconds": warm.warmup_s, "rule": warm.warmup_rule,
            "note": warm.warmup_note}


def _start_telemetry(device) -> Any:
    """A started `Telemetry` sampling ``device``'s GPU by its NVML index (never the torch
    index), or None for a CPU or a GPU not matched to NVML. Without NVML one is still made:
    its windows then say why nothing was measured."""
    if device.type != "cuda" or device.nvml_index is None:
        return None
    from benchsuite.telemetry import Telemetry

    tel = Telemetry([device.nvml_index], hz=TELEMETRY_HZ)
    tel.start()
    return tel


# What a search record keeps from its telemetry window, and the not_measured keys that
# explain each one when it is missing.
_WATCHED = {"throttled_share": ("throttled_share",), "power_mean_w": ("power_mean_w", "energy_j"),
            "temp_max_c": ("temp_max_c",)}


def search_conditions(summary: dict[str, Any] | None, note: str | None = None) -> dict[str, Any]:
    """The conditions one precision's search ran under, from its telemetry window ``summary``.

    ``throttled_share``: share (0..1) of readings slowed by a power, thermal or hardware cap;
    ``throttled``: that share above `THROTTLED_SHARE_THRESHOLD`; ``throttle_reasons`` (every
    clock-event reason seen) and ``throttle_slowing_reasons`` (those that slow the work);
    ``power_mean_w`` (W); ``temp_max_c`` (°C). What was not measured is None and
    ``telemetry_note`` says why (``note`` when given, e.g. on a CPU).
    """
    s = summary or {}
    share = s.get("throttled_share")
    if note is None:
        why: list[str] = []
        not_measured = s.get("not_measured") or {}
        for name, keys in _WATCHED.items():
            if s.get(name) is None:
                reason = next((not_measured[k] for k in keys if not_measured.get(k)), f"{name} not measured")
                if reason not in why:
                    why.append(reason)
        note = "; ".join(why) or None
    return {
        "throttled_share": share,
        "throttled": share > THROTTLED_SHARE_THRESHOLD if share is not None else None,
        "throttle_reasons": s.get("throttle_reasons"),
        "throttle_slowing_reasons": s.get("throttle_slowing_reasons"),
        "power_mean_w": s.get("power_mean_w"),
        "temp_max_c": s.get("temp_max_c"),
        "telemetry_note": note,
    }


def _prepare_cuda(device) -> tuple[Callable[[], Any] | None, int]:
    """Make ``device`` current and allocate its L2 flush buffer: (flush, buffer bytes)."""
    import torch

    torch.cuda.set_device(device.index)
    return timing.l2_flush(device.index)


def _trial_entry(trial: Trial) -> dict[str, Any]:
    return {"shape": list(trial.shape), "seconds": files.finite(trial.seconds),
            "tflop_per_s": files.finite(trial.tflop_per_s), "phase": trial.phase}


def _final_entry(check: FinalCheck) -> dict[str, Any]:
    """A finalist as stored: its search figure, its re-time's quartiles and the verdict."""
    reps = rep_summary(check.trial.times_s) if check.trial is not None else None
    return {"shape": list(check.shape), "search_tflop_per_s": files.finite(check.search.tflop_per_s),
            "tflop_per_s": files.finite(check.trial.tflop_per_s) if check.trial is not None else None,
            "reps": files.finite(reps) if reps else None,
            "accepted": check.accepted, "reason": check.reason}


def matmul_entry(found: SearchResult, *, datasheet: float | None, budget_s: float, grid: dict[str, int],
                 method: str) -> dict[str, Any]:
    """One precision's calibration entry from its search: the figure (the best accepted
    re-time; None with ``note`` saying why when there is none), the quartiles and the
    per-repetition seconds it rests on, every finalist's verdict, and the search's facts."""
    best = found.best
    reps = rep_summary(best.times_s) if best is not None else None
    return {
        "tflop_per_s": best.tflop_per_s if best else None,
        "shape": list(best.shape) if best else None,
        "seconds": best.seconds if best else None,
        "method": method,
        "reps": files.finite(reps) if reps else None,
        "times_s": list(best.times_s) if best else None,
        "finals": [_final_entry(f) for f in found.finals],
        "datasheet_tflop_per_s": datasheet,
        "pct_of_datasheet": 100.0 * best.tflop_per_s / datasheet if best and datasheet else None,
        "candidates": len({t.shape for t in found.trials if t.phase != "final"}),
        "search_s": found.elapsed_s,
        "budget_s": budget_s,
        "stopped_by_budget": found.stopped_by_budget,
        "too_big_to_retime": found.too_big_to_retime,
        "grid": grid,
        "top": [_trial_entry(t) for t in sorted((t for t in found.trials if t.phase != "final"),
                                                key=lambda t: -t.tflop_per_s)[:5] if math.isfinite(t.seconds)],
        "note": None if best else found.refusal,
    }


def _search_precisions(device, precisions: list[str], budget_s: float, tel: Any, sheet: Any, *,
                       flush: Callable[[], Any] | None, on_trial: Callable[[str, Trial], None] | None,
                       clock: Callable[[], float]) -> dict[str, Any]:
    """Search each precision's best matmul within an even share of ``budget_s`` seconds, each
    inside its own window of telemetry ``tel`` (None on a CPU or a GPU not matched to NVML);
    {precision: matmul entry} with the datasheet figure from ``sheet`` (`peaks` entry or None)."""
    import torch

    coarse_step, min_step, cap = GRID[device.type]
    per_precision = max(0.0, budget_s) / max(1, len(precisions))
    candidate_rule, final_rule = CANDIDATE[device.type], FINAL[device.type]
    matmul: dict[str, Any] = {}
    for name in precisions:
        window = tel.window_for(device, f"calibrate-{name}") if tel is not None else None
        cap_here = max_dim(device.type, name, _free_bytes(device), cap, coarse_step)
        time_fn = matmul_timer(device.id, name, candidate_rule, flush=flush)
        final_fn = matmul_timer(device.id, name, final_rule, flush=flush)
        with window if window is not None else contextlib.nullcontext():
            found = search_matmul(time_fn, budget_s=per_precision, coarse_step=coarse_step, min_step=min_step,
                                  cap=cap_here, seeds=seeds_for(device.type, name), final_time_fn=final_fn,
                                  candidate_rule=candidate_rule, final_rule=final_rule, clock=clock,
                                  on_trial=(lambda t, n=name: on_trial(n, t)) if on_trial else None)
        if device.type != "cuda":
            conditions = search_conditions(None, CPU_TELEMETRY_NOTE)
        elif window is None:
            conditions = search_conditions(None, f"{device.id} is not matched to an NVML GPU: throttling "
                                                 "not measured")
        else:
            conditions = search_conditions(window.summary)
        matmul[name] = {
            **matmul_entry(found, datasheet=sheet.tflops.get(name) if sheet else None, budget_s=per_precision,
                           grid={"coarse_step": coarse_step, "min_step": min_step, "cap": cap_here},
                           method=final_rule.describe()),
            **conditions,
        }
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return matmul


def calibrate_device(device, precisions: Iterable[str], budget_s: float, *, hostname: str,
                     driver: str | None, on_trial: Callable[[str, Trial], None] | None = None,
                     clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Measure one device's ceilings within ``budget_s`` seconds; return its calibration record
    (`calibration_store.store` decides whether it is stored). ``budget_s`` is taken as
    checked (`run` checks it with `check_budget`)."""
    import torch

    precisions = list(precisions)
    started_at = results.now_iso()
    t0 = clock()
    flush, flush_bytes = _prepare_cuda(device) if device.type == "cuda" else (None, 0)
    warm = _warm_device(device, 0.1 * budget_s)
    sheet = peaks.lookup(device.name) if device.type == "cuda" else None
    tel = _start_telemetry(device)
    try:
        matmul = _search_precisions(device, precisions, MATMUL_SHARE * budget_s - (clock() - t0), tel, sheet,
                                    flush=flush, on_trial=on_trial, clock=clock)
    finally:
        if tel is not None:
            tel.stop()
    bandwidth: dict[str, Any] = {}
    kinds = ["d2d", "h2d", "d2h"] if device.type == "cuda" else ["d2d"]
    free = _free_bytes(device) or COPY_BYTES[device.type] * 8
    nbytes = min(COPY_BYTES[device.type], int(free * 0.1) // 4 * 4)
    for kind in kinds:
        entry = files.finite(copy_bandwidth(device.id, kind, nbytes, COPY_REPS[device.type]))
        datasheet_gbs = sheet.mem_bandwidth_gbs if sheet and kind == "d2d" else None
        entry["datasheet_gb_per_s"] = datasheet_gbs
        entry["pct_of_datasheet"] = 100.0 * entry["gb_per_s"] / datasheet_gbs if datasheet_gbs and entry["gb_per_s"] \
            else None
        bandwidth[kind] = entry
    key = calibration_store.device_key(hostname, device, driver)
    return {
        "kind": calibration_store.KIND,
        "version": calibration_store.CALIBRATION_VERSION,
        "id": f"{key}@{started_at}",
        "machine_key": key,
        "created_at": started_at,
        "hostname": hostname,
        "driver": driver if device.type == "cuda" else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": {"id": device.id, "type": device.type, "name": device.name},
        "datasheet_model": sheet.model if sheet else None,
        "budget_s": budget_s,
        "elapsed_s": clock() - t0,
        "cache_state": timing.CACHE_FLUSHED if flush is not None else timing.CACHE_WARM,
        "l2_flush_bytes": flush_bytes or None,
        "timing": "cuda-event per repetition" if device.type == "cuda" else "perf_counter per repetition",
        "method": {"candidates": CANDIDATE[device.type].describe(), "final": FINAL[device.type].describe(),
                   "final_top": FINAL_TOP, "min_final_reps": MIN_FINAL_REPS, "spread_max": SPREAD_MAX,
                   "search_share": SEARCH_SHARE},
        "warmup": warm,
        "matmul": matmul,
        "bandwidth": bandwidth,
    }


def plan_precisions(device, requested: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """Precisions to calibrate on ``device`` (defaults when ``requested`` is None), and
    those skipped with their reason (fp8 on a CPU, tf32 before Ampere, …)."""
    from benchsuite import precision

    if requested is None:
        return default_precisions(device), {}
    chosen, skipped = [], {}
    for name in requested:
        support = precision.support(name, device)
        if support.runs:
            chosen.append(name)
        else:
            skipped[name] = support.reason or "not supported"
    return chosen, skipped


@dataclass
class CalibrationRun:
    """What `run` made: one record per device (each with ``stored``: what the store did with
    it), the store's outcomes, the per-machine files written or kept, the precisions skipped."""

    run_dir: Any
    records: list[dict] = field(default_factory=list)
    outcomes: list[Any] = field(default_factory=list)  # calibration_store.Outcome per record
    files: list[Any] = field(default_factory=list)
    run_file: Any = None
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def refused(self) -> list[dict]:
        """The records not stored because they were incomplete."""
        return [r for r, o in zip(self.records, self.outcomes) if o.action == "refused"]


def run(devices: list, requested: list[str] | None, budget_s: float | None, out_dir, *,
        hostname: str, driver: str | None, store_dir=None, force: bool = False,
        on_trial: Callable[[str, str, Trial], None] | None = None) -> CalibrationRun:
    """Calibrate each device (``budget_s`` seconds each; default `BUDGET_S` by device type) and
    store each complete record in its per-machine file unless the stored one is better
    (`calibration_store.store`; ``force`` replaces it anyway); every record made, stored or
    not, goes to ``out_dir/<run-id>/calibration.json``. A NaN, infinite or non-positive
    budget is a ValueError before anything runs."""
    from pathlib import Path

    check_budget(budget_s)
    run_dir = Path(out_dir) / results.new_run_id()
    made = CalibrationRun(run_dir=run_dir)
    try:
        for device in devices:
            names, skipped = plan_precisions(device, requested)
            if skipped:
                made.skipped[device.id] = skipped
            budget = budget_s if budget_s is not None else BUDGET_S[device.type]
            record = calibrate_device(device, names, budget, hostname=hostname, driver=driver,
                                      on_trial=(lambda p, t, d=device.id: on_trial(d, p, t)) if on_trial else None)
            record["skipped"] = skipped
            outcome = calibration_store.store(record, store_dir, force=force)
            record["stored"] = {"action": outcome.action, "file": str(outcome.path) if outcome.path else None,
                                "messages": outcome.messages}
            if outcome.path is not None:
                record["file"] = str(outcome.path)
                made.files.append(outcome.path)
            made.outcomes.append(outcome)
            made.records.append(record)
            made.run_file = calibration_store.write_run_copy(run_dir, made.records)
    except KeyboardInterrupt as exc:
        raise CalibrationInterrupted(made, exc) from exc
    return made


class CalibrationInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped `run`; ``made`` holds what was stored before it (its
    ``files`` and ``run_file``: nothing when both are empty), ``cause`` the interruption."""

    def __init__(self, made: CalibrationRun, cause: BaseException) -> None:
        super().__init__(f"calibration interrupted after {len(made.files)} device(s)")
        self.made = made
        self.cause = cause
