"""Plotly figures from results DataFrames and raw telemetry samples. Never imports torch.

Each function returns a ``plotly.graph_objects.Figure`` or None when the runs hold
nothing to draw (the report then says "not measured"). Text that came from a machine
or a user (case ids, device names, tags) is HTML-escaped before it reaches a label:
plotly renders a subset of HTML in labels.
"""

from __future__ import annotations

import math
import re
import warnings
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from benchsuite import results
from benchsuite.report.labels import PRECISION_ORDER

#: Device models are told apart by colour (plotly's default qualitative palette, in order) ...
PALETTE = ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880", "#FF97FF",
           "#FECB52"]
#: ... and precisions by marker symbol, the same in every figure (in `labels.PRECISION_ORDER`).
PRECISION_SYMBOLS = {"fp32": "circle", "tf32": "square", "bf16": "diamond", "fp16": "triangle-up", "fp8": "star"}
OTHER_SYMBOLS = ["cross", "x", "hexagon", "pentagon", "star-square"]
#: A legend holds at most this many entries (device models + precisions + a line or two).
MAX_LEGEND = 12
#: Facets: one panel per workload and mode, this many side by side, this tall (px).
FACET_COLUMNS = 2
FACET_ROW_PX = 290
#: Batch-size ticks: at most this many labels on an axis (powers of two are thinned).
MAX_TICKS = 8
LAYOUT = dict(template="plotly_white", font=dict(size=12), title=dict(font=dict(size=15), x=0, xanchor="left"),
              margin=dict(l=60, r=20, t=70, b=40), showlegend=True,
              legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0, font=dict(size=11),
                          title=dict(font=dict(size=11), side="top"), traceorder="normal"))  # entries wrap
#: the legend's title where devices are colours and precisions symbols
KEY_TITLE = "colour: device model · symbol: precision   "


# --------------------------------------------------------------------------- shared encoding

def series_labels(df: pd.DataFrame) -> pd.Series:
    """The colour label of each row: its device model (the device name, else the device id).
    The same GPU model is one colour in every run and on every machine; its runs are separate
    traces of that colour, each named (with its run) in the hover."""
    if df.empty:
        return pd.Series([], dtype=object)
    name = df["device_name"] if "device_name" in df.columns else pd.Series(None, index=df.index)
    return name.where(name.notna(), df["device"]).astype(str)


def _traces(part: pd.DataFrame) -> list[str]:
    """What splits one device model's points into separate lines: the run (lines never join
    the points of two runs), then the precision."""
    return ["_device", "run_id", "precision"] if "run_id" in part.columns else ["_device", "precision"]


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    frame = df[df["status"] == "ok"].copy() if "status" in df.columns else df.iloc[0:0].copy()
    frame["_device"] = series_labels(frame).values if len(frame) else []
    return frame


def _colors(labels: Any, shown: Any = None) -> dict[str, str]:
    """A colour per device label, assigned over every label of the runs (``labels``) so that a
    device keeps its colour in every figure; only those in ``shown`` (default all) returned."""
    every = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(set(map(str, labels))))}
    keep = set(map(str, shown)) if shown is not None else set(every)
    return {label: color for label, color in every.items() if label in keep}


