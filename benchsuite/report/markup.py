"""Table markup: a DataFrame of display text as GitHub-flavoured markdown or an escaped HTML
table (torch-free). The numbers in the cells are formatted by `benchsuite.report.format`."""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd

from benchsuite.report.safe import plain


def markdown_cell(value: Any) -> str:
    """One markdown table cell: control characters removed (`benchsuite.report.safe.plain`), HTML
    escaped (a renderer must show ``<img onerror=...>``, not run it), pipes escaped, one line."""
    return escape(plain(value), quote=False).replace("|", "\\|")


def markdown_text(value: Any) -> str:
    """A line of markdown prose (a title, a footnote): control characters removed and HTML
    escaped, as in `markdown_cell`; pipes may stay (outside a table they are text)."""
    return escape(plain(value), quote=False)


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (`markdown_cell`: HTML and pipes escaped)."""
    cell = markdown_cell
    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


def html_table(frame: pd.DataFrame, css_class: str = "bs-table", row_classes: list[str] | None = None) -> str:
    """An HTML table; every header and cell is escaped (they hold machine and user text).
    ``row_classes``: a CSS class per row ('' for none), e.g. to mark flagged cases."""
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    classes = row_classes if row_classes is not None else [""] * len(frame)
    body = "".join((f'<tr class="{escape(css)}">' if css else "<tr>")
                   + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>"
                   for row, css in zip(frame.itertuples(index=False), classes))
    return f'<table class="{escape(css_class)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n'
