"""calibrate -> run end to end on the CPU: achievable peak in every result, the run's copy, the tables."""

import json

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from benchsuite import calibration_store, flags, results
from benchsuite.cli import main
from benchsuite.report import calibration, summary
from benchsuite.report.roofline import roofline_points
from tests.conftest import TINY
from tests.fakes import calibrations


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def calibrate_cpu(tmp_path, precisions, budget_s, *more):
    """`benchsuite calibrate` of the CPU in ``precisions`` within ``budget_s``, its run folders in
    tmp_path/cal-runs; the CLI's result."""
    return invoke("calibrate", "--device", "cpu", "--precision", precisions, "--budget", budget_s,
                  "--out", str(tmp_path / "cal-runs"), *more)


def test_calibrate_then_run_reports_pct_of_achievable(tmp_path, monkeypatch, tiny_grid):
    monkeypatch.setenv(calibration_store.ENV_DIR, str(tmp_path / "cal"))
    r = calibrate_cpu(tmp_path, "fp32,fp8", "1.5", "--format", "json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)[0]
    assert rec["matmul"]["fp32"]["tflop_per_s"] > 0 and "fp8" not in rec["matmul"]
    assert rec["threads"] == torch.get_num_threads() and rec["torch"] == torch.__version__
    assert "needs a CUDA GPU" in rec["skipped"]["fp8"] and "skipped cpu fp8" in r.stderr
    assert f"Calibration {rec['id']}" in r.stderr and "Run copy:" in r.stderr
    assert len(list((tmp_path / "cal").glob("*.json"))) == 1

    r = invoke("run", "-w", "matmul", "-p", "fp32", "--param", "m=64", "--param", "n=64", "--param", "k=64",
               "--out", str(tmp_path / "runs"), "--no-telemetry", "--format", "markdown", *TINY)
    assert r.exit_code == 0, r.output
    assert f"calibration for cpu: {rec['id']}" in r.stderr
    assert f"% achievable on cpu: calibration {rec['id']}" in r.stderr
    assert "% achievable" in r.stdout.splitlines()[0]
    run_dir = results.newest_run(tmp_path / "runs")
    df = results.load(run_dir)
    row = df.iloc[0]
    assert row["calibration"] == rec["id"]
    assert row["achievable_tflop_per_s"] == pytest.approx(rec["matmul"]["fp32"]["tflop_per_s"])
    assert row["pct_of_achievable"] == pytest.approx(100 * row["tflop_per_s"] / row["achievable_tflop_per_s"])
    assert row["achievable_gb_per_s"] == pytest.approx(rec["bandwidth"]["d2d"]["gb_per_s"])
    assert row["cache_state"] == "warm-l2" and row["flop_per_byte"] == pytest.approx(2 * 64**3 / (3 * 64 * 64 * 4))
    assert pd.isna(row["warmup_settled"]) and row["warmup_s"] >= 0
    assert df.attrs["runs"][0]["header"]["calibrations"] == {"cpu": rec["id"]}
    assert calibration_store.read_run_copy(run_dir)[0]["id"] == rec["id"]
    points = roofline_points(df, calibration_store.read_run_copy(run_dir))
    assert points["bound"].iloc[0] in ("memory", "compute") and points["calibration"].iloc[0] == rec["id"]
    # the HTML report draws the roofline from the run's calibration copy
    r = invoke("report", str(run_dir), "-o", str(tmp_path / "report.html"))
    assert r.exit_code == 0, r.output
    page = (tmp_path / "report.html").read_text()
    assert 'id="bs-roofline"' in page and "Roofline: achieved TFLOP" in page


def test_a_run_without_calibration_says_nothing_achievable(tmp_path, monkeypatch):
    monkeypatch.setenv(calibration_store.ENV_DIR, str(tmp_path / "empty"))
    r = invoke("run", "-w", "matmul", "-p", "fp32", "--param", "m=64", "--out", str(tmp_path), "--no-telemetry",
               "--format", "json", *TINY)
    row = json.loads(r.stdout)[0]
    assert row["pct_of_achievable"] is None and row["calibration"] is None and row["cache_state"] == "warm-l2"
    assert not (results.newest_run(tmp_path) / calibration_store.RUN_FILE).exists()


def test_throttled_and_unsettled_results_are_flagged_in_the_table():
    df = pd.DataFrame([
        {"id": "a", "status": "ok", "samples_per_s": 10.0, "step_s_median": 0.1, "quality_flags": ["throttled"],
         "throttled_share": 0.2, "throttle_slowing_reasons": ["hw_thermal"], "warmup_settled": False,
         "warmup_s": 30.0, "pct_of_achievable": 97.5},
        {"id": "b", "status": "ok", "samples_per_s": 10.0, "step_s_median": 0.1, "quality_flags": [],
         "throttled_share": 0.01, "throttle_slowing_reasons": ["sw_power_cap"], "warmup_settled": True,
         "warmup_s": 4.0, "pct_of_achievable": None},
    ])
    notes = [summary.notes_of(r) for r in df.to_dict("records")]
    assert notes == [[flags.footnote("throttled"), flags.footnote("warmup-not-settled")], []]
    lines = summary.markdown_table(df).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:4]]
    at = header.index("% achievable")
    assert [r[at] for r in rows] == ["97.5%", "—"]
    assert [r[header.index("status")] for r in rows] == ["ok [ab]", "ok"]  # a's two flags as footnotes
    assert f"- a: {flags.footnote('throttled')}" in lines and f"- b: {flags.footnote('warmup-not-settled')}" in lines
    assert "throttled: the GPU slowed its clocks" in summary.text_table(df, None)