def tick_text(value: float, suffix: str = "", small_si: bool = False) -> str:
    """A tick label: ``2k``, ``1.5M``; below 1 plain (``0.05``) or, with ``small_si``, ``50m``/``500µ``
    (joules: ``500µJ``); ``suffix`` after the number."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor * 0.999:
            return f"{value / factor:g}{prefix}{suffix}"
    if small_si and value < 0.999:
        for factor, prefix in ((1e-3, "m"), (1e-6, "µ"), (1e-9, "n")):
            if value >= factor * 0.999:
                return f"{value / factor:g}{prefix}{suffix}"
    return f"{value:g}{suffix}"


def log_ticks(values: Any, suffix: str = "", small_si: bool = False) -> dict[str, Any]:
    """Tick settings for a log axis over ``values`` that never crowd: plotly's own below a
    decade (a few round values), 1-2-5 per decade up to three decades, and powers of ten
    beyond (plotly's default labels every digit 1-9 of a short log range); labels by
    `tick_text`, every one with ``suffix``."""
    data = pd.to_numeric(pd.Series(list(values)), errors="coerce")
    data = data[data > 0]
    if data.empty:
        return {}
    lo, hi = float(data.min()), float(data.max())
    decades = math.log10(hi / lo)
    if decades >= 0.9:
        steps = (1, 2, 5) if decades <= 3 else (1,)
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                 for m in steps if lo / 1.15 <= m * 10.0**e <= hi * 1.15]
        if len(ticks) >= 2:
            return {"tickvals": ticks, "ticktext": [tick_text(t, suffix, small_si) for t in ticks]}
    return {"nticks": 5}


def _symbol(precision: Any) -> str:
    text = str(precision)
    if text in PRECISION_SYMBOLS:
        return PRECISION_SYMBOLS[text]
    return OTHER_SYMBOLS[sum(map(ord, text)) % len(OTHER_SYMBOLS)]


def _precisions(values: Any) -> list[str]:
    seen = {str(v) for v in values}
    return sorted(seen, key=lambda p: (PRECISION_ORDER.index(p) if p in PRECISION_ORDER else len(PRECISION_ORDER), p))


def _finish(fig: go.Figure, title: str, **layout: Any) -> go.Figure:
    """The shared look (`LAYOUT`), the title (already escaped where it holds machine text), ``layout``."""
    fig.update_layout(**LAYOUT)
    fig.update_layout(title_text=title, **layout)
    return fig


def _has(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and pd.to_numeric(df[column], errors="coerce").notna().any()


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _legend_keys(fig: go.Figure, colors: dict[str, str], precisions: list[str], row: int | None = None,
                 col: int | None = None) -> None:
    """Legend entries that explain the encoding: one per device (its colour; clicking it hides
    the device's traces) and one per precision (its symbol). They hold no data."""
    where = {"row": row, "col": col} if row else {}
    fig.update_layout(legend_title_text=KEY_TITLE)
    for label, color in colors.items():
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines+markers", name=escape(label), legendgroup=label,
                                 line=dict(color=color), marker=dict(color=color, symbol="circle"),
                                 hoverinfo="skip"), **where)
    for precision in precisions:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=escape(precision),
                                 legendgroup=f"precision {precision}",
                                 marker=dict(color="#555", symbol=_symbol(precision), size=9), hoverinfo="skip"),
                      **where)


def _unit(part: pd.DataFrame) -> str:
    """The facet's sample unit, plural: images, products, samples."""
    units = part["sample_unit"].dropna().astype(str).unique() if "sample_unit" in part.columns else []
    return f"{units[0]}s" if len(units) == 1 else "samples"


def batch_ticks(values: Any) -> tuple[list[int], list[str]]:
    """Tick positions and integer labels for a log batch-size axis: the batch sizes present,
    thinned to powers of two at most `MAX_TICKS` when there are more."""
    sizes = sorted({int(v) for v in values if v == v and v > 0})
    if len(sizes) > MAX_TICKS:
        lo, hi = int(math.floor(math.log2(sizes[0]))), int(math.ceil(math.log2(sizes[-1])))
        step = math.ceil((hi - lo + 1) / MAX_TICKS)
        sizes = [2**k for k in range(lo, hi + 1, step)]
    return sizes, [_batch_text(v) for v in sizes]


def _batch_text(size: int) -> str:
    """An integer tick label: ``4096``; a power of two from 2^17 up as ``2<sup>17</sup>`` (short)."""
    if size >= 2**17 and size & (size - 1) == 0:
        return f"2<sup>{size.bit_length() - 1}</sup>"
    return str(size) if size < 100_000 else f"{size:,}"


def _variant(row: Any) -> str:
    """A case's x position where it has no batch size: its parameters (``m=8192,n=8192,k=8192``)."""
    found = re.search(r"\[(.*)\]$", str(row.get("id", "")))
    return escape(found.group(1)).replace(",", ",<br>") if found else "default"


