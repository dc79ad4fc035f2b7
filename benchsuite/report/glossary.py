"""The quality flags a case can carry, what each means, and which ones mark a case red in the
report (torch-free).

A case's flags are `benchsuite.flags.of` (the recorded ``quality_flags`` and the flags judged
when results are read: ``noisy``, ``warmup-not-settled``, ``calibration-stale``), as in the
terminal's tables. The meanings are this module's `GLOSSARY`, and `benchsuite.flags` for a flag
it does not list. Sources are in `benchsuite.telemetry.window` (thresholds named there) and
`benchsuite.runner`.
"""

from __future__ import annotations

from typing import Any

from benchsuite import flags as flags_mod

#: flag -> what it means for the case's figures
GLOSSARY: dict[str, str] = {
    "noisy": "step times spread widely: interquartile range over median above 10 % "
             "(torch.utils.benchmark warns at that level); the throughput may move between runs",
    "numerics": "one step differed from fp32 eager beyond its precision's tolerance (benchsuite.numerics): "
                "its speed is not a result to use",
    "throttled": "the GPU slowed its clocks (a power, thermal or clock cap) during more than 5 % of the "
                 "window; the figures describe the capped GPU",
    "short-window": "the timed window lasted under 5 s: NVML's 1 s power average makes its energy uncertain",
    "few-samples": "fewer than 10 telemetry readings fell inside the window",
    "counter-integration-mismatch": "the energy counter and the integrated power readings disagree by more "
                                    "than 5 %; the counter's figure is used",
    "counter-reset": "the energy counter went backwards (driver reload?); energy from integrated power",
    "counter-stalled": "the energy counter did not advance; energy from integrated power",
    "other-process": "another process used the GPU during the window",
    "sampler-errors": "the telemetry sampler met read errors during the window",
    "l2-flush-in-window": "the L2-cache flush writes ran inside the window: their energy is in the figure",
    "recompiled": "torch.compile compiled the step again after it was prepared: the figures may hold a "
                  "compile's time or two versions of the step",
}
#: flags that make a case's figures unusable or unreliable: its row is marked red
RED: tuple[str, ...] = ("numerics", "noisy")
#: flags that qualify a case's energy figure (J, samples/J, W), not its speed
ENERGY: tuple[str, ...] = ("short-window", "few-samples", "counter-integration-mismatch", "counter-reset",
                           "counter-stalled", "sampler-errors", "l2-flush-in-window")


def case_flags(row: Any) -> list[str]:
    """The quality flags of one case (a results row or record): its recorded ``quality_flags``
    and those judged when it is read (`benchsuite.flags.of`: ``noisy``, ``warmup-not-settled``)."""
    return flags_mod.of(row) if hasattr(row, "get") else []


def is_red(row: Any) -> bool:
    """Whether the case carries a flag in `RED`."""
    return any(f in RED for f in case_flags(row))


def frame_flags(df: Any) -> list[list[str]]:
    """`case_flags` of every row of a results DataFrame, in row order."""
    return [flags_mod.of(row) for row in df.to_dict("records")]


def red_rows(df: Any) -> list[bool]:
    """`is_red` of every row of a results DataFrame, in row order."""
    return [any(f in RED for f in found) for found in frame_flags(df)]


def explain(flag: str) -> str:
    """What ``flag`` means; a flag not in `GLOSSARY` says so."""
    if flag in GLOSSARY:
        return GLOSSARY[flag]
    known = flags_mod.FLAGS.get(flag)  # warmup-not-settled, calibration-stale
    return known.meaning if known else "not described (a flag from a newer benchsuite?)"


def known() -> set[str]:
    """Every flag name the glossary can explain (`GLOSSARY` and `benchsuite.flags.FLAGS`)."""
    return set(GLOSSARY) | set(flags_mod.FLAGS)