def test_roofline_places_cases_under_the_two_ceilings():
    cal = {"kind": calibration_store.KIND, "version": 1, "id": "cal-1",
           "device": {"id": "cuda:0", "type": "cuda", "name": "G"},
           "matmul": {"bf16": {"tflop_per_s": 800.0}}, "bandwidth": {"d2d": {"gb_per_s": 3000.0}}}
    df = pd.DataFrame([
        {"id": "big", "status": "ok", "device": "cuda:0", "precision": "bf16", "flops_per_step": 2 * 8192.0**3,
         "bytes_per_step": 3 * 8192.0**2 * 2, "tflop_per_s": 700.0},
        {"id": "thin", "status": "ok", "device": "cuda:0", "precision": "bf16", "flops_per_step": 1e9,
         "bytes_per_step": 1e8, "tflop_per_s": 15.0},
        {"id": "nocal", "status": "ok", "device": "cuda:1", "precision": "bf16", "flops_per_step": 1e9,
         "bytes_per_step": 1e8, "tflop_per_s": 15.0},
        {"id": "oom", "status": "oom", "device": "cuda:0", "precision": "bf16", "flops_per_step": None,
         "bytes_per_step": None, "tflop_per_s": None},
    ])
    points = roofline_points(df, cal).set_index("id")
    assert list(points.index) == ["big", "thin", "nocal"]
    assert points.loc["big", "ridge_flop_per_byte"] == pytest.approx(800e12 / 3000e9)
    assert points.loc["big", "bound"] == "compute" and points.loc["big", "attainable_tflop_per_s"] == 800.0
    assert points.loc["thin", "bound"] == "memory"
    assert points.loc["thin", "attainable_tflop_per_s"] == pytest.approx(3000e9 * 10 / 1e12)  # 30 TFLOP/s
    assert points.loc["thin", "pct_of_roofline"] == pytest.approx(50.0)
    assert pd.isna(points.loc["nocal", "attainable_tflop_per_s"]) and points.loc["nocal", "flop_per_byte"] == 10.0
    assert roofline_points(pd.DataFrame(), cal).empty


