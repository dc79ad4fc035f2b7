"""One run behind every command: `benchsuite.run` from Python end to end on the CPU, the plan
from user-level options, callbacks, Ctrl-C and the --nproc launcher."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

import benchsuite
from benchsuite import distributed, results, session
from benchsuite.devices import DeviceError
from benchsuite.plan import PlanError
from benchsuite.settings import RunOptions

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = {"min_time": 0.01, "min_iters": 2, "warmup": 1, "telemetry": False}


def readme_python_example() -> str:
    """The code block of the README's "From Python" section."""
    section = README.read_text(encoding="utf-8").split("### From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # its out="reports" lands here
    scope: dict = {}
    exec(compile(readme_python_example(), str(README), "exec"), scope)
    run, df = scope["run"], scope["df"]
    assert isinstance(run, session.Run) and run.status == "completed" and run.main
    assert run.dir.parent.resolve() == (tmp_path / "reports").resolve() and run.results_path.is_file()
    assert [r["id"] for r in run.records] == df["id"].tolist()
    assert set(df["id"]) == {"mlp/train/cpu/fp32/bs8[widths=256x256x10]", "mlp/infer/cpu/fp32/bs8[widths=256x256x10]"}
    assert (df["status"] == "ok").all() and (df["samples_per_s"] > 0).all()
    header = df.attrs["runs"][0]["header"]
    assert header["options"]["workloads"] == "mlp" and header["options"]["batch_sizes"] == [8]
    assert header["options"]["params"] == {"widths": "256x256x10"} and header["settings"]["quick"] is False
    assert header["settings"]["timing"]["cpu"]["min_time_s"] == 0.05
    assert "completed" in capsys.readouterr().out


def test_bad_input_raises_before_anything_is_written(tmp_path):
    for options, error, message in [
        ({"workloads": "resnet"}, PlanError, "unknown workload 'resnet'"),
        ({"workloads": "mlp", "batch_sizes": [0]}, PlanError, "batch size '0' is not allowed"),
        ({"workloads": "mlp", "params": {"depth": 3}}, PlanError, "unknown parameter 'depth'"),
        ({"workloads": "mlp", "devices": "tpu"}, DeviceError, "unknown device 'tpu'"),
        ({"workloads": "mlp", "min_time": 0}, PlanError, "min_time_s=0 is not allowed"),
        ({"workloads": "mlp", "threads": 0}, PlanError, "threads=0 is not allowed"),
    ]:
        with pytest.raises(error, match=re.escape(message)):
            benchsuite.run(out=tmp_path, **options)
        assert isinstance(error(""), session.INPUT_ERRORS)
    (tmp_path / "file").write_text("")
    with pytest.raises(results.ResultsError, match="is an existing file"):
        benchsuite.run("mlp", "cpu", out=tmp_path / "file")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]


def test_make_plan_takes_lists_strings_and_mappings():
    planned = session.make_plan(["matmul", "mlp"], ["cpu"], "fp32", [4, "8"], "infer",
                                {"matmul.m": [32, 64], "mlp.widths": "16x10"})
    assert [d.id for d in planned.devices] == ["cpu"] and planned.launch is None
    assert [c.id for c in planned.cases] == [
        "matmul/infer/cpu/fp32[m=32,n=1024,k=1024]", "matmul/infer/cpu/fp32[m=64,n=1024,k=1024]",
        "mlp/infer/cpu/fp32/bs4[widths=16x10]", "mlp/infer/cpu/fp32/bs8[widths=16x10]"]
    same = session.make_plan("matmul,mlp", "cpu", ("fp32",), "4,8", ["infer"],
                             ["matmul.m=32,64", "mlp.widths=16x10"])
    assert same.cases == planned.cases


def small_plan():
    return session.make_plan("mlp", "cpu", "fp32", [2, 4], "infer", {"widths": "16x10"})


def test_callbacks_see_the_run_directory_before_measuring_and_each_case(tmp_path):
    seen = []

    def on_ready(run):
        assert run.status is None and run.records == [] and run.results_path.is_file()
        assert len(results.read_run(run.results_path).cases) == 0  # nothing measured yet
        seen.append(("ready", run.run_id))

    done = session.run_plan(small_plan(), RunOptions(min_time_s=0.01, min_iters=2, warmup_iters=1, telemetry=False),
                            tmp_path, tag="t", on_ready=on_ready,
                            on_start=lambda i, n, case: seen.append(("start", i, n, case.id)),
                            on_end=lambda i, n, record: seen.append(("end", i, record["status"])),
                            then=lambda telemetry: seen.append(("then", telemetry)))
    assert seen == [("ready", done.run_id),
                    ("start", 0, 2, "mlp/infer/cpu/fp32/bs2[widths=16x10]"), ("end", 0, "ok"),
                    ("start", 1, 2, "mlp/infer/cpu/fp32/bs4[widths=16x10]"), ("end", 1, "ok"),
                    ("then", None)]  # telemetry off: the follow-up gets none
    assert done.status == "completed" and done.reason is None and len(done.records) == 2
    assert done.header["tag"] == "t" and done.header["run_id"] == done.run_id and done.header["calibrations"] == {}
    assert done.samples_path is None and done.calibration_copy is None and done.world_size is None


def test_ctrl_c_raises_run_interrupted_with_the_finished_cases(tmp_path):
    def stop_after_first(i, n, record):
        raise KeyboardInterrupt

    with pytest.raises(session.RunInterrupted) as caught:
        session.run_plan(small_plan(), RunOptions(min_time_s=0.01, min_iters=2, warmup_iters=1, telemetry=False),
                         tmp_path, on_end=stop_after_first)
    assert isinstance(caught.value, KeyboardInterrupt)
    run = caught.value.run
    assert run.status == "interrupted" and len(run.records) == 1
    assert results.read_run(run.results_path).status == "interrupted"


def test_threads_hold_for_the_run_and_are_restored(tmp_path):
    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    done = benchsuite.run("mlp", "cpu", "fp32", [2], "infer", {"widths": "16x10"}, threads=want, out=tmp_path,
                          **TINY)
    assert done.header["threads"] == want and done.records[0]["metrics"]["threads"] == want
    assert torch.get_num_threads() == before


def test_launch_runs_the_command_less_nproc_and_names_failed_ranks(monkeypatch):
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    calls, shown = [], []
    monkeypatch.setattr(distributed, "launch", lambda nproc, argv: calls.append((nproc, argv)))
    session.launch(2, ["run", "--nproc", "2", "-w", "mlp"], on_launch=shown.append)
    assert calls == [(2, ["run", "-w", "mlp"])]
    assert shown == ["torchrun --nproc-per-node 2 -m benchsuite run -w mlp"]

    def fail(nproc, argv):
        raise ChildFailedError("benchsuite", {1: ProcessFailure(local_rank=1, pid=os.getpid(), exitcode=3,
                                                                 error_file="/nonexistent")})

    monkeypatch.setattr(distributed, "launch", fail)
    with pytest.raises(session.LaunchFailed, match="rank 1 failed: exit code 3") as caught:
        session.launch(2, ["run"])
    assert caught.value.failures == [(1, "exit code 3")]
