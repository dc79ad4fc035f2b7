"""benchsuite.report.safe: no escape sequence, control character or markup reaches the terminal."""

import pytest
from rich.console import Console

from benchsuite.report import safe
from tests.fakes.hostile_runs import CLEAR, FORBIDDEN, HOSTILE, HYPERLINK, MARKUP, OSC_TITLE


@pytest.mark.parametrize("text, shown", [
    (f"a{OSC_TITLE}b", "ab"),
    (f"a{CLEAR}b", "ab"),
    (f"a{HYPERLINK}b", "aclickb"),
    ("a\x1b]0;title\x1b\\b", "ab"),  # OSC ended by ST
    ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel)
    ("a\x1bcb", "ab"),  # RIS: reset the terminal
    ("a\x9b2Jb", "ab"),  # 8-bit CSI
    ("a\x9d0;t\x07b", "ab"),  # 8-bit OSC
    ("a\x00\x08\x7f\x85b", "ab"),  # NUL, backspace, DEL, NEL
    ("a\u202eb\u2066c", "abc"),  # bidirectional override and isolate
    ("a\r\nb\tc", "a  b c"),  # one line unless lines are meant
    ("tab\tand\nnew line", "tab and new line"),
])
def test_plain_strips_sequences_and_controls(text, shown):
    assert safe.plain(text) == shown


def test_plain_keeps_lines_where_meant_and_unicode():
    assert safe.plain("a\tb\r\nc  Ω µs → ▼", lines=True) == "a\tb\nc  Ω µs → ▼"


def test_markup_and_cell_print_brackets_literally():
    console = Console(record=True, width=200, color_system=None)
    console.print(f"[green]ok[/] {safe.markup(HOSTILE)}")
    console.print(safe.cell(HOSTILE))
    text = console.export_text()
    assert text.count(MARKUP) == 2 and not any(c in text for c in FORBIDDEN)


def test_markdown_cells_escape_html_and_pipes():
    import pandas as pd

    from benchsuite.report.markup import markdown

    text = markdown(pd.DataFrame({"case": ["<img src=y onerror=alert(1)>|x" + CLEAR]}))
    assert "&lt;img src=y onerror=alert(1)&gt;\\|x" in text and "<img" not in text and "\x1b" not in text
