"""`compare` on two real H100 runs (tests/fixtures/h100/): the --quick run 6bcb against the
default run da35, which was cut at 46 cases before its GPU MLP cases. Matching by key alone
paired the quick run's GPU MLP cases with the default run's CPU ones and called four of
them regressions (``cuda:0 → cpu … -93.3% ▼ REGRESSION``); cases are matched by key and
device model, so those are one-sided and nothing is a regression."""

from __future__ import annotations

import json

from click.testing import CliRunner

from benchsuite import compare, results
from benchsuite.cli import main
from tests.fakes.fixture_paths import DA35, H100

QUICK, DEFAULT = H100 / "20261125-215237-6bcb", DA35


def _rows():
    return compare.compare(results.load(QUICK), results.load(DEFAULT), "samples_per_s", 0.05).rows


def test_no_row_pairs_two_different_devices():
    rows = _rows()
    paired = rows[rows["base_device"].notna() & rows["new_device"].notna()]
    assert len(paired) == 12  # the GPU cnn bs128 and matmul cases both runs hold
    assert (paired["base_device"] == paired["new_device"]).all()
    assert (paired["base_device_name"] == paired["new_device_name"]).all()
    assert "regression" not in set(rows["verdict"])


def test_the_quick_runs_gpu_mlp_cases_are_one_sided():
    rows = _rows()
    mlp = rows[rows["case"].str.startswith("mlp/") & (rows["base_device"] == "cuda:0")]
    assert len(mlp) == 8 and set(mlp["verdict"]) == {"only in base"}
    cpu = rows[rows["new_device"] == "cpu"]
    assert len(cpu) == 18 and set(cpu["verdict"]) == {"only in new"}


def test_cli_finds_no_regression_and_as_a_gate_fails_only_for_coverage():
    done = CliRunner().invoke(main, ["compare", str(QUICK), str(DEFAULT), "--format", "json"])
    assert done.exit_code == 0, done.output
    assert "regression" not in json.loads(done.stdout)["counts"]
    # under --fail-on-regression the gate fails, but on coverage (12 of NEW's 46 cases), not on a
    # cross-device "regression": before the fix it failed on four cuda:0 -> cpu rows
    gate = CliRunner().invoke(main, ["compare", str(QUICK), str(DEFAULT), "--format", "json", "--fail-on-regression"])
    assert gate.exit_code == 1 and "only 12 case(s) compared" in gate.stderr
    assert "regression" not in json.loads(gate.stdout)["counts"]