def _hover_names(part: pd.DataFrame, several_runs: bool) -> list[str]:
    if several_runs:
        return [escape(f"{i} (run {r})") for i, r in zip(part["id"], part["run_id"])]
    return [escape(str(i)) for i in part["id"]]


def _facet_grid(titles: list[str], extra_px: int = 0) -> tuple[go.Figure, int, int]:
    n = len(titles)
    cols = 1 if n == 1 else FACET_COLUMNS
    rows = math.ceil(n / cols)
    height = 110 + rows * FACET_ROW_PX + extra_px
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[escape(t) for t in titles],
                        horizontal_spacing=0.14, vertical_spacing=min(0.3, 100 / height) if rows > 1 else 0.1)
    fig.update_layout(height=height)
    return fig, rows, cols


def _facets(ok: pd.DataFrame) -> list[tuple[Any, Any]]:
    return [key for key, _ in ok.groupby(["workload", "mode"], sort=True)]


def _count_axis(fig: go.Figure, values: pd.Series, row: int, col: int, title: str) -> None:
    """A log y axis of counts per second or per joule: SI prefixes from 10 k up, plain below."""
    fmt = "~s" if values.max() >= 1e4 else "~g"  # (for plotly's own ticks, narrow ranges)
    fig.update_yaxes(type="log", tickformat=fmt, title_text=escape(title), row=row, col=col, **log_ticks(values))


def _faceted(df: pd.DataFrame, column: str, per: str, title: str) -> go.Figure | None:
    """``column`` (a count per ``per``) against batch size, one panel per workload and mode;
    devices by colour, precisions by symbol. Cases without a batch size (matmul) are placed by
    their parameters instead."""
    ok = _ok(df)
    if not _has(ok, column):
        return None
    every = ok["_device"]
    ok = ok[_num(ok[column]).notna()]
    if "workload" in ok.columns:
        ok = ok[ok["workload"] != "collective"]  # a collective's figure is bandwidth (its own section)
    if ok.empty:
        return None
    several_runs = "run_id" in ok.columns and ok["run_id"].nunique() > 1
    facets = _facets(ok)
    units = {key: _unit(part) for key, part in ok.groupby(["workload", "mode"], sort=True)}
    fig, rows, cols = _facet_grid([f"{w} {m}" for w, m in facets])
    colors = _colors(every, ok["_device"])
    for n, (key, part) in enumerate(ok.groupby(["workload", "mode"], sort=True)):
        row, col = n // cols + 1, n % cols + 1
        unit = units[key]
        by_batch = "batch_size" in part.columns and _num(part["batch_size"]).notna().all()
        for (device, *_, precision), sub in part.fillna({"run_id": ""}).groupby(_traces(part), sort=True):
            sub = sub.assign(_x=_num(sub["batch_size"]) if by_batch else [_variant({"id": i}) for i in sub["id"]])
            sub = sub.sort_values("_x")
            fig.add_trace(go.Scatter(
                x=sub["_x"].tolist(), y=_num(sub[column]).tolist(), mode="lines+markers", showlegend=False,
                legendgroup=device, name=escape(f"{device} {precision}"),
                line=dict(color=colors[device], width=1.5),
                marker=dict(color=colors[device], symbol=_symbol(precision), size=8),
                text=_hover_names(sub, several_runs),
                hovertemplate="%{text}<br>%{y:.3s} " + escape(f"{unit}/{per}") + "<extra></extra>"), row=row, col=col)
        if by_batch:
            vals, text = batch_ticks(_num(part["batch_size"]))
            fig.update_xaxes(type="log", tickvals=vals, ticktext=text, title_text="batch size", row=row, col=col)
        else:
            fig.update_xaxes(type="category", row=row, col=col)  # the ticks name the parameters
        _count_axis(fig, _num(part[column]), row, col, f"{unit}/{per}")
    _legend_keys(fig, colors, _precisions(ok["precision"]), 1, 1)
    return _finish(fig, escape(title), height=fig.layout.height + 40)


