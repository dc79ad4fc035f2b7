"""A claims run (benchsuite.claims.measure) through the session, and `benchsuite claims` end to end
on a tiny CIFAR-10."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from benchsuite import devices, results, runner
from benchsuite.claims import planning, store, verdicts
from benchsuite.claims.measure import measure
from benchsuite.cli import main
from benchsuite.settings import RunOptions
from benchsuite.workload import registry
from tests.conftest import TINY
from tests.fakes import calibrations, cifar_files
from tests.fakes.claim_records import by_id
from tests.fakes.recording_telemetry import RecordingTelemetry, renumbered_gpu


def test_measure_gives_telemetry_the_nvml_indices(tmp_path, monkeypatch):
    import benchsuite.telemetry

    def no_cases(self, cases):  # nothing is measured: only what telemetry was built with matters here
        self.store.close("completed")
        return "completed"

    RecordingTelemetry.made.clear()
    monkeypatch.setattr(benchsuite.telemetry, "Telemetry", RecordingTelemetry)
    monkeypatch.setattr(runner.Runner, "run", no_cases)
    gpus = [renumbered_gpu(2), renumbered_gpu(None, id="cuda:1")]
    done = measure([devices.cpu(), *gpus], registry(), planning.ClaimsSettings(), tmp_path, RunOptions(),
                   use_reference=False)
    assert [t.gpu_indices for t in RecordingTelemetry.made] == [[2]]
    assert done.evidence["gpu_note"] is None and len(done.claims) == 6


def test_on_a_cpu_only_machine_the_shipped_reference_gpus_stand_in_for_claims_1_to_3(tmp_path, monkeypatch):
    """No GPU here and none given: claims 1-3 compare the shipped H100 runs with this machine's CPU,
    and say so; with --run holding a GPU of one's own, or use_reference=False, they do not."""
    def no_cases(self, cases):  # every case is reused from the CPU run given below
        self.store.close("completed")
        return "completed"

    monkeypatch.setattr(runner.Runner, "run", no_cases)
    cpu = devices.cpu()
    reference = planning.reference_records(results.reference_dir())
    # this machine's CPU figures: the H100 host's CPU cases of the claims run, as if measured here
    mine = [dict(r, device_name=cpu.name, hostname="laptop", source="given") for r in reference
            if r["run_id"] == "20261125-215901-8b88" and r["device"] == "cpu"]
    done = measure([cpu], registry(), planning.ClaimsSettings(), tmp_path, RunOptions(), given=mine)
    assert done.reused == 8 and done.measured == 0
    rows = by_id(done.claims)
    for claim in ("1", "2", "3"):
        assert "shipped reference run 20261125-215901-8b88" in rows[claim]["reason"], rows[claim]["reason"]
    assert rows["1"]["verdict"] == verdicts.SUPPORTED and rows["3"]["verdict"] == verdicts.SUPPORTED
    assert rows["2"]["verdict"] == verdicts.NOT_MEASURED  # this CPU's energy was not read (no RAPL)
    assert all("(shipped reference 20261125-215901-8b88) vs cpu" in f["device"]
               for f in rows["1"]["figures"] if f["label"] != "geometric mean speedup")
    assert rows["5"]["verdict"] == verdicts.NOT_MEASURED and "(shipped references only)" in rows["5"]["reason"]

    without = by_id(measure([cpu], registry(), planning.ClaimsSettings(), tmp_path, RunOptions(), given=mine,
                            use_reference=False).claims)
    assert without["1"]["verdict"] == verdicts.NOT_MEASURED and "no CUDA GPU" in without["1"]["reason"]
    own_gpu = [dict(r, source="given", hostname="laptop") for r in reference
               if r["run_id"] == "20261125-220824-da35" and r["device"] == "cuda:0"]
    with_own = by_id(measure([cpu], registry(), planning.ClaimsSettings(), tmp_path, RunOptions(),
                             given=mine + own_gpu).claims)
    assert "reference" not in with_own["1"]["reason"]


def test_a_claims_run_carries_pct_of_achievable_when_a_calibration_exists(tmp_path, monkeypatch):
    from benchsuite import calibration_store

    calibration_id = calibrations.save_cpu(tflop_per_s=0.25)
    quick = RunOptions(quick=True, telemetry=False, min_time_s=0.01, min_iters=2, warmup_iters=1)
    planned = planning.plan_cases  # only the matmul case is needed here: the others take seconds on a CPU
    monkeypatch.setattr(planning, "plan_cases", lambda *a: [c for c in planned(*a) if c.workload == "matmul"])
    done = measure([devices.cpu()], registry(), planning.ClaimsSettings(matmul_size=64, batch_size=8), tmp_path,
                   quick, use_reference=False)
    run = results.read_run(done.results_path)
    assert run.header["calibrations"] == {"cpu": calibration_id}
    assert calibration_store.read_run_copy(done.dir)[0]["id"] == calibration_id
    matmul = next(c for c in run.cases if c["workload"] == "matmul")
    m = matmul["metrics"]
    assert matmul["status"] == "ok" and m["calibration"] == calibration_id and m["achievable_tflop_per_s"] == 0.25
    assert m["pct_of_achievable"] == pytest.approx(100 * m["tflop_per_s"] / 0.25)


