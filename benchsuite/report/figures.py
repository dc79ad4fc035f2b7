"""Plotly figures from results DataFrames and raw telemetry samples. Never imports torch.

Each function returns a ``plotly.graph_objects.Figure`` or None when the runs hold
nothing to draw (the report then says "not measured"). Text that came from a machine
or a user (case ids, device names, tags) is HTML-escaped before it reaches a label:
plotly renders a subset of HTML in labels.
"""

from __future__ import annotations

import math
import warnings
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from benchsuite import results
from benchsuite.report.hardware import device_labels

# The raw-sample time series: (samples.csv column, legend name, subplot row, scale).
TIMELINE_SERIES = [
    ("power_w", "GPU power (W)", 1, 1.0),
    ("util_gpu_pct", "GPU utilisation (%)", 2, 1.0),
    ("util_mem_pct", "memory-bus utilisation (%)", 2, 1.0),
    ("cpu_util_pct", "CPU utilisation (%)", 2, 1.0),
    ("mem_used_bytes", "GPU memory used (GiB)", 3, 1 / 2**30),
    ("rss_bytes", "process RSS (GiB)", 3, 1 / 2**30),
    ("sm_clock_mhz", "SM clock (MHz)", 4, 1.0),
    ("mem_clock_mhz", "memory clock (MHz)", 4, 1.0),
]
TIMELINE_ROWS = ["power (W)", "utilisation (%)", "memory (GiB)", "clocks (MHz)"]
# Downsampling rule: a series longer than 2·BUCKETS points is cut into BUCKETS equal time
# buckets and each bucket keeps its minimum and its maximum sample (in time order), so
# every peak and trough survives while the report stays small.
CASE_BUCKETS = 150
RUN_BUCKETS = 600
# One colour per precision in every figure (plotly's default qualitative palette).
PRECISION_COLORS = {"fp32": "#636EFA", "tf32": "#00CC96", "bf16": "#EF553B", "fp16": "#AB63FA", "fp8": "#FFA15A"}
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "x", "star", "hexagon"]
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=50, b=50), legend=dict(orientation="h", y=-0.2))


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    frame = df[df["status"] == "ok"].copy() if "status" in df.columns else df.iloc[0:0].copy()
    frame["_device"] = device_labels(frame).values
    return frame


def _color(precision: Any) -> str | None:
    return PRECISION_COLORS.get(str(precision))


def _has(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and pd.to_numeric(df[column], errors="coerce").notna().any()


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def throughput_vs_batch(df: pd.DataFrame) -> go.Figure | None:
    """Samples/s against batch size, one line per workload/mode × precision × device."""
    ok = _ok(df)
    if not _has(ok, "batch_size") or not _has(ok, "samples_per_s"):
        return None
    ok = ok[_num(ok["batch_size"]).notna() & _num(ok["samples_per_s"]).notna()]
    fig = go.Figure()
    for (workload, mode, precision, device), part in ok.groupby(["workload", "mode", "precision", "_device"], sort=True):
        part = part.sort_values("batch_size")
        name = escape(f"{workload}/{mode} {precision} on {device}")
        fig.add_trace(go.Scatter(x=_num(part["batch_size"]), y=_num(part["samples_per_s"]), mode="lines+markers",
                                 name=name, text=[escape(str(i)) for i in part["id"]],
                                 hovertemplate="%{text}<br>batch %{x}<br>%{y:.4s} samples/s<extra></extra>"))
    fig.update_layout(title="Throughput against batch size", xaxis_title="batch size", yaxis_title="samples/s",
                      **LAYOUT)
    fig.update_xaxes(type="log", dtick=math.log10(2))
    fig.update_yaxes(type="log")
    return fig


def _case_labels(ok: pd.DataFrame) -> list[str]:
    multi = ok["_device"].nunique() > 1 or ("run_id" in ok.columns and ok["run_id"].nunique() > 1)
    if not multi:
        return [escape(str(i)) for i in ok["id"]]
    return [escape(f"{i} ({d}, {r})") for i, d, r in zip(ok["id"], ok["_device"], ok.get("run_id", ok["_device"]))]


def energy(df: pd.DataFrame) -> go.Figure | None:
    """Throughput per watt and joules per sample per case (needs measured energy)."""
    ok = _ok(df)
    if not (_has(ok, "samples_per_s_per_w") or _has(ok, "j_per_sample")):
        return None
    ok = ok[_num(ok.get("j_per_sample", pd.Series(dtype=float))).notna()
            | _num(ok.get("samples_per_s_per_w", pd.Series(dtype=float))).notna()]
    labels = _case_labels(ok)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("throughput per watt (samples/s/W)", "energy per sample (J)"))
    for precision, part in ok.groupby("precision", sort=True):
        idx = [ok.index.get_loc(i) for i in part.index]
        x = [labels[i] for i in idx]
        if "samples_per_s_per_w" in part:
            fig.add_trace(go.Bar(x=x, y=_num(part["samples_per_s_per_w"]), name=escape(f"{precision} samples/s/W"),
                                 legendgroup=precision, marker_color=_color(precision)), row=1, col=1)
        if "j_per_sample" in part:
            fig.add_trace(go.Bar(x=x, y=_num(part["j_per_sample"]), name=escape(f"{precision} J/sample"),
                                 legendgroup=precision, marker_color=_color(precision)), row=2, col=1)
    fig.update_layout(title="Energy efficiency", height=650, **LAYOUT)
    fig.update_yaxes(type="log", row=2, col=1)
    return fig


