"""Numbers and units for people, in one place: every table, the compare view, the claims
and the CLI's progress lines format through here (torch-free).

A figure that was not measured reads `MISSING` ('—'), never 0. Each metric's unit (`figure`)
comes from its declaration in `benchsuite.metrics`.

Terminal tables show a figure as precisely as it is measured: `DIGITS` (3) significant
figures with an SI prefix (`quantity`: ``86.8 k image/s``, ``438 µJ``, ``1.23 ms``), ratios
with two (`times`: ``0.043×``); ``--precise`` asks for `PRECISE_DIGITS`. json and csv
never pass through here: they carry every digit.
"""

from __future__ import annotations

import math
from typing import Any

from benchsuite import metrics

MISSING = "—"  # a figure that was not measured
#: how a figure is shown: text as is; ``num`` 4 significant-ish digits; ``ms`` seconds shown
#: as milliseconds; ``pct`` a percentage (the value is already ×100); ``bytes`` binary units.
KINDS = ("text", "num", "ms", "pct", "bytes")
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")
#: Significant figures of a figure in a table. Two runs of one case on one GPU move by a few
#: percent (the H100 runs of 2026-11-25: 1-60 % between a --quick and a full run), so a
#: fourth figure is noise.
DIGITS = 3
#: ``--precise``: more figures than any of these measurements resolves.
PRECISE_DIGITS = 7
#: Significant figures of a ratio (speedup, efficiency): ``0.043×``, ``2.0×``, ``150×``.
RATIO_DIGITS = 2
_UP = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_DOWN = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))
#: How a unit takes an SI prefix: ``up`` (k, M, G, T: counts and rates), ``down`` (m, µ, n:
#: seconds), ``both`` (joules), ``binary`` (KiB, MiB: memory), ``fixed`` (already prefixed or
#: a ratio: TFLOP/s, GB/s, %). A unit not listed is a count of things (``image/s``): ``up``.
UNIT_SCALE = {"s": "down", "J": "both", "W": "up", "B": "binary", "%": "fixed", "×": "fixed",
              "TFLOP/s": "fixed", "GB/s": "fixed", "TFLOP/s/W": "fixed", "FLOP/B": "fixed", "1": "fixed"}
#: Units whose prefix joins the unit (``ms``, ``µJ``, ``kW``); a count's prefix stands alone
#: (``86.8 k image/s``).
SI_UNITS = ("s", "J", "W")
#: Shorter words for the samples some workloads count, where a table is narrow.
SHORT_UNITS = {"image": "img", "collective": "op"}


