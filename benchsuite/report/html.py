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
from benchsuite import flags as flags_mod
from benchsuite.claims import store as claims_store
from benchsuite.report import claims as claims_report
from benchsuite.report import cases, figures, glossary, hardware, headline, roofline, scaling
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
    return f"<h3>Run {escape(_text(h.get('run_id')))}</h3>{_scroll(_kv(rows))}{problems}"


def _timeline_section(entries: list[dict[str, Any]], gpu: bool) -> str:
    """The GPU timeline (power with its limit, utilisation, memory, clocks, temperature) or the
    host one (CPU cases), each with a case selector that swaps the figure's data in place."""
    fig = figures.timeline(entries, gpu=gpu)
    if fig is None:
        return ""
    fig_id = "bs-timeline" if gpu else "bs-timeline-host"
    select = f"{fig_id}-select"
    options = "".join(f'<option value="{i}">{escape(e["label"])}</option>' for i, e in enumerate(entries))
    columns = [c for c, *_ in figures.timeline_layout(gpu)[0]]
    script = f"""<script>
(function() {{
  var entries = {_script_json(entries)};
  var columns = {_script_json(columns)};
  var select = document.getElementById("{select}");
  select.addEventListener("change", function() {{
    var entry = entries[Number(select.value)], series = entry.series;
    var xs = columns.map(function(c) {{ return series[c] ? entry.times[series[c].ti] : []; }});
    var ys = columns.map(function(c) {{ return series[c] ? series[c].y : []; }});
    Plotly.restyle("{fig_id}", {{x: xs, y: ys}}, columns.map(function(_, i) {{ return i; }}));
  }});
}})();
</script>"""
    return (f'<p><label for="{select}">case: </label><select id="{select}" class="bs-select">{options}</select> '
            f'<span class="bs-note">{len(entries)} entries; series longer than {2 * figures.CASE_BUCKETS} points '
            f'(whole runs: {2 * figures.RUN_BUCKETS}) keep the minimum and maximum of each time bucket.</span></p>'
            + _figure(fig, fig_id) + script)


def _timelines(entries: list[dict[str, Any]], samples: list[tuple[str, pd.DataFrame | None]]) -> str:
    if not entries:
        return "<p>Not measured: the runs have no raw telemetry samples (samples.csv).</p>"
    gpu = [e for e in entries if e["gpu"]]
    host = [e for e in entries if not e["gpu"]]
    parts = [_timeline_section(gpu, True)] if gpu else []
    if host:
        rapl = any(f is not None and "cpu_energy_j" in f.columns and f["cpu_energy_j"].notna().any()
                   for _, f in samples)
        why = ("the host's CPU energy (RAPL) is in the case table, not drawn over time" if rapl else
               "these runs read no CPU energy (no RAPL counter was readable)")
        parts.append(f'<p class="bs-note">CPU cases and GPU-less runs have no power, clock or temperature panels: '
                     f"NVML reads GPUs only, and {escape(why)}.</p>" + _timeline_section(host, False))
    return "".join(parts)


def _subtitle(runs: list[dict[str, Any]], generated: str) -> str:
    """Which runs the page shows (tag, unfinished ones) and when it was written."""
    described = []
    for run in runs:
        h = run.get("header") or {}
        text = _text(h.get("run_id"))
        extra = [f"tag {h['tag']}"] if h.get("tag") else []
        if run.get("status") not in (None, "completed"):
            extra.append(f"{run.get('status')}: no end record" if run.get("status") == "unfinished"
                         else str(run.get("status")))
        described.append(text + (f" ({'; '.join(extra)})" if extra else ""))
    which = ("run " + described[0]) if len(described) == 1 else f"{len(described)} runs: " + ", ".join(described)
    return (f'<p class="bs-note">benchsuite report of {escape(which)}. Written {escape(generated)} from the results '
            "files alone.</p>")


