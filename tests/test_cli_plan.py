"""`benchsuite run` before and after measuring: the sweep it picks, the plan and its estimate
(--dry-run), and the planned cases an interrupted run never ran."""

import json

import pytest
from click.testing import CliRunner

from benchsuite import devices, results, runner
from benchsuite.cli import main
from tests.conftest import TINY

MLP = ["--param", "widths=32x64x10"]


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def dry_json(tmp_path, *args):
    r = invoke("run", "--dry-run", "--format", "json", "--out", str(tmp_path / "runs"), *args)
    assert r.exit_code == 0, r.output + r.stderr
    assert not (tmp_path / "runs").exists()  # nothing measured, no run directory
    return json.loads(r.stdout)


@pytest.fixture
def h100_machine(monkeypatch, fake_gpus):
    """This machine's CPU without native bf16, and one H100."""
    cpu = devices.Device(id="cpu", type="cpu", name="test cpu")
    monkeypatch.setattr(devices, "available", lambda: [cpu, fake_gpus[1]])


def test_dry_run_prints_the_headline_plan_and_its_estimate(tmp_path, h100_machine):
    r = invoke("run", "--dry-run", "--out", str(tmp_path / "runs"))
    assert r.exit_code == 0 and not (tmp_path / "runs").exists()
    assert "benchsuite: headline sweep: 15 cases, about" in r.stderr and "estimate from the settings" in r.stderr
    assert "cpu (test cpu): 2 cases" in r.stderr and "cuda:0 (NVIDIA H100 80GB HBM3): 13 cases" in r.stderr
    assert "matmul infer fp32, tf32, fp16, bf16, fp8" in r.stderr and "--full" in r.stderr
    listed = [line.split("\t")[0] for line in r.stdout.splitlines()]
    assert listed[:2] == ["matmul/infer/cpu/fp32[m=1024,n=1024,k=1024]", "cnn/train/cpu/fp32/bs32"]
    assert "mlp/infer/cuda:0/bf16/bs8192" in listed and len(listed) == 15


def test_dry_run_json_and_which_sweep_the_options_pick(tmp_path, h100_machine):
    headline = dry_json(tmp_path)
    assert headline["sweep"] == "headline" and headline["estimate_s"] > 0 and len(headline["cases"]) == 15
    assert dry_json(tmp_path, "--full")["sweep"] == "full"
    assert dry_json(tmp_path, "--sweep", "full")["sweep"] == "full"
    quick = dry_json(tmp_path, "--quick")
    assert quick["sweep"] == "quick" and len(quick["cases"]) == 10
    assert dry_json(tmp_path, "--sweep", "quick")["cases"] == quick["cases"]
    given = dry_json(tmp_path, "-w", "cnn", "-d", "cpu")  # an axis given: today's meaning, the whole grid
    assert given["sweep"] == "full" and [c["id"] for c in given["cases"]] == [
        "cnn/train/cpu/fp32/bs32", "cnn/train/cpu/fp32/bs128", "cnn/train/cpu/bf16",
        "cnn/infer/cpu/fp32/bs32", "cnn/infer/cpu/fp32/bs128", "cnn/infer/cpu/bf16"]
    narrowed = dry_json(tmp_path, "--sweep", "headline", "-w", "cnn", "-d", "cuda")
    assert [c["id"] for c in narrowed["cases"]] == ["cnn/train/cuda:0/fp32/bs4096", "cnn/train/cuda:0/bf16/bs4096",
                                                    "cnn/infer/cuda:0/fp32/bs4096", "cnn/infer/cuda:0/bf16/bs4096"]
    assert [c["id"] for c in dry_json(tmp_path, "-d", "cuda", "-w", "mlp", "-m", "train", "-p", "bf16",
                                      "-b", "best")["cases"]] == ["mlp/train/cuda:0/bf16/bs-best"]


@pytest.mark.parametrize("args,message", [
    (["--quick", "--full"], "--quick is --sweep quick; it cannot be combined with --sweep full"),
    (["--full", "--sweep", "headline"], "--full is --sweep full; it cannot be combined with --sweep headline"),
    (["--quick", "--sweep", "headline"], "--quick is --sweep quick; it cannot be combined with --sweep headline"),
    (["--sweep", "grid"], "'grid' is not one of 'headline', 'full', 'quick'"),
    (["--dry-run", "--nproc", "2"], "--dry-run shows the plan of this process"),
])
def test_conflicting_sweeps_are_usage_errors(tmp_path, args, message):
    r = invoke("run", "--out", str(tmp_path), *args)
    assert r.exit_code == 2 and message in r.stderr


def test_the_header_records_the_plan_and_an_interrupted_run_lists_what_never_ran(tmp_path, monkeypatch):
    real = runner.Runner.run_case
    calls = []

    def stop_at_the_second(self, case):
        calls.append(case.id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, case)

    monkeypatch.setattr(runner.Runner, "run_case", stop_at_the_second)
    r = CliRunner().invoke(main, ["run", "-w", "mlp", "-d", "cpu", "-p", "fp32", "-b", "2,4,8",
                                                  "-m", "infer", "--out", str(tmp_path), *TINY, *MLP])
    assert r.exit_code == 130, r.stderr
    run = results.read_run(results.newest_run(tmp_path))
    assert run.header["planned"] == [f"mlp/infer/cpu/fp32/bs{b}[widths=32x64x10]" for b in (2, 4, 8)]
    assert run.not_run == run.header["planned"][1:]
    assert run.cut_short == "interrupted after 1 of 3 planned cases: 2 never ran"
    assert ("Never ran: 2 of 3 planned cases: mlp/infer/cpu/fp32/bs4[widths=32x64x10], "
            "mlp/infer/cpu/fp32/bs8[widths=32x64x10]") in r.stderr
    assert run.header["settings"]["sweep"] == "full"


def test_a_completed_run_lists_nothing_and_the_next_estimate_uses_it(tmp_path):
    args = ["run", "-w", "mlp", "-d", "cpu", "-p", "fp32", "-b", "2", "-m", "infer", "--out", str(tmp_path),
            *TINY, *MLP]
    r = invoke(*args)
    assert r.exit_code == 0 and "Never ran" not in r.stderr
    again = invoke(*args, "--dry-run")
    assert "estimate from the durations of run " in again.stderr


def test_the_progress_bar_counts_the_time_left_down_from_the_estimate():
    from benchsuite import cli, estimate
    from benchsuite.plan import Case

    rows = tuple(estimate.CaseEstimate(f"c{i}", "cpu", 10.0) for i in range(3))
    progress = cli._Progress(3, estimate.Estimate(rows, startup_s=5.0, idle_s=0.0, closing_s=2.0))
    now = [100.0]
    progress.clock = lambda: now[0]
    assert progress.left_text() == "about 0:32 left"
    progress.on_start(0, 3, Case("mlp", "infer", "cpu", "fp32", 2))
    now[0] += 4.0
    assert progress.left_text() == "about 0:28 left"  # ticks down within a case
    now[0] += 16.0  # the first case took 20 s of its 10: the rest is expected to take twice as long
    progress.on_end(0, 3, {"status": "skipped", "id": "c0", "reason": "test"})
    progress.on_start(1, 3, Case("mlp", "infer", "cpu", "fp32", 4))
    assert progress.left_text() == "about 0:42 left"
    assert cli._Progress(3).left_text() == ""