def missing(value: Any) -> bool:
    """None or NaN: not measured."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def num(value: Any) -> str:
    """A number: thousands separated from 100 up, 2 decimals from 1, else 3 significant digits."""
    if missing(value):
        return MISSING
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def nbytes(value: Any, digits: int | None = 0) -> str:
    """A byte count in binary units: ``512 B``, ``1.5 GiB``; with ``digits``, to that many
    significant figures (``1.50 GiB``; None: `PRECISE_DIGITS`)."""
    if missing(value):
        return MISSING
    value = float(value)
    for unit in _BYTE_UNITS:
        if value < 1024 or unit == _BYTE_UNITS[-1]:
            if digits != 0:
                return f"{sig(value, digits)} {unit}"
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def fmt_value(value: Any, how: str) -> str:
    """A figure for people by format kind (`KINDS`); '—' where it was not measured
    (an empty string for missing ``text``)."""
    if how == "text":
        return "" if missing(value) else str(value)
    if missing(value):
        return MISSING
    if how == "ms":
        return num(float(value) * 1e3)
    if how == "pct":
        return f"{float(value):.1f}%"
    if how == "bytes":
        return nbytes(value)
    if how == "num":
        return num(value)
    raise ValueError(f"unknown format kind {how!r}; allowed: {', '.join(KINDS)}")


def times(value: Any, digits: int | None = RATIO_DIGITS) -> str:
    """A speedup or efficiency factor to two significant figures: ``0.043×``, ``1.8×``, ``150×``
    (never ``0.00×``; ``digits`` None: `PRECISE_DIGITS`)."""
    return MISSING if missing(value) else f"{sig(value, digits)}×"


def change_pct(value: Any) -> str:
    """A signed change in percent, ``+4.2%`` (``0.0%`` where it rounds to nothing)."""
    if missing(value):
        return MISSING
    text = f"{float(value):+.1f}%"
    return "0.0%" if text in ("+0.0%", "-0.0%") else text


def sig(value: Any, digits: int | None = DIGITS) -> str:
    """``value`` to ``digits`` significant figures (None: `PRECISE_DIGITS`), never in
    e-notation, thousands separated: 86807 -> ``86,800``, 0.0004384 -> ``0.000438``,
    2.5 -> ``2.50``, 999.7 -> ``1,000``."""
    if missing(value):
        return MISSING
    v = float(value)
    if v == 0 or not math.isfinite(v):
        return "0" if v == 0 else str(v)
    n = digits or PRECISE_DIGITS
    rounded = _round_sig(v, n)
    exponent = math.floor(math.log10(abs(rounded)))
    text = f"{rounded:,.{max(0, n - 1 - exponent)}f}"
    if digits is None and "." in text:  # every digit there is, no padding
        text = text.rstrip("0").rstrip(".")
    return text


def _round_sig(v: float, n: int) -> float:
    return round(v, n - 1 - math.floor(math.log10(abs(v))))


def short_unit(unit: str) -> str:
    """A unit with its counted thing shortened (`SHORT_UNITS`): ``image/s`` -> ``img/s``."""
    return "/".join(SHORT_UNITS.get(part, part) for part in unit.split("/"))


def quantity(value: Any, unit: str = "", digits: int | None = DIGITS) -> str:
    """A figure with its unit, to ``digits`` significant figures with an SI prefix chosen by
    `UNIT_SCALE`: ``86.8 k image/s``, ``438 µJ``, ``4.20 ms``, ``61.3 %``, ``1.50 GiB``; a
    ratio (unit ``×``) with `RATIO_DIGITS`; '—' when not measured."""
    if missing(value):
        return MISSING
    if unit == "×":
        return times(value, None if digits is None else RATIO_DIGITS)
    v = float(value)
    head = unit.partition("/")[0]
    joined = head in SI_UNITS  # J/sample scales as J: 438 µJ/sample
    scale = UNIT_SCALE[head] if joined else UNIT_SCALE.get(unit, "up")
    if scale == "binary":
        return nbytes(v, digits)
    n = digits or PRECISE_DIGITS
    prefix, factor = "", 1.0
    if v != 0 and math.isfinite(v) and scale != "fixed":
        rounded = abs(_round_sig(v, n))
        steps = (_UP if scale in ("up", "both") and rounded >= 1000 else
                 _DOWN if scale in ("down", "both") and rounded < 1 else ())
        for f, p in steps:
            if rounded >= f * (1 - 1e-12) or f == steps[-1][0]:
                prefix, factor = p, f
                break
    number = sig(v / factor, digits)
    if not unit:
        return f"{number} {prefix}".rstrip()
    if joined:
        return f"{number} {prefix}{unit}"
    if unit == "%":
        return f"{number}%"
    return f"{number} {prefix} {unit}" if prefix else f"{number} {unit}"


def figure(value: Any, metric: str, sample_unit: Any = None, digits: int | None = DIGITS) -> str:
    """A metric's value with its declared unit (`benchsuite.metrics`), ``sample`` replaced by
    what the case counts (``image/s``, ``product/J``): ``86.8 k img/s``, ``4.38 mJ/img``."""
    if missing(value):
        return MISSING
    unit = metrics.metric(metric).unit
    if isinstance(sample_unit, str) and sample_unit and "sample" in unit:
        unit = short_unit(unit.replace("sample", sample_unit))
    return quantity(value, unit, digits)
