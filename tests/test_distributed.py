"""The torch.distributed engine without launching processes: environment, devices, failure text,
the tagged control exchanges, agreed step counts, and the command line less --nproc."""

import datetime
import os

import pytest

from benchsuite import devices, distributed, timing


def test_detect_torchrun_slurm_and_single_process():
    env = distributed.detect({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"})
    assert env == distributed.LaunchEnv(3, 8, 1, "torchrun", 4)
    slurm = {"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1", "SLURM_STEP_ID": "0",
             "MASTER_ADDR": "node01", "MASTER_PORT": "29500"}
    assert distributed.detect(slurm) == distributed.LaunchEnv(5, 16, 1, "slurm")
    assert distributed.detect({}) is None
    # the batch script itself (no job step) and a one-task step are single processes
    assert distributed.detect({**slurm, "SLURM_STEP_ID": "0", "SLURM_NTASKS": "1"}) is None
    assert distributed.detect({k: v for k, v in slurm.items() if k != "SLURM_STEP_ID"}) is None
    with pytest.raises(distributed.DistError, match="MASTER_ADDR"):
        distributed.detect({k: v for k, v in slurm.items() if k != "MASTER_ADDR"})


def test_pick_device_one_per_local_rank(fake_gpus):
    assert distributed.pick_device("all", 1, fake_gpus).id == "cuda:1"
    assert distributed.pick_device("cpu", 1, fake_gpus).id == "cpu"
    assert distributed.pick_device("all", 1, [devices.cpu()]).id == "cpu"
    with pytest.raises(devices.DeviceError, match="no CUDA GPU"):
        distributed.pick_device("cuda", 0, [devices.cpu()])
    with pytest.raises(devices.DeviceError, match="each rank takes one device"):
        distributed.pick_device("cuda:1", 0, fake_gpus)


def test_more_local_ranks_than_gpus_is_an_error_not_a_shared_gpu(fake_gpus):
    with pytest.raises(distributed.DistError, match=r"local rank 2 has no GPU of its own: 2 GPUs are visible"):
        distributed.pick_device("cuda", 2, fake_gpus, environ={})
    with pytest.raises(devices.DeviceError, match=r"\(CUDA_VISIBLE_DEVICES=0,1\), for local ranks 0-1"):
        distributed.pick_device("all", 3, fake_gpus, environ={"CUDA_VISIBLE_DEVICES": "0,1"})  # a usage error too
    one = [devices.cpu(), fake_gpus[1]]
    with pytest.raises(distributed.SharedGpuError, match="local rank 1 has no GPU of its own: 1 GPU is visible"):
        distributed.pick_device("cuda", 1, one, environ={})
    # srun --gpus-per-task=1 (or a wrapper) shows each rank only its own GPU
    assert distributed.pick_device("cuda", 5, one, environ={"CUDA_VISIBLE_DEVICES": "5"}).id == "cuda:0"
    assert distributed.pick_device("cpu", 7, fake_gpus, environ={}).id == "cpu"


def test_two_ranks_bound_to_one_gpu_are_found_at_start():
    def peer(rank, host, uuid, kind="cuda"):
        return {"rank": rank, "hostname": host, "device": {"id": "cuda:0", "type": kind, "uuid": uuid}}

    distributed.check_own_gpus([peer(0, "a", "GPU-1"), peer(1, "a", "GPU-2"), peer(2, "b", "GPU-1")])
    distributed.check_own_gpus([peer(0, "a", None), peer(1, "a", None)])  # no UUID: not compared
    distributed.check_own_gpus([peer(0, "a", None, "cpu"), peer(1, "a", None, "cpu")])  # ranks share a CPU
    with pytest.raises(distributed.SharedGpuError, match=r"ranks 0, 2 on a share one GPU \(GPU-1\)"):
        distributed.check_own_gpus([peer(0, "a", "GPU-1"), peer(1, "a", "GPU-2"), peer(2, "a", "GPU-1")])


def test_nccl_case_groups_abort_on_timeout_instead_of_ending_the_process():
    assert distributed.nccl_error_env({}) == {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "2"}
    assert distributed.nccl_error_env({"TORCH_NCCL_ASYNC_ERROR_HANDLING": "1"}) == \
        {"TORCH_NCCL_ASYNC_ERROR_HANDLING": "2"}  # torchrun's default (end the process) is replaced
    assert distributed.nccl_error_env({"TORCH_NCCL_BLOCKING_WAIT": "1"}) == {}  # the user's choice stands


def test_strip_nproc():
    assert distributed.strip_nproc(["run", "--nproc", "2", "-w", "mlp", "--nproc=4", "--tag", "x"]) == \
        ["run", "-w", "mlp", "--tag", "x"]


def test_failure_names_the_rank_that_died_or_failed():
    peers = [{"rank": 0, "hostname": "a"}, {"rank": 1, "hostname": "b"}, {"rank": 2, "hostname": "b"}]
    text = distributed.describe_failure(0, distributed.TERMINATED, {1: None, 2: distributed.TERMINATED}, peers)
    assert text.startswith("rank 1 (b) died without reporting an error") and "rank 2" not in text
    assert text.endswith(f"rank 0 (a) then stopped: {distributed.TERMINATED}")
    text = distributed.describe_failure(0, "RuntimeError: closed", {2: "ValueError: bad input"}, peers)
    assert text == "rank 2 (b) failed: ValueError: bad input; rank 0 (a) then stopped: RuntimeError: closed"
    # nobody else failed: rank 0's own error is the reason
    assert distributed.describe_failure(0, "OSError: disk full", {}, peers) == "rank 0 (a) failed: OSError: disk full"


class _Exchange(distributed.Context):
    """A Context whose all_gather returns scripted rounds (what the other ranks sent)."""

    def __init__(self, rounds, rank=0):
        super().__init__(distributed.LaunchEnv(rank, 2, rank, "torchrun"), devices.cpu())
        self.rounds, self.sent = list(rounds), []

    def all_gather(self, obj):
        self.sent.append(obj)
        others = self.rounds.pop(0)
        return [obj, others] if self.rank == 0 else [others, obj]


def test_agree_takes_the_largest_and_aborts_when_a_rank_gave_up():
    ctx = _Exchange([("agree", [2, 50])])
    assert ctx.agree_max([5, 10]) == [5, 50]
    ctx = _Exchange([("record", {"status": "error"})], rank=1)
    with pytest.raises(distributed.CaseAborted, match="rank 0 gave up the case first"):
        ctx.agree_max([1, 1])


def test_gather_records_repeats_a_round_that_met_an_agree():
    ctx = _Exchange([("agree", [1, 2]), ("record", {"rank": 1})])
    got = ctx.gather_records({"rank": 0})
    assert got == [{"rank": 0}, {"rank": 1}] and len(ctx.sent) == 2


def test_agreed_counts_time_exactly_what_the_ranks_agreed():
    """Every rank states (steps per block, extra warm-up blocks, timed blocks) after the probe;
    each runs the largest of each, so all run the same steps (warm_up_agreed's successor)."""
    clock_t = [0.0]
    calls = []

    def step():  # 10 ms a step: blocks of one step
        calls.append(1)
        clock_t[0] += 0.01

    settings = timing.TimingSettings(min_time_s=0.0, min_iters=3, warmup_iters=2, warmup_time_s=0.0)
    seen = []

    def agree(values):
        seen.append(tuple(values))
        return (1, 4, 7)  # another rank asked for more

    got = timing.measure(step, "cpu", settings, agree=agree, clock=lambda: clock_t[0])
    assert seen == [(1, 0, 3)] and len(calls) == 2 + 4 + 7
    assert got.warmup_iters == 6 and got.steps == 7 and got.steps_per_block == 1
    assert got.warmup_rule == "not judged (ranks agree on step counts)" and got.warmup_settled is None


def test_case_comm_makes_nccl_groups_with_the_case_timeout_and_abort_only(monkeypatch):
    import torch.distributed as dist

    monkeypatch.delenv("TORCH_NCCL_ASYNC_ERROR_HANDLING", raising=False)  # restored after the test
    monkeypatch.delenv("TORCH_NCCL_BLOCKING_WAIT", raising=False)
    made = []

    def new_group(**kwargs):
        made.append({**kwargs, "handling": os.environ.get("TORCH_NCCL_ASYNC_ERROR_HANDLING")})
        return "group"

    monkeypatch.setattr(dist, "new_group", new_group)
    gpu = devices.Device(id="cuda:0", type="cuda", name="GPU", index=0)
    comm = distributed.Context(distributed.LaunchEnv(0, 2, 0, "torchrun"), gpu, case_timeout_s=7).case_comm()
    assert comm.backend == "nccl" and comm.timeout_s == 7.0
    assert made == [{"backend": "nccl", "timeout": datetime.timedelta(seconds=7), "handling": "2"}]
    monkeypatch.delenv("TORCH_NCCL_ASYNC_ERROR_HANDLING")
    distributed.Context(distributed.LaunchEnv(0, 2, 0, "torchrun"), devices.cpu()).case_comm()
    assert made[-1]["backend"] == "gloo" and made[-1]["handling"] is None  # gloo groups are left alone
