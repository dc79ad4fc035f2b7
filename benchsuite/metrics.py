"""Every figure of a case record, declared once, and the one derivation of the derived ones.

A `Metric` names a field of a case record (its unit in the name: ``samples_per_s``,
``j_per_sample``), its unit, the label tables print, which way is better, how it is shown
(a `benchsuite.report.format.KINDS` kind) and what it is measured from. Tables, ``compare``
and the record's types (`benchsuite.record`) read these declarations; the runner, the rank
merge (`benchsuite.ranks`), the pytest plugin and the export compute through `derive`,
`compute`, `energy` and `round_energy`, so they cannot disagree.

Adding a metric: declare it in `METRICS` (and compute it in `derive` if it is derived), and
test it in ``tests/test_metrics.py``. Pure Python: no torch, numpy or pandas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HIGHER, LOWER, NEITHER = +1, -1, 0  # which way is better
#: What a figure comes from. ``time``: the step times (their spread is its noise, see
#: `benchsuite.compare`); ``telemetry``: a power/energy window; ``workload``: what the workload
#: states (FLOPs, bytes, samples); ``reference``: a datasheet or calibration figure; ``memory``:
#: the allocator; ``ranks``: the rank merge; ``compile``: how a compiled or captured step was
#: prepared (`benchsuite.exec_modes`, the record's ``compile`` section).
BASES = ("time", "telemetry", "workload", "reference", "memory", "ranks", "compile")


@dataclass(frozen=True)
class Metric:
    """One figure of a case record."""

    name: str  # the record field, unit in the name
    label: str  # a table's column header
    unit: str  # for people: "sample/s", "J", "%"
    better: int  # HIGHER, LOWER or NEITHER
    kind: str  # how it is shown: a `benchsuite.report.format.KINDS` kind
    basis: str  # one of BASES
    description: str
    compare: bool = False  # offered by `benchsuite compare --metric`
    integer: bool = False  # a count: an int in the record


def _m(name: str, label: str, unit: str, better: int, kind: str, basis: str, description: str,
       **flags: bool) -> Metric:
    return Metric(name, label, unit, better, kind, basis, description, **flags)


# Declaration order is the order `compare --metric` lists its choices in.
_DECLARED = (
    # throughput and compute
    _m("samples_per_s", "samples/s", "sample/s", HIGHER, "num", "time",
       "samples ÷ median step time (global over ranks: Σ samples ÷ the slowest rank's median)", compare=True),
    _m("samples_per_s_per_device", "per device/s", "sample/s", HIGHER, "num", "time",
       "global samples/s ÷ world size (torch.distributed runs)"),
    _m("tflop_per_s", "TFLOP/s", "TFLOP/s", HIGHER, "num", "time",
       "FLOPs per step ÷ median step time ÷ 1e12", compare=True),
    _m("pct_of_peak", "% peak", "%", HIGHER, "pct", "time",
       "TFLOP/s as a share of the datasheet's dense peak for the precision", compare=True),
    _m("pct_of_achievable", "% achievable", "%", HIGHER, "pct", "time",
       "TFLOP/s (sustained) as a share of the calibrated achievable matmul TFLOP/s"),
    # burst (`burst`): the best of the first blocks after an idle, beside the sustained figures above
    _m("burst_samples_per_s", "burst/s", "sample/s", HIGHER, "num", "time",
       "burst: samples per burst block ÷ the fastest of 5 blocks of ≥ 10 ms run after a 0.25 s idle "
       "and 1 untimed step (samples_per_s is sustained: the median over the steady window)", compare=True),
    _m("burst_tflop_per_s", "burst TFLOP/s", "TFLOP/s", HIGHER, "num", "time",
       "FLOPs per step × steps per burst block ÷ the fastest burst block ÷ 1e12"),
    _m("burst_power_w", "burst W", "W", NEITHER, "num", "telemetry",
       "power during the burst blocks (GPU: NVML samples inside them, else read as they ended; CPU: RAPL)"),
    _m("burst_sm_clock_mhz", "burst MHz", "MHz", NEITHER, "num", "telemetry",
       "mean SM clock during the burst blocks (GPU)"),
    # preparation of a compiled or captured step (the record's ``compile`` section; eager: none)
    _m("compile_s", "compile s", "s", LOWER, "num", "compile",
       "the first, compiling call of a compiled case (torch.compile), never inside the timed window"),
    _m("peak_tflop_per_s", "peak TFLOP/s", "TFLOP/s", NEITHER, "num", "reference",
       "datasheet dense peak of the device for the precision"),
    _m("achievable_tflop_per_s", "achievable TFLOP/s", "TFLOP/s", NEITHER, "num", "reference",
       "calibrated achievable matmul TFLOP/s of the device for the precision"),
    _m("achievable_gb_per_s", "achievable GB/s", "GB/s", NEITHER, "num", "reference",
       "calibrated achievable device memory bandwidth"),
    _m("flop_per_byte", "FLOP/byte", "FLOP/B", NEITHER, "num", "workload",
       "arithmetic intensity: FLOPs ÷ bytes moved per step (the roofline's x axis)"),
    _m("flops_per_step", "FLOPs/step", "FLOP", NEITHER, "num", "workload", "FLOPs of one step"),
    _m("bytes_per_step", "bytes/step", "B", NEITHER, "bytes", "workload", "bytes one step moves"),
    _m("samples_per_step", "samples/step", "sample", NEITHER, "num", "workload",
       "samples one step processes (per rank)", integer=True),
    # step time statistics (`benchsuite.stats.summarize`)
    _m("step_s_median", "step ms (median)", "s", LOWER, "ms", "time", "median step time", compare=True),
    _m("step_s_p99", "p99 ms", "s", LOWER, "ms", "time", "99th percentile step time", compare=True),
    _m("step_s_iqr", "IQR ms", "s", LOWER, "ms", "time", "interquartile range of step times"),
    _m("step_s_p90", "p90 ms", "s", LOWER, "ms", "time", "90th percentile step time"),
    _m("step_s_mean", "mean ms", "s", LOWER, "ms", "time", "mean step time"),
    _m("step_s_std", "std ms", "s", LOWER, "ms", "time", "standard deviation of step times (ddof 1)"),
    _m("step_s_min", "min ms", "s", LOWER, "ms", "time", "fastest step"),
    _m("step_s_max", "max ms", "s", LOWER, "ms", "time", "slowest step"),
    _m("step_s_total", "timed s", "s", NEITHER, "num", "time", "sum of the timed steps"),
    # latency cases (`latency`): single steps of the latency pass after the timed blocks
    _m("latency_s_p50", "latency p50 ms", "s", LOWER, "ms", "time",
       "median time of a single step in the latency pass (batch-1 inference; each step between its own "
       "events, after the timed blocks and outside the telemetry window)"),
    _m("latency_s_p99", "latency p99 ms", "s", LOWER, "ms", "time",
       "99th percentile time of a single step in the latency pass (at least 100 steps)"),
    _m("iters", "steps", "step", NEITHER, "num", "time", "timed steps", integer=True),
    # energy and power (the window's summary, `benchsuite.telemetry.window`)
    _m("samples_per_j", "samples/J", "sample/J", HIGHER, "num", "telemetry",
       "samples in the window ÷ its energy", compare=True),
    _m("j_per_sample", "J/sample", "J/sample", LOWER, "num", "telemetry",
       "the window's energy ÷ samples in it", compare=True),
    _m("samples_per_s_per_w", "samples/s/W", "sample/s/W", HIGHER, "num", "telemetry",
       "samples/s ÷ mean power over the window", compare=True),
    _m("tflop_per_s_per_w", "TFLOP/s/W", "TFLOP/s/W", HIGHER, "num", "telemetry",
       "TFLOP/s ÷ mean power over the window", compare=True),
    _m("power_mean_w", "mean W", "W", LOWER, "num", "telemetry", "mean power over the window", compare=True),
    _m("energy_j", "energy J", "J", LOWER, "num", "telemetry",
       "energy of the window (counter, else integrated power)", compare=True),
    # memory
    _m("mem_peak_bytes", "peak mem", "B", LOWER, "bytes", "memory",
       "peak memory the allocator handed out during the timed steps (CUDA)", compare=True, integer=True),
    # collectives (`benchsuite.bandwidth`, nccl-tests formulas)
    _m("algbw_gbps", "algbw GB/s", "GB/s", HIGHER, "num", "time", "message bytes ÷ step time"),
    _m("busbw_gbps", "busbw GB/s", "GB/s", HIGHER, "num", "time", "algbw × the collective's bus factor"),
    _m("bus_factor", "bus factor", "1", NEITHER, "num", "workload", "busbw ÷ algbw of the collective"),
    _m("message_bytes", "message", "B", NEITHER, "bytes", "workload", "bytes per rank of one collective",
       integer=True),
    # the rank merge (`benchsuite.ranks`)
    _m("world_size", "ranks", "rank", NEITHER, "num", "ranks", "ranks that ran the case", integer=True),
    _m("step_s_median_slowest", "slowest step ms", "s", LOWER, "ms", "ranks",
       "the slowest rank's median step time: what global figures divide by"),
    _m("slowest_rank", "slowest rank", "rank", NEITHER, "num", "ranks", "the rank with the slowest median",
       integer=True),
    _m("samples_per_step_global", "samples/step (all)", "sample", NEITHER, "num", "ranks",
       "samples one step processes over every rank", integer=True),
    _m("flops_per_step_global", "FLOPs/step (all)", "FLOP", NEITHER, "num", "ranks",
       "FLOPs of one step over every rank"),
    _m("energy_j_global", "energy J (all)", "J", LOWER, "num", "ranks",
       "energy over every distinct device of the ranks"),
    _m("power_mean_w_global", "mean W (all)", "W", LOWER, "num", "ranks",
       "mean power summed over every distinct device of the ranks"),
    _m("threads", "threads", "thread", NEITHER, "num", "workload", "torch CPU threads of the process",
       integer=True),
    # pytest-benchmark extra_info (`benchsuite.pytest_plugin`, `benchsuite.export`)
    _m("energy_per_round_j", "J/round", "J", LOWER, "num", "telemetry",
       "energy of one pytest-benchmark round (iterations calls of the benchmarked function)"),
)
METRICS: dict[str, Metric] = {m.name: m for m in _DECLARED}

#: "% achievable" above this marks the case's calibration stale: the calibrated ceiling is
#: below what the case reached. 105 % (issue 13) because a calibrated figure is only stored
#: when the middle half of its repetitions lies within 5 % of its median
#: (`benchsuite.calibrate.SPREAD_MAX`): up to that a case may beat it by noise alone.
STALE_PCT_OF_ACHIEVABLE = 105.0
#: Yes/no judgements of a case derived from its figures (true, false, or null when not
#: judged): name -> description. Stored in the metrics section; `benchsuite.record` types them.
FLAGS: dict[str, str] = {
    "calibration_stale": (f"pct_of_achievable above {STALE_PCT_OF_ACHIEVABLE:g} %: the calibration is too low "
                          "(recalibrate with `benchsuite calibrate --force`); judged on the sustained figure "
                          "(median step time) only"),
}
#: Headers of tables whose cells carry their unit (``86.8 k img/s``, ``1.23 ms``): the label
#: without its unit. A metric not listed uses its label.
HEADINGS: dict[str, str] = {
    "samples_per_s": "throughput", "burst_samples_per_s": "burst", "samples_per_s_per_device": "per device",
    "pct_of_peak": "% peak",
    "pct_of_achievable": "% achievable", "step_s_median": "step median", "step_s_iqr": "IQR", "step_s_p99": "p99",
    "step_s_p90": "p90", "step_s_mean": "step mean", "step_s_std": "step std", "step_s_min": "fastest step",
    "step_s_max": "slowest step", "step_s_total": "timed", "latency_s_p50": "latency p50",
    "latency_s_p99": "latency p99", "power_mean_w": "power", "energy_j": "energy",
    "mem_peak_bytes": "peak memory", "algbw_gbps": "algbw", "busbw_gbps": "busbw",
    "samples_per_s_per_w": "samples/s/W", "tflop_per_s_per_w": "TFLOP/s/W",
    "burst_power_w": "burst power", "compile_s": "compile",
}
#: The energy figures `energy` derives, in the order a case record holds them.
ENERGY: tuple[str, ...] = ("samples_per_j", "j_per_sample", "samples_per_s_per_w", "tflop_per_s_per_w")
#: What `benchsuite compare --metric` offers, in declaration order.
COMPARED: tuple[str, ...] = tuple(m.name for m in _DECLARED if m.compare)


def metric(name: str) -> Metric:
    """The declaration of ``name``; a KeyError that lists the declared names otherwise."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"no metric {name!r}; declared: {', '.join(METRICS)}") from None


