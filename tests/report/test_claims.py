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
    assert "cnn train fp32 bs128 speedup: 0.5× [cuda:0 NVIDIA H100 80GB HBM3 vs cpu Some CPU] (measured)" in lines[2]
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
