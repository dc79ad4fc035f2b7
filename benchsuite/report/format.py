"""Numbers and units for people, in one place: every table, the compare view, the claims
and the CLI's progress lines format through here (torch-free).

A figure that was not measured reads `MISSING` ('—'), never 0. Each metric's format kind
(`KINDS`) and column label come from its declaration in `benchsuite.metrics` (`columns`).
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


def nbytes(value: Any) -> str:
    """A byte count in binary units: ``512 B``, ``1.5 GiB``."""
    if missing(value):
        return MISSING
    value = float(value)
    for unit in _BYTE_UNITS:
        if value < 1024 or unit == _BYTE_UNITS[-1]:
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


def ratio(value: Any, digits: int = 3) -> str:
    """A plain ratio, ``1.084`` (compare's new/base)."""
    return MISSING if missing(value) else f"{float(value):.{digits}f}"


def times(value: Any) -> str:
    """A speedup or efficiency factor, ``1.84×``."""
    return MISSING if missing(value) else f"{float(value):.2f}×"


def change_pct(value: Any) -> str:
    """A signed change in percent, ``+4.2%``."""
    return MISSING if missing(value) else f"{float(value):+.1f}%"


def with_unit(value: Any, unit: str) -> str:
    """A figure with its unit: seconds below 1 s as ms, ratios as ``12.3×``, percentages with
    two decimals, '—' when not measured; a string is shown as is (with ``%`` when the unit is)."""
    if missing(value):
        return MISSING
    if isinstance(value, str):
        return f"{value} {unit}".strip() if unit == "%" else value
    if unit == "s" and abs(value) < 1:
        return f"{fmt_value(value, 'ms')} ms"
    if unit == "×":
        return f"{num(value)}×"
    if unit == "%":
        return f"{value:.2f} %"
    return f"{num(value)} {unit}".strip()


def columns(*names: str, labels: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """Table columns of metrics: ``{label: (field, format kind)}`` from their declarations;
    ``labels`` overrides a header by metric name where a table says it its own way."""
    labels = labels or {}
    return {labels.get(n, metrics.metric(n).label): (n, metrics.metric(n).kind) for n in names}
