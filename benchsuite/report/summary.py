"""The run summary: the table ``benchsuite run`` closes with, one row per case, as text for the
terminal and markdown, or its numbers as csv and json (torch-free)."""

from __future__ import annotations

import json
import math

import pandas as pd

from benchsuite import metrics
from benchsuite.report.format import columns, fmt_value
from benchsuite.report.markup import markdown

FORMATS = ("table", "markdown", "csv", "json")
# Shown even when every value is missing, so that "not measured" is visible.
ALWAYS = tuple(metrics.label(n) for n in ("samples_per_s", "step_s_median", "power_mean_w", "j_per_sample",
                                          "samples_per_j"))
# display name -> (column, how to format); metric labels and kinds from `benchsuite.metrics`
SUMMARY_COLUMNS = {
    "case": ("id", "text"),
    "status": ("status", "text"),
    **columns("samples_per_s",
              "samples_per_s_per_device",  # torch.distributed runs: global ÷ world size
              "algbw_gbps", "busbw_gbps",  # collectives (nccl-tests formulas)
              "step_s_median", "step_s_iqr", "step_s_p99", "tflop_per_s", "pct_of_peak", "pct_of_achievable",
              "power_mean_w", "j_per_sample", "samples_per_j", "mem_peak_bytes"),
    "notes": ("remark", "text"),
}


def remark(row: pd.Series) -> str:
    """The notes of one case: its reason and notes, the telemetry note, quality flags with the
    share of the window throttled, and a warm-up that did not settle."""
    parts = []
    reason = row.get("reason")
    if isinstance(reason, str) and reason:
        parts.append(reason)
    notes = row.get("notes")
    if isinstance(notes, list):
        parts.extend(notes)
    note = row.get("telemetry_note")
    if isinstance(note, str) and note:
        parts.append(note)
    flags = row.get("quality_flags")
    if isinstance(flags, list) and flags:
        parts.append("flags: " + ", ".join(flags))
        share = row.get("throttled_share")
        if "throttled" in flags and isinstance(share, (int, float)) and not math.isnan(share):
            why = row.get("throttle_slowing_reasons")
            parts.append(f"throttled {100 * share:.0f}% of the window"
                         + (f" ({', '.join(why)})" if isinstance(why, list) and why else ""))
    if row.get("calibration_stale") in (True,):
        parts.append(f"calibration stale ({fmt_value(row.get('pct_of_achievable'), 'pct')} of achievable)")
    if row.get("warmup_settled") is False:
        parts.append(f"warm-up not settled ({fmt_value(row.get('warmup_s'), 'num')} s)")
    return "; ".join(parts)


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """One display row per case: the measured figures, '—' where not measured."""
    frame = df.copy()
    frame["remark"] = frame.apply(remark, axis=1) if not frame.empty else []
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
    wanted += ["peak_tflop_per_s", "achievable_tflop_per_s", "calibration", "calibration_stale", "flop_per_byte",
               "cache_state",
               "warmup_s", "warmup_settled", "throttled_share", "throttled", "quality_flags"]
    return df[[c for c in dict.fromkeys(wanted) if c in df.columns]]


def render(df: pd.DataFrame, fmt: str) -> str:
    """A results DataFrame as markdown, csv or json text (``table`` is drawn by the CLI)."""
    if fmt == "markdown":
        return markdown(summary(df))
    if fmt == "csv":
        return raw(df).to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(raw(df).to_json(orient="records")), indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
