"""Tables from results DataFrames: a run's summary, rendered as text, markdown, csv or json."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

FORMATS = ("table", "markdown", "csv", "json")

# Shown even when every value is missing, so that "not measured" is visible.
ALWAYS = ("samples/s", "step ms (median)", "mean W", "J/sample", "samples/J")
# display name -> (column, how to format)
SUMMARY_COLUMNS = {
    "case": ("id", "text"),
    "status": ("status", "text"),
    "samples/s": ("samples_per_s", "num"),
    "per device/s": ("samples_per_s_per_device", "num"),  # torch.distributed runs: global ÷ world size
    "algbw GB/s": ("algbw_gbps", "num"),  # collectives (nccl-tests formulas)
    "busbw GB/s": ("busbw_gbps", "num"),
    "step ms (median)": ("step_s_median", "ms"),
    "IQR ms": ("step_s_iqr", "ms"),
    "p99 ms": ("step_s_p99", "ms"),
    "TFLOP/s": ("tflop_per_s", "num"),
    "% peak": ("pct_of_peak", "pct"),
    "mean W": ("power_mean_w", "num"),
    "J/sample": ("j_per_sample", "num"),
    "samples/J": ("samples_per_j", "num"),
    "peak mem": ("mem_peak_bytes", "bytes"),
    "notes": ("remark", "text"),
}


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_value(value: Any, how: str) -> str:
    """A figure for people: ``text``, ``num``, ``ms`` (seconds shown as ms), ``pct`` or ``bytes``;
    '—' where it was not measured."""
    if how == "text":
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if how == "ms":
        return _num(float(value) * 1e3)
    if how == "pct":
        return f"{float(value):.1f}%"
    if how == "bytes":
        value = float(value)
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if value < 1024 or unit == "TiB":
                return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
            value /= 1024
    return _num(value)


def _remark(row: pd.Series) -> str:
    parts = []
    reason = row.get("reason")
    if isinstance(reason, str) and reason:
        parts.append(reason)
    notes = row.get("notes")
    if isinstance(notes, list):
        parts.extend(notes)
    flags = row.get("quality_flags")
    if isinstance(flags, list) and flags:
        parts.append("flags: " + ", ".join(flags))
    return "; ".join(parts)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One display row per case: the measured figures, '—' where not measured."""
    frame = df.copy()
    frame["remark"] = frame.apply(_remark, axis=1) if not frame.empty else []
    for name in ALWAYS:
        column = SUMMARY_COLUMNS[name][0]
        if column not in frame.columns:
            frame[column] = None
    columns = {name: (col, how) for name, (col, how) in SUMMARY_COLUMNS.items()
               if col in frame.columns and (how == "text" or name in ALWAYS or frame[col].notna().any())}
    return pd.DataFrame({name: [fmt_value(v, how) for v in frame[col]] for name, (col, how) in columns.items()})


def raw(df: pd.DataFrame) -> pd.DataFrame:
    """The numeric columns behind the summary, for csv/json (scripts never parse pretty text)."""
    wanted = ["id", "workload", "mode", "device", "device_name", "precision", "batch_size", "status", "reason"]
    wanted += [col for col, how in SUMMARY_COLUMNS.values() if how != "text"]
    return df[[c for c in dict.fromkeys(wanted) if c in df.columns]]


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (pipes in cells escaped)."""
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def render(df: pd.DataFrame, fmt: str) -> str:
    """A results DataFrame as markdown, csv or json text (``table`` is drawn by the CLI)."""
    if fmt == "markdown":
        return markdown(summary(df))
    if fmt == "csv":
        return raw(df).to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(raw(df).to_json(orient="records")), indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
