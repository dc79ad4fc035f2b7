"""Scale-out views (torch-free): throughput and efficiency against world size, and collective
bandwidth against message size, as DataFrames, plotly figures and tables.

Scaling efficiency of a case at N ranks = global throughput at N ÷ (N × throughput at 1),
for the same case less its device and world size (workload, mode, precision, batch size
per rank, parameters, on the same kind of device). Where no world-size-1 result of that
case is loaded, speedup and efficiency are left empty rather than guessed.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from benchsuite import keys
from benchsuite.report.format import fmt_value
from benchsuite.report.markup import html_table, markdown

# What joins a case across world sizes (besides its parameters): the case less device and world
# size, on the same device model (`benchsuite.keys.ACROSS_WORLD_SIZES`).
KEY = keys.ACROSS_WORLD_SIZES.fields
SCALING_COLUMNS = ["case", *KEY, "world_size", "samples_per_s", "samples_per_s_per_device",
                   "baseline_samples_per_s", "speedup", "efficiency", "note", "results"]
BANDWIDTH_COLUMNS = ["op", "precision", "device_name", "backend", "world_size", "message_bytes",
                     "step_s_median", "algbw_gbps", "busbw_gbps", "results"]


def _ok(df: pd.DataFrame) -> pd.DataFrame:
    frame = df[df["status"] == "ok"].copy() if "status" in df.columns else df.copy()
    frame["world_size"] = (frame["world_size"] if "world_size" in frame.columns else pd.Series(1, index=frame.index))
    frame["world_size"] = frame["world_size"].fillna(keys.DEFAULTS["world_size"]).astype(int)
    return frame


def _params(frame: pd.DataFrame) -> list[str]:
    return sorted(c for c in frame.columns if c.startswith("param_") and frame[c].notna().any())


def scaling_frame(df: pd.DataFrame) -> pd.DataFrame:
    """One row per case and world size: global and per-device samples/s (the median over
    the loaded results of that case and size), speedup and efficiency against world size 1."""
    frame = _ok(df)
    frame = frame[frame["workload"] != "collective"] if "workload" in frame.columns else frame
    if frame.empty or "samples_per_s" not in frame.columns:
        return pd.DataFrame(columns=SCALING_COLUMNS)
    for column in KEY:  # a field an older file lacks means its default (no exec: eager)
        if column not in frame.columns:
            frame[column] = keys.DEFAULTS.get(column)
        elif column in keys.DEFAULTS:
            frame[column] = frame[column].fillna(keys.DEFAULTS[column])
    params = _params(frame)
    group = [*KEY, *params]
    if "samples_per_s_per_device" not in frame.columns:
        frame["samples_per_s_per_device"] = None
    if "threads" not in frame.columns:
        frame["threads"] = None
    frame["samples_per_s_per_device"] = frame["samples_per_s_per_device"].fillna(
        frame["samples_per_s"] / frame["world_size"])
    grouped = (frame.groupby([*group, "world_size"], dropna=False)
               .agg(samples_per_s=("samples_per_s", "median"),
                    samples_per_s_per_device=("samples_per_s_per_device", "median"),
                    threads=("threads", lambda t: tuple(sorted(set(t.dropna().astype(int))))),
                    results=("samples_per_s", "size"))
               .reset_index())
    base = (grouped[grouped["world_size"] == 1][[*group, "samples_per_s", "threads"]]
            .rename(columns={"samples_per_s": "baseline_samples_per_s", "threads": "baseline_threads"}))
    out = grouped.merge(base, on=group, how="left")
    out["speedup"] = out["samples_per_s"] / out["baseline_samples_per_s"]
    out["efficiency"] = out["samples_per_s"] / (out["world_size"] * out["baseline_samples_per_s"])
    out["note"] = [_threads_note(t, b) for t, b in zip(out["threads"], out["baseline_threads"])]
    out["case"] = [keys.label_of(row, keys.ACROSS_WORLD_SIZES) for row in out.to_dict("records")]
    out = out.sort_values(["case", "world_size"]).reset_index(drop=True)
    return out[[*SCALING_COLUMNS[:-1], *params, "results"]]


def _threads_note(threads, baseline) -> str:
    """CPU threads per rank differ from the world-size-1 run's (torchrun sets OMP_NUM_THREADS=1)."""
    if not isinstance(baseline, tuple) or not threads or not baseline or threads == baseline:
        return ""
    fmt = lambda t: "/".join(map(str, t))  # noqa: E731
    return f"CPU threads per rank {fmt(threads)} vs {fmt(baseline)} at world size 1"


