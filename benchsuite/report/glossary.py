"""The quality flags a case can carry, what each means, and which ones mark a case red in the
report (torch-free).

A case's flags are `benchsuite.flags.of` (the recorded ``quality_flags`` and the flags judged
when results are read: ``noisy``, ``warmup-not-settled``, ``calibration-stale``), as in the
terminal's tables. The meanings are `benchsuite.flags.FLAGS`, the one declaration that
`benchsuite explain` shows too; each flag's source (and its threshold's constant) is named there.
"""

from __future__ import annotations

from typing import Any

from benchsuite import flags as flags_mod

#: flags that make a case's figures unusable or unreliable: its row is marked red
RED: tuple[str, ...] = ("numerics", "noisy")
#: flags that qualify a case's energy figure (J, samples/J, W), not its speed: those
#: `benchsuite.flags` declares as doubting the energy figures only
ENERGY: tuple[str, ...] = tuple(n for n, f in flags_mod.FLAGS.items() if f.doubts == flags_mod.ENERGY)


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
    """What ``flag`` means (`benchsuite.flags.FLAGS`, as `benchsuite explain` shows it); a flag
    not declared there says so."""
    known = flags_mod.FLAGS.get(flag)
    return known.meaning if known else "not described (a flag from a newer benchsuite?)"


def known() -> set[str]:
    """Every flag name the glossary can explain (`benchsuite.flags.FLAGS`)."""
    return set(flags_mod.FLAGS)