class _Page:
    """The page's sections in order, with the table of contents built from them."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, str, str]] = []

    def add(self, anchor: str, title: str, body: str) -> None:
        self.sections.append((anchor, title, body))

    def toc(self) -> str:
        items = "".join(f'<li><a href="#{a}">{escape(t)}</a></li>' for a, t, _ in self.sections)
        return f'<nav class="bs-toc" id="contents"><h2>Contents</h2><ol>{items}</ol></nav>'

    def html(self) -> str:
        return "".join(f'<section id="{a}"><h2>{escape(t)}</h2>{body}</section>' for a, t, body in self.sections)


def _scroll(table: str) -> str:
    """A table in its own scrolling box: a wide table never widens the page."""
    return f'<div class="bs-scroll">{table}</div>'


def _hardware(frame: pd.DataFrame, devices: list[str], base: str | None) -> str:
    """The hardware table: the cases measured on two devices or more first; the cases only one
    device ran folded away below (they compare nothing)."""
    shown = hardware.hardware_display(frame, devices, base)
    on = pd.DataFrame({d: frame[[c for c in frame.columns if c.startswith(f"{d} | ") and " vs " not in c]]
                       .notna().any(axis=1) for d in devices})
    paired = (on.sum(axis=1) >= 2).to_numpy() if len(frame) else []
    both, one = shown[paired], shown[~paired] if len(frame) else shown
    out = (_scroll(html_table(both)) if len(both) else
           "<p>No case ran on two devices with the same parameters: nothing to set side by side.</p>")
    if len(one):
        out += (f"<details><summary>{len(one)} case{'s' if len(one) != 1 else ''} ran on one device only</summary>"
                + _scroll(html_table(one)) + "</details>")
    return out


def _cases(df: pd.DataFrame) -> str:
    """Every case, one line each (figures with their units, never wrapped), its reasons, notes
    and flags as footnote markers; the footnotes under the table, flags linked to the glossary."""
    red = ["bs-red" if r else "" for r in glossary.red_rows(df)]
    shown, notes = cases.table(df)
    css = "bs-table bs-cases" + (" bs-runs" if "run" in shown.columns else "")  # where the figures start
    table = _scroll(html_table(shown, css, row_classes=red))
    if not notes:
        return table
    items = "".join(f'<li><span class="bs-mark">{escape(marker)}</span> {_note_html(note)}</li>'
                    for marker, note in notes)
    return (table + f'<p class="bs-note">Notes (the markers in the last column); what a flag means is in '
            f'<a href="#flags">Quality flags</a>:</p><ul class="bs-notes">{items}</ul>')


def _note_html(note: str) -> str:
    """A footnote; one that names a quality flag (``noisy: ...``) links the flag to its glossary entry."""
    name, sep, rest = note.partition(": ")
    if sep and name in glossary.known():
        return f'<a href="#flag-{escape(name)}"><code>{escape(name)}</code></a>: {escape(rest)}'
    return escape(note)


def _glossary(df: pd.DataFrame) -> str:
    """The quality flags: each flag's meaning, with how many cases of these runs carry it."""
    counts: dict[str, int] = {}
    for flags in glossary.frame_flags(df):
        for flag in flags:
            counts[flag] = counts.get(flag, 0) + 1
    names = list(flags_mod.FLAGS) + [f for f in counts if f not in flags_mod.FLAGS]
    items = []
    for name in names:
        css = ' class="bs-red"' if name in glossary.RED else ""
        seen = counts.get(name, 0)
        count = f' <span class="bs-note">{seen} case{"s" if seen != 1 else ""}</span>' if seen else ""
        items.append(f'<dt id="flag-{escape(name)}"{css}><code>{escape(name)}</code>{count}</dt>'
                     f"<dd>{escape(glossary.explain(name))}</dd>")
    red = " and ".join(f"<code>{escape(f)}</code>" for f in glossary.RED)
    return (f"<p>A flag qualifies a case's figures; the case table marks each case's flags with a footnote. Cases flagged {red} are "
            f'marked red.</p><dl class="bs-glossary">{"".join(items)}</dl>')


CSS = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 0 auto; padding: 12px 20px 40px; max-width: 1500px;
       color: #222; line-height: 1.35; }