def label(name: str) -> str:
    """A table's header for metric ``name``."""
    return metric(name).label


def heading(name: str) -> str:
    """The header of metric ``name`` in a table whose cells carry their unit (`HEADINGS`)."""
    return HEADINGS.get(name) or metric(name).label


# ----------------------------------------------------------------------------------------
# Derivation: None wherever an input is missing or zero (not measured), never 0.

def throughput(samples_per_step: float | None, step_s: float | None) -> float | None:
    """samples/s: samples per step ÷ step time (s)."""
    return samples_per_step / step_s if samples_per_step is not None and step_s else None


def compute(flops_per_step: float | None, step_s: float | None, *, bytes_per_step: float | None = None,
            peak_tflop_per_s: float | None = None,
            achievable_tflop_per_s: float | None = None) -> dict[str, float | None]:
    """TFLOP/s, % of the datasheet peak and of the calibrated achievable, FLOP/byte."""
    tflops = flops_per_step / step_s / 1e12 if flops_per_step and step_s else None
    return {
        "tflop_per_s": tflops,
        "pct_of_peak": 100.0 * tflops / peak_tflop_per_s if tflops and peak_tflop_per_s else None,
        "pct_of_achievable": 100.0 * tflops / achievable_tflop_per_s if tflops and achievable_tflop_per_s else None,
        "flop_per_byte": flops_per_step / bytes_per_step if flops_per_step and bytes_per_step else None,
    }


