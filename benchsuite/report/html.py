"""One self-contained HTML report from results files. Never imports torch.

plotly.js is inlined once in the page head, so the file opens with no network; each
figure is a ``<div>`` plus its data. Every string that came from a user or a machine
(tags, hostnames, commands, parameters, error messages) is HTML-escaped, and data handed
to scripts is JSON with ``<``, ``>`` and ``&`` escaped, so nothing in a results file can
close a tag or run a script.
"""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from benchsuite import calibration_store, files, fingerprint, results
from benchsuite.claims import store as claims_store
from benchsuite.report import claims as claims_report
from benchsuite.report import cases, figures, hardware, roofline, scaling
from benchsuite.report.markup import html_table

CONFIG = {"displaylogo": False, "responsive": True}


def _script_json(data: Any) -> str:
    """JSON safe to put inside a <script> element."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _figure(fig, div_id: str) -> str:
    return fig.to_html(include_plotlyjs=False, full_html=False, div_id=div_id, config=CONFIG)


def _kv(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(str(k))}</th><td>{escape(_text(v))}</td></tr>" for k, v in rows)
    return f'<table class="bs-kv">{body}</table>'


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "—"
    return str(value)


def _run_section(run: dict[str, Any]) -> str:
    h = run.get("header") or {}
    host = h.get("host") or {}
    rows = [
        ("run id", h.get("run_id")), ("tag", h.get("tag")), ("status", run.get("status")),
        ("started", h.get("started_at")), ("command", h.get("command")), ("file", run.get("path")),
        ("machine", f"{_text(host.get('hostname'))} ({_text(host.get('os'))})"),
        ("CPU", f"{_text(host.get('cpu_model'))}, governor {_text(host.get('cpu_governor'))}"),
        ("versions", f"benchsuite {_text(h.get('benchsuite'))}, python {_text(host.get('python'))}, "
                     f"torch {_text(host.get('torch'))}, CUDA runtime {_text(host.get('cuda_runtime'))}, "
                     f"NVIDIA driver {_text(host.get('driver'))}"),
        ("threads", h.get("threads")),
    ]
    for dev in h.get("devices") or []:
        mem = dev.get("memory_bytes")
        sheet = dev.get("datasheet") or {}
        detail = [dev.get("name"), f"{mem / 2**30:.1f} GiB" if isinstance(mem, (int, float)) else None,
                  f"compute capability {dev['compute_capability']}" if dev.get("compute_capability") else None,
                  f"datasheet: {sheet.get('model')}" if sheet else "no datasheet peak"]
        rows.append((f"device {dev.get('id')}", ", ".join(str(d) for d in detail if d)))
    fp = fingerprint.fingerprint(h)
    rows.append(("fingerprint", "; ".join(f"{k}={v}" for k, v in sorted(fp.items())) or "not recorded"))
    problems = "".join(f'<p class="bs-warn">{escape(p)}</p>' for p in run.get("problems") or [])
    return f"<h3>Run {escape(_text(h.get('run_id')))}</h3>{_kv(rows)}{problems}"


def _timeline_section(entries: list[dict[str, Any]]) -> str:
    fig = figures.timeline(entries)
    if fig is None:
        return "<p>Not measured: the runs have no raw telemetry samples (samples.csv).</p>"
    options = "".join(f'<option value="{i}">{escape(e["label"])}</option>' for i, e in enumerate(entries))
    columns = [c for c, *_ in figures.TIMELINE_SERIES]
    script = f"""<script>