def pct_of_peak(df: pd.DataFrame) -> go.Figure | None:
    """Achieved TFLOP/s as % of the device's dense datasheet peak, per case."""
    ok = _ok(df)
    if not _has(ok, "pct_of_peak"):
        return None
    ok = ok[_num(ok["pct_of_peak"]).notna()]
    labels = _case_labels(ok)
    fig = go.Figure()
    for precision, part in ok.groupby("precision", sort=True):
        idx = [ok.index.get_loc(i) for i in part.index]
        fig.add_trace(go.Bar(x=[labels[i] for i in idx], y=_num(part["pct_of_peak"]), name=escape(precision),
                             marker_color=_color(precision),
                             customdata=np.stack([_num(part.get("tflop_per_s", np.nan)),
                                                  _num(part.get("peak_tflop_per_s", np.nan))], axis=-1),
                             hovertemplate="%{x}<br>%{y:.1f}% of peak<br>%{customdata[0]:.4g} of "
                                           "%{customdata[1]:.4g} TFLOP/s<extra></extra>"))
    fig.update_layout(title="% of datasheet peak (dense TFLOP/s)", yaxis_title="% of peak", **LAYOUT)
    return fig


def roofline(points: pd.DataFrame) -> go.Figure | None:
    """Each case by FLOPs per byte against achieved TFLOP/s, under its device's two
    calibrated ceilings (``report.roofline.roofline_points``); log-log axes."""
    pts = points[_num(points["compute_tflop_per_s"]).notna()] if len(points) else points
    if pts.empty:
        return None
    fig = go.Figure()
    lo = max(float(_num(pts["flop_per_byte"]).min()) / 10, 1e-3)
    hi = float(_num(pts["flop_per_byte"]).max()) * 10
    for (device, precision), part in pts.groupby(["device", "precision"], sort=True):
        compute = float(part["compute_tflop_per_s"].iloc[0])
        bandwidth = float(part["bandwidth_gb_per_s"].iloc[0])
        xs = np.geomspace(lo, hi, 64)
        fig.add_trace(go.Scatter(x=xs, y=np.minimum(compute, bandwidth * xs / 1e3), mode="lines",
                                 name=escape(f"{device} {precision} ceiling"), line={"dash": "dot"},
                                 marker_color=_color(precision)))
        fig.add_trace(go.Scatter(x=_num(part["flop_per_byte"]), y=_num(part["tflop_per_s"]), mode="markers",
                                 name=escape(f"{device} {precision}"), marker_color=_color(precision),
                                 text=[escape(str(i)) for i in part["id"]],
                                 hovertemplate="%{text}<br>%{x:.3g} FLOP/byte<br>%{y:.4g} TFLOP/s<extra></extra>"))
    fig.update_layout(title="Roofline: achieved TFLOP/s against FLOPs per byte, under the calibrated ceilings",
                      xaxis={"type": "log", "title": "FLOPs per byte"},
                      yaxis={"type": "log", "title": "TFLOP/s"}, **LAYOUT)
    return fig


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point beats: lower or equal x (J/sample) and
    higher or equal y (samples/s), strictly better in one."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    front = np.ones(len(x), dtype=bool)
    for i in range(len(x)):
        better = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        front[i] = not better.any()
    return front


