"""The claims table rendered (benchsuite.report.claims): markdown against its golden file, and the
HTML section."""

from __future__ import annotations

from benchsuite.claims import verdicts
from benchsuite.report import claims as render
from tests.fakes.claim_records import golden_evidence, sample_claims
from tests.fakes.golden import check_golden


def test_markdown_table():
    text = render.markdown(sample_claims())
    lines = text.splitlines()
    assert lines[0] == "| claim | measurement | measured | verdict |" and lines[1] == "|---|---|---|---|"
    assert len(lines) == 2 + 6
    assert lines[2].startswith("| 1. GPUs run deep-learning matrix work far faster than CPUs. |")
    assert "cnn train fp32 bs128 speedup: 0.50× [cuda:0 NVIDIA H100 80GB HBM3 vs cpu Some CPU] (measured)" in lines[2]
    assert "**not supported**: the GPU is slower" in lines[2]
    assert "92.10 %" in lines[6] and "**not measured here**: CIFAR-10 not provided" in lines[6]
    weird = [{**sample_claims()[0], "reason": "a | b"}]
    assert "a \\| b" in render.markdown(weird)


def test_markdown_matches_the_golden_file():
    check_golden("claims.md", render.markdown(verdicts.evaluate(golden_evidence())))


def test_html_section_escapes_every_string():
    rows = sample_claims()
    rows[0]["reason"] = "<script>alert(1)</script>"
    rows[0]["figures"][0]["device"] = "cuda:0 <b>GPU</b>"
    section = render.claims_section_html(rows)
    assert section.startswith('<section class="claims" id="claims">') and "<script>" not in section
    assert "&lt;script&gt;" in section and "&lt;b&gt;GPU&lt;/b&gt;" in section
    assert section.count("<tr id=\"claim-") == 6 and 'class="verdict not-supported"' in section
    assert render.page_html(rows).startswith("<!doctype html>")


def test_figures_have_three_significant_figures_and_ratios_two_in_every_format():
    """As every table: ``0.0200 product/J`` (not ``0.02``), ``20×`` (not ``20.00×``), ``500 µs``,
    ``10.0 kJ``; the verdicts' ratios too; terminal, markdown and HTML alike."""
    rows = verdicts.evaluate(golden_evidence())
    terminal = render.text_table(rows, None)
    for shown in (terminal, render.markdown(rows), render.claims_section_html(rows)):
        assert "speedup: 20× [" in shown and "20.00×" not in shown
        assert "samples/J: 0.0200 product/J [cpu" in shown and "0.02 product/J" not in shown
        assert "geometric mean speedup 63× ≥ 10×" in shown  # the verdict's ratio: two figures
        assert "latency p50: 500 µs [" in shown and "energy to best accuracy: 10.0 kJ [" in shown
    assert render.fmt_number(0.0432, "×") == "0.043×" and render.fmt_number(None, "s") == "—"
    assert render.fmt_number("40.00 42.00", "%") == "40.00 42.00 %"  # text stays as it is
    assert render.fmt_number("n/a", "J") == "n/a"  # with its unit only when that is %