(function() {{
  var entries = {_script_json(entries)};
  var columns = {_script_json(columns)};
  var select = document.getElementById("bs-timeline-select");
  select.addEventListener("change", function() {{
    var entry = entries[Number(select.value)], series = entry.series;
    var xs = columns.map(function(c) {{ return series[c] ? entry.times[series[c].ti] : []; }});
    var ys = columns.map(function(c) {{ return series[c] ? series[c].y : []; }});
    Plotly.restyle("bs-timeline", {{x: xs, y: ys}}, columns.map(function(_, i) {{ return i; }}));
  }});
}})();
</script>"""
    return (f'<p><label for="bs-timeline-select">case: </label><select id="bs-timeline-select">{options}</select> '
            f'<span class="bs-note">{len(entries)} entries; series longer than {2 * figures.CASE_BUCKETS} points '
            f'(whole runs: {2 * figures.RUN_BUCKETS}) keep the minimum and maximum of each time bucket.</span></p>'
            + _figure(fig, "bs-timeline") + script)


def build(df: pd.DataFrame, samples: list[tuple[str, pd.DataFrame | None]], problems: list[str] | None = None,
          baseline: str | None = None, claims: list[list[dict]] | None = None,
          calibrations: list[dict] | None = None) -> str:
    """The report page as one HTML string; ``claims`` holds the claims table of each
    claims run given (see `benchsuite claims`)."""
    import plotly.offline

    runs = df.attrs.get("runs", [])
    parts: list[str] = []
    parts.append("<h2>Runs</h2>" + "".join(_run_section(r) for r in runs))
    if len(runs) > 1:
        for line in fingerprint.warning_lines(runs, gpus_paired=False):
            parts.append(f'<p class="bs-warn">Comparability: {escape(line)}</p>')
    for p in problems or []:
        if not any(p in (r.get("problems") or []) for r in runs):
            parts.append(f'<p class="bs-warn">{escape(p)}</p>')
    for rows in claims or []:
        parts.append(claims_report.claims_section_html(rows))
    parts.append("<h2>Every case</h2>" + html_table(cases.cases(df)))

    def section(title: str, fig, div_id: str, missing: str) -> None:
        body = _figure(fig, div_id) if fig is not None else f"<p>Not measured: {escape(missing)}</p>"
        parts.append(f"<h2>{escape(title)}</h2>{body}")

    section("Throughput against batch size", figures.throughput_vs_batch(df), "bs-throughput",
            "no successful case has a batch size and a throughput.")
    section("Throughput per watt and energy per sample", figures.energy(df), "bs-energy",
            "these runs recorded no energy (no NVML or RAPL telemetry).")
    section("% of datasheet peak", figures.pct_of_peak(df), "bs-peak",
            "no case ran on a device with a datasheet peak for its precision.")
    section("Roofline", figures.roofline(roofline.roofline_points(df, calibrations or [])), "bs-roofline",
            "no calibration in these runs (run `benchsuite calibrate`, then `benchsuite run`), or no case "
            "with FLOPs and bytes per step (matmul has both).")
    scaled = scaling.scaling_frame(df)
    if len(scaled) and (scaled["world_size"] > 1).any():
        section("Scaling: throughput and efficiency against ranks", scaling.scaling_figure(scaled), "bs-scaling", "")
        parts.append(html_table(scaling.scaling_display(scaled)))
    bandwidth = scaling.bandwidth_frame(df)
    if len(bandwidth):
        section("Collective bandwidth against message size", scaling.bandwidth_figure(bandwidth), "bs-bandwidth", "")
    pareto = figures.pareto(df)
    parts.append("<h2>Pareto view: throughput against energy per sample</h2>")
    if not pareto:
        parts.append("<p>Not measured: these runs recorded no energy per sample.</p>")
    for i, (_, fig) in enumerate(pareto):
        parts.append(_figure(fig, f"bs-pareto-{i}"))
    parts.append("<h2>Power, utilisation, memory and clocks over time</h2>"
                 + _timeline_section(figures.timeline_data(samples, df)))
    bad = cases.not_run(df)
    parts.append("<h2>Skipped, out-of-memory and failed cases</h2>"
                 + (html_table(bad) if len(bad) else "<p>None: every case ran.</p>"))
    if len(runs) > 1:
        frame, devices, base = hardware.hardware(df, baseline)
        shown = hardware.hardware_display(frame, devices, base)
        parts.append("<h2>Hardware comparison</h2>"
                     + (html_table(shown) if len(devices) else "<p>No successful cases to compare.</p>"))
    title = "benchsuite report: " + ", ".join(_text((r.get("header") or {}).get("run_id")) for r in runs)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }}
th, td {{ border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }}
.bs-table td {{ white-space: nowrap; }} .bs-table td:last-child {{ white-space: normal; }}
.bs-kv th {{ background: #f6f6f6; }} .bs-warn {{ color: #a40; }} .bs-note {{ color: #666; font-size: 12px; }}
</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head><body>
<h1>{escape(title)}</h1>
<p class="bs-note">Written {escape(generated)} by benchsuite from results files alone.</p>
{"".join(parts)}
</body></html>
"""


def write(paths: Iterable[str | Path], out: str | Path, baseline: str | None = None) -> tuple[Path, list[str]]:
    """Load the runs, render the report to ``out``; returns (path, problems met)."""
    df, problems = results.load_runs(list(paths))
    return write_frame(df, out, problems, baseline), problems


def write_frame(df: pd.DataFrame, out: str | Path, problems: list[str] | None = None,
                baseline: str | None = None) -> Path:
    """Render already loaded runs (``results.load``) to ``out``, whole or not at all; each run's
    samples.csv, claims.json and calibration.json are read from beside its results file.

    ``problems`` are shown in the report; a file beside a run that cannot be read is left
    out, and what went wrong is appended to ``problems`` (the caller prints them)."""
    if problems is None:
        problems = []
    samples, claims, calibrations = [], [], []
    for run in df.attrs["runs"]:
        run_dir = Path(run["path"]).parent
        samples.append(((run["header"] or {}).get("run_id"), _beside(problems, "telemetry samples not shown",
                                                                    figures.read_samples, run_dir)))
        if (run_dir / claims_store.CLAIMS_FILE).is_file():
            found = _beside(problems, "claims not shown", lambda d: claims_store.read_claims(d)["claims"], run_dir)
            if isinstance(found, list):
                claims.append(found)
        calibrations.extend(_beside(problems, "calibration not shown", calibration_store.read_run_copy,
                                    run_dir) or [])
    page = build(df, samples, problems, baseline, claims, calibrations)
    return files.write_text(files.expand(out), page)  # whole or not at all: a full disk leaves no part


def _beside(problems: list[str], what: str, read, run_dir: Path):
    """``read(run_dir)``, or None with a problem naming the file when it cannot be read
    (damaged, binary, hand-edited: the report goes on without it)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            found = read(run_dir)
        except (ValueError, OSError, KeyError, TypeError, AttributeError) as exc:  # pandas, json, a wrong shape
            problems.append(f"{what}: {run_dir}: {exc}")
            return None
    problems.extend(str(w.message) for w in caught)
    return found
