"""The runner with stand-in workloads: ok, error, OOM, skip, auto batch, fail-fast, Ctrl-C."""

import pytest
import torch

from benchsuite import devices, results, runner
from benchsuite.settings import RunSettings
from benchsuite.plan import Case
from tests.fakes.runner_workloads import BEST_REG, CLOCK, FAST, REG, case, peaked_rate


def make_runner(tmp_path, **kw):
    store = results.RunStore(tmp_path, {"tag": None})
    settings = RunSettings(timing=FAST.timing, **kw)
    return runner.Runner(REG, [devices.cpu()], store, settings), store


def test_statuses_are_results_and_the_sweep_goes_on(tmp_path):
    r, store = make_runner(tmp_path)
    assert r.run([case("add"), case("broken"), case("fits16", 32), case("add", skip_reason="not here")]) == "completed"
    df = results.load(store.path)
    assert df["status"].tolist() == ["ok", "error", "oom", "skipped"]
    assert df["reason"][1] == "ValueError: bad shapes"
    assert "out of memory" in df["reason"][2] and df["reason"][3] == "not here"
    ok = df.iloc[0]
    assert ok["samples_per_s"] == pytest.approx(4 / ok["step_s_median"])
    # block timing: the recorded blocks hold steps_per_block steps each
    mine = results.times(store.path).query("id == @ok.id")
    assert ok["iters"] == mine["steps"].sum() == len(mine) * ok["steps_per_block"] >= 2
    assert pd_isnull(df["samples_per_s"][1])  # a failed case has no figure, never a zero


def pd_isnull(value):
    import pandas as pd

    return pd.isna(value)


def test_fail_fast_stops_and_says_why(tmp_path):
    r, store = make_runner(tmp_path, fail_fast=True)
    assert r.run([case("broken"), case("add")]) == "failed"
    run = results.read_run(store.path)
    assert len(run.cases) == 1 and run.end["status"] == "failed" and "bad shapes" in run.end["reason"]


