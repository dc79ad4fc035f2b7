"""The hardware comparison: rows are the case key less the device, columns are devices, with
speedup and efficiency ratios against a baseline device (torch-free)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from benchsuite import keys, metrics
from benchsuite.report.format import MISSING, fmt_value, num, times
from benchsuite.report.markup import html_table, markdown

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
