"""Two ranks on gloo on this machine (localhost rendezvous): DDP training, the collective
workload, a hung collective, the gathered results file, and a rank killed mid-run.

The collective and the two misbehaving test workloads are registered through a fake
distribution on PYTHONPATH (tests/fakes/dist_workloads.py); the worktree root comes first
so that ``workloads.*`` resolves here.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchsuite import bandwidth, results
from benchsuite.cli import main
from benchsuite.report import scaling
from tests.fakes import dist_workloads

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--min-time", "0.05", "--min-iters", "3", "--warmup", "1", "--threads", "1", "--no-telemetry"]
MLP = ["--param", "mlp.widths=32x64x10", "--batch-size", "8"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return dist_workloads.install(tmp_path_factory.mktemp("site"))


def _env(site):
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)]), "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def two_rank_run(site, tmp_path_factory):
    """`benchsuite run --nproc 2`: DDP mlp training, three collectives, and a stalled collective."""
    out = tmp_path_factory.mktemp("runs")
    cmd = [sys.executable, "-m", "benchsuite", "run", "--nproc", "2", "-w", "mlp,collective,stall", "-m", "train,infer",
           "-p", "fp32", *MLP, "--param", "collective.op=all_reduce,all_gather,reduce_scatter",
           "--param", "collective.size=1004,64K", "--collective-timeout", "2", "--out", str(out), *FAST]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(site), capture_output=True, text=True, timeout=150)
    return proc, out


def test_two_ranks_write_one_gathered_run(two_rank_run):
    proc, out = two_rank_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = results.read_run(results.newest_run(out))
    assert len(list(out.iterdir())) == 1  # rank 1 wrote nothing of its own
    assert run.status == "completed"
    dist = run.header["distributed"]
    assert dist["world_size"] == 2 and dist["backend"] == "gloo" and dist["launcher"] == "torchrun"
    assert [r["rank"] for r in dist["ranks"]] == [0, 1] and len(dist["nodes"]) == 1
    assert dist["nodes"][0]["ranks"] == [0, 1] and len(dist["nodes"][0]["devices"]) == 2
    assert [d["rank"] for d in run.header["devices"]] == [0, 1]
    assert all(c["world_size"] == 2 and len(c["ranks"]) == 2 and "/ws2" in c["id"] for c in run.cases)


def test_ddp_training_reports_global_and_per_device_throughput(two_rank_run):
    _, out = two_rank_run
    df = results.load(results.newest_run(out))
    train = df[(df["workload"] == "mlp") & (df["mode"] == "train")].iloc[0]
    assert train["status"] == "ok" and train["data_parallel"] == "DistributedDataParallel"
    slowest = max(r["step_s_median"] for r in train["ranks"])
    assert train["samples_per_s"] == pytest.approx(2 * 8 / slowest)
    assert train["samples_per_s_per_device"] == pytest.approx(8 / slowest)
    assert train["step_s_median_slowest"] == slowest
    # every rank timed the same number of steps (their all-reduces pair up)
    times = results.times(results.newest_run(out))
    assert (times["id"] == train["id"]).sum() >= 3


def test_collectives_have_nccl_tests_bytes_and_bandwidths(two_rank_run):
    _, out = two_rank_run
    df = results.load(results.newest_run(out))
    coll = df[df["workload"] == "collective"]
    assert len(coll) == 6 and (coll["world_size"] == 2).all()
    for _, row in coll.iterrows():
        if row["status"] == "skipped":  # a gloo without reduce_scatter_tensor says so
            assert row["param_op"] == "reduce_scatter" and "reduce_scatter_tensor" in row["reason"]
            continue
        assert row["status"] == "ok", row["reason"]
        asked = row["param_size"]
        # fp32 elements, divisible over 2 ranks: 1004 bytes -> 250 elements = 1000 bytes
        assert row["message_bytes"] == asked // 8 * 8 == row["bytes_per_step"]
        slowest = max(r["step_s_median"] for r in row["ranks"])
        assert row["algbw_gbps"] == pytest.approx(row["message_bytes"] / slowest / 1e9)
        factor = {"all_reduce": 2 * (2 - 1) / 2, "all_gather": 1 / 2, "reduce_scatter": 1 / 2}[row["param_op"]]
        assert row["bus_factor"] == factor == bandwidth.bus_factor(row["param_op"], 2)
        assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"] * factor)
        assert row["backend"] == "gloo"
    frame = scaling.bandwidth_frame(df)
    assert set(frame["message_bytes"]) == {1000, 65536} and (frame["world_size"] == 2).all()


def test_a_hung_collective_is_an_error_naming_the_rank(two_rank_run):
    _, out = two_rank_run
    run = results.read_run(results.newest_run(out))
    stall = next(c for c in run.cases if c["workload"] == "stall")
    assert stall["status"] == "error"
    assert stall["reason"].startswith("rank 0: collective timed out after 2 s on rank 0")
    assert stall["ranks"][0]["status"] == "error" and "gave up the case first" in stall["ranks"][1]["reason"]


def test_scaling_efficiency_against_a_single_process_run(two_rank_run, tmp_path):
    _, out = two_rank_run
    r = CliRunner().invoke(main, ["run", "-w", "mlp", "-m", "train", "-p", "fp32", *MLP, "--out", str(out), *FAST],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    frame = scaling.scaling_frame(results.load(out))
    train = frame[frame["mode"] == "train"].set_index("world_size")
    assert list(train.index) == [1, 2]
    assert train.loc[2, "efficiency"] == pytest.approx(train.loc[2, "samples_per_s"] / (2 * train.loc[1, "samples_per_s"]))


def test_a_rank_killed_mid_run_fails_the_run_naming_it(site, tmp_path):
    """Launched by torchrun itself: rank 1 is SIGKILLed in the second case; the first case stays."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--rdzv-backend", "c10d",
           "--rdzv-endpoint", "127.0.0.1:0", "--max-restarts", "0", "-m", "benchsuite", "run",
           "-w", "collective,crash", "-p", "fp32", "--param", "collective.size=4K", "--out", str(tmp_path), *FAST]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(site), capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    run = results.read_run(results.newest_run(tmp_path))
    assert run.status == "failed"
    assert run.end["reason"].startswith("during crash/infer/cpu/fp32/ws2: rank 1 (")
    assert "died without reporting an error" in run.end["reason"]
    assert [c["workload"] for c in run.cases] == ["collective"] and run.cases[0]["status"] == "ok"
    df = results.load(tmp_path)
    assert len(df) == 1 and df["algbw_gbps"].iloc[0] > 0
    assert "Run failed: during crash" in proc.stderr and json.dumps(run.end)