def bandwidth_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Collective cases: algorithm and bus bandwidth (GB/s) against message size, one row per
    op, precision, device kind, world size and size (the median over loaded results)."""
    frame = _ok(df)
    if frame.empty or "busbw_gbps" not in frame.columns:
        return pd.DataFrame(columns=BANDWIDTH_COLUMNS)
    frame = frame[frame["busbw_gbps"].notna()].copy()
    frame["op"] = frame["collective_op"]
    if "step_s_median_slowest" in frame.columns:  # the time the bandwidths come from (merged runs)
        frame["step_s_median"] = frame["step_s_median_slowest"].fillna(frame["step_s_median"])
    for column in ("device_name", "backend", "precision"):
        if column not in frame.columns:
            frame[column] = None
    keys = ["op", "precision", "device_name", "backend", "world_size", "message_bytes"]
    out = (frame.groupby(keys, dropna=False)
           .agg(step_s_median=("step_s_median", "median"), algbw_gbps=("algbw_gbps", "median"),
                busbw_gbps=("busbw_gbps", "median"), results=("busbw_gbps", "size"))
           .reset_index())
    return out.sort_values(keys).reset_index(drop=True)[BANDWIDTH_COLUMNS]


#: a legend holds at most this many entries; past it, cases are grouped by workload and mode
MAX_LEGEND = 12
_LEGEND = dict(font=dict(size=11), orientation="h", yref="container", y=0, yanchor="bottom", x=0)


def scaling_figure(frame: pd.DataFrame):
    """Global samples/s and efficiency against world size, one line per case (plotly); with
    more cases than a legend holds, one colour and legend entry per workload and mode."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("throughput (global)", "scaling efficiency"))
    grouped = frame["case"].nunique() > MAX_LEGEND - 1
    seen: set[str] = set()
    for case, rows in frame.groupby("case", sort=True):
        rows = rows.sort_values("world_size")
        group = f"{rows['workload'].iloc[0]} {rows['mode'].iloc[0]}" if grouped else str(case)
        name = escape(group)  # plotly renders some HTML in names: machine text stays text
        fig.add_trace(go.Scatter(x=rows["world_size"], y=rows["samples_per_s"], mode="lines+markers", name=name,
                                 legendgroup=name, showlegend=group not in seen, text=[escape(str(case))] * len(rows),
                                 hovertemplate="%{text}<br>%{x} ranks: %{y:.3s} samples/s<extra></extra>"),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=rows["world_size"], y=rows["efficiency"], mode="lines+markers", name=name,
                                 legendgroup=name, showlegend=False, text=[escape(str(case))] * len(rows),
                                 hovertemplate="%{text}<br>%{x} ranks: efficiency %{y:.2f}<extra></extra>"),
                      row=1, col=2)
        seen.add(group)
    if not frame.empty:
        sizes = sorted(frame["world_size"].unique())
        fig.add_trace(go.Scatter(x=sizes, y=[1.0] * len(sizes), mode="lines", name="ideal (efficiency 1)",
                                 line={"dash": "dash", "color": "gray"}), row=1, col=2)
        fig.update_xaxes(tickvals=sizes)
    fig.update_xaxes(title_text="world size (ranks)")
    fig.update_yaxes(title_text="samples/s", tickformat="~s", row=1, col=1)
    fig.update_yaxes(title_text="throughput at N ÷ (N × throughput at 1)", row=1, col=2)
    fig.update_layout(title=dict(text="Scaling: global throughput and efficiency against ranks", x=0, xanchor="left"),
                      template="plotly_white",
                      height=480, showlegend=True, legend=_LEGEND, margin=dict(l=60, r=20, t=70, b=40))
    return fig


