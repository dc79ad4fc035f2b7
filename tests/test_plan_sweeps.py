"""The named sweeps (headline, quick, full), asserted case by case on the machine kinds that matter."""

import pytest

from benchsuite import plan
from benchsuite.devices import Device
from benchsuite.workload import registry

REG = registry()
CPU_BF16 = Device(id="cpu", type="cpu", name="cpu with bf16", native_precisions=frozenset({"bf16"}))
CPU_PLAIN = Device(id="cpu", type="cpu", name="cpu without bf16")


def gpu(name, cc, index=0):
    return Device(id=f"cuda:{index}", type="cuda", name=name, index=index, compute_capability=cc)


H100 = gpu("NVIDIA H100 80GB HBM3", (9, 0))  # fp8, bf16, tf32
A100 = gpu("NVIDIA A100-SXM4-80GB", (8, 0))  # bf16, tf32, no fp8
V100 = gpu("Tesla V100-SXM2-32GB", (7, 0))  # fp16 only: no native bf16, no tf32, no fp8


def ids(kind, devices, workloads=None, **kw):
    cases = plan.expand(plan.Sweep(workloads, devices, name=kind, **kw), REG)
    assert not [c for c in cases if c.skip_reason], "a named sweep plans only what each device has"
    return [c.id for c in cases]


def mm(device, *precs, size=None):
    size = size or (8192 if device.startswith("cuda") else 1024)
    return [f"matmul/infer/{device}/{p}[m={size},n={size},k={size}]" for p in precs]


def nets(device, precs, batches, modes=("train", "infer"), workloads=("mlp", "cnn")):
    return [f"{w}/{m}/{device}/{p}/bs{batches[w]}" for w in workloads for m in modes for p in precs]


GPU_KNEE = {"mlp": 8192, "cnn": 4096}
CPU_KNEE = {"mlp": 256, "cnn": 32}


# -- headline -------------------------------------------------------------------------------------
def test_headline_cpu_only_with_native_bf16():
    assert ids("headline", [CPU_BF16]) == mm("cpu", "fp32", "bf16") + nets("cpu", ("fp32", "bf16"), CPU_KNEE)


def test_headline_cpu_only_without_native_bf16_plans_fp32_only():
    assert ids("headline", [CPU_PLAIN]) == mm("cpu", "fp32") + nets("cpu", ("fp32",), CPU_KNEE)


def test_headline_one_h100_with_its_host_cpu():
    cpu_part = mm("cpu", "fp32", "bf16") + ["cnn/train/cpu/fp32/bs32"]
    gpu_part = mm("cuda:0", "fp32", "tf32", "fp16", "bf16", "fp8") + nets("cuda:0", ("fp32", "bf16"), GPU_KNEE)
    assert ids("headline", [CPU_BF16, H100]) == cpu_part + gpu_part


def test_headline_one_a100_has_no_fp8():
    got = ids("headline", [CPU_PLAIN, A100])
    assert got == (mm("cpu", "fp32") + ["cnn/train/cpu/fp32/bs32"]
                   + mm("cuda:0", "fp32", "tf32", "fp16", "bf16") + nets("cuda:0", ("fp32", "bf16"), GPU_KNEE))


def test_headline_v100_measures_fp16_instead_of_bf16_and_no_tf32():
    got = ids("headline", [CPU_PLAIN, V100])
    assert got == (mm("cpu", "fp32") + ["cnn/train/cpu/fp32/bs32"]
                   + mm("cuda:0", "fp32", "fp16") + nets("cuda:0", ("fp32", "fp16"), GPU_KNEE))


def test_headline_on_the_gpus_alone_and_on_two_gpus():
    assert ids("headline", [H100]) == mm("cuda:0", "fp32", "tf32", "fp16", "bf16", "fp8") + nets(
        "cuda:0", ("fp32", "bf16"), GPU_KNEE)
    two = ids("headline", [CPU_BF16, H100, gpu("NVIDIA H100 80GB HBM3", (9, 0), index=1)])
    assert len(two) == 3 + 13 + 13 and sum(i.startswith("matmul/infer/cuda:1/") for i in two) == 5


# -- quick ------------------------------------------------------------------------------------------
def quick(device, prec, batches):
    return mm(device, prec) + nets(device, (prec,), batches)


GPU_SMALLEST = {"mlp": 256, "cnn": 128}
CPU_SMALLEST = {"mlp": 32, "cnn": 32}


@pytest.mark.parametrize("devices,expected", [
    ([CPU_BF16], quick("cpu", "bf16", CPU_SMALLEST)),
    ([CPU_PLAIN], quick("cpu", "fp32", CPU_SMALLEST)),
    ([CPU_BF16, H100], quick("cpu", "bf16", CPU_SMALLEST) + quick("cuda:0", "bf16", GPU_SMALLEST)),
    ([CPU_PLAIN, A100], quick("cpu", "fp32", CPU_SMALLEST) + quick("cuda:0", "bf16", GPU_SMALLEST)),
    ([CPU_PLAIN, V100], quick("cpu", "fp32", CPU_SMALLEST) + quick("cuda:0", "fp16", GPU_SMALLEST)),
], ids=["cpu-bf16", "cpu-plain", "h100", "a100", "v100"])
def test_quick_is_one_precision_and_the_smallest_batch_per_device(devices, expected):
    assert ids("quick", devices) == expected