def throughput_vs_batch(df: pd.DataFrame) -> go.Figure | None:
    """Samples/s against batch size: one panel per workload and mode (units never mix)."""
    return _faceted(df, "samples_per_s", "s", "Throughput against batch size")


def energy(df: pd.DataFrame) -> go.Figure | None:
    """Samples per joule against batch size, one panel per workload and mode (needs measured
    energy). Shown once: J/sample is its reciprocal (the Pareto view uses it)."""
    return _faceted(df, "samples_per_j", "J", "Energy efficiency: samples per joule against batch size")


def pct_of_peak(df: pd.DataFrame) -> go.Figure | None:
    """The best % of the device's dense datasheet peak per workload, mode and precision (one
    dot per device; log axis, since a CNN sits near 1 % and a large matmul near 70 %)."""
    ok = _ok(df)
    if not _has(ok, "pct_of_peak"):
        return None
    every = ok["_device"]
    ok = ok[_num(ok["pct_of_peak"]) > 0]
    several_runs = "run_id" in ok.columns and ok["run_id"].nunique() > 1
    best = ok.loc[_num(ok["pct_of_peak"]).groupby([ok["workload"], ok["mode"], ok["precision"], ok["_device"]])
                  .idxmax().values]
    order = sorted({(w, m, p) for w, m, p in zip(best["workload"], best["mode"], best["precision"])},
                   key=lambda k: (k[0], k[1], _precisions([k[2], *PRECISION_ORDER]).index(k[2])))
    rows = [f"{w} {m} · {p}" for w, m, p in order]
    colors = _colors(every, best["_device"])
    fig = go.Figure()
    for (device, precision), sub in best.groupby(["_device", "precision"], sort=True):
        custom = np.stack([_num(sub.get("tflop_per_s", pd.Series(np.nan, index=sub.index))),
                           _num(sub.get("peak_tflop_per_s", pd.Series(np.nan, index=sub.index)))], axis=-1)
        fig.add_trace(go.Scatter(
            x=_num(sub["pct_of_peak"]).tolist(), y=[f"{w} {m} · {p}" for w, m, p in zip(sub["workload"], sub["mode"],
                                                                                         sub["precision"])],
            mode="markers", showlegend=False, legendgroup=device, name=escape(f"{device} {precision}"),
            marker=dict(color=colors[device], symbol=_symbol(precision), size=11, line=dict(width=1, color="#333")),
            text=_hover_names(sub, several_runs), customdata=custom,
            hovertemplate="%{text}<br>%{x:.2g}% of peak: %{customdata[0]:.3g} of %{customdata[1]:.3g} TFLOP/s"
                          "<extra></extra>"))
    _legend_keys(fig, colors, _precisions(best["precision"]))
    lo = max(1e-3, float(_num(best["pct_of_peak"]).min()) / 2)
    ticks = [t for t in (0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100) if lo <= t <= 100]
    fig.update_xaxes(type="log", range=[math.log10(lo), 2.05], tickvals=ticks, ticktext=[f"{t:g}%" for t in ticks],
                     title_text="% of the datasheet's dense peak TFLOP/s (best batch size of each)")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(reversed(rows)), title_text="")
    return _finish(fig, "Compute: best % of datasheet peak per workload and precision", height=170 + 26 * len(rows),
                   margin_l=150)


