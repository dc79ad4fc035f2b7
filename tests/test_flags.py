"""Quality flags (benchsuite.flags): one declaration each, the noisy rule, and `benchsuite explain`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from benchsuite import flags
from benchsuite.cli import main
from benchsuite.telemetry import window


def test_every_flag_the_telemetry_window_sets_is_declared():
    source = open(window.__file__, encoding="utf-8").read()
    import re

    set_there = set(re.findall(r'flags\.append\("([a-z0-9-]+)"\)', source))
    assert set_there and set_there <= set(flags.FLAGS)
    assert {"noisy", "l2-flush-in-window", "warmup-not-settled"} <= set(flags.FLAGS)
    for f in flags.FLAGS.values():
        assert f.doubts in (flags.ENERGY, flags.TIME, flags.BOTH) and f.short and f.meaning and f.source


@pytest.mark.parametrize("iqr,median,noisy", [(0.011, 0.1, True), (0.010, 0.1, False), (None, 0.1, False),
                                              (0.5, None, False), (0.5, 0.0, False)])
def test_noisy_is_iqr_over_a_tenth_of_the_median(iqr, median, noisy):
    assert flags.noisy({"step_s_iqr": iqr, "step_s_median": median}) is noisy


def test_a_cases_flags_recorded_derived_and_in_order():
    row = {"status": "ok", "quality_flags": ["short-window", "throttled", "from-the-future"], "warmup_settled": False,
           "step_s_iqr": 0.2, "step_s_median": 1.0}
    assert flags.of(row) == ["noisy", "throttled", "warmup-not-settled", "short-window", "from-the-future"]
    assert flags.doubting(flags.of(row), flags.ENERGY) == ["throttled", "short-window", "from-the-future"]
    assert flags.doubting(flags.of(row), flags.TIME) == ["noisy", "throttled", "warmup-not-settled"]
    assert flags.of({"status": "skipped", "step_s_iqr": 1.0, "step_s_median": 1.0}) == []
    assert flags.footnote("from-the-future").endswith("(not described by this version of benchsuite)")


def test_explain_one_flag_every_flag_and_an_unknown_one():
    one = CliRunner().invoke(main, ["explain", "noisy"], env={"COLUMNS": "80"})
    assert one.exit_code == 0 and one.stdout.startswith("noisy: puts the timed figures in doubt\n")
    assert all(len(line) <= 80 for line in one.stdout.splitlines())
    every = CliRunner().invoke(main, ["explain"])
    assert every.exit_code == 0 and all(f"{name}: puts" in every.stdout for name in flags.FLAGS)
    bad = CliRunner().invoke(main, ["explain", "bogus"])
    assert bad.exit_code == 2 and "no flag 'bogus'; flags: noisy" in bad.output