def pareto(df: pd.DataFrame) -> list[tuple[str, go.Figure]]:
    """Per workload and mode (train and infer samples/s are not comparable): precision × batch size as throughput against J/sample, marker size the
    peak memory, the Pareto front drawn as a line. Empty when no energy was measured."""
    ok = _ok(df)
    if not _has(ok, "j_per_sample") or not _has(ok, "samples_per_s"):
        return []
    ok = ok[_num(ok["j_per_sample"]).notna() & _num(ok["samples_per_s"]).notna()]
    out = []
    for (workload, mode), part in ok.groupby(["workload", "mode"], sort=True):
        x, y = _num(part["j_per_sample"]).to_numpy(), _num(part["samples_per_s"]).to_numpy()
        mem = _num(part["mem_peak_bytes"]) if "mem_peak_bytes" in part else pd.Series(np.nan, index=part.index)
        if mem.isna().all() and "mem_used_peak_bytes" in part:
            mem = _num(part["mem_used_peak_bytes"])
        top = float(mem.max()) if mem.notna().any() else 0.0
        size = (8 + 30 * np.sqrt(mem.fillna(0) / top)).to_numpy() if top > 0 else np.full(len(part), 12.0)
        fig = go.Figure()
        symbols = {d: SYMBOLS[i % len(SYMBOLS)] for i, d in enumerate(sorted(part["_device"].unique()))}
        for key, sub in part.groupby(["precision", "_device", "mode"], sort=True):
            pos = [part.index.get_loc(i) for i in sub.index]
            text = [escape(str(i)) + (f"<br>peak memory {m / 2**30:.2f} GiB" if m == m else "")
                    for i, m in zip(sub["id"], mem.iloc[pos])]
            fig.add_trace(go.Scatter(x=x[pos], y=y[pos], mode="markers+text", name=escape(" ".join(map(str, key))),
                                     marker=dict(size=size[pos], opacity=0.7, line=dict(width=1), color=_color(key[0]),
                                                 symbol=symbols[key[1]]),
                                     text=[f"bs{b}" if b == b else "" for b in _num(sub["batch_size"])],
                                     textposition="top center", hovertext=text,
                                     hovertemplate="%{hovertext}<br>%{x:.3s} J/sample<br>%{y:.4s} samples/s"
                                                   "<extra></extra>"))
        front = pareto_front(x, y)
        order = np.argsort(x[front])
        fig.add_trace(go.Scatter(x=x[front][order], y=y[front][order], mode="lines+markers", name="Pareto front",
                                 line=dict(color="black", dash="dash"),
                                 marker=dict(symbol="circle-open", size=size[front][order] + 8, color="black"),
                                 hoverinfo="skip"))
        fig.update_layout(title=escape(f"{workload} {mode}: throughput against energy per sample (size: peak memory)"),
                          xaxis_title="J/sample (lower is better)", yaxis_title="samples/s (higher is better)",
                          **LAYOUT)
        fig.update_xaxes(type="log")
        fig.update_yaxes(type="log")
        out.append((f"{workload} {mode}", fig))
    return out


# --------------------------------------------------------------------------- timeline

def read_samples(run_dir: Path) -> pd.DataFrame | None:
    """A run's samples.csv, or None if it has none. Blank cells become NaN / ''."""
    path = Path(run_dir) / results.SAMPLES_FILE
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise results.ResultsError(f"{path}: not a readable telemetry samples file ({exc})") from None
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - 1))
        truncated = fh.read(1) not in (b"\n", b"")
    if truncated and len(frame):  # a crash mid-write: the last row is partial
        warnings.warn(f"{path}:{len(frame) + 1}: truncated last line (a crash mid-write?) was skipped")
        frame = frame.iloc[:-1]
    frame["case_id"] = frame.get("case_id", pd.Series("", index=frame.index)).fillna("").astype(str)
    frame["device"] = frame.get("device", pd.Series("", index=frame.index)).fillna("").astype(str)
    return frame