def roofline(points: pd.DataFrame) -> go.Figure | None:
    """Each case by FLOPs per byte against achieved TFLOP/s, under its device's two
    calibrated ceilings (``report.roofline.roofline_points``); log-log axes; devices by
    colour, precisions by symbol, each ceiling dotted in its device's colour."""
    pts = points[_num(points["compute_tflop_per_s"]).notna()] if len(points) else points
    if pts.empty:
        return None
    fig = go.Figure()
    lo = max(float(_num(pts["flop_per_byte"]).min()) / 10, 1e-3)
    hi = float(_num(pts["flop_per_byte"]).max()) * 10
    colors = _colors(pts["device"])
    for (device, precision), part in pts.groupby(["device", "precision"], sort=True):
        compute = float(part["compute_tflop_per_s"].iloc[0])
        bandwidth = float(part["bandwidth_gb_per_s"].iloc[0])
        xs = np.geomspace(lo, hi, 64)
        fig.add_trace(go.Scatter(x=xs, y=np.minimum(compute, bandwidth * xs / 1e3), mode="lines", showlegend=False,
                                 name=escape(f"{device} {precision} ceiling"), legendgroup=str(device),
                                 line=dict(dash="dot", color=colors[str(device)]),
                                 hovertemplate=escape(f"{device} {precision} ceiling") + "<br>%{y:.3g} TFLOP/s"
                                                                                        "<extra></extra>"))
        fig.add_trace(go.Scatter(x=_num(part["flop_per_byte"]), y=_num(part["tflop_per_s"]), mode="markers",
                                 showlegend=False, legendgroup=str(device), name=escape(f"{device} {precision}"),
                                 marker=dict(color=colors[str(device)], symbol=_symbol(precision), size=9),
                                 text=[escape(str(i)) for i in part["id"]],
                                 hovertemplate="%{text}<br>%{x:.3g} FLOP/byte<br>%{y:.3g} TFLOP/s<extra></extra>"))
    _legend_keys(fig, colors, _precisions(pts["precision"]))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="calibrated ceiling",
                             line=dict(dash="dot", color="#555"), hoverinfo="skip"))
    return _finish(fig, "Roofline: achieved TFLOP/s against FLOPs per byte, under the calibrated ceilings",
                   xaxis={"type": "log", "title": "FLOPs per byte"}, yaxis={"type": "log", "title": "TFLOP/s"},
                   height=520)


def pareto_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point beats: lower or equal x (J/sample) and
    higher or equal y (samples/s), strictly better in one."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    front = np.ones(len(x), dtype=bool)
    for i in range(len(x)):
        better = (x <= x[i]) & (y >= y[i]) & ((x < x[i]) | (y > y[i]))
        front[i] = not better.any()
    return front


