import json
import subprocess
import sys

import pandas as pd
import pytest

from benchsuite import compare, fingerprint, results
from benchsuite.report.markup import markdown
from tests.fakes import report_runs
from tests.fakes.golden import check_golden


def _case(case_id, times, status="ok", batch=32, precision="fp32", device="cuda:0", **metrics):
    """One case record whose throughput follows from its raw step times (batch / median)."""
    times = sorted(times)
    median = pd.Series(times).median() if times else None
    record = {"id": case_id, "workload": "mlp", "mode": "train", "device": device, "precision": precision,
              "batch_size": batch, "params": {"widths": [4, 2]}, "notes": [], "status": status,
              "reason": None if status == "ok" else f"{status} reason"}
    if status == "ok":
        record["metrics"] = {"step_s_median": median, "samples_per_s": batch / median, **metrics}
        record["timing"] = {"method": "perf_counter", "times_s": times}
    return record


def _run(tmp_path, run_id, cases, **header):
    store = results.RunStore(tmp_path, report_runs.header(**header), run_id=run_id)
    for case in cases:
        store.append(case)
    store.close("completed")
    return store.dir


def _spread(center, half, n=21):
    return [center - half + 2 * half * i / (n - 1) for i in range(n)]


@pytest.mark.parametrize("text,value", [("5%", 0.05), ("5", 0.05), ("0.05", 0.05), ("12.5%", 0.125)])
def test_threshold_forms(text, value):
    assert compare.parse_threshold(text) == pytest.approx(value)


def test_bad_threshold_names_the_value():
    with pytest.raises(compare.CompareError, match="'fast'"):
        compare.parse_threshold("fast")


def test_verdicts(tmp_path):
    base = _run(tmp_path, "base", [
        _case("slower", _spread(1.0, 0.01), batch=1),
        _case("noisy", _spread(1.0, 0.5), batch=2),       # IQR 0.75..1.25
        _case("faster", _spread(1.0, 0.01), batch=4),
        _case("same", _spread(1.0, 0.01), batch=8),
        _case("broke", _spread(1.0, 0.01), batch=16),
        _case("gone", _spread(1.0, 0.01), batch=64),
    ])
    new = _run(tmp_path, "new", [
        _case("slower", _spread(1.2, 0.01), batch=1),      # -17% throughput, spreads apart
        _case("noisy", _spread(1.2, 0.5), batch=2),       # -17% but inside the base's IQR
        _case("faster", _spread(0.8, 0.01), batch=4),
        _case("same", _spread(1.02, 0.01), batch=8),      # -2%: inside a 5% threshold
        _case("broke", [], status="oom", batch=16),
        _case("added", _spread(1.0, 0.01), batch=128),
    ])
    rows = compare.compare(results.load(base), results.load(new), "samples_per_s", 0.05).rows
    verdict = dict(zip(rows["case"].str.extract(r"bs(\d+)")[0].astype(int), rows["verdict"]))
    assert verdict == {1: "regression", 2: "within noise", 4: "improvement", 8: "within threshold",
                       16: "regression", 64: "only in base", 128: "only in new"}
    slower = rows[rows["case"].str.contains("/bs1\\[")].iloc[0]
    assert slower["ratio"] == pytest.approx(1 / 1.2)
    assert slower["noise"] == "outside"


def test_lower_is_better_metric_flips_the_direction(tmp_path):
    base = _run(tmp_path, "base", [_case("a", _spread(1.0, 0.01))])
    new = _run(tmp_path, "new", [_case("a", _spread(1.5, 0.01))])
    rows = compare.compare(results.load(base), results.load(new), "step_s_median", 0.05).rows
    assert rows["verdict"].tolist() == ["regression"] and rows["ratio"][0] == pytest.approx(1.5)


def test_energy_metric_has_no_noise_test(tmp_path):
    base = _run(tmp_path, "base", [_case("a", _spread(1.0, 0.5), samples_per_j=10.0)])
    new = _run(tmp_path, "new", [_case("a", _spread(1.0, 0.5), samples_per_j=8.0)])
    rows = compare.compare(results.load(base), results.load(new), "samples_per_j", 0.05).rows
    assert rows["noise"].tolist() == ["n/a"] and rows["verdict"].tolist() == ["regression"]


def test_unknown_metric_is_refused():
    with pytest.raises(compare.CompareError, match="unknown metric 'speed'"):
        compare.compare(pd.DataFrame(), pd.DataFrame(), "speed")


def test_within_noise_uses_raw_times_then_falls_back_to_iqr():
    assert compare.within_noise({"step_times_s": _spread(1.0, 0.5)}, {"step_times_s": _spread(1.2, 0.01)})
    assert not compare.within_noise({"step_times_s": _spread(1.0, 0.01)}, {"step_times_s": _spread(1.2, 0.01)})
    assert compare.within_noise({"step_s_median": 1.0, "step_s_iqr": 0.5}, {"step_s_median": 1.2, "step_s_iqr": 0.0})
    assert compare.within_noise({}, {"step_s_median": 1.0}) is None


