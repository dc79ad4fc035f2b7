"""A run that stopped before its plan was done, in one line per run (benchsuite.report.runs)."""

from __future__ import annotations

from benchsuite import results
from benchsuite.report import runs
from tests.fakes.fixture_paths import DA35, H100


def test_a_run_without_an_end_record_is_cut_short():
    df = results.load(DA35)
    assert runs.frame_lines(df) == ["run 20261125-220824-da35: cut short after 46 cases; "
                                    "the planned list was not recorded"]
    assert runs.frame_lines(results.load(H100 / "20261125-215237-6bcb")) == []


def test_the_planned_cases_never_run_are_one_line_per_run():
    planned = {"header": {"run_id": "r1"}, "status": "interrupted",
               "cut_short": "interrupted after 2 of 6 planned cases: 4 never ran",
               "not_run": ["a/train/cpu/fp32/bs1", "b", "c", "d"]}
    short = {"header": {"run_id": "r2"}, "status": "unfinished", "cut_short": "cut short after 1 of 2 planned "
             "cases: 1 never ran", "not_run": ["x"]}
    assert runs.lines([planned, short], {"r1": 2, "r2": 1}) == [
        "run r1: interrupted after 2 of 6 planned cases: 4 never ran "
        "(never ran: a/train/cpu/fp32/bs1, b, c and 1 more)",
        "run r2: cut short after 1 of 2 planned cases: 1 never ran (never ran: x)"]
    assert runs.lines([{"header": {"run_id": "r3"}, "status": "failed"}], {"r3": 5}) == [
        "run r3: failed after 5 cases; the planned list was not recorded"]