h1 { font-size: 1.55em; margin: 0.2em 0 0.1em; overflow-wrap: anywhere; }
h2 { font-size: 1.25em; margin: 1.4em 0 0.4em; } h3 { font-size: 1.05em; }
p, dd, li { overflow-wrap: anywhere; } td, th { overflow-wrap: break-word; }
table { border-collapse: collapse; margin: 0.4em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
.bs-scroll { overflow-x: auto; max-width: 100%; }
.bs-table td { white-space: nowrap; overflow-wrap: normal; } .bs-table td:last-child { white-space: normal; min-width: 16em; }
.bs-cases th, .bs-cases td, .bs-cases td:last-child { white-space: nowrap; min-width: 0; }
.bs-cases td:nth-child(n+4), .bs-cases.bs-runs td:nth-child(n+5) { text-align: right; font-variant-numeric: tabular-nums; }
.bs-cases td:last-child, .bs-cases.bs-runs td:last-child, .bs-cases.bs-runs td:nth-child(4) { text-align: left; }
.bs-notes { list-style: none; padding-left: 0.5em; font-size: 13px; margin: 0.2em 0 1em; columns: 2 28em; }
.bs-notes li { break-inside: avoid; padding-left: 1.6em; text-indent: -1.6em; }
.bs-mark { display: inline-block; min-width: 1.6em; text-indent: 0; font-weight: 600; }
.bs-kv th { background: #f6f6f6; white-space: nowrap; } .bs-warn { color: #a40; } .bs-note { color: #666; font-size: 12px; }
.claims-table { display: block; overflow-x: auto; max-width: 100%; }
.bs-headline { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); gap: 12px;
               margin-top: 10px; }
.bs-card { border: 1px solid #ccd; border-radius: 6px; padding: 4px 14px 8px; min-width: 0; background: #fbfbfe; }
.bs-card h2 { margin: 0.35em 0 0.1em; font-size: 1.2em; } .bs-facts { margin: 0 0 0.4em; color: #444; font-size: 13px; }
.bs-hl { display: block; overflow-x: auto; max-width: 100%; margin: 0.3em 0 0.5em; }
.bs-hl td, .bs-hl th { border: none; border-bottom: 1px solid #e4e4ee; padding: 2px 8px 2px 0; }
.bs-hl .bs-n { text-align: right; white-space: nowrap; } .bs-fig { font-weight: 600; }
.bs-power { font-size: 13px; margin: 0.3em 0; }
.bs-amber { color: #9a5b00; } .bs-red, tr.bs-red td { color: #b00020; } tr.bs-red td:first-child { box-shadow: inset 3px 0 #b00020; }
.bs-toc ol { columns: 2 16em; margin: 0.2em 0; font-size: 14px; } .bs-toc h2 { font-size: 1.05em; margin-bottom: 0.2em; }
.bs-glossary { display: grid; grid-template-columns: minmax(8em, max-content) 1fr; gap: 3px 14px; font-size: 13px; }
.bs-glossary dt { font-weight: 600; } .bs-glossary dd { margin: 0; }
details summary { cursor: pointer; color: #333; margin: 0.3em 0; }
.bs-select { max-width: 100%; }
.plotly-graph-div { max-width: 100%; }
"""


def build(df: pd.DataFrame, samples: list[tuple[str, pd.DataFrame | None]], problems: list[str] | None = None,
          baseline: str | None = None, claims: list[list[dict]] | None = None,
          calibrations: list[dict] | None = None) -> str:
    """The report page as one HTML string; ``claims`` holds the claims table of each
    claims run given (see `benchsuite claims`).

    The first screen answers: the title names the device models and the date, then a
    headline block per device (`benchsuite.report.headline`), then the contents. The
    hardware comparison follows when there are several devices; the figures; every case;
    the flags; and the runs' machines and fingerprints last.
    """
    import plotly.offline

    runs = df.attrs.get("runs", [])
    page = _Page()
    # problems no run's own section shows: at the top of the page
    unshown = [p for p in problems or [] if not any(p in (r.get("problems") or []) for r in runs)]
    comparability = [f"Comparability: {line}" for line in fingerprint.warning_lines(runs, gpus_paired=False)] \
        if len(runs) > 1 else []
    ok = df[df["status"] == "ok"] if "status" in df.columns else df.iloc[0:0]
    if len(runs) > 1 or (not ok.empty and ok["device"].nunique() > 1):  # one run, one host: devices by id
        frame, devices, base = hardware.hardware(df, baseline)
        body = "".join(f'<p class="bs-warn">{escape(w)}</p>' for w in comparability)
        if len(devices):
            body += ('<p class="bs-facts">Each cell: throughput · samples/J · % of datasheet peak. '
                     + " ".join(escape(line) for line in hardware.explanation(base, baseline is not None)
                                          + hardware.ratio_notes(frame, base)) + "</p>")
        body += _hardware(frame, devices, base) if len(devices) else "<p>No successful cases to compare.</p>"
        page.add("hardware", "Hardware comparison", body)
        comparability = []
    for i, rows in enumerate(claims or []):
        anchor = "claims" if i == 0 else f"claims-{i}"  # the first run's rows keep their claim-<id> anchors
        page.add(anchor, "The article's claims",
                 claims_report.claims_table_html(rows, row_id="claim-" if i == 0 else f"{anchor}-"))

    def figure(anchor: str, title: str, fig, missing: str, note: str = "") -> None:
        body = (note + _figure(fig, f"bs-{anchor}")) if fig is not None else f"<p>Not measured: {escape(missing)}</p>"
        page.add(anchor, title, body)

    figure("throughput", "Throughput against batch size", figures.throughput_vs_batch(df),
           "no successful case has a throughput.")
    figure("peak", "Compute: % of datasheet peak", figures.pct_of_peak(df),
           "no case ran on a device with a datasheet peak for its precision (a CPU has none).")
    figure("energy", "Energy efficiency", figures.energy(df),
           "these runs recorded no energy (no NVML or RAPL telemetry).")
    figure("pareto", "Throughput against energy per sample", figures.pareto(df),
           "these runs recorded no energy per sample.")
    figure("roofline", "Roofline", figures.roofline(roofline.roofline_points(df, calibrations or [])),
           "no calibration in these runs (run `benchsuite calibrate`, then `benchsuite run`), or no case "
           "with FLOPs and bytes per step (matmul has both).")
    scaled = scaling.scaling_frame(df)
    if len(scaled) and (scaled["world_size"] > 1).any():
        page.add("scaling", "Scaling: throughput and efficiency against ranks", _figure(scaling.scaling_figure(scaled), "bs-scaling")
                 + _scroll(html_table(scaling.scaling_display(scaled))))
    bandwidth = scaling.bandwidth_frame(df)
    if len(bandwidth):
        page.add("bandwidth", "Collective bandwidth", _figure(scaling.bandwidth_figure(bandwidth), "bs-bandwidth"))
    page.add("timeline", "Power, clocks and temperature over time",
             _timelines(figures.timeline_data(samples, df), samples))
    page.add("cases", "Every case", _cases(df))
    bad = cases.not_run(df)
    page.add("not-run", "Skipped, out-of-memory and failed cases",
             _scroll(html_table(bad)) if len(bad) else "<p>None: every case ran.</p>")
    page.add("flags", "Quality flags", _glossary(df))
    runs_body = "".join(f'<p class="bs-warn">{escape(w)}</p>' for w in comparability)
    page.add("runs", "Runs: machines, versions and fingerprints", runs_body + "".join(_run_section(r) for r in runs))

    title = headline.title(df)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    top = "".join(f'<p class="bs-warn">{escape(w)}</p>' for w in unshown)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} · benchsuite report</title>
<style>{CSS}</style>
<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>
</head><body>
<h1>{escape(title)}</h1>
{_subtitle(runs, generated)}{top}
{headline.section_html(df)}
{page.toc()}
{page.html()}
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
