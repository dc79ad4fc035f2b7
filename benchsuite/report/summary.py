"""The run summary: the table ``benchsuite run`` closes with, one row per case, as text for the
terminal (`text`, sized to the width) and markdown, or its numbers as csv and json
(torch-free).

The terminal table shows the essentials at 80 columns (case, status, sustained throughput
with its unit, TFLOP/s, % of peak, W, J/sample) and more as the width allows (`FIGURES`,
by rank); rows are grouped under their device; reasons, notes and quality flags are
numbered footnotes under the table, one per distinct text, referenced from the status.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from benchsuite import flags as flags_mod
from benchsuite import keys, metrics
from benchsuite.report import labels, text
from benchsuite.report.format import DIGITS, figure, quantity, sig
from benchsuite.report.markup import markdown

FORMATS = ("table", "markdown", "csv", "json")
#: the metrics behind the summary, in order: `raw`'s numeric columns for csv and json
SUMMARY_COLUMNS: tuple[str, ...] = (
    "samples_per_s",
    "burst_samples_per_s",  # the best of the first blocks after an idle (samples/s is sustained)
    "samples_per_s_per_device",  # torch.distributed runs: global ÷ world size
    "algbw_gbps", "busbw_gbps",  # collectives (nccl-tests formulas)
    "step_s_median", "step_s_iqr", "step_s_p99", "tflop_per_s", "pct_of_peak", "pct_of_achievable",
    "power_mean_w", "j_per_sample", "samples_per_j", "mem_peak_bytes",
)


def raw(df: pd.DataFrame) -> pd.DataFrame:
    """The numeric columns behind the summary, for csv/json (scripts never parse pretty text)."""
    wanted = ["id", "workload", "mode", "device", "device_name", "precision", "batch_size", "exec", "status",
              "reason"]
    wanted += list(SUMMARY_COLUMNS)
    wanted += ["burst_tflop_per_s", "numerics", "numerics_output_err", "numerics_loss_err", "numerics_grad_err",
               "compile_s"]
    wanted += ["peak_tflop_per_s", "achievable_tflop_per_s", "calibration", "calibration_stale", "flop_per_byte",
               "cache_state",
               "warmup_s", "warmup_settled", "throttled_share", "throttled", "quality_flags"]
    return df[[c for c in dict.fromkeys(wanted) if c in df.columns]]


def render(df: pd.DataFrame, fmt: str) -> str:
    """A results DataFrame as markdown, csv or json text (``table`` is drawn by the CLI)."""
    if fmt == "markdown":
        return markdown_table(df)
    if fmt == "csv":
        return raw(df).to_csv(index=False)
    if fmt == "json":
        return json.dumps(json.loads(raw(df).to_json(orient="records")), indent=2) + "\n"
    raise ValueError(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")


# ----------------------------------------------------------------------------------------
# The terminal table


@dataclass(frozen=True)
class Figure:
    """A column of the terminal table: a metric's value with its unit. ``unit``: None for the
    metric's own (``sample`` replaced by what the case counts: ``86.8 k img/s``), ``""`` for a
    bare number under a header that names the unit (TFLOP/s, W), else that unit with an SI
    prefix (``J``: ``4.38 mJ``). ``rank``: 1-6 are the essentials kept at 80 columns, higher
    ranks are dropped first when the width is short. ``header``: default the metric's heading
    (`benchsuite.metrics.heading`). Adding a column is one line in `FIGURES`."""

    metric: str
    rank: int
    unit: str | None = None
    header: str = ""

    @property
    def title(self) -> str:
        return self.header or metrics.heading(self.metric)

    def cell(self, row: Mapping[str, Any], digits: int | None) -> str:
        value = row.get(self.metric)
        if self.unit is None:
            return figure(value, self.metric, row.get("sample_unit"), digits)
        if self.unit == "":
            return sig(value, digits)
        return quantity(value, self.unit, digits)


#: The figures of the terminal table, in display order.
FIGURES = (
    Figure("samples_per_s", 1),
    Figure("burst_samples_per_s", 7),  # the best of the first blocks after an idle; throughput is sustained
    Figure("samples_per_s_per_device", 9),
    Figure("algbw_gbps", 2, "GB/s"),
    Figure("busbw_gbps", 8, "GB/s"),
    Figure("tflop_per_s", 2, ""),
    Figure("pct_of_peak", 3, "%"),
    Figure("pct_of_achievable", 10, "%"),
    Figure("power_mean_w", 5, "", header="W"),
    Figure("j_per_sample", 4, "J", header="J/sample"),
    Figure("samples_per_j", 12),
    Figure("step_s_median", 11, "s"),
    Figure("step_s_iqr", 13, "s"),
    Figure("step_s_p99", 14, "s"),
    Figure("latency_s_p50", 16, "s"),  # latency cases only: single steps after the blocks
    Figure("latency_s_p99", 17, "s"),
    Figure("mem_peak_bytes", 15, "B"),
    # shown where measured, and the first to go when the width is short (after the device column)
    Figure("compile_s", 21, "s"),  # the first, compiling call; never inside the timed window
    Figure("burst_power_w", 22, "W"),
    Figure("burst_sm_clock_mhz", 23, ""),
)
#: The device column: shown when the width allows (then rows are not grouped under devices).
DEVICE_RANK = 20


def notes_of(row: Mapping[str, Any]) -> list[str]:
    """A case's footnote texts: why it did not run, its notes, why telemetry is missing, and
    each quality flag (`benchsuite.flags`) in a few words."""
    out = []
    reason = row.get("reason")
    if isinstance(reason, str) and reason:
        out.append(reason)
    notes = row.get("notes")
    if isinstance(notes, (list, tuple)):
        out.extend(str(n) for n in notes if n)
    note = row.get("telemetry_note")
    if row.get("status") == "ok" and isinstance(note, str) and note:
        out.append(f"not measured: {note}")
    out.extend(flags_mod.footnote(f) for f in flags_mod.of(row))
    return out


def frame_rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def device_heading(device: Any, name: Any) -> str:
    """``cuda:0 · NVIDIA H100 80GB HBM3``."""
    return f"{device} · {name}" if isinstance(name, str) and name and name != device else str(device)


def _layout(df: pd.DataFrame, digits: int | None) -> tuple[list[text.Column], list, text.Footnotes, list[str]]:
    """(columns, rows under their device headings, footnotes, lines after) of the closing table."""
    rows = frame_rows(df)
    devices = list(dict.fromkeys(r.get("device") for r in rows))
    rows.sort(key=lambda r: devices.index(r.get("device")))  # grouped under their device, in run order
    names = [""] * len(rows)
    for device in dict.fromkeys(r.get("device") for r in rows):  # labels read within their device's rows
        at = [i for i, r in enumerate(rows) if r.get("device") == device]
        for i, name in zip(at, labels.labels([rows[i] for i in at], keys.ACROSS_DEVICES)):
            names[i] = text.breakable(name)
    notes = text.Footnotes(t for r in rows for t in notes_of(r))
    shown = [f for f in FIGURES if any(r.get(f.metric) is not None for r in rows)]
    columns_ = [text.case_column(),
                text.Column("device", "device", "left", DEVICE_RANK),
                text.Column("status", "status", "left", 0),
                *(text.Column(f.metric, f.title, "right", f.rank) for f in shown)]
    body: list = []
    last = object()
    for row, name in zip(rows, names):
        device = row.get("device")
        if device != last:
            body.append(text.Section(device_heading(device, row.get("device_name"))))
            last = device
        marks = notes.refs(notes_of(row))
        cells = {"case": name, "device": str(device or "")}
        status = str(row.get("status") or "")
        if status == "ok":
            cells["status"] = f"{status} {marks}".strip()
            cells.update({f.metric: f.cell(row, digits) for f in shown})
        else:
            cells[text.SPAN] = ("status", f"{status} {marks}".strip())
        body.append(cells)
    after = []
    if any(f in flags_mod.FLAGS for r in rows for f in flags_mod.of(r)):
        after.append("`benchsuite explain FLAG` says what a flag means.")
    return columns_, body, notes, after


def text_table(df: pd.DataFrame, limit: int | None, digits: int | None = DIGITS, title: str | None = None) -> str:
    """The closing table of a run for a terminal ``limit`` columns wide (None: unlimited, one
    line per case): figures with their units to ``digits`` significant figures, rows under
    their device (or a device column where the width allows), footnotes under the table."""
    columns_, body, notes, after = _layout(df, digits)
    return text.render(body, columns_, limit, title=title, notes=notes.notes(), after=after,
                       sections_unless="device")


def markdown_table(df: pd.DataFrame, digits: int | None = DIGITS) -> str:
    """The closing table as markdown: every column, a device column, the footnotes as a list."""
    columns_, body, notes, after = _layout(df, digits)
    first = {"case": 0, "status": 1, "device": 2}  # markdown: case and status first, as scripts expect
    columns_ = sorted(columns_, key=lambda c: first.get(c.key, 3))
    rows = [r for r in body if not isinstance(r, text.Section)]
    frame = pd.DataFrame([[r.get(c.key, r[text.SPAN][1] if c.key == "status" and text.SPAN in r else "")
                           for c in columns_] for r in rows], columns=[c.header for c in columns_])
    lines = [markdown(frame)]
    if notes.order or after:
        lines.extend(f"- {marker}: {note}" for marker, note in notes.notes())
        lines.extend(after)
        lines.append("")
    return "\n".join(lines)