def energy(energy_j: float | None, samples_in_window: float | None, power_mean_w: float | None,
           samples_per_s: float | None, tflop_per_s: float | None) -> dict[str, float | None]:
    """samples/J and J/sample from the window's energy (J) and the samples processed in it;
    samples/s/W and TFLOP/s/W from its mean power (W)."""
    measured = bool(energy_j) and bool(samples_in_window)
    return {
        "samples_per_j": samples_in_window / energy_j if measured else None,
        "j_per_sample": energy_j / samples_in_window if measured else None,
        "samples_per_s_per_w": samples_per_s / power_mean_w if power_mean_w and samples_per_s is not None else None,
        "tflop_per_s_per_w": tflop_per_s / power_mean_w if power_mean_w and tflop_per_s else None,
    }


def window_samples(samples_per_step: float | None, steps: int | None, span_s: float | None,
                   window_s: float | None) -> float | None:
    """Samples the device processed during a telemetry window of ``window_s`` seconds: its rate
    over the timed run (``steps`` in ``span_s`` seconds) × the window. The window's edges sit on
    energy-counter updates, not on the timed steps (`benchsuite.timing`), but the device runs
    the same pattern before, during and after them, so energy ÷ these samples is the window's
    mean power × the time per sample of the timed run. Without a span or a window (an older
    record), the ``steps`` themselves (the window held exactly the timed steps)."""
    if samples_per_step is None or not steps:
        return None
    if span_s and window_s:
        return samples_per_step * steps * window_s / span_s
    return samples_per_step * steps


