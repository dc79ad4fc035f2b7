"""The width-aware table layout (benchsuite.report.text): the width it reads, columns dropped by
rank and never cut, prose wrapped between words with figures kept whole, spans and footnotes."""

from __future__ import annotations

import io

from benchsuite.report import text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_width_is_columns_else_the_terminal_else_unlimited(monkeypatch):
    import shutil
    import os

    monkeypatch.setattr(shutil, "get_terminal_size", lambda *a, **k: os.terminal_size((97, 40)))
    assert text.width(environ={"COLUMNS": "80"}, stream=io.StringIO()) == 80
    assert text.width(environ={}, stream=_Tty()) == 97
    assert text.width(environ={}, stream=io.StringIO()) is None  # a pipe or a file: one line per row
    assert text.width(environ={"COLUMNS": "x"}, stream=io.StringIO()) is None
    assert text.width(wide=True, environ={"COLUMNS": "80"}, stream=_Tty()) is None


COLUMNS = [text.Column("case", "case", "left", 0), text.Column("a", "alpha", "right", 1),
           text.Column("b", "beta", "right", 3), text.Column("c", "gamma", "right", 2)]
ROWS = [{"case": "mlp/train/fp32/bs32", "a": "86.8 k img/s", "b": "1,234", "c": "2.53%"}]


def test_columns_are_dropped_by_rank_and_named_never_cut():
    for limit in range(20, 60):
        out = text.render(ROWS, COLUMNS, limit)
        body = out.splitlines()[1]
        for kept in ("86.8 k img/s", "1,234", "2.53%"):
            assert kept in body or kept not in out  # a figure is whole or absent
        table = out.split("(not shown")[0]
        assert all(len(line) <= limit for line in table.splitlines()) or len(body.split("  ")[0]) > limit
    narrow = text.render(ROWS, COLUMNS, 40)
    assert "beta" not in narrow.splitlines()[0] and "(not shown at 40 columns: beta" in narrow
    assert text.render(ROWS, COLUMNS, None).splitlines()[1].split() == [
        "mlp/train/fp32/bs32", "86.8", "k", "img/s", "1,234", "2.53%"]


def test_prose_wraps_between_words_and_keeps_a_figure_with_its_unit():
    words = text.wrap("a figure: 2.00 product/J [cuda:0] and 86.8 k img/s", 14)
    assert "2.00 product/J" in words and "86.8 k img/s" in words
    assert text.wrap("matmul/infer/fp32 [m=n=k=2048]", 20, "  ") == ["matmul/infer/fp32", "  [m=n=k=2048]"]


def test_a_span_runs_over_the_empty_cells_of_its_row():
    rows = [*ROWS, {"case": "mlp/train/fp8", text.SPAN: ("a", "skipped [a]")}]
    out = text.render(rows, COLUMNS, None)
    assert out.splitlines()[2].split() == ["mlp/train/fp8", "skipped", "[a]"]


def test_sections_give_way_to_their_column_when_it_fits():
    columns = [text.Column("case", "case", "left", 0), text.Column("device", "device", "left", 9)]
    rows = [text.Section("cpu · EPYC"), {"case": "x", "device": "cpu"}]
    assert "cpu · EPYC" in text.render(rows, columns, 6, sections_unless="device")
    assert "cpu · EPYC" not in text.render(rows, columns, None, sections_unless="device")


def test_footnotes_are_letters_then_numbers():
    notes = text.Footnotes(["x", "y", "x", "z"])
    assert notes.refs(["z", "x"]) == "[ac]" and notes.refs([]) == "" and notes.notes()[1] == ("b", "y")
    many = text.Footnotes(str(i) for i in range(30))
    assert many.refs(["0", "29"]) == "[1,30]"
