"""`benchsuite export`: pytest-benchmark JSON read by pytest-benchmark itself, csv, parquet,
and the regression round trip against a live `pytest benchmarks/ --benchmark-compare-fail`."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from benchsuite import export, results
from benchsuite.cli import main
from tests.fakes.fixture_paths import DA35
from tests.fakes.runs import scaled_run

ROOT = Path(__file__).resolve().parents[1]
# The same case the live suite (benchmarks/conftest.py) runs for matmul in fp32 on the CPU;
# fp8 on a CPU is a skipped case, which the pytest-benchmark export leaves out.
RUN_ARGS = ["run", "-w", "matmul", "-d", "cpu", "-p", "fp32,fp8", "--param", "m=256", "--param", "n=256",
            "--param", "k=256", "--min-time", "0.2", "--min-iters", "20", "--warmup", "3", "--threads", "1",
            "--format", "json"]
CASE_ID = "matmul/infer/cpu/fp32[m=256,n=256,k=256]"
PYTEST_BENCHMARK = [sys.executable, "-m", "pytest_benchmark"]  # pytest_benchmark/__main__.py -> cli.main


# One torch thread in the measuring subprocesses: on a shared 2-core machine a 2-thread
# matmul can slow down by far more than 2x when another process takes a core.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


def _run(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ONE_THREAD)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real run made by `benchsuite run` (one measured case, one skipped)."""
    out = tmp_path_factory.mktemp("runs")
    done = _run([sys.executable, "-m", "benchsuite", *RUN_ARGS, "--out", str(out)], cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return results.newest_run(out)


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def _export(run: Path, out: Path) -> Path:
    r = cli("export", str(run), "--format", "pytest-benchmark", "-o", str(out))
    assert r.exit_code == 0, r.output
    return out


def test_export_mirrors_a_real_pytest_benchmark_file(run_dir, tmp_path, pytester):
    pytester.makepyfile(test_real="def test_real(benchmark):\n    benchmark(lambda: sum(range(100)))\n")
    real_path = tmp_path / "real.json"
    pytester.runpytest("--benchmark-max-time=0.01", f"--benchmark-json={real_path}").assert_outcomes(passed=1)
    real = json.loads(real_path.read_text())
    ours = json.loads(_export(run_dir, tmp_path / "ours.json").read_text())
    assert list(ours) == list(real)
    assert set(ours["commit_info"]) >= set(real["commit_info"])
    assert ours["machine_info"] == real["machine_info"]  # exported where the run was made
    assert ours["commit_info"]["benchsuite"]["run_id"] == run_dir.name
    (bench,) = ours["benchmarks"]
    real_bench = real["benchmarks"][0]
    assert list(bench) == list(real_bench)
    assert list(bench["stats"]) == list(real_bench["stats"])
    assert list(bench["options"]) == list(real_bench["options"])
    assert ours["version"] == real["version"]


def test_export_is_read_by_pytest_benchmarks_loader(run_dir, tmp_path):
    from pytest_benchmark.logger import Logger
    from pytest_benchmark.stats import Stats
    from pytest_benchmark.storage.file import FileStorage

    path = _export(run_dir, tmp_path / "run.json")
    storage = FileStorage(tmp_path, logger=Logger(Logger.QUIET), default_machine_id="x")
    (bench,) = list(storage.load_benchmarks(str(path)))
    case = results.load(run_dir).set_index("id").loc[CASE_ID]
    times = results.times(run_dir)
    step_times = times[times["id"] == CASE_ID]["time_s"].tolist()
    assert bench["fullname"] == f"benchmarks/test_workloads.py::test_workload[{CASE_ID}]"
    assert set(Stats.fields) | {"data", "iterations"} <= set(bench)
    assert bench["data"] == step_times
    # a block is a round of steps_per_block iterations (block timing: 1 when a step is >= 1 ms)
    assert bench["rounds"] == len(step_times) and bench["iterations"] == case["steps_per_block"]
    assert bench["rounds"] * bench["iterations"] == case["iters"]
    # pytest-benchmark's statistics agree with benchsuite's own (numpy) ones; its total is of
    # per-iteration times, so the blocks' seconds ÷ steps per block
    for ours, theirs in (("step_s_median", "median"), ("step_s_mean", "mean"), ("step_s_min", "min"),
                         ("step_s_max", "max"), ("step_s_std", "stddev")):
        assert bench[theirs] == pytest.approx(case[ours], rel=1e-9), theirs
    assert bench["total"] == pytest.approx(case["step_s_total"] / case["steps_per_block"], rel=1e-9)
    info = bench["extra_info"]
    assert info["case_id"] == CASE_ID and info["samples"] == 1
    assert info["samples_per_s"] == pytest.approx(case["samples_per_s"])
    assert info["tflop_per_s"] == pytest.approx(case["tflop_per_s"])
    # the run had telemetry: the case's own note (e.g. "no RAPL on this CPU") travels with it
    assert info["telemetry_note"] == case["telemetry_note"] and info["energy_j"] is None
    assert info["energy_measured"] is False


def test_export_leaves_out_cases_without_times(run_dir, tmp_path):
    r = cli("export", str(run_dir), "--format", "pytest-benchmark", "-o", str(tmp_path / "run.json"))
    assert r.exit_code == 0
    assert "left out matmul/infer/cpu/fp8" in r.output and "skipped" in r.output
    assert "Wrote 1 benchmarks (pytest-benchmark) to" in r.output


def test_export_carries_energy_from_the_telemetry_summary(run_dir, tmp_path):
    path = results.results_path(run_dir)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    case = next(r for r in records if r.get("id") == CASE_ID)
    rounds = len(case["timing"]["block_times_s"])
    # a window as long as the timed span holds every round (schema 2: rounds in a window are
    # its seconds × the timed run's rounds per second, `benchsuite.metrics.window_samples`)
    case["telemetry"] = {"device": "cpu", "energy_j": 3.0 * rounds, "energy_method": "rapl", "power_mean_w": 42.0,
                         "window_s": case["timing"]["span_s"], "quality_flags": ["short-window"],
                         "telemetry_note": None}
    doctored = tmp_path / "run" / "results.jsonl"
    doctored.parent.mkdir()
    doctored.write_text("".join(json.dumps(r) + "\n" for r in records))
    (bench,) = export.to_pytest_benchmark(doctored).document["benchmarks"]
    info = bench["extra_info"]
    per_block = case["timing"]["steps_per_block"]
    assert info["energy_per_round_j"] == pytest.approx(3.0)  # one block per round
    assert info["samples_per_j"] == pytest.approx(per_block / 3.0)  # one product per step
    assert (info["power_mean_w"], info["energy_method"], info["quality_flags"]) == (42.0, "rapl", ["short-window"])


def test_export_of_a_run_from_another_machine_describes_that_machine(run_dir, tmp_path):
    path = results.results_path(run_dir)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[0]["host"] = {**records[0]["host"], "hostname": "gpu-box-7", "cpu_model": "Intel Xeon Platinum 8480+",
                          "os": "Linux 5.15.0-91-generic"}
    doctored = tmp_path / "run" / "results.jsonl"
    doctored.parent.mkdir()
    doctored.write_text("".join(json.dumps(r) + "\n" for r in records))
    info = export.to_pytest_benchmark(doctored).document["machine_info"]
    assert (info["node"], info["processor"], info["system"], info["release"]) == (
        "gpu-box-7", "Intel Xeon Platinum 8480+", "Linux", "5.15.0-91-generic")


def test_energy_fields():
    assert export.energy_fields(12.0, rounds=4, iterations=2, samples_per_call=8) == {
        "energy_per_round_j": 3.0, "samples_per_j": 8 * 2 / 3.0}
    assert export.energy_fields(12.0, rounds=4, iterations=1, samples_per_call=None)["samples_per_j"] is None
    assert export.energy_fields(None, rounds=4, iterations=1, samples_per_call=8) == {
        "energy_per_round_j": None, "samples_per_j": None}


def test_pytest_benchmark_compare_shows_both_runs(run_dir, tmp_path):
    base = _export(run_dir, tmp_path / "0001_base.json")
    slower = _export(scaled_run(run_dir, tmp_path, 1.5), tmp_path / "0002_slower.json")
    done = _run([*PYTEST_BENCHMARK, "compare", str(base), str(slower), "--columns=median,rounds",
                 f"--csv={tmp_path / 'cmp.csv'}"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Failed to load" not in done.stdout + done.stderr
    assert done.stdout.count(f"test_workload[{CASE_ID}]") == 2
    table = pd.read_csv(tmp_path / "cmp.csv")
    assert list(table["param:case_id"]) == [CASE_ID, CASE_ID]
    fast, slow = sorted(table["median"])
    assert slow == pytest.approx(1.5 * fast, rel=1e-9)


def test_pytest_benchmark_histogram(run_dir, tmp_path):
    pytest.importorskip("pygal", reason="pytest-benchmark[histogram] not installed")
    base = _export(run_dir, tmp_path / "base.json")
    done = _run([*PYTEST_BENCHMARK, "compare", str(base), f"--histogram={tmp_path / 'hist'}"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.glob("hist*.svg"))


def test_regression_thresholds_with_pytest_benchmarks_checks(run_dir, tmp_path):
    """pytest-benchmark's own --benchmark-compare-fail checks, applied to exported runs."""
    from pytest_benchmark.utils import parse_compare_fail

    def load(run):
        return export.to_pytest_benchmark(run).document["benchmarks"][0]

    def failures(current, compared):
        flat_current, flat_compared = {**current, **current["stats"]}, {**compared, **compared["stats"]}
        checks = [parse_compare_fail("median:5%"), parse_compare_fail("mean:5%")]
        return [msg for check in checks if (msg := check.fails(flat_current, flat_compared))]

    base = load(run_dir)
    assert failures(base, load(run_dir)) == []  # a run against itself: no regression
    slower = load(scaled_run(run_dir, tmp_path, 1.2))
    found = failures(slower, base)
    assert len(found) == 2 and all("regression" in msg.lower() for msg in found), found
    assert failures(base, slower) == []  # faster than the baseline is not a regression


@pytest.mark.parametrize("factor, fails", [(0.1, True), (10.0, False)], ids=["faster-baseline", "slower-baseline"])
def test_live_benchmark_compare_fail_against_an_exported_run(run_dir, tmp_path, factor, fails):
    """`pytest benchmarks/ --benchmark-compare=EXPORT --benchmark-compare-fail=median:5%` on a baseline
    made 10x faster (the live run is a regression: pytest fails) or 10x slower (it passes)."""
    baseline = _export(scaled_run(run_dir, tmp_path, factor), tmp_path / "baseline.json")
    done = _run([sys.executable, "-m", "pytest", "benchmarks/test_workloads.py", "-k", "matmul and cpu and fp32",
                 "-p", "no:cacheprovider", "--benchmark-max-time=0.2", f"--benchmark-compare={baseline}",
                 "--benchmark-compare-fail=median:5%"],
                cwd=ROOT)
    output = done.stdout + done.stderr
    assert f"Comparing against benchmarks from: {baseline}" in output.replace("\n", "")
    assert f"test_workload[{CASE_ID}] (NOW)" in output  # the live case matched the exported one
    assert "machine_info is different" not in output
    if fails:
        assert done.returncode != 0 and "Performance has regressed" in output, output
        assert f"test_workload[{CASE_ID}]" in output.split("Performance has regressed")[1]
    else:
        assert done.returncode == 0, output
        assert "Performance has regressed" not in output


def test_csv_export_is_the_case_table(run_dir, tmp_path):
    out = tmp_path / "cases.csv"
    r = cli("export", str(run_dir), "--format", "csv", "-o", str(out))
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out)
    loaded = results.load(run_dir)
    assert list(table["id"]) == list(loaded["id"])
    assert list(table["status"]) == ["ok", "skipped"]
    row = table.set_index("id").loc[CASE_ID]
    assert "step_times_s" not in table.columns  # the statistics, not the raw times (times-csv has those)
    assert row["step_s_q1"] <= row["step_s_median"] <= row["step_s_q3"]
    assert row["samples_per_s"] == pytest.approx(loaded.set_index("id").loc[CASE_ID, "samples_per_s"])


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed (the parquet extra)")
def test_parquet_export_round_trips(run_dir, tmp_path):
    out = tmp_path / "cases.parquet"
    r = cli("export", str(run_dir), "--format", "parquet", "-o", str(out))
    assert r.exit_code == 0, r.output
    table = pd.read_parquet(out)
    assert list(table["id"]) == list(results.load(run_dir)["id"])


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_parquet_without_pyarrow_says_how_to_get_it(run_dir, tmp_path):
    out = tmp_path / "cases.parquet"
    r = cli("export", str(run_dir), "--format", "parquet", "-o", str(out))
    assert r.exit_code == 2
    assert "needs pyarrow" in r.output and "benchsuite[parquet]" in r.output
    assert not out.exists()


def test_export_bad_input_is_a_usage_error(run_dir, tmp_path):
    r = cli("export", str(tmp_path / "missing"), "--format", "csv", "-o", str(tmp_path / "x.csv"))
    assert r.exit_code == 2 and "does not exist" in r.output
    (tmp_path / "empty").mkdir()
    r = cli("export", str(tmp_path / "empty"), "--format", "pytest-benchmark", "-o", str(tmp_path / "x.json"))
    assert r.exit_code == 2 and "no such results file" in r.output
    r = cli("export", str(run_dir), "--format", "pytest-benchmark", "-o", str(tmp_path))
    assert r.exit_code == 2 and "is a directory" in r.output
    r = cli("export", str(run_dir.parent), "--format", "csv", "-o", str(tmp_path / "x.csv"))  # a folder of runs
    assert r.exit_code == 2 and "no such results file" in r.output
    r = cli("export", str(run_dir), "--format", "xml", "-o", str(tmp_path / "x.xml"))
    assert r.exit_code == 2 and "'xml' is not one of" in r.output


def test_round_trip_with_benchsuite_compare(run_dir, tmp_path):
    """A run against itself shows no regression; against a copy made slower on purpose,
    `benchsuite compare --fail-on-regression` exits 1."""
    from tests.fakes.runs import scaled_run

    same = cli("compare", str(run_dir), str(run_dir), "--fail-on-regression", "--format", "json")
    assert same.exit_code == 0, same.output
    # 3x: past the noise rule even when a loaded machine measured the fixture with a wide IQR
    slower = scaled_run(run_dir, tmp_path, 3.0)
    worse = cli("compare", str(run_dir), str(slower), "--fail-on-regression", "--format", "json")
    assert worse.exit_code == 1, worse.output
    assert "regression" in worse.output


def test_csv_export_of_the_default_h100_run_is_small_and_keeps_batch_sizes_whole(tmp_path):
    """The 46 cases of the cut-short default H100 run: statistics, not raw step times (the
    original's CSV was 4.7 MB with one cell of 952,611 characters), batch sizes as integers."""
    out = tmp_path / "cases.csv"
    r = cli("export", str(DA35), "--format", "csv", "-o", str(out))
    assert r.exit_code == 0, r.output
    assert out.stat().st_size < 100_000
    import csv

    rows = list(csv.DictReader(out.open()))
    assert {r["batch_size"] for r in rows} == {"32", "128", "256", "1024", "4096", ""}  # "" for matmul: no batch
    assert {r["param_m"] for r in rows} == {"1024", "8192", ""}
    table = pd.read_csv(out, dtype_backend="numpy_nullable")
    assert len(table) == 46 and str(table["batch_size"].dtype) == "Int64"
    assert sorted(set(table["batch_size"].dropna())) == [32, 128, 256, 1024, 4096]
    assert max(len(str(v)) for v in table.astype(str).to_numpy().ravel()) < 1000
    assert {"step_s_median", "step_s_iqr", "step_s_q1", "step_s_q3"} <= set(table.columns)


def test_times_csv_holds_every_recorded_step_time_one_row_each(tmp_path):
    out = tmp_path / "times.csv"
    r = cli("export", str(DA35), "--format", "times-csv", "-o", str(out))
    assert r.exit_code == 0, r.output
    times = pd.read_csv(out)
    run = results.read_run(DA35)
    assert list(times.columns) == results.TIMES_COLUMNS
    assert len(times) == sum(len(c["timing"]["times_s"]) for c in run.cases)
    first = run.cases[0]
    assert times[times["id"] == first["id"]]["time_s"].tolist() == first["timing"]["times_s"]