def derive(*, samples_per_step: float, step_s: float, flops_per_step: float | None = None,
           bytes_per_step: float | None = None, peak_tflop_per_s: float | None = None,
           achievable_tflop_per_s: float | None = None, energy_j: float | None = None,
           power_mean_w: float | None = None, samples_in_window: float | None = None,
           devices: int | None = None) -> dict[str, float | None]:
    """Every derived figure of one measurement: samples/s (and per device when ``devices``
    is given), `compute` and `energy`. ``step_s`` is the median (or slowest median) step time."""
    samples_per_s = throughput(samples_per_step, step_s)
    out: dict[str, float | None] = {"samples_per_s": samples_per_s}
    if devices:
        out["samples_per_s_per_device"] = samples_per_s / devices if samples_per_s is not None else None
    out.update(compute(flops_per_step, step_s, bytes_per_step=bytes_per_step, peak_tflop_per_s=peak_tflop_per_s,
                       achievable_tflop_per_s=achievable_tflop_per_s))
    out.update(energy(energy_j, samples_in_window, power_mean_w, samples_per_s, out["tflop_per_s"]))
    return out


#: Burst: the fastest of this many blocks (mamf-finder reports the median of its 5 fastest
#: boost iterations; issue 16 quotes "the best of five blocks right after warm-up").
BURST_BLOCKS = 5
#: ... of at least this much work each: on the H100 the SM clock holds its boost for about
#: 0.1 s after a lighter load (1748 MHz over the first 0.1 s, 1408 to 0.6 s, 1334 after, bf16
#: 8192³), so 5 blocks of 10 ms sit inside it; 80 ms blocks already average it away.
BURST_BLOCK_S = 0.010
#: ... after the device idled this long (mamf-finder's ``mamf_idle_s``, 0.25 s) and 1 untimed step.
BURST_IDLE_S = 0.25