def test_claims_command_end_to_end_then_reuse(tmp_path):
    data = cifar_files.write(tmp_path / "data", per_batch=100)
    out = tmp_path / "runs"
    small = ["--matmul-size", "64", "--batch-size", "8", "--quick", *TINY, "--threads", "1"]
    proc = subprocess.run([sys.executable, "-m", "benchsuite", "claims", "--data", str(data), "--epochs", "1",
                           "--subset", "160/100", "--device", "cpu", "--out", str(out), "--format", "json", *small],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = by_id(json.loads(proc.stdout))
    assert list(rows) == ["1", "2", "3", "4a", "4b", "5"]
    assert rows["1"]["verdict"] == verdicts.NOT_MEASURED and "no CUDA GPU" in rows["1"]["reason"]
    assert rows["4a"]["verdict"] == verdicts.NOT_SUPPORTED and verdicts.SHAPE_MESSAGE in rows["4a"]["reason"]
    accuracy = next(f for f in rows["4b"]["figures"] if f["label"] == "test accuracy by epoch")
    assert float(accuracy["value"]) > 30.0 and "160 train / 100 test images" in accuracy["note"]
    # no GPU here: claim 5 lists datasheets, and the shipped reference GPUs' figures, each naming its run
    assert rows["5"]["figures"] and all(f["kind"] == "datasheet" or "(shipped reference 2026" in f["device"]
                                        for f in rows["5"]["figures"])
    run_dir = results.newest_run(out)
    assert f"claims: {run_dir / 'claims.json'}" in proc.stderr and "Measured 8 case(s)" in proc.stderr
    saved = store.read_claims(run_dir)
    assert saved["claims"] == list(rows.values()) and saved["evidence"]["training"][0]["subset"] == [160, 100]
    assert (run_dir / "claims.md").read_text().startswith("| claim |")
    df = results.load(run_dir)
    assert len(df) == 8 and set(df["status"]) == {"ok", "error"}

    again = CliRunner().invoke(main, ["claims", "--run", str(run_dir), "--device", "cpu", "--out", str(out),
                                      "--format", "markdown", *small], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "Measured 0 case(s), reused 8 from --run." in again.stderr
    assert again.stdout.startswith("| claim |") and "CIFAR-10 not provided" in again.stdout

    # A GPU run passed with --run counts on this CPU-only machine: here a made-up "GPU" at half the
    # CPU's speed on every case, so claim 1 must come out not supported, from the figures alone.
    gpu_dir = tmp_path / "gpu-run"
    gpu_dir.mkdir()
    lines = []
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        for d in record.get("devices") or []:
            d.update(id="cuda:0", name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
        if record["record"] == "case":
            record.update(device="cuda:0", device_name="NVIDIA H100 80GB HBM3")
            if record["status"] == "ok":
                record["metrics"]["samples_per_s"] /= 2
                record["metrics"]["step_s_median"] *= 2
                record["metrics"]["step_s_p99"] *= 2
        lines.append(json.dumps(record))
    (gpu_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    mixed = CliRunner().invoke(main, ["claims", "--run", str(run_dir), "--run", str(gpu_dir), "--device", "cpu",
                                      "--out", str(out), "--format", "json", *small], catch_exceptions=False)
    assert mixed.exit_code == 0, mixed.output
    rows = by_id(json.loads(mixed.stdout))
    assert rows["1"]["verdict"] == verdicts.NOT_SUPPORTED and "slower" in rows["1"]["reason"]
    speedups = [f["value"] for f in rows["1"]["figures"] if f["label"].endswith(" speedup")
                and f["label"] != "geometric mean speedup"]
    assert len(speedups) == 5 and all(v == pytest.approx(0.5) for v in speedups)
    assert rows["3"]["verdict"] == verdicts.NOT_SUPPORTED and "p50 and p99" in rows["3"]["reason"]
    assert rows["2"]["verdict"] == verdicts.NOT_MEASURED  # no energy on either side here


def test_claims_command_refuses_bad_input(tmp_path):
    r = CliRunner().invoke(main, ["claims", "--data", str(tmp_path), "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no CIFAR-10" in r.output
    r = CliRunner().invoke(main, ["claims", "--subset", "6000", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "TRAIN/VAL" in r.output
    r = CliRunner().invoke(main, ["claims", "--run", str(tmp_path / "nothing"), "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no benchsuite results" in r.output
