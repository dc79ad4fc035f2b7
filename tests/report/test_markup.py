"""Table markup (benchsuite.report.markup): markdown and HTML tables."""

from __future__ import annotations

import pandas as pd

from benchsuite.report import markup


def test_markdown_escapes_pipes_and_folds_lines():
    text = markup.markdown(pd.DataFrame({"a|b": ["x\ny", 1.5]}))
    assert text == "| a\\|b |\n|---|\n| x y |\n| 1.5 |\n"


def test_html_table_escapes_cells():
    text = markup.html_table(pd.DataFrame({"<b>": ["<script>alert(1)</script>"]}))
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;b&gt;" in text
