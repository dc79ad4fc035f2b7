"""Tables for a terminal or a log, sized to the width they are read at (torch- and rich-free).

A table is rows of display text (`benchsuite.report.format` made the numbers) and its
`Column` declarations. `fit` keeps the columns that fit the width, dropping the least
important first (`Column.rank`); a cell is never cut or split, except a prose column
(`Column.wraps`) that breaks between words. `render` lays the table out as plain lines:
one line per row unless a prose column wraps, section headings between groups of rows,
numbered footnotes under it, and a line naming the columns left out for the width.

The width is `width()`: ``COLUMNS`` if set, else the terminal's, else unlimited (a pipe or
a file gets one unwrapped line per row, for grep).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from typing import IO, Iterable, Mapping, Sequence

GAP = "  "  # between two columns
SPAN = "_span"  # a row key: (column key, text that runs over the empty cells from there on)
NOTE_GAP = " "  # between a footnote's number and its text
INDENT = "  "  # a prose cell's continuation lines


@dataclass(frozen=True)
class Column:
    """One column: the row key holding its text, its header, how it aligns, and how much it
    matters (``rank`` 0 is never dropped; higher ranks are dropped first when the width is
    short). ``wraps``: prose that may break between words."""

    key: str
    header: str
    align: str = "right"  # "left" or "right"
    rank: int = 1
    wraps: bool = False
    indent: str = ""  # a wrapped cell's continuation lines start with this (a case label's parameters)


@dataclass(frozen=True)
class Section:
    """A heading line between rows (e.g. the device the rows below ran on)."""

    text: str


def width(wide: bool = False, environ: Mapping[str, str] | None = None, stream: IO | None = None) -> int | None:
    """The width tables are laid out for: None (unlimited) with ``wide``; else ``COLUMNS``
    when it is a positive number; else the terminal's when ``stream`` is one; else None."""
    if wide:
        return None
    environ = os.environ if environ is None else environ
    given = environ.get("COLUMNS", "").strip()
    if given.isdigit() and int(given) > 0:
        return int(given)
    stream = sys.stdout if stream is None else stream
    try:
        if stream.isatty():
            return shutil.get_terminal_size().columns
    except (AttributeError, ValueError, OSError):
        pass
    return None


_NUMBER = re.compile(r"^[-+~≈]?[\d][\d,.]*[%×]?$")
_PREFIXES = ("k", "M", "G", "T")


def _words(text: str) -> list[str]:
    """The words a line may break between; a number keeps its SI prefix and unit with it
    (``86.8 k img/s``, ``2.00 product/J``), so a wrap never parts a figure from its unit."""
    tokens = text.split()
    words: list[str] = []
    i = 0
    while i < len(tokens):
        word = tokens[i]
        if _NUMBER.match(word) and i + 1 < len(tokens):
            if tokens[i + 1] in _PREFIXES and i + 2 < len(tokens):
                word = f"{word} {tokens[i + 1]} {tokens[i + 2]}"
                i += 2
            elif not _NUMBER.match(tokens[i + 1]) and tokens[i + 1][:1] not in "([":
                word = f"{word} {tokens[i + 1]}"
                i += 1
        words.append(word)
        i += 1
    return words


def _natural(column: Column, cells: list[str]) -> int:
    return max([len(column.header), *(len(c) for c in cells)])


def _narrowest(column: Column, cells: list[str]) -> int:
    """A prose column's least width: its longest word (a word is never split), indented as a
    continuation line where it is not a cell's first word."""
    if not column.wraps:
        return _natural(column, cells)
    widths = [1]
    for cell in [column.header, *cells]:
        words = _words(cell)
        widths += [len(w) + (len(column.indent) if i else 0) for i, w in enumerate(words)]
    return max(widths)