def _batch_label(value: Any) -> str:
    """``bs4096`` (never ``bs4096.0``); '' without a batch size."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    return f"bs{int(number)}" if number == number else ""


#: a Pareto label is drawn only this far (a share of the panel's log span) from the last one drawn
LABEL_GAP = 0.08
#: px between a Pareto point's marker edge and its batch label
LABEL_CLEAR_PX = 3


def _spaced_labels(labels: list[str], fx: np.ndarray, fy: np.ndarray, x: np.ndarray, y: np.ndarray) -> list[str]:
    """The front's batch labels, less those that would sit on the previous one drawn (close in
    log space, or the same text): crowded labels read as none."""
    span = [max(float(np.log10(v.max() / v.min())), 1e-9) for v in (x, y)]
    out, last = [], None
    for label, a, b in zip(labels, np.log10(fx), np.log10(fy)):
        far = last is None or max(abs(a - last[0]) / span[0], abs(b - last[1]) / span[1]) > LABEL_GAP
        if label and far and (last is None or label != last[2]):
            out.append(label)
            last = (a, b, label)
        else:
            out.append("")
    return out


def pareto(df: pd.DataFrame) -> go.Figure | None:
    """Throughput against energy per sample, one panel per workload and mode (train and infer
    samples/s are not comparable): devices by colour, precisions by symbol, marker size the
    peak memory, the Pareto front dashed with its points' batch sizes. None without energy."""
    ok = _ok(df)
    if not _has(ok, "j_per_sample") or not _has(ok, "samples_per_s"):
        return None
    every = ok["_device"]
    ok = ok[_num(ok["j_per_sample"]).notna() & _num(ok["samples_per_s"]).notna()]
    if "workload" in ok.columns:
        ok = ok[ok["workload"] != "collective"]
    if ok.empty:
        return None
    several_runs = "run_id" in ok.columns and ok["run_id"].nunique() > 1
    facets = _facets(ok)
    fig, rows, cols = _facet_grid([f"{w} {m}" for w, m in facets])
    colors = _colors(every, ok["_device"])
    mem = _num(ok["mem_peak_bytes"]) if "mem_peak_bytes" in ok else pd.Series(np.nan, index=ok.index)
    if "mem_used_peak_bytes" in ok:
        mem = mem.fillna(_num(ok["mem_used_peak_bytes"]))
    top = float(mem.max()) if mem.notna().any() else 0.0
    size = pd.Series((7 + 16 * np.sqrt(mem.fillna(0) / top)) if top > 0 else np.full(len(ok), 10.0), index=ok.index)
    for n, (key, part) in enumerate(ok.groupby(["workload", "mode"], sort=True)):
        row, col = n // cols + 1, n % cols + 1
        unit = _unit(part)
        x, y = _num(part["j_per_sample"]).to_numpy(), _num(part["samples_per_s"]).to_numpy()
        for (device, precision), sub in part.groupby(["_device", "precision"], sort=True):
            text = [name + (f"<br>peak memory {m / 2**30:.2f} GiB" if m == m else "")
                    for name, m in zip(_hover_names(sub, several_runs), mem.loc[sub.index])]
            fig.add_trace(go.Scatter(
                x=_num(sub["j_per_sample"]).tolist(), y=_num(sub["samples_per_s"]).tolist(), mode="markers",
                showlegend=False, legendgroup=device, name=escape(f"{device} {precision}"),
                marker=dict(size=size.loc[sub.index].tolist(), opacity=0.8, line=dict(width=1, color="#333"),
                            color=colors[device], symbol=_symbol(precision)),
                hovertext=text, hovertemplate="%{hovertext}<br>%{x:.3s}J per " + escape(unit[:-1]) + "<br>%{y:.3s} "
                                              + escape(unit) + "/s<extra></extra>"), row=row, col=col)
        front = pareto_front(x, y)
        order = np.argsort(x[front])
        labels = [_batch_label(b) for b in part["batch_size"].to_numpy()[front][order]] \
            if "batch_size" in part.columns else None
        fx, fy = x[front][order], y[front][order]
        fig.add_trace(go.Scatter(x=fx.tolist(), y=fy.tolist(), mode="lines", name="Pareto front", legendgroup="pareto",
                                 showlegend=n == 0, line=dict(color="black", dash="dash", width=1), hoverinfo="skip"),
                      row=row, col=col)
        if labels:
            radius = size.loc[part.index].to_numpy()[front][order] / 2
            for label, a, b, r in zip(_spaced_labels(labels, fx, fy, x, y), fx, fy, radius):
                if label:  # above its marker, clear of it (annotations on a log axis take log10 positions)
                    fig.add_annotation(x=math.log10(a), y=math.log10(b), text=label, showarrow=False,
                                       yshift=float(r) + LABEL_CLEAR_PX, yanchor="bottom", font=dict(size=10),
                                       bgcolor="rgba(255,255,255,0.75)", borderpad=1, row=row, col=col)
        fig.update_xaxes(type="log", tickformat="~s", ticksuffix="J", title_text=escape(f"J per {unit[:-1]}"),
                         row=row, col=col, **log_ticks(x, "J", small_si=True))
        fig.update_yaxes(type="log", tickformat="~s", title_text=escape(f"{unit}/s"), row=row, col=col,
                         **log_ticks(y))
    _legend_keys(fig, colors, _precisions(ok["precision"]), 1, 1)
    return _finish(fig, "Throughput against energy per sample (up and left is better; marker size: peak memory)",
                   height=fig.layout.height + 40)


# --------------------------------------------------------------------------- timeline

