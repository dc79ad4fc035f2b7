"""Every case, and the cases that did not run (benchsuite.report.cases), against golden files."""

from __future__ import annotations

from benchsuite import results
from benchsuite.report import cases
from benchsuite.report.markup import markdown
from tests.fakes.golden import check_golden


def test_cases_golden(runs):
    df = results.load([runs[0], runs[2]])
    check_golden("cases.md", markdown(cases.cases(df)))
    check_golden("not_run.md", markdown(cases.not_run(df)))
