"""Quality flags: every flag a result can carry, declared once with what it means and which
figures it puts in doubt, and the rule of the one flag derived when results are read
(``noisy``). The terminal (`benchsuite explain`, the tables' footnotes) and the HTML report
show the same glossary from here. Pure Python: no torch, numpy or pandas.

Most flags are set where the measurement is made: the telemetry window
(`benchsuite.telemetry.window`: ``quality_flags``), the runner (``l2-flush-in-window``) and
the warm-up (``warmup_settled`` false). ``noisy`` is judged from the figures every case
record holds, so it applies to runs written before it existed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

#: What a flag puts in doubt: the energy figures (J/sample, samples/J, W), the timed figures
#: (throughput, TFLOP/s, step times), or both.
ENERGY, TIME, BOTH = "energy", "time", "both"
#: IQR ÷ median of the recorded distribution above this is ``noisy``: torch.utils.benchmark
#: warns at the same 10 % on its block means (``Measurement._lazy_init``, "IQR ... is more than
#: 10% of the median"). The distribution is the case's block times where it records blocks,
#: else its step times: ``step_s_iqr`` and ``step_s_median`` are computed from it.
NOISY_IQR_RATIO = 0.10


@dataclass(frozen=True)
class Flag:
    """One quality flag: its name as recorded, what it doubts, and its meaning in a sentence."""

    name: str
    doubts: str  # ENERGY, TIME or BOTH
    short: str  # a table's footnote
    meaning: str  # `benchsuite explain`, the report's glossary
    source: str = ""  # where it is set, and the threshold's constant


_DECLARED = (
    Flag("noisy", TIME, "step times spread: IQR over 10 % of the median",
         "the step times spread widely: their interquartile range is over 10 % of the median, "
         "so the throughput is uncertain by about as much; run longer (--min-time) or on a quieter machine",
         "benchsuite.flags.NOISY_IQR_RATIO (torch.utils.benchmark's 10 % warning)"),
    Flag("throttled", BOTH, "the GPU slowed its clocks for over 5 % of the window",
         "the GPU slowed its clocks (power cap, heat, power brake) for over 5 % of the "
         "window: the figures are what this GPU does at its limit, not at full clock",
         "telemetry.window.THROTTLED_SHARE_THRESHOLD"),
    Flag("warmup-not-settled", TIME, "warm-up hit its cap before the step time was steady",
         "the warm-up hit its time cap (--settle-max) before the step time was steady (benchsuite.steady: "
         "four 1 s spans without a trend): the timed steps may have run on a chip still heating up",
         "benchsuite.steady, settings: settle_max_s"),
    Flag("short-window", ENERGY, "energy window too short for its method: the energy is uncertain",
         "the energy window was shorter than its method needs to be within 1 %: 1 s with edges on "
         "energy-counter updates, 8 s with edges read as they come (the counter updates every 100 ms "
         "on an H100), 5 s for integrated power or RAPL (NVML's power readings average over about 1 s; "
         "arXiv 2312.02741)",
         "telemetry.window.MIN_WINDOW_S"),
    Flag("few-samples", ENERGY, "under 10 power readings in the window",
         "fewer than 10 telemetry readings fell inside the window: too few to trust "
         "the power and energy figures", "telemetry.window.MIN_SAMPLES"),
    Flag("counter-integration-mismatch", ENERGY, "energy counter and integrated power over 5 % apart",
         "the GPU's energy counter and the integral of its sampled "
         "power differ by over 5 %: the energy is uncertain by about as much",
         "telemetry.window.MISMATCH_TOLERANCE"),
    Flag("counter-stalled", ENERGY, "the energy counter did not move: integrated power used",
         "the GPU's energy counter did not advance in the window: the energy is "
         "the integral of sampled power instead", "telemetry.window"),
    Flag("counter-reset", ENERGY, "the energy counter went backwards: integrated power used",
         "the GPU's energy counter went backwards (a driver reload?): the energy is "
         "the integral of sampled power instead", "telemetry.window"),
    Flag("other-process", BOTH, "another process used the GPU",
         "another process used the GPU during the window: it shared the chip and its "
         "energy", "telemetry.window"),
    Flag("sampler-errors", ENERGY, "telemetry reads failed during the window",
         "the telemetry sampler failed to read the device during the window: some "
         "readings are missing", "telemetry.window"),
    Flag("l2-flush-in-window", ENERGY, "the energy includes the --flush-l2 writes",
         "--flush-l2 wrote a buffer before every timed step inside the energy "
         "window: the energy includes those writes", "runner"),
    Flag("numerics", BOTH, "its result differs from fp32 eager beyond its precision's tolerance",
         "one step of the case, in its precision and exec mode, differed from the same step in fp32 eager "
         "(a deep copy of the same model, TF32 off) by more than its precision's tolerance (norm-wise "
         "relative error; 4 eps for outputs and the loss, 64 eps for a gradient): fast but wrong is not a "
         "result; the record's numerics section holds the errors",
         "benchsuite.numerics.TOLERANCE"),
    Flag("recompiled", TIME, "compiled again after it was prepared",
         "the step was compiled again (torch.compile) after it was prepared, in warm-up or the timed window: "
         "the figures may hold a compile's time or two versions of the step",
         "benchsuite.exec_modes.Prepared.recompiles"),
    Flag("host-busy", BOTH, "other processes used over 25 % of the CPUs during the window",
         "processes other than the run's own used more than 25 % of all logical CPUs on average during "
         "the window: two jobs sharing a CPU slow each other, so the figures are lower than this CPU "
         "does alone (others_cpu_mean_pct says how busy)",
         "telemetry.window.HOST_BUSY_PCT"),
    Flag("calibration-stale", TIME, "calibration stale (over 105 % of achievable)",
         "the case reached over 105 % of the device's calibrated achievable TFLOP/s (judged on the "
         "sustained figure): the calibration is below what this machine does; recalibrate with "
         "`benchsuite calibrate --force`",
         "benchsuite.metrics.STALE_PCT_OF_ACHIEVABLE"),
)
FLAGS: dict[str, Flag] = {f.name: f for f in _DECLARED}


def flag(name: str) -> Flag:
    """The declaration of ``name``; a KeyError that lists the declared flags otherwise."""
    try:
        return FLAGS[name]
    except KeyError:
        raise KeyError(f"no flag {name!r}; declared: {', '.join(FLAGS)}") from None


def explain(name: str) -> str:
    """``name: meaning`` for `benchsuite explain` and the report's glossary; an undeclared flag
    (from a newer version) is shown by name."""
    known = FLAGS.get(name)
    return f"{name}: {known.meaning}" if known else f"{name}: (not described by this version of benchsuite)"


def footnote(name: str) -> str:
    """``name: short meaning`` for a table's footnote."""
    known = FLAGS.get(name)
    return f"{name}: {known.short}" if known else f"{name}: (not described by this version of benchsuite)"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def noisy(row: Mapping[str, Any]) -> bool:
    """IQR ÷ median of the case's recorded distribution above `NOISY_IQR_RATIO`."""
    iqr, median = _number(row.get("step_s_iqr")), _number(row.get("step_s_median"))
    return iqr is not None and bool(median) and iqr / median > NOISY_IQR_RATIO