def test_calibrate_bad_input_is_a_usage_error(tmp_path):
    r = CliRunner().invoke(main, ["calibrate", "--precision", "fp64", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown precision 'fp64'" in r.output
    r = CliRunner().invoke(main, ["calibrate", "--device", "cuda:7", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "cuda:7" in r.output


def test_settle_max_reaches_the_gpu_timing_settings(tmp_path):
    r = invoke("run", "-w", "matmul", "-p", "fp32", "--param", "m=64", "--out", str(tmp_path), "--no-telemetry",
               "--settle-max", "0", "--format", "json", *TINY)
    assert r.exit_code == 0, r.output
    timing = results.load(results.newest_run(tmp_path)).attrs["runs"][0]["header"]["settings"]["timing"]
    assert timing["cuda"]["settle_max_s"] == 0 and timing["cuda"]["settle_window_s"] == 3.0


def test_info_shows_the_achievable_figures(tmp_path, monkeypatch):
    calibration_id = calibrations.save_cpu(tflop_per_s=0.25, gb_per_s=12.5)
    r = invoke("info")
    assert f"achievable: TFLOP/s fp32 0.25; GB/s d2d 12.5 (calibration {calibration_id})" in r.stdout.replace("\n", "")
    data = json.loads(invoke("info", "--format", "json").stdout)
    assert data["devices"][0]["calibration"]["id"] == calibration_id


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield threads
    torch.set_num_threads(threads)


def test_a_cpu_calibration_is_not_used_by_a_run_with_other_threads(tmp_path, monkeypatch, tiny_grid,
                                                                   restore_threads):
    monkeypatch.setenv(calibration_store.ENV_DIR, str(tmp_path / "cal"))
    r = calibrate_cpu(tmp_path, "fp32", "1", "--format", "json")
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)[0]
    other = restore_threads + 1
    r = invoke("run", "-w", "matmul", "-p", "fp32", "--param", "m=64", "--threads", str(other),
               "--out", str(tmp_path / "runs"), "--no-telemetry", "--format", "json", *TINY)
    assert r.exit_code == 0, r.output
    assert (f"calibration not used: calibration {rec['id']} of cpu: calibrated with {restore_threads} threads, "
            f"this run uses {other}") in r.stderr.replace("\n", " ")
    row = json.loads(r.stdout)[0]
    assert row["calibration"] is None and row["pct_of_achievable"] is None


def test_calibration_table_notes_throttling_missing_telemetry_and_cpu_threads():
    gpu = {"device": {"id": "cuda:0", "type": "cuda", "name": "NVIDIA H100 80GB HBM3"}, "threads": 16,
           "matmul": {"bf16": {"tflop_per_s": 610.0, "shape": [8192, 8192, 8192], "throttled": True,
                               "throttled_share": 0.12, "throttle_reasons": ["gpu_idle", "sw_power_cap"],
                               "throttle_slowing_reasons": ["sw_power_cap"], "telemetry_note": None},
                      "fp16": {"tflop_per_s": 700.0, "shape": [8192, 8192, 8192], "throttled": False,
                               "throttled_share": 0.02, "throttle_slowing_reasons": ["sw_power_cap"],
                               "telemetry_note": None},
                      "fp32": {"tflop_per_s": 50.0, "shape": [4096, 4096, 4096], "throttled": None,
                               "throttled_share": None, "telemetry_note": "no NVML: driver not found"},
                      "tf32": {"tflop_per_s": 400.0, "shape": [4096, 4096, 4096]}},  # made before telemetry
           "bandwidth": {"d2d": {"gb_per_s": 2900.0, "bytes_per_copy": 2 << 30}}}
    cpu = {"device": {"id": "cpu", "type": "cpu", "name": "EPYC"}, "threads": 8,
           "matmul": {"fp32": {"tflop_per_s": 1.5, "shape": [512, 512, 512],
                               "telemetry_note": "throttling not measured on a CPU"}},
           "bandwidth": {"d2d": {"gb_per_s": 60.0, "bytes_per_copy": 1 << 29}}}
    frame = calibration.calibration_table([gpu, cpu])
    assert list(frame.columns)[-1] == "notes"
    assert frame["notes"].tolist() == [
        "throttled 12% of the search (sw_power_cap)", "", "no NVML: driver not found", "", "",
        "8 threads; throttling not measured on a CPU", "8 threads"]


def test_calibrate_keeps_a_better_stored_calibration_unless_forced(tmp_path, monkeypatch, tiny_grid):
    monkeypatch.setenv(calibration_store.ENV_DIR, str(tmp_path / "cal"))
    r = calibrate_cpu(tmp_path, "fp32", "1.5", "--format", "json")
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)[0]
    assert first["stored"]["action"] == "stored" and first["version"] == calibration_store.CALIBRATION_VERSION
    entry = first["matmul"]["fp32"]
    assert entry["reps"]["n"] >= 20 and len(entry["times_s"]) == entry["reps"]["n"] and entry["finals"]
    # make the stored figure unbeatable, as a calibration on a quiet day would be
    path = calibration_store.path_for(first["machine_key"])
    held = json.loads(path.read_text())
    held["matmul"]["fp32"]["tflop_per_s"] = 1e6
    held["bandwidth"]["d2d"]["gb_per_s"] = 1e9
    path.write_text(json.dumps(held))
    runs_before = set((tmp_path / "cal-runs").iterdir())
    r = calibrate_cpu(tmp_path, "fp32", "1.5")
    assert r.exit_code == 0, r.output
    (second_run,) = set((tmp_path / "cal-runs").iterdir()) - runs_before
    second = calibration_store.read_run_copy(second_run)[0]
    found = second["matmul"]["fp32"]["tflop_per_s"]
    err = r.stderr
    assert (f"cpu: kept the stored fp32 1e+06 TFLOP/s (calibration {first['id']}), the new search found "
            f"{found:.4g}; use --force to replace") in err
    assert f"Calibration {second['id']}: not stored, the stored one kept in {path}" in err
    assert json.loads(path.read_text()) == held
    r = calibrate_cpu(tmp_path, "fp32", "1.5", "--force")
    assert r.exit_code == 0, r.output
    third = calibration_store.load(first["machine_key"])
    assert f"replaced calibration {first['id']} (--force)" in r.stderr
    assert calibration_store.achievable_tflops(third, "fp32") < 1e6 and third["sources"] == [third["id"]]


def test_an_incomplete_calibration_is_not_stored_and_exits_1(tmp_path, monkeypatch, tiny_grid):  # noqa: F811
    monkeypatch.setenv(calibration_store.ENV_DIR, str(tmp_path / "cal"))
    calibration_id = calibrations.save_cpu(tflop_per_s=0.25)
    before = {p.name: p.read_text() for p in (tmp_path / "cal").glob("*.json")}
    r = calibrate_cpu(tmp_path, "fp32", "0.01", "--format", "json")
    assert r.exit_code == 1
    rec = json.loads(r.stdout)[0]
    assert rec["matmul"]["fp32"]["tflop_per_s"] is None and rec["stored"]["action"] == "refused"
    err = r.stderr
    assert "cpu: not stored: fp32 not calibrated (the budget is too small to re-time a candidate" in err
    assert f"the stored calibration {calibration_id} stays in use" in err
    assert {p.name: p.read_text() for p in (tmp_path / "cal").glob("*.json")} == before
    (run_dir,) = (tmp_path / "cal-runs").iterdir()
    assert calibration_store.read_run_copy(run_dir)[0]["stored"]["action"] == "refused"  # the run copy keeps what was measured, and why it was not stored


@pytest.mark.parametrize("budget", ["nan", "inf", "-inf", "0"])
def test_calibrate_refuses_a_budget_that_is_not_finite_and_positive(tmp_path, monkeypatch, budget):
    monkeypatch.setenv(calibration_store.ENV_DIR, str(tmp_path / "cal"))
    calibrations.save_cpu()
    before = {p.name: p.read_text() for p in (tmp_path / "cal").glob("*.json")}
    r = CliRunner().invoke(main, ["calibrate", "--device", "cpu", "--budget", budget, "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert f"'{budget}' is not allowed; allowed: a finite number, x>0" in r.output  # the one number parser
    assert {p.name: p.read_text() for p in (tmp_path / "cal").glob("*.json")} == before
    assert not (tmp_path / "o").exists()


def test_a_case_above_105_pct_of_achievable_marks_the_calibration_stale(tmp_path):
    calibration_id = calibrations.save_cpu(tflop_per_s=1e-6)  # far below what any 64x64x64 matmul reaches
    r = invoke("run", "-w", "matmul", "-p", "fp32", "--param", "m=64", "--out", str(tmp_path), "--no-telemetry",
               "--format", "markdown", *TINY)
    assert r.exit_code == 0, r.output
    stale = [line for line in r.stderr.splitlines() if line.startswith("calibration stale")]
    assert len(stale) == 1 and stale[0].endswith("recalibrate with `benchsuite calibrate -d cpu --force`")
    assert f"calibration {calibration_id}" in stale[0]
    assert "calibration stale (" in r.stdout and "of achievable)" in r.stdout  # the table's notes
    row = results.load(results.newest_run(tmp_path)).iloc[0]
    assert row["calibration_stale"] == True and row["pct_of_achievable"] > 105  # noqa: E712
    # a calibration that fits: no flag, no line
    calibrations.save_cpu(tflop_per_s=1e6)
    r = invoke("run", "-w", "matmul", "-p", "fp32", "--param", "m=64", "--out", str(tmp_path), "--no-telemetry",
               "--format", "json", *TINY)
    assert json.loads(r.stdout)[0]["calibration_stale"] is False and "calibration stale" not in r.stderr