# -- what the user gives replaces the sweep's default for that axis ---------------------------------
def test_given_axes_replace_the_named_sweeps_defaults():
    only_cnn = ids("headline", [CPU_BF16, H100], workloads=["cnn"])
    assert only_cnn == ["cnn/train/cpu/fp32/bs32"] + nets("cuda:0", ("fp32", "bf16"), GPU_KNEE, workloads=("cnn",))
    fp16 = ids("headline", [H100], precisions=["fp16"], modes=["train"])
    assert fp16 == ["mlp/train/cuda:0/fp16/bs8192", "cnn/train/cuda:0/fp16/bs4096"]  # matmul has no train mode
    best = plan.expand(plan.Sweep(["cnn"], [CPU_BF16], batch_sizes=["best"], modes=["infer"], name="headline"), REG)
    assert [c.id for c in best] == ["cnn/infer/cpu/fp32/bs-best", "cnn/infer/cpu/bf16/bs-best"]
    assert all(c.best_batch and c.batch_search == "best" for c in best)


def test_matmul_asked_in_train_mode_is_still_a_skipped_row():
    cases = plan.expand(plan.Sweep(["matmul"], [CPU_BF16], modes=["train"], name="headline"), REG)
    assert len(cases) == 1 and "no train mode" in cases[0].skip_reason


def test_full_is_todays_grid():
    full = plan.expand(plan.Sweep(None, [CPU_BF16, H100], name="full"), REG)
    assert len([c for c in full if c.device == "cuda:0"]) == 4 + 2 * 2 * 4 * 3  # matmul 4 precisions, mlp/cnn grid
    assert {c.batch_size for c in full if c.workload == "cnn" and c.device == "cpu"} == {32, 128}


@pytest.mark.parametrize("name,quick_flag,given,distributed,expected", [
    (None, False, False, False, "headline"),
    (None, False, True, False, "full"),
    (None, False, False, True, "full"),
    (None, True, True, False, "quick"),
    ("headline", False, True, False, "headline"),
    ("full", False, False, False, "full"),
    ("quick", True, False, False, "quick"),
])
def test_pick_sweep(name, quick_flag, given, distributed, expected):
    assert plan.pick_sweep(name, quick=quick_flag, axes_given=given, distributed=distributed) == expected


def test_pick_sweep_refuses_a_conflict_and_an_unknown_name():
    with pytest.raises(plan.PlanError, match="--quick is --sweep quick; it cannot be combined with --sweep full"):
        plan.pick_sweep("full", quick=True)
    with pytest.raises(plan.PlanError, match="unknown sweep 'grid'; allowed: headline, full, quick"):
        plan.pick_sweep("grid")


def test_best_is_a_batch_search_and_is_skipped_under_torchrun():
    assert plan.parse_batch_sizes("32,best,auto") == [32, "best", "auto"]
    cases = plan.expand(plan.Sweep(["mlp"], [CPU_BF16], precisions=["fp32"], batch_sizes=["best", 8],
                                   modes=["train"], world_size=2), REG)
    assert [c.id for c in cases] == ["mlp/train/cpu/fp32/bs-best/ws2", "mlp/train/cpu/fp32/bs8/ws2"]
    assert "batch size best is not available under torch.distributed" in cases[0].skip_reason


# -- the time goals of issue 14, held on the plan's own estimate --------------------------------------
@pytest.mark.parametrize("name, quick, goal_s", [("headline", False, 120.0), ("quick", True, 30.0)])
def test_the_default_settings_keep_the_h100_sweeps_within_their_time_goals(name, quick, goal_s):
    """`benchsuite run` (headline) within 120 s and `--quick` within 30 s on one H100 with a bf16
    host CPU, by the estimate from today's default settings (phase by phase: `benchsuite.estimate`).
    A change of a default (a longer window, a cool-down, a new per-case check) that breaks the
    goal fails here; the real wall times are measured by benchmarks/selfcheck/run_walltime.py."""
    from benchsuite import estimate, settings

    cases = plan.expand(plan.Sweep(None, [CPU_BF16, H100], name=name), REG)
    defaults = settings.run_settings(quick, cooldown=None, telemetry=True, gpu_energy=True)
    got = estimate.estimate(cases, {"cpu": "cpu", "cuda:0": "cuda"}, defaults, energy_devices=["cuda:0"])
    assert got.source == "the settings"
    assert got.total_s <= goal_s, f"{name}: estimated {got.total_s:.0f} s against the {goal_s:.0f} s goal"