# The raw-sample time series: (samples.csv column, legend name, panel, scale). The power limit
# is not a sampled series: it is the run header's enforced limit of the GPU, drawn across the
# case (its samples.csv column is only the fallback).
LIMIT = "power_limit_w"
TIMELINE_SERIES = [
    ("power_w", "GPU power (W)", 1, 1.0),
    (LIMIT, "power limit (W)", 1, 1.0),
    ("util_gpu_pct", "GPU utilisation (%)", 2, 1.0),
    ("util_mem_pct", "memory-bus utilisation (%)", 2, 1.0),
    ("cpu_util_pct", "CPU utilisation (%)", 2, 1.0),
    ("mem_used_bytes", "GPU memory used (GiB)", 3, 1 / 2**30),
    ("rss_bytes", "process RSS (GiB)", 3, 1 / 2**30),
    ("sm_clock_mhz", "SM clock (MHz)", 4, 1.0),
    ("mem_clock_mhz", "memory clock (MHz)", 4, 1.0),
    ("temp_c", "GPU temperature (°C)", 5, 1.0),
]
TIMELINE_ROWS = ["power (W)", "utilisation (%)", "memory (GiB)", "clocks (MHz)", "temperature (°C)"]
#: The y range of a utilisation panel (%): 0-100 and a little room so a line at 100 % stays visible.
UTILISATION_RANGE = (0, 104)
#: The panels of CPU cases and GPU-less runs: what the host sampler reads (no power, clock or
#: temperature: NVML reads GPUs only).
HOST_SERIES = [("cpu_util_pct", "CPU utilisation (%)", 1, 1.0), ("rss_bytes", "process RSS (GiB)", 2, 1 / 2**30)]
HOST_ROWS = ["CPU utilisation (%)", "process memory (GiB)"]
#: Series that only a GPU's rows hold: an entry with one of them is drawn in the GPU figure.
GPU_COLUMNS = frozenset(c for c, *_ in TIMELINE_SERIES) - {c for c, *_ in HOST_SERIES} - {LIMIT}
# Downsampling rule: a series longer than 2·BUCKETS points is cut into BUCKETS equal time
# buckets and each bucket keeps its minimum and its maximum sample (in time order), so
# every peak and trough survives while the report stays small.
CASE_BUCKETS = 150
RUN_BUCKETS = 600
_STYLE = {"power_w": dict(color="#1f77b4"), LIMIT: dict(color="#d62728", dash="dash", width=1.5),
          "temp_c": dict(color="#ff7f0e")}

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
        if column not in frame.columns or column == LIMIT:
            continue
        y = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float) * scale
        if np.isnan(y).all():
            continue
        ts, ys = downsample(t, y, buckets)
        out[column] = {"t": np.round(ts, 3).tolist(), "y": np.round(ys, 3).tolist()}
    return out


def power_limit(header: dict | None, gpu: str | None, rows: pd.DataFrame | None = None) -> float | None:
    """The enforced power limit (W) of telemetry device ``gpu`` ("cuda:<NVML index>") from the run
    header's ``telemetry.gpus``; else the highest ``power_limit_w`` the samples read; else None."""
    if gpu and gpu.startswith("cuda:"):
        index = gpu.split(":", 1)[1]
        for item in ((header or {}).get("telemetry") or {}).get("gpus") or []:
            if str(item.get("index")) == index:
                limit = item.get("enforced_power_limit_w") or item.get("power_limit_w")
                if isinstance(limit, (int, float)):
                    return float(limit)
    if rows is not None and LIMIT in rows.columns:
        read = pd.to_numeric(rows[LIMIT], errors="coerce")
        if read.notna().any():
            return float(read.max())
    return None


def _with_limit(series: dict[str, Any], limit: float | None) -> dict[str, Any]:
    """The GPU series plus the power limit as a flat line across the power series' span."""
    power = series.get("power_w")
    if limit is None or not power or not power["t"]:
        return series
    return {**series, LIMIT: {"t": [power["t"][0], power["t"][-1]], "y": [limit, limit]}}