def test_ctrl_c_keeps_finished_cases_and_marks_interrupted(tmp_path):
    r, store = make_runner(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        r.run([case("add"), case("interrupt"), case("add")])
    run = results.read_run(store.path)
    assert len(run.cases) == 1 and run.status == "interrupted"


def test_auto_batch_doubles_until_out_of_memory(tmp_path):
    r, store = make_runner(tmp_path)
    r.run([Case("fits16", "infer", "cpu", "fp32", None, auto_batch=True)])
    rec = results.read_run(store.path).cases[0]
    assert rec["status"] == "ok" and rec["batch_size"] == 16 and rec["auto_batch"]
    assert [p["batch_size"] for p in rec["auto_batch_probes"]] == [1, 2, 4, 8, 16, 32]
    assert rec["auto_batch_probes"][-1]["fits"] is False


def best_runner(tmp_path):
    store = results.RunStore(tmp_path, {"tag": None})
    r = runner.Runner(BEST_REG, [devices.cpu()], store, RunSettings(timing=FAST.timing))
    r.clock = CLOCK
    return r, store


def test_best_batch_finds_the_throughput_peak_and_records_the_probes(tmp_path):
    r, store = best_runner(tmp_path)
    r.run([Case("peaked", "infer", "cpu", "fp32", None, best_batch=True)])
    rec = results.read_run(store.path).cases[0]
    assert rec["status"] == "ok" and rec["batch_size"] == 64 and rec["best_batch"] is True
    assert rec["id"] == "peaked/infer/cpu/fp32/bs64" and not rec["auto_batch"]
    probes = rec["best_batch_probes"]
    assert [p["batch_size"] for p in probes] == [1, 2, 4, 8, 16, 32, 64, 128, 256]  # two falls after 64
    for p in probes:
        assert p["samples_per_s"] == pytest.approx(peaked_rate(p["batch_size"]))
        assert p["step_s"] == pytest.approx(p["batch_size"] / p["samples_per_s"])
        assert p["steps"] * p["step_s"] >= runner.BEST_PROBE_BLOCKS * runner.BEST_PROBE_BLOCK_S
    assert "fell: 2 probes in a row below the best" in probes[-1]["stop"] and "batch 64" in probes[-1]["stop"]


def test_a_probe_takes_its_fastest_block(tmp_path):
    r, _ = best_runner(tmp_path)
    # 10 ms steps; the first block doubles 1, 2, 4, 8, 16 steps (31) until it lasts 0.1 s; another
    # process takes the CPU during the second block of 16 (50 ms steps); the third is clean
    times = iter([0.01] * 31 + [0.05] * 16 + [0.01] * 16)

    def step():
        CLOCK.t += next(times)

    per_step, steps = r._fastest_block(step, lambda: None)
    assert per_step == pytest.approx(0.01) and steps == 31 + 16 + 16


def test_best_batch_goes_on_after_a_single_fall(tmp_path):
    r, _ = best_runner(tmp_path)
    size, probes = r.find_best_batch(Case("peaked_dip", "infer", "cpu", "fp32", None, best_batch=True), devices.cpu())
    assert size == 64 and len(probes) == 9
    assert probes[4]["batch_size"] == 16 and probes[4]["samples_per_s"] < probes[3]["samples_per_s"]  # one fall
    assert "stop" not in probes[4] and probes[5]["samples_per_s"] > probes[3]["samples_per_s"]


def test_best_batch_stops_at_out_of_memory_and_takes_the_best_that_fitted(tmp_path):
    r, _ = best_runner(tmp_path)
    size, probes = r.find_best_batch(Case("peaked_oom", "infer", "cpu", "fp32", None, best_batch=True), devices.cpu())
    assert size == 32 and probes[-1] == {"batch_size": 64, "fits": False}


@pytest.mark.parametrize("runner_for, find, case", [
    (make_runner, runner.Runner.find_auto_batch, Case("add", "infer", "cpu", "fp32", None, auto_batch=True)),
    (best_runner, runner.Runner.find_best_batch, Case("peaked", "infer", "cpu", "fp32", None, best_batch=True)),
], ids=["auto", "best"])
def test_a_batch_search_on_cpu_stops_at_the_memory_cap(tmp_path, monkeypatch, runner_for, find, case):
    class NoMemory:
        available = 0

    monkeypatch.setattr("psutil.virtual_memory", lambda: NoMemory)
    r, _ = runner_for(tmp_path)
    size, probes = find(r, case, devices.cpu())
    assert size == 1 and "memory" in probes[-1]["stop"]


def test_oom_classification():
    assert runner.is_oom(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert runner.is_oom(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes"))
    assert not runner.is_oom(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_ctrl_c_while_a_rank_failure_is_named_ends_the_run_interrupted(tmp_path):
    """Under --nproc a rank that left on Ctrl-C breaks this rank's collective before this rank's
    own Ctrl-C is raised: the interruption then arrives while the failure is being named, and
    the end record must still be written (interrupted), not lost."""
    class Dist:  # the part of benchsuite.distributed.Context the failure path uses
        def failure_reason(self, exc):
            raise KeyboardInterrupt

    def peer_gone(i, n, c):
        raise RuntimeError("Connection closed by peer")

    store = results.RunStore(tmp_path, {})
    r = runner.Runner(REG, [devices.cpu()], store, RunSettings(timing=FAST.timing), dist=Dist(), on_start=peer_gone)
    with pytest.raises(KeyboardInterrupt):
        r.run([case("add")])
    run = results.read_run(store.path)
    assert run.status == "interrupted" and run.end["reason"] == "interrupted by the user (SIGINT)"


def test_free_memory_releases_what_a_case_left_in_a_reference_cycle():
    """A case's tensors held in a reference cycle (a workload pointing at itself, a traceback
    holding frames) are gone once `free_memory` has run, before the next case allocates."""
    import weakref

    class Leftover:
        pass

    left = Leftover()
    left.me, left.tensor = left, torch.randn(1024)
    gone = weakref.ref(left.tensor)
    del left
    assert gone() is not None  # only the collector frees a cycle
    runner.free_memory(devices.cpu())
    assert gone() is None