def test_fingerprint_fields_and_differences():
    a = report_runs.header()
    b = report_runs.header(driver="535.1", gpus=[report_runs.gpu_static(power_limit_w=400, temp_start_c=39)])
    c = report_runs.header(telemetry=False)  # no telemetry: unknown, not different
    assert fingerprint.fingerprint(a)["cuda:0.power_limit_w"] == 700.0
    assert fingerprint.differences(fingerprint.fingerprint(a), fingerprint.fingerprint(b)) == [
        "cuda:0.power_limit_w", "driver"]  # 35 vs 39 °C at start is within tolerance
    assert fingerprint.differences(fingerprint.fingerprint(a), fingerprint.fingerprint(c)) == []
    hot = report_runs.header(gpus=[report_runs.gpu_static(temp_start_c=80)])
    assert fingerprint.differences(fingerprint.fingerprint(a), fingerprint.fingerprint(hot)) == ["cuda:0.temp_start_c"]


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "benchsuite", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_cli_exit_codes_format_and_fingerprint_warning(tmp_path):
    base = _run(tmp_path, "base", [_case("a", _spread(1.0, 0.01)), _case("b", _spread(1.0, 0.01), batch=8)])
    new = _run(tmp_path, "new", [_case("a", _spread(1.3, 0.01)), _case("b", _spread(1.0, 0.01), batch=8)],
               driver="535.1")
    done = _cli("compare", base, new, "--fail-on-regression", "--format", "json")
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    assert data["counts"] == {"regression": 1, "within threshold": 1}
    assert "differ in driver (580.65.06 vs 535.1)" in done.stderr
    assert _cli("compare", base, new).returncode == 0  # without the flag a regression is reported only
    shown = _cli("compare", base, new, "--threshold", "50%", "--fail-on-regression", "--format", "markdown")
    assert shown.returncode == 0 and "| case |" in shown.stdout and "REGRESSION" not in shown.stdout
    assert _cli("compare", base, new, "--threshold", "x").returncode == 2


def test_a_quick_run_against_a_full_one_is_warned_and_never_gated(tmp_path):
    """--quick against full timing (issue 15: the same H100 case reads 17-63 % apart): compare
    shows the pairs, warns naming the difference, and --fail-on-regression does not judge them;
    a gate left with nothing it can judge exits 1 (PLAN.md: compare found nothing to compare)."""
    cases = lambda center: [_case("a", _spread(center, 0.01)), _case("b", _spread(center, 0.01), batch=8)]  # noqa: E731
    full = _run(tmp_path, "full", cases(1.0))
    quick = _run(tmp_path, "quick", cases(1.3), quick=True)
    result = compare.compare(results.load(full), results.load(quick))
    assert result.not_comparable == {"cuda": "full vs --quick"}
    assert compare.gated_regressions(result) == (0, 2)
    assert "timing settings differ on cuda (BASE vs NEW: full vs --quick)" in compare.timing_lines(result)[0]
    shown = _cli("compare", full, quick)
    assert shown.returncode == 0 and "REGRESSION" in shown.stdout  # the change is shown, as measured
    assert "warning: timing settings differ on cuda (BASE vs NEW: full vs --quick): its 2 matched" in shown.stderr
    gate = _cli("compare", full, quick, "--fail-on-regression")
    assert gate.returncode == 1
    assert ("error: nothing comparable: BASE's and NEW's timing settings differ (cuda: full vs --quick): "
            "--fail-on-regression does not pass a comparison it cannot judge") in gate.stderr
    same = _run(tmp_path, "quick2", cases(1.3), quick=True)  # quick against quick: judged as ever
    assert compare.compare(results.load(quick), results.load(same)).not_comparable == {}
    assert _cli("compare", quick, same, "--fail-on-regression").returncode == 0


def test_compare_markdown_golden(tmp_path):
    small = dict(workloads=("mlp",), batch_sizes=(32, 128))
    base = report_runs.make_run(tmp_path, "base", **small)
    new = report_runs.make_run(tmp_path, "new", speed=0.9, seed=1, **small)
    result = compare.compare(results.load(base), results.load(new), "samples_per_s", 0.05)
    check_golden("compare.md", markdown(compare.display(result)))


def test_cross_device_tables_do_not_warn_about_power_limits_of_different_gpu_models():
    from benchsuite import fingerprint

    h100 = report_runs.header(gpus=[report_runs.gpu_static(power_limit_w=700)])
    a100 = report_runs.header(gpus=[{**report_runs.gpu_static(power_limit_w=400), "name": "NVIDIA A100-SXM4-80GB"}])
    capped = report_runs.header(gpus=[report_runs.gpu_static(power_limit_w=500)])
    fa, fb, fc = (fingerprint.fingerprint(h) for h in (h100, a100, capped))
    assert not any(f.startswith("gpu.") for f in fingerprint.differences(fa, fb, gpus_paired=False))
    assert fingerprint.differences(fa, fc, gpus_paired=False) == ["gpu.power_limit_w"]  # same model: it matters
    assert "cuda:0.model" not in fingerprint.differences(fa, fb)  # the model is never reported as a state


def test_a_name_shared_by_two_memory_sizes_is_two_models(tmp_path):
    base = _run(tmp_path, "base", [_case("a", _spread(1.0, 0.01))])
    small = _run(tmp_path, "small", [_case("a", _spread(1.0, 0.01))])
    b, s = results.load(base), results.load(small)
    b["device_memory_bytes"], s["device_memory_bytes"] = 80 * 2**30, 40 * 2**30
    rows = compare.compare(b, s).rows
    assert rows["verdict"].tolist() == ["only in base", "only in new"]
    s["device_memory_bytes"] = 79 * 2**30  # what a driver reserves is not another model
    assert compare.compare(b, s).rows["verdict"].tolist() == ["within threshold"]


def test_cases_without_a_device_name_pair_by_device_not_across_devices(tmp_path):
    base = _run(tmp_path, "base", [_case("a", _spread(1.0, 0.01), device="cuda:0")])
    new = _run(tmp_path, "new", [_case("a", _spread(1.0, 0.01), device="cpu")])
    rows = compare.compare(results.load(base), results.load(new)).rows
    assert rows["verdict"].tolist() == ["only in base", "only in new"]
