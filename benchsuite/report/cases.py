"""The report's case tables: every case of the runs, and the cases that did not run with their
reasons (torch-free).

"Every case" formats as the terminal does (`benchsuite.report.summary`): three significant
figures with SI-prefixed units in the cells (``86.8 k img/s``, ``1.04 mJ/img``, ``0.981 ms``),
headers from `benchsuite.metrics.heading`, case labels without default parameters
(`benchsuite.report.labels`). A case's reason, notes and quality flags are footnotes: its
``notes`` cell holds markers (``[ac]``) and `footnotes` lists each distinct text once, so a
row stays one line high.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchsuite import keys, metrics
from benchsuite.report import labels, text
from benchsuite.report.format import DIGITS, MISSING, fmt_value
from benchsuite.report.summary import Figure, device_heading, frame_rows, notes_of

NOT_MEASURED = "not measured"
#: The figures of "Every case", in display order: each cell carries its unit (``unit`` None:
#: the metric's own with ``sample`` replaced by what the case counts; ``""``: a bare number
#: under a header naming the unit). ``rank`` is unused here (every column is shown).
CASE_FIGURES = (
    Figure("samples_per_s", 0),
    Figure("burst_samples_per_s", 0),
    Figure("burst_power_w", 0, "W"),
    Figure("burst_sm_clock_mhz", 0, ""),
    Figure("tflop_per_s", 0, ""),
    Figure("pct_of_peak", 0, "%"),
    Figure("step_s_median", 0, "s"),
    Figure("step_s_p99", 0, "s"),
    Figure("latency_s_p50", 0, "s"),
    Figure("latency_s_p99", 0, "s"),
    Figure("power_mean_w", 0, "W"),
    Figure("j_per_sample", 0, None, header="energy/sample"),
    Figure("samples_per_j", 0),
    Figure("mem_peak_bytes", 0, "B"),
    Figure("compile_s", 0, "s"),
)
#: The text columns before the figures and the notes column after them.
TEXT_COLUMNS = ("run", "case", "device", "status")
NOTES = "notes"
#: Telemetry figures: an ok case the run did not measure reads "not measured" rather than "—".
TELEMETRY_COLUMNS = {f.metric for f in CASE_FIGURES if metrics.metric(f.metric).basis == "telemetry"}
#: Figures shown only when some case has them (runs before issue 16 have no burst, its power
#: and SM clock; only compiled cases have a compile time, only latency cases latency figures).
WHEN_MEASURED = {"burst_samples_per_s", "burst_power_w", "burst_sm_clock_mhz", "compile_s",
                 "latency_s_p50", "latency_s_p99"}


def case_notes(df: pd.DataFrame) -> text.Footnotes:
    """The footnotes of every case, in row order (`benchsuite.report.summary.notes_of`: reason,
    notes, missing telemetry, each flag in a few words)."""
    return text.Footnotes(t for r in frame_rows(df) for t in notes_of(r))


def footnotes(df: pd.DataFrame) -> list[tuple[str, str]]:
    """``(marker, text)`` of each distinct footnote of `cases`, in first-seen order."""
    return case_notes(df).notes()


def cases(df: pd.DataFrame, digits: int | None = DIGITS) -> pd.DataFrame:
    """Every case of the runs, one display row each (`table` without its footnotes)."""
    return table(df, digits)[0]


def table(df: pd.DataFrame, digits: int | None = DIGITS) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Every case of the runs, one display row each (module docstring), and its footnotes
    (`footnotes`), from one pass over the rows. ``run`` only when the rows come from several
    runs. A telemetry figure of an ok case the run did not measure reads "not measured"; other
    missing figures read "—"; ``notes`` holds footnote markers."""
    rows = frame_rows(df)
    texts = [notes_of(r) for r in rows]
    notes = text.Footnotes(t for found in texts for t in found)
    several = "run_id" in df.columns and df["run_id"].nunique() > 1
    names = labels.labels(rows, keys.ACROSS_DEVICES) if rows else []
    out: dict[str, list[str]] = {}
    if several:
        out["run"] = [fmt_value(r.get("run_id"), "text") for r in rows]
    out["case"] = names
    out["device"] = [device_heading(r.get("device"), r.get("device_name")) for r in rows]
    out["status"] = [fmt_value(r.get("status"), "text") for r in rows]
    for fig in CASE_FIGURES:
        if fig.metric in WHEN_MEASURED and not any(r.get(fig.metric) is not None for r in rows):
            continue
        cells = []
        for r in rows:
            shown = fig.cell(_with_memory(r) if fig.metric == "mem_peak_bytes" else r, digits)
            if shown == MISSING and fig.metric in TELEMETRY_COLUMNS and r.get("status") == "ok":
                shown = NOT_MEASURED
            cells.append(shown)
        out[fig.title] = cells
    out[NOTES] = [notes.refs(found) for found in texts]
    return pd.DataFrame(out, columns=list(out)), notes.notes()


def _with_memory(row: dict[str, Any]) -> dict[str, Any]:
    """The allocator's peak, else NVML's peak memory used (a run without allocator figures)."""
    if row.get("mem_peak_bytes") is None and row.get("mem_used_peak_bytes") is not None:
        return {**row, "mem_peak_bytes": row["mem_used_peak_bytes"]}
    return row


def not_run(df: pd.DataFrame) -> pd.DataFrame:
    """The skipped, out-of-memory and failed cases with their reasons."""
    if df.empty or "status" not in df.columns:
        return pd.DataFrame(columns=["case", "run", "status", "reason"])
    bad = df[df["status"] != "ok"]
    return pd.DataFrame({"case": bad["id"].astype(str), "run": bad["run_id"].astype(str),
                         "status": bad["status"].astype(str),
                         "reason": [fmt_value(r, "text") for r in bad.get("reason", pd.Series(index=bad.index))]})
