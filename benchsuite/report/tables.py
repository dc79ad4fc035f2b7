"""Tables from results DataFrames: a run's summary, rendered as text, markdown, csv or json."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd

from benchsuite import keys, metrics
from benchsuite.report.format import MISSING, columns, fmt_value, num, times

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


def _remark(row: pd.Series) -> str:
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
    wanted += ["peak_tflop_per_s", "achievable_tflop_per_s", "calibration", "calibration_stale", "flop_per_byte",
               "cache_state",
               "warmup_s", "warmup_settled", "throttled_share", "throttled", "quality_flags"]
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


# ---------------------------------------------------------------------------------------
# Hardware comparison: rows are the case key less the device, columns are devices.

HARDWARE_FORMATS = ("table", "markdown", "csv", "html")
#: A row of the hardware table: the case less its device, so that devices line up as columns.
HARDWARE_KEY = keys.ACROSS_DEVICES
_HW_METRICS = {metrics.label(n): n for n in ("samples_per_s", "samples_per_j", "pct_of_peak")}


def device_labels(df: pd.DataFrame) -> pd.Series:
    """A column label per row: the device name, with ``@host`` (then ``@run``) added only
    where the same name comes from several machines (or runs on one machine)."""
    if df.empty:
        return pd.Series([], dtype=object)
    name = df.get("device_name", pd.Series([None] * len(df), index=df.index))
    name = name.where(name.notna(), df["device"]).astype(str)
    host = df.get("hostname", pd.Series([""] * len(df), index=df.index)).fillna("").astype(str)
    run = df.get("run_id", pd.Series([""] * len(df), index=df.index)).fillna("").astype(str)
    label = name.copy()
    for value in name.unique():
        mask = name == value
        if (host[mask] + "/" + df.loc[mask, "device"].astype(str)).nunique() > 1:
            label[mask] = name[mask] + " @" + host[mask] + " " + df.loc[mask, "device"].astype(str)
    for value in label.unique():
        mask = label == value
        if run[mask].nunique() > 1:
            label[mask] = label[mask] + " @" + run[mask]
    return label


def hardware(df: pd.DataFrame, baseline: str | None = None) -> tuple[pd.DataFrame, list[str], str | None]:
    """The numeric hardware comparison: one row per case key, for each device its
    samples/s, samples/J and % of peak, then speedup (samples/s ratio) and efficiency
    (samples/J ratio) of each other device against ``baseline``.

    Only ``ok`` cases take part. A ratio needs the same case key on both devices;
    anything else is NaN. ``baseline`` matches a device label exactly, else as a
    case-insensitive substring of one label; default: the first device.
    Returns (frame, device labels in column order, baseline label).
    """
    ok = df[df["status"] == "ok"].copy() if "status" in df.columns else df.iloc[0:0]
    ok["_device"] = device_labels(ok).values
    devices = list(dict.fromkeys(ok["_device"]))
    base = _pick_baseline(devices, baseline)
    case_keys = keys.frame_keys(ok, HARDWARE_KEY)
    records = []
    for key in dict.fromkeys(case_keys):
        rows = ok[[k == key for k in case_keys]]  # (a Series == a tuple would compare element-wise)
        rec: dict[str, Any] = {"case": keys.label(key, HARDWARE_KEY)}
        cell = {}
        for dev in devices:
            mine = rows[rows["_device"] == dev]
            last = mine.iloc[-1] if len(mine) else None  # newest run wins when repeated
            cell[dev] = last
            for shown, col in _HW_METRICS.items():
                rec[f"{dev} | {shown}"] = _float(None if last is None else last.get(col))
        for dev in devices:
            if dev == base:
                continue
            for shown, col in (("speedup", "samples_per_s"), ("efficiency", "samples_per_j")):
                a = _float(None if cell[base] is None else cell[base].get(col))
                b = _float(None if cell[dev] is None else cell[dev].get(col))
                rec[f"{dev} | {shown} vs {base}"] = b / a if a == a and b == b and a > 0 else math.nan
        records.append(rec)
    frame = pd.DataFrame(records)
    if not frame.empty:  # drop columns that hold nothing anywhere (e.g. no energy measured)
        frame = frame[["case"] + [c for c in frame.columns[1:] if frame[c].notna().any()]]
    return frame, devices, base


def _float(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _pick_baseline(devices: list[str], wanted: str | None) -> str | None:
    if not devices:
        return None
    if wanted is None:
        return devices[0]
    if wanted in devices:
        return wanted
    hits = [d for d in devices if wanted.lower() in d.lower()]
    if len(hits) == 1:
        return hits[0]
    why = "matches several devices" if hits else "matches no device"
    raise ValueError(f"--baseline {wanted!r} {why}; devices: {', '.join(devices)}")


def hardware_display(frame: pd.DataFrame, devices: list[str], base: str | None) -> pd.DataFrame:
    """Printable hardware table: one cell per device ("12,345/s · 3.2/J · 45.0%"),
    then the ratio columns ("1.84×"); '—' where not measured or not comparable."""
    if frame.empty:
        return pd.DataFrame({"case": []})
    out = pd.DataFrame({"case": frame["case"]})
    for dev in devices:
        parts = []
        for shown, how in (("samples/s", "/s"), ("samples/J", "/J"), ("% peak", "%")):
            col = f"{dev} | {shown}"
            if col in frame.columns:
                parts.append((col, how))
        if not parts:
            continue

        def cell(row, parts=parts):
            shown = [(fmt_value(row[c], "pct")[:-1] if how == "%" else num(row[c])) + how
                     for c, how in parts if row[c] == row[c]]
            return " · ".join(shown) if shown else MISSING

        out[dev + (" (baseline)" if dev == base else "")] = frame.apply(cell, axis=1)
    for col in frame.columns:
        if " vs " in col:
            dev, _, what = col.partition(" | ")
            out[f"{what.split(' vs ')[0]} {dev}"] = [times(v) for v in frame[col]]
    return out


def render_hardware(df: pd.DataFrame, fmt: str, baseline: str | None = None) -> str:
    """The hardware comparison as markdown, csv (numbers) or an escaped HTML table."""
    frame, devices, base = hardware(df, baseline)
    if fmt == "csv":
        return frame.to_csv(index=False)
    shown = hardware_display(frame, devices, base)
    if fmt == "markdown":
        return markdown(shown)
    if fmt == "html":
        return html_table(shown)
    raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(HARDWARE_FORMATS)}")


def html_table(frame: pd.DataFrame, css_class: str = "bs-table") -> str:
    """An HTML table; every header and cell is escaped (they hold machine and user text)."""
    from html import escape

    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="{escape(css_class)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n'


# ---------------------------------------------------------------------------------------
# The report's tables: every case, and the cases that did not run.

NOT_MEASURED = "not measured"
# display name -> (column, how); telemetry columns say "not measured" when a run has none.
CASE_COLUMNS = {
    "case": ("id", "text"),
    "device": ("device_name", "text"),
    "status": ("status", "text"),
    **columns("samples_per_s", "tflop_per_s", "pct_of_peak", "step_s_median", "step_s_p99", "power_mean_w",
              "j_per_sample", "samples_per_j", "mem_peak_bytes",
              labels={"step_s_median": "p50 ms", "mem_peak_bytes": "peak memory"}),  # this table's own words
}
TELEMETRY_COLUMNS = {col for col, _ in CASE_COLUMNS.values()
                     if col in metrics.METRICS and metrics.METRICS[col].basis == "telemetry"}


def cases(df: pd.DataFrame) -> pd.DataFrame:
    """Every case of the runs, one display row each. A telemetry figure of an ok case the
    run did not measure reads "not measured"; other missing figures read "—"."""
    out: dict[str, list[str]] = {}
    several = "run_id" in df.columns and df["run_id"].nunique() > 1
    if several:
        out["run"] = [fmt_value(v, "text") for v in df["run_id"]]
    for name, (col, how) in CASE_COLUMNS.items():
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
    frame["notes"] = df.apply(_remark, axis=1).tolist() if not df.empty else []
    return frame


def not_run(df: pd.DataFrame) -> pd.DataFrame:
    """The skipped, out-of-memory and failed cases with their reasons."""
    if df.empty or "status" not in df.columns:
        return pd.DataFrame(columns=["case", "run", "status", "reason"])
    bad = df[df["status"] != "ok"]
    return pd.DataFrame({"case": bad["id"].astype(str), "run": bad["run_id"].astype(str),
                         "status": bad["status"].astype(str),
                         "reason": [fmt_value(r, "text") for r in bad.get("reason", pd.Series(index=bad.index))]})

def calibration_table(records: list[dict]) -> pd.DataFrame:
    """One display row per device and ceiling of calibration records: achievable beside
    datasheet, '—' where there is no datasheet figure (CPUs). ``notes``: a matmul search
    throttled above `THROTTLED_SHARE_THRESHOLD` of its readings ("throttled 12% of the
    search (sw_power_cap)") or why its telemetry is missing, and a CPU's thread count."""

    def search_note(entry: dict) -> str:
        if entry.get("throttled"):
            reasons = entry.get("throttle_slowing_reasons") or entry.get("throttle_reasons") or []
            return (f"throttled {entry['throttled_share']:.0%} of the search"
                    + (f" ({', '.join(reasons)})" if reasons else ""))
        return entry.get("telemetry_note") or ""

    rows = []
    for rec in records:
        device = f"{rec['device']['id']} ({rec['device']['name']})"
        threads = (f"{rec['threads']} threads" if rec["device"].get("type") == "cpu" and rec.get("threads")
                   else "")
        for name, entry in (rec.get("matmul") or {}).items():
            shape = entry.get("shape")
            rows.append({"device": device, "ceiling": f"matmul {name}", "achievable": fmt_value(entry.get("tflop_per_s"), "num"),
                         "datasheet": fmt_value(entry.get("datasheet_tflop_per_s"), "num"), "unit": "TFLOP/s",
                         "% of datasheet": fmt_value(entry.get("pct_of_datasheet"), "pct"),
                         "found at": "x".join(map(str, shape)) if shape else (entry.get("note") or ""),
                         "notes": "; ".join(n for n in (threads, search_note(entry)) if n)})
        for kind, entry in (rec.get("bandwidth") or {}).items():
            label = {"d2d": "memory copy", "h2d": "host to device", "d2h": "device to host"}.get(kind, kind)
            rows.append({"device": device, "ceiling": label, "achievable": fmt_value(entry.get("gb_per_s"), "num"),
                         "datasheet": fmt_value(entry.get("datasheet_gb_per_s"), "num"), "unit": "GB/s",
                         "% of datasheet": fmt_value(entry.get("pct_of_datasheet"), "pct"),
                         "found at": fmt_value(entry.get("bytes_per_copy"), "bytes") + " moved per copy",
                         "notes": threads})
    return pd.DataFrame(rows, columns=["device", "ceiling", "achievable", "datasheet", "unit", "% of datasheet",
                                       "found at", "notes"])


def scaling_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Printable scaling rows (`report.scaling.scaling_frame`): global and per-device
    throughput, speedup and efficiency against world size 1; '—' where not measured."""
    return pd.DataFrame({
        "case": frame["case"].astype(str),
        "ranks": frame["world_size"].astype(str),
        "samples/s": [fmt_value(v, "num") for v in frame["samples_per_s"]],
        "per device": [fmt_value(v, "num") for v in frame["samples_per_s_per_device"]],
        "speedup": [fmt_value(v, "num") for v in frame["speedup"]],
        "efficiency": [fmt_value(v, "num") for v in frame["efficiency"]],
        "note": [fmt_value(v, "text") for v in frame["note"]],
    })


def bandwidth_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Printable collective bandwidth rows (`report.scaling.bandwidth_frame`)."""
    return pd.DataFrame({
        "op": frame["op"].astype(str), "precision": frame["precision"].astype(str),
        "ranks": frame["world_size"].astype(str),
        "message": [fmt_value(v, "bytes") for v in frame["message_bytes"]],
        "algbw GB/s": [fmt_value(v, "num") for v in frame["algbw_gbps"]],
        "busbw GB/s": [fmt_value(v, "num") for v in frame["busbw_gbps"]],
    })


def render_scale_out(df: pd.DataFrame, fmt: str) -> str:
    """Scaling and collective-bandwidth tables of runs that have them (markdown or HTML);
    empty when the runs hold no multi-rank or collective cases."""
    from benchsuite.report import scaling

    parts = []
    scaled = scaling.scaling_frame(df)
    if len(scaled) and (scaled["world_size"] > 1).any():
        shown = scaling_display(scaled)
        parts.append(("Scaling against ranks", shown))
    bandwidth = scaling.bandwidth_frame(df)
    if len(bandwidth):
        parts.append(("Collective bandwidth", bandwidth_display(bandwidth)))
    if fmt == "html":
        from html import escape

        return "".join(f"<h3>{escape(title)}</h3>" + html_table(frame) for title, frame in parts)
    return "".join(f"\n{title}\n\n" + markdown(frame) for title, frame in parts)