def burst(samples_per_step: float | None, flops_per_step: float | None, block_times_s: list | None,
          steps_per_block: int | None) -> dict[str, float | None]:
    """Burst samples/s and TFLOP/s from the burst blocks (`benchsuite.timing.measure_burst`):
    the fastest block; None where there were no blocks. "% of achievable" never uses these."""
    times = [t for t in (block_times_s or []) if is_number(t) and t > 0]
    if not times or not steps_per_block:
        return {"burst_samples_per_s": None, "burst_tflop_per_s": None}
    best = min(times) / steps_per_block  # seconds per step in the fastest block
    return {"burst_samples_per_s": throughput(samples_per_step, best),
            "burst_tflop_per_s": flops_per_step / best / 1e12 if flops_per_step else None}


#: Latency cases: batch-1 inference (the claims' p50/p99, `benchsuite.claims.verdicts`). They are
#: timed in blocks like every case (throughput, step statistics, the telemetry window), then a
#: latency pass times single steps after the window (`benchsuite.timing.latency_pass`).
LATENCY_BATCH_SIZE = 1
#: The pass: at least this many steps, so that p99 is not simply the slowest step (numpy's linear
#: p99 of 100 steps lies between the two slowest) ...
LATENCY_MIN_STEPS = 100
#: ... and otherwise about this long (s), never longer than the case's timed window (``min_time_s``:
#: 0.2 s under --quick on a CPU), and at most ``TimingSettings.max_step_times`` (10,000) steps: on
#: the H100 a 50 µs batch-1 MLP step reaches the cap in 0.5 s, a 1 ms CPU step gives 1,000 steps.
LATENCY_PASS_S = 1.0
#: ... after this many untimed steps: the first after the host's pause between the timed blocks
#: and the pass (the device is warm from the timed run: no second warm-up).
LATENCY_UNTIMED_STEPS = 1
#: The latency figures, in the order a case record holds them.
LATENCY: tuple[str, ...] = ("latency_s_p50", "latency_s_p99")


def is_latency(mode: str | None, batch_size: int | None) -> bool:
    """Whether a case of this mode and batch size is a latency case (batch-1 inference)."""
    return mode == "infer" and batch_size == LATENCY_BATCH_SIZE


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated linearly between the two nearest
    ranks (numpy's default, so that it agrees with `benchsuite.stats.summarize`)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values; allowed: at least one value")
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def latency(latency_times_s: list | tuple | None) -> dict[str, float | None]:
    """``latency_s_p50`` and ``latency_s_p99`` (s) from the latency pass's single-step times
    (a record's ``timing.latency_times_s``); None where there were none."""
    times = [float(t) for t in (latency_times_s or []) if is_number(t)]
    if not times:
        return dict.fromkeys(LATENCY)
    return {"latency_s_p50": percentile(times, 50), "latency_s_p99": percentile(times, 99)}


def calibration_stale(pct_of_achievable: float | None) -> bool | None:
    """Whether a case's "% achievable" (of its sustained, median-based TFLOP/s) exceeds
    `STALE_PCT_OF_ACHIEVABLE`; None when there is no such figure. A burst figure may rightly
    pass a sustained calibration and never sets it."""
    if pct_of_achievable is None or not is_number(pct_of_achievable) or pct_of_achievable != pct_of_achievable:
        return None
    return pct_of_achievable > STALE_PCT_OF_ACHIEVABLE


def round_energy(energy_j: float | None, rounds_in_window: float | None,
                 samples_per_round: float | None) -> dict[str, float | None]:
    """J per pytest-benchmark round and samples/J, from a window's energy over
    ``rounds_in_window`` rounds (fractional where the window also held calibration and
    warm-up: its duration ÷ one round's time). ``samples_per_round``: None when the test did
    not state its samples (then no samples/J)."""
    if not energy_j or energy_j <= 0 or not rounds_in_window:
        return {"energy_per_round_j": None, "samples_per_j": None}
    per_round = energy_j / rounds_in_window
    return {"energy_per_round_j": per_round,
            "samples_per_j": samples_per_round / per_round if samples_per_round else None}


def directions() -> dict[str, int]:
    """metric -> better-direction of the metrics ``compare`` offers."""
    return {name: METRICS[name].better for name in COMPARED}


def is_number(value: Any) -> bool:
    """An int or float that is not a bool (JSON numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)
