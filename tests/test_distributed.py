"""The torch.distributed engine without launching processes: environment, devices, failure text,
the tagged control exchanges, agreed step counts, and the command line less --nproc."""

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
    assert distributed.pick_device("cuda", 2, fake_gpus).id == "cuda:0"  # wraps over the visible GPUs
    assert distributed.pick_device("cpu", 1, fake_gpus).id == "cpu"
    assert distributed.pick_device("all", 1, [devices.cpu()]).id == "cpu"
    with pytest.raises(devices.DeviceError, match="no CUDA GPU"):
        distributed.pick_device("cuda", 0, [devices.cpu()])
    with pytest.raises(devices.DeviceError, match="each rank takes one device"):
        distributed.pick_device("cuda:1", 0, fake_gpus)


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
    calls = []
    clock = iter(float(i) for i in range(1000)).__next__  # each clock read advances 1 s
    settings = timing.TimingSettings(min_time_s=0.0, min_iters=3, warmup_iters=2, warmup_time_s=0.0)
    seen = []

    def agree(values):
        seen.append(tuple(values))
        return (4, 7)  # another rank asked for more

    iters, _, fixed = timing.warm_up_agreed(lambda: calls.append(1), settings, lambda: None, agree, clock=clock)
    assert seen == [(0, 3)] and iters == 6 and len(calls) == 6
    assert (fixed.min_iters, fixed.max_iters, fixed.min_time_s) == (7, 7, 0.0)
    assert len(timing.time_cpu(lambda: None, fixed)) == 7