def fit(columns: Sequence[Column], rows: Sequence[Mapping[str, str]], limit: int | None,
        indent: int = 0) -> tuple[list[Column], dict[str, int], list[Column]]:
    """(columns kept in their order, width of each kept column, columns left out) for a table
    no wider than ``limit`` (None: unlimited). Columns of the highest rank go first; among
    equals the rightmost. Prose columns take the width left over, never less than their
    longest word."""
    cells = {c.key: [str(r.get(c.key, "")) for r in rows] for c in columns}
    kept = list(columns)
    left_out: list[Column] = []

    def least(cols: list[Column]) -> int:
        return indent + sum(_narrowest(c, cells[c.key]) for c in cols) + len(GAP) * (len(cols) - 1)

    while limit is not None and len(kept) > 1 and least(kept) > limit:
        droppable = [c for c in kept if c.rank > 0]
        if not droppable:
            break
        worst = max(droppable, key=lambda c: (c.rank, kept.index(c)))
        kept.remove(worst)
        left_out.append(worst)
    widths = {c.key: _natural(c, cells[c.key]) for c in kept}
    total = indent + sum(widths.values()) + len(GAP) * (len(kept) - 1)
    prose = [c for c in kept if c.wraps]
    if limit is not None and total > limit and prose:
        fixed = indent + sum(widths[c.key] for c in kept if not c.wraps) + len(GAP) * (len(kept) - 1)
        natural = {c.key: widths[c.key] for c in prose}
        share = {c.key: _narrowest(c, cells[c.key]) for c in prose}
        spare = max(limit - fixed - sum(share.values()), 0)
        need = {k: natural[k] - share[k] for k in natural}
        total_need = max(sum(need.values()), 1)
        given = {k: min(need[k], spare * need[k] // total_need) for k in natural}
        for k in given:
            share[k] += given[k]
        spare -= sum(given.values())
        for k in sorted(natural, key=lambda k: natural[k] - share[k], reverse=True):  # what rounding left
            give = max(0, min(spare, natural[k] - share[k]))
            share[k] += give
            spare -= give
        widths.update(share)
    return kept, widths, [c for c in columns if c in left_out]


def wrap(text: str, size: int, indent: str = "") -> list[str]:
    """``text`` broken between words into lines of at most ``size`` characters, lines after
    the first starting with ``indent`` (a word longer than that stands alone, whole)."""
    lines: list[str] = []
    line = ""
    for word in _words(text):
        if line and len(line) + 1 + len(word) > size:
            lines.append(line)
            line = indent + word
        else:
            line = f"{line} {word}" if line else word
    return lines + [line] if line or not lines else lines


def _cell_lines(column: Column, text: str, size: int) -> list[str]:
    lines = wrap(text, size, column.indent) if column.wraps and len(text) > size else [text]
    return [line.ljust(size) if column.align == "left" else line.rjust(size) for line in lines]


def render(rows: Iterable[Mapping[str, str] | Section], columns: Sequence[Column], limit: int | None, *,
           title: str | None = None, notes: Sequence[tuple[str, str]] = (), after: Sequence[str] = (),
           blank_between_rows: bool = False, sections_unless: str | None = None) -> str:
    """The table as text: ``title``, the header, the rows (a `Section` prints its heading,
    unless the column ``sections_unless`` is kept: it says the same on every row), ``notes``
    as ``(marker, text)`` footnotes, then ``after`` lines; a last line names the columns left
    out for the width. Every line fits ``limit`` unless a single cell cannot.

    A row may hold ``SPAN``: ``(column key, text)``, text that starts in that column and runs
    over the cells right of it (empty in that row): a skipped case's status and footnote."""
    rows = list(rows)
    data = [r for r in rows if not isinstance(r, Section)]
    kept, widths, left_out = fit(columns, data, limit)
    if sections_unless is not None and any(c.key == sections_unless for c in kept):
        rows = data
    out: list[str] = []
    if title:
        out.extend(wrap(title, limit) if limit else [title])

    def emit(cells: Mapping[str, str]) -> None:
        span = cells.get(SPAN)
        shown = kept
        if span is not None and any(c.key == span[0] for c in kept):
            shown = kept[:[c.key for c in kept].index(span[0])]
        parts = [_cell_lines(c, str(cells.get(c.key, "")), widths[c.key]) for c in shown]
        height = max([1, *(len(p) for p in parts)])
        for i in range(height):
            line = GAP.join(p[i] if i < len(p) else " " * widths[c.key] for p, c in zip(parts, shown))
            if span is not None and shown is not kept and i == 0:
                line = (line + GAP if shown else "") + span[1]
            out.append(line.rstrip())

    emit({c.key: c.header for c in kept})
    for row in rows:
        if isinstance(row, Section):
            out.append(row.text)
            continue
        if blank_between_rows and out and out[-1] != "":
            out.append("")
        emit(row)
    if notes:
        out.append("")
        size = max(len(m) for m, _ in notes)
        for marker, text in notes:
            head = marker.rjust(size) + NOTE_GAP
            if limit and len(head) + len(text) > limit:
                body = wrap(text, max(limit - len(head), 20))
                out.append(head + body[0])
                out.extend(" " * len(head) + line for line in body[1:])
            else:
                out.append(head + text)
    for line in after:
        out.extend(wrap(line, limit, INDENT) if limit and len(line) > limit else [line])
    left_out = [c for c in left_out if c.key != sections_unless]  # the section headings say it
    if left_out:
        names = ", ".join(c.header for c in left_out)
        line = f"(not shown at {limit} columns: {names}; --wide shows every column)"
        out.extend(wrap(line, limit) if limit and len(line) > limit else [line])
    return "\n".join(out) + "\n"


def case_column(rank: int = 0) -> Column:
    """The case label column: left, never dropped, its parameters on a second line when the
    width is short (`breakable`)."""
    return Column("case", "case", "left", rank, wraps=True, indent=INDENT)


def breakable(label: str) -> str:
    """A case label that may break before its parameters on a narrow terminal:
    ``matmul/infer/fp32 [m=n=k=2048]`` (on one line wherever it fits)."""
    return label.replace("[", " [", 1)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


class Footnotes:
    """Distinct texts in first-seen order, each with a marker: a letter while there are at most
    26 (a row's markers then read ``[abd]``), else a number (``[1,2,4]``)."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.order: dict[str, int] = {}
        for text in texts:
            if text and text not in self.order:
                self.order[text] = len(self.order)
        self.letters = len(self.order) <= len(_LETTERS)

    def marker(self, text: str) -> str:
        n = self.order[text]
        return _LETTERS[n] if self.letters else str(n + 1)

    def refs(self, texts: Iterable[str]) -> str:
        """The markers of ``texts`` (those that are footnotes) as ``[ab]``; empty for none."""
        found = sorted({self.order[t] for t in texts if t in self.order})
        if not found:
            return ""
        sep = "" if self.letters else ","
        return "[" + sep.join(_LETTERS[n] if self.letters else str(n + 1) for n in found) + "]"

    def notes(self) -> list[tuple[str, str]]:
        """``(marker, text)`` for `render`."""
        return [(self.marker(t), t) for t in self.order]