def bandwidth_metric(world_size: int) -> str:
    """What a collective's bandwidth is judged by: bus bandwidth across ranks; with one rank the
    bus factor is 0 (nothing crosses a link), so the algorithm bandwidth."""
    return "busbw_gbps" if world_size > 1 else "algbw_gbps"


def _byte_ticks(values) -> tuple[list[float], list[str]]:
    sizes = sorted({float(v) for v in values if v == v and v > 0})
    if len(sizes) > 8:
        sizes = sizes[::-(-len(sizes) // 8)]
    return sizes, [fmt_value(v, "bytes").replace(".0 ", " ") for v in sizes]


def bandwidth_figure(frame: pd.DataFrame, metric: str | None = None):
    """Collective bandwidth against message size, one line per op, world size, precision and
    device (plotly; log-scale sizes). ``metric`` None: algbw for one rank and busbw for
    several (`bandwidth_metric`), one panel each when both occur; or force one of them."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from benchsuite.report.figures import log_ticks

    if metric not in (None, "busbw_gbps", "algbw_gbps"):
        raise ValueError(f"metric {metric!r} is not allowed; allowed: busbw_gbps, algbw_gbps")
    pick = (lambda ws: metric) if metric else bandwidth_metric  # noqa: E731
    words = {"busbw_gbps": "bus bandwidth", "algbw_gbps": "algorithm bandwidth"}
    panels = sorted({pick(int(ws)) for ws in frame["world_size"]}, reverse=True) or ["algbw_gbps"]
    titles = [f"{words[m]}, {'one rank' if m == 'algbw_gbps' else 'several ranks'}" if metric is None
              else words[m] for m in panels]
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=titles)
    group = ["op", "world_size", "precision", "device_name"]
    varies = {c: frame[c].nunique(dropna=False) > 1 for c in group}
    for key, rows in frame.groupby(group, dropna=False, sort=True):
        op, ws, prec, device = key
        column = pick(int(ws))
        rows = rows.sort_values("message_bytes")
        words_ = [str(op)] + ([f"{ws} rank{'s' if ws != 1 else ''}"] if varies["world_size"] else []) \
            + ([str(prec)] if varies["precision"] else []) \
            + ([str(device)] if varies["device_name"] and pd.notna(device) else [])
        name = escape(" · ".join(words_))  # only what tells the lines apart; the hover has the rest
        hover = escape(f"{op} ×{ws} {prec} {device if pd.notna(device) else ''}".strip())
        fig.add_trace(go.Scatter(x=rows["message_bytes"], y=rows[column], mode="lines+markers", name=name,
                                 hovertemplate=hover + "<br>%{x:.3s}B: %{y:.3s} GB/s " + words[column]
                                               + "<extra></extra>"),
                      row=1, col=panels.index(column) + 1)
    vals, text = _byte_ticks(frame["message_bytes"])
    fig.update_xaxes(type="log", title_text="message size", tickvals=vals, ticktext=text)
    for i, column in enumerate(panels):
        shown = frame[[pick(int(ws)) == column for ws in frame["world_size"]]][column]
        fig.update_yaxes(title_text=f"{words[column]} (GB/s)", type="log", tickformat="~s", row=1, col=i + 1,
                         **log_ticks(shown))
    what = " and ".join(words[m] for m in panels)
    fig.update_layout(title=dict(text=f"Collectives: {what} against message size", x=0, xanchor="left"),
                      template="plotly_white", height=460,
                      showlegend=True, legend=_LEGEND, margin=dict(l=60, r=20, t=70, b=40))
    return fig


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
    parts = []
    scaled = scaling_frame(df)
    if len(scaled) and (scaled["world_size"] > 1).any():
        shown = scaling_display(scaled)
        parts.append(("Scaling against ranks", shown))
    bandwidth = bandwidth_frame(df)
    if len(bandwidth):
        parts.append(("Collective bandwidth", bandwidth_display(bandwidth)))
    if fmt == "html":
        return "".join(f"<h3>{escape(title)}</h3>" + html_table(frame) for title, frame in parts)
    return "".join(f"\n{title}\n\n" + markdown(frame) for title, frame in parts)
