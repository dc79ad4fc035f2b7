"""The claims table: rows for the terminal, markdown, json and an HTML section (no torch here).

Input is the list of claim rows from `benchsuite.claims.verdicts.evaluate` (or ``claims.json``,
`benchsuite.claims.store`): each with ``id``, ``claim``, ``measurement``, ``figures``, ``verdict``
and ``reason``.
"""

from __future__ import annotations

import html
import json
from typing import Any

from benchsuite.claims import verdicts
from benchsuite.report import format, text
from benchsuite.report.markup import markdown_cell

COLUMNS = ("claim", "measurement", "measured", "verdict")
#: the CSS class of each verdict's cell
VERDICT_CLASS = {verdicts.SUPPORTED: "supported", verdicts.NOT_SUPPORTED: "not-supported",
                 verdicts.NOT_MEASURED: "not-measured"}


def fmt_number(value: Any, unit: str) -> str:
    """A figure with its unit as every table shows it (`benchsuite.report.format.quantity`):
    three significant figures with an SI prefix (``2.00 product/J``, ``500 µs``, ``10.0 kJ``),
    ratios with two (``20×``, ``0.043×``); text (a datasheet line, accuracies by epoch) as is."""
    if isinstance(value, str):
        return f"{value} {unit}".strip() if unit == "%" else value
    return format.quantity(value, unit)


def fmt_figure(fig: dict) -> str:
    """``label: value unit [device] (kind; note)``: every figure says whether it was measured."""
    text = f"{fig['label']}: {fmt_number(fig.get('value'), fig.get('unit', ''))}"
    if fig.get("device"):
        text += f" [{fig['device']}]"
    tags = [fig.get("kind") or "measured"] + ([fig["note"]] if fig.get("note") else [])
    return text + f" ({'; '.join(tags)})"


def verdict_text(claim: dict) -> str:
    """The verdict and its reason, e.g. ``not measured here: no CUDA GPU (…)``."""
    return f"{claim['verdict']}: {claim['reason']}" if claim.get("reason") else claim["verdict"]


def rows(claims: list[dict]) -> list[dict[str, str]]:
    """One display row per claim: claim (with its number), measurement, measured figures, verdict."""
    return [{"claim": f"{c['id']}. {c['claim']}", "measurement": c["measurement"],
             "measured": "; ".join(fmt_figure(f) for f in c["figures"]) or "—",
             "verdict": verdict_text(c)} for c in claims]


#: The terminal layout: every column is prose that wraps between words (a figure keeps its unit);
#: the measurement's description goes first when the width is short.
LAYOUT = {"claim": 0, "measurement": 1, "measured": 0, "verdict": 0}


def text_table(claims: list[dict], limit: int | None, title: str | None = None) -> str:
    """The claims for a terminal ``limit`` columns wide: each claim a block of wrapped lines,
    a blank line between claims (`benchsuite.report.text`)."""
    columns = [text.Column(c, c, "left", LAYOUT[c], wraps=True) for c in COLUMNS]
    return text.render(rows(claims), columns, limit, title=title, blank_between_rows=True)


def markdown(claims: list[dict]) -> str:
    """The claims table in GitHub-flavoured markdown (HTML and pipes escaped; figures one per line)."""
    cell = markdown_cell

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for claim, shown in zip(claims, rows(claims)):
        measured = "<br>".join(cell(fmt_figure(f)) for f in claim["figures"]) or "—"
        lines.append(f"| {cell(shown['claim'])} | {cell(shown['measurement'])} | {measured} | "
                     f"**{cell(claim['verdict'])}**" + (f": {cell(claim['reason'])}" if claim.get("reason") else "")
                     + " |")
    return "\n".join(lines) + "\n"


def to_json(claims: list[dict]) -> str:
    """The claim rows as JSON (figures as numbers, for scripts)."""
    return json.dumps(claims, indent=2, default=str) + "\n"


def render(claims: list[dict], fmt: str) -> str:
    """``markdown`` or ``json`` text (the terminal ``table`` is drawn by the CLI from `rows`)."""
    if fmt == "markdown":
        return markdown(claims)
    if fmt == "json":
        return to_json(claims)
    raise ValueError(f"unknown format {fmt!r}; allowed: table, markdown, json")


def claims_table_html(claims: list[dict], row_id: str = "claim-") -> str:
    """The claims table as an HTML ``<table>``, each row's id ``row_id`` + the claim's id (a
    page holding several claims tables gives each its own ``row_id``); every string is escaped."""
    e = html.escape
    out = ['<table class="claims-table">',
           "<thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in COLUMNS) + "</tr></thead>", "<tbody>"]
    for claim, shown in zip(claims, rows(claims)):
        figures = "".join(f"<li>{e(fmt_figure(f))}</li>" for f in claim["figures"])
        css = VERDICT_CLASS.get(claim["verdict"], "other")
        reason = f"<br><span class=\"reason\">{e(claim['reason'])}</span>" if claim.get("reason") else ""
        out.append(f'<tr id="{e(row_id + str(claim["id"]))}"><td>{e(shown["claim"])}</td><td>{e(shown["measurement"])}</td>'
                   f"<td>{'<ul>' + figures + '</ul>' if figures else '—'}</td>"
                   f'<td class="verdict {css}"><strong>{e(claim["verdict"])}</strong>{reason}</td></tr>')
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def claims_section_html(claims: list[dict]) -> str:
    """The claims table as an HTML ``<section>`` with its heading (`page_html`); every string is escaped."""
    return "\n".join(['<section class="claims" id="claims">', "<h2>The article's claims</h2>",
                      claims_table_html(claims), "</section>"]) + "\n"


STYLE = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
         "td,th{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}"
         ".supported{background:#e6f4ea}.not-supported{background:#fce8e6}.not-measured{background:#f1f3f4}")


def page_html(claims: list[dict], title: str = "benchsuite: the article's claims") -> str:
    """A self-contained page holding only the claims section (no network needed)."""
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{claims_section_html(claims)}</body></html>\n")