def downsample(t: np.ndarray, y: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of each of ``buckets`` equal time buckets, in time order (peaks kept).

    Series of at most 2·buckets points are returned as they are.
    """
    keep = ~np.isnan(y)
    t, y = t[keep], y[keep]
    if len(t) <= 2 * buckets:
        return t, y
    span = t[-1] - t[0] or 1.0
    bucket = np.minimum(((t - t[0]) / span * buckets).astype(int), buckets - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(t)]
    picks = []
    for s, e in zip(starts, ends):
        seg = y[s:e]
        lo, hi = s + int(np.argmin(seg)), s + int(np.argmax(seg))
        picks.extend(sorted({lo, hi}))
    idx = np.asarray(picks)
    return t[idx], y[idx]


def _series(frame: pd.DataFrame, t: np.ndarray, buckets: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column, _, _, scale in TIMELINE_SERIES:
        if column not in frame.columns:
            continue
        y = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float) * scale
        if np.isnan(y).all():
            continue
        ts, ys = downsample(t, y, buckets)
        out[column] = {"t": np.round(ts, 3).tolist(), "y": np.round(ys, 3).tolist()}
    return out


def timeline_data(runs: list[tuple[str, pd.DataFrame]], df: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per (run, case) with samples, plus one "whole run" entry per run:
    see :func:`_entry` for the shape; downsampled by the rule above.

    A case's GPU series come from the rows of its own device, CPU ones from ``host`` rows;
    time is seconds from the case's (or run's) first sample.
    """
    device_of = {}
    if not df.empty and "id" in df.columns:
        # samples.csv names GPUs as telemetry does (NVML's numbering), which may differ from torch's
        named = df["telemetry_device"].where(df["telemetry_device"].notna(), df["device"]) \
            if "telemetry_device" in df.columns else df["device"]
        device_of = {(r, i): d for r, i, d in zip(df["run_id"], df["id"], named)}
    entries = []
    for run_id, samples in runs:
        if samples is None or samples.empty or "t_s" not in samples.columns:
            continue
        t_all = pd.to_numeric(samples["t_s"], errors="coerce").to_numpy(dtype=float)
        # One whole-run entry per GPU (several GPUs' readings in one line would zigzag), or
        # a host-only one on a machine without GPUs.
        start = np.nanmin(t_all)
        host = (samples["device"] == "host").to_numpy()
        gpus = sorted(d for d in samples["device"].unique() if d and d != "host")
        for gpu in gpus or [None]:
            mine = (samples["device"] == gpu).to_numpy() if gpu else np.zeros(len(samples), dtype=bool)
            entry = _entry(f"{run_id} · whole run ({gpu or 'host'})",
                           _series(samples[mine], t_all[mine] - start, RUN_BUCKETS),
                           _series(samples[host], t_all[host] - start, RUN_BUCKETS))
            if entry["series"]:
                entries.append(entry)
        in_case = samples[samples["case_id"] != ""]
        for case_id, part in in_case.groupby("case_id", sort=False):
            t = pd.to_numeric(part["t_s"], errors="coerce").to_numpy(dtype=float)
            t = t - np.nanmin(t)
            device = device_of.get((run_id, case_id))
            gpu_rows = (part["device"] == device).to_numpy() if device else (part["device"] != "host").to_numpy()
            host_rows = (part["device"] == "host").to_numpy()
            entry = _entry(f"{run_id} · {case_id}", _series(part[gpu_rows], t[gpu_rows], CASE_BUCKETS),
                           _series(part[host_rows], t[host_rows], CASE_BUCKETS))
            if entry["series"]:
                entries.append(entry)
    return entries


def _entry(label: str, gpu: dict[str, Any], host: dict[str, Any]) -> dict[str, Any]:
    """``{"label", "times": [[s...], ...], "series": {column: {"ti": i, "y": [...]}}}``: series
    sampled at the same instants share one time array (GPU rows, host rows), which keeps
    the page small."""
    merged = dict(gpu)
    for key, value in host.items():
        merged.setdefault(key, value)
    times: list[list[float]] = []
    series = {}
    for column, data in merged.items():
        for index, existing in enumerate(times):
            if existing == data["t"]:
                break
        else:
            times.append(data["t"])
            index = len(times) - 1
        series[column] = {"ti": index, "y": data["y"]}
    return {"label": label, "times": times, "series": series}


def timeline(entries: list[dict[str, Any]]) -> go.Figure | None:
    """The timeline figure drawn with the first entry; the report's case selector swaps
    the data of its fixed traces (one per TIMELINE_SERIES) in place."""
    if not entries:
        return None
    fig = make_subplots(rows=len(TIMELINE_ROWS), cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        subplot_titles=TIMELINE_ROWS)
    first = entries[0]
    for column, name, row, _ in TIMELINE_SERIES:
        data = first["series"].get(column)
        x, y = (first["times"][data["ti"]], data["y"]) if data else ([], [])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name), row=row, col=1)
    fig.update_layout(title="Power, utilisation, memory and clocks over time", height=800, **LAYOUT)
    fig.update_xaxes(title_text="seconds from the first sample of the case (or of the run)",
                     row=len(TIMELINE_ROWS), col=1)
    return fig