def of(row: Mapping[str, Any]) -> list[str]:
    """Every flag of a case (a results DataFrame row or a flat dict): those recorded in
    ``quality_flags``, ``warmup-not-settled``, ``calibration-stale``, ``numerics`` (the check's
    status), and ``noisy`` by its rule; in `FLAGS` order."""
    found = set()
    recorded = row.get("quality_flags")
    if isinstance(recorded, (list, tuple)):
        found.update(str(f) for f in recorded)
    if row.get("warmup_settled") is False:
        found.add("warmup-not-settled")
    if row.get("calibration_stale") in (True,):  # a numpy bool too
        found.add("calibration-stale")
    if row.get("numerics") == "flagged":  # the numerics section's status (`benchsuite.numerics`)
        found.add("numerics")
    if row.get("status", "ok") == "ok" and noisy(row):
        found.add("noisy")
    order = list(FLAGS)
    return sorted(found, key=lambda f: (order.index(f) if f in order else len(order), f))


def doubting(names: Iterable[str], what: str) -> list[str]:
    """The flags among ``names`` that put ``what`` (`ENERGY` or `TIME`) in doubt."""
    return [n for n in names if n in FLAGS and FLAGS[n].doubts in (what, BOTH)
            or n not in FLAGS and what == ENERGY]