def timeline_data(runs: list[tuple[str, pd.DataFrame]], df: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per (run, case) with samples, plus one "whole run" entry per run:
    see :func:`_entry` for the shape; downsampled by the rule above.

    A case's GPU series come from the rows of its own device, CPU ones from ``host`` rows;
    time is seconds from the case's (or run's) first sample. GPU entries carry the power
    limit from their run's header (`power_limit`).
    """
    device_of = {}
    if not df.empty and "id" in df.columns:
        # samples.csv names GPUs as telemetry does (NVML's numbering), which may differ from torch's
        named = df["telemetry_device"].where(df["telemetry_device"].notna(), df["device"]) \
            if "telemetry_device" in df.columns else df["device"]
        device_of = {(r, i): d for r, i, d in zip(df["run_id"], df["id"], named)}
    headers = {(r.get("header") or {}).get("run_id"): r.get("header") for r in df.attrs.get("runs", [])}
    entries = []
    for run_id, samples in runs:
        if samples is None or samples.empty or "t_s" not in samples.columns:
            continue
        t_all = pd.to_numeric(samples["t_s"], errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(t_all).any():  # no readable time stamp: nothing to draw against
            continue
        # One whole-run entry per GPU (several GPUs' readings in one line would zigzag), or
        # a host-only one on a machine without GPUs.
        start = np.nanmin(t_all)
        host = (samples["device"] == "host").to_numpy()
        gpus = sorted(d for d in samples["device"].unique() if d and d != "host")
        for gpu in gpus or [None]:
            mine = (samples["device"] == gpu).to_numpy() if gpu else np.zeros(len(samples), dtype=bool)
            limit = power_limit(headers.get(run_id), gpu, samples[mine]) if gpu else None
            entry = _entry(f"{run_id} · whole run ({gpu or 'host'})",
                           _with_limit(_series(samples[mine], t_all[mine] - start, RUN_BUCKETS), limit),
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
            gpu = device if device and str(device).startswith("cuda") else None
            limit = power_limit(headers.get(run_id), gpu, part[gpu_rows]) if gpu_rows.any() else None
            entry = _entry(f"{run_id} · {case_id}",
                           _with_limit(_series(part[gpu_rows], t[gpu_rows], CASE_BUCKETS), limit),
                           _series(part[host_rows], t[host_rows], CASE_BUCKETS))
            if entry["series"]:
                entries.append(entry)
    return entries


def _entry(label: str, gpu: dict[str, Any], host: dict[str, Any]) -> dict[str, Any]:
    """``{"label", "gpu", "times": [[s...], ...], "series": {column: {"ti": i, "y": [...]}}}``:
    ``gpu`` says whether it holds GPU readings (else it is drawn with the host panels only);
    series sampled at the same instants share one time array (GPU rows, host rows), which
    keeps the page small."""
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
    return {"label": label, "gpu": bool(GPU_COLUMNS & set(series)), "times": times, "series": series}


def timeline_layout(gpu: bool) -> tuple[list[tuple[str, str, int, float]], list[str]]:
    """(series, panel titles) of the GPU timeline or of the host-only one."""
    return (TIMELINE_SERIES, TIMELINE_ROWS) if gpu else (HOST_SERIES, HOST_ROWS)


def timeline(entries: list[dict[str, Any]], gpu: bool = True) -> go.Figure | None:
    """The timeline figure drawn with the first entry; the report's case selector swaps
    the data of its fixed traces (one per series of `timeline_layout`) in place. ``gpu``:
    the five GPU panels (power with the limit line, utilisation, memory, clocks,
    temperature), else the two host panels of CPU cases."""
    if not entries:
        return None
    series, panels = timeline_layout(gpu)
    fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, vertical_spacing=0.3 / len(panels),
                        subplot_titles=panels)
    first = entries[0]
    for column, name, row, _ in series:
        data = first["series"].get(column)
        x, y = (first["times"][data["ti"]], data["y"]) if data else ([], [])
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line=_STYLE.get(column, {})), row=row, col=1)
    what = "Power against its limit, utilisation, memory, clocks and temperature" if gpu else \
        "CPU cases: utilisation and process memory"
    _finish(fig, f"{what} over time", height=120 + 170 * len(panels))
    for row, title in enumerate(panels, start=1):
        if title.endswith("(%)"):  # a fixed 0-100 % scale: a flat 100 % reads as full, not as a 99-101 band
            fig.update_yaxes(range=list(UTILISATION_RANGE), autorange=False, tickvals=[0, 25, 50, 75, 100],
                             ticktext=["0%", "25%", "50%", "75%", "100%"], row=row, col=1)
    fig.update_xaxes(title_text="seconds from the first sample of the case (or of the run)", row=len(panels), col=1)
    return fig
