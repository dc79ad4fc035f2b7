"""The report's case tables: every case of the runs, and the cases that did not run with their
reasons (torch-free)."""

from __future__ import annotations

import pandas as pd

from benchsuite import metrics
from benchsuite.report.format import MISSING, columns, fmt_value
from benchsuite.report.summary import remark

NOT_MEASURED = "not measured"
# display name -> (column, how); telemetry columns say "not measured" when a run has none.
CASE_COLUMNS = {
    "case": ("id", "text"),
    "device": ("device_name", "text"),
    "status": ("status", "text"),
    **columns("samples_per_s", "burst_samples_per_s", "tflop_per_s", "pct_of_peak", "step_s_median", "step_s_p99",
              "power_mean_w",
              "j_per_sample", "samples_per_j", "mem_peak_bytes",
              labels={"step_s_median": "p50 ms", "mem_peak_bytes": "peak memory"}),  # this table's own words
}
TELEMETRY_COLUMNS = {col for col, _ in CASE_COLUMNS.values()
                     if col in metrics.METRICS and metrics.METRICS[col].basis == "telemetry"}
#: Columns shown only when some case has them (runs before issue 16 have no burst).
WHEN_MEASURED = {"burst_samples_per_s"}


def cases(df: pd.DataFrame) -> pd.DataFrame:
    """Every case of the runs, one display row each. A telemetry figure of an ok case the
    run did not measure reads "not measured"; other missing figures read "—"."""
    out: dict[str, list[str]] = {}
    several = "run_id" in df.columns and df["run_id"].nunique() > 1
    if several:
        out["run"] = [fmt_value(v, "text") for v in df["run_id"]]
    for name, (col, how) in CASE_COLUMNS.items():
        if col in WHEN_MEASURED and (col not in df.columns or not df[col].notna().any()):
            continue
        values = df[col] if col in df.columns else pd.Series([None] * len(df), index=df.index)
        cells = []
        for value, status in zip(values, df.get("status", pd.Series([""] * len(df), index=df.index))):
            text = fmt_value(value, how)
            if text == MISSING and col in TELEMETRY_COLUMNS and status == "ok":
                text = NOT_MEASURED
            cells.append(text)
        out[name] = cells
    if "peak memory" in out and "mem_used_peak_bytes" in df.columns:  # fall back to NVML's peak
        out["peak memory"] = [fmt_value(b, "bytes") if t == MISSING else t
                              for t, b in zip(out["peak memory"], df["mem_used_peak_bytes"])]
    frame = pd.DataFrame(out)
    frame["notes"] = df.apply(remark, axis=1).tolist() if not df.empty else []
    return frame


def not_run(df: pd.DataFrame) -> pd.DataFrame:
    """The skipped, out-of-memory and failed cases with their reasons."""
    if df.empty or "status" not in df.columns:
        return pd.DataFrame(columns=["case", "run", "status", "reason"])
    bad = df[df["status"] != "ok"]
    return pd.DataFrame({"case": bad["id"].astype(str), "run": bad["run_id"].astype(str),
                         "status": bad["status"].astype(str),
                         "reason": [fmt_value(r, "text") for r in bad.get("reason", pd.Series(index=bad.index))]})
