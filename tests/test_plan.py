import pytest

from benchsuite import plan
from benchsuite.devices import Device
from benchsuite.workload import registry

REG = registry()
CPU_BF16 = Device(id="cpu", type="cpu", name="cpu with bf16", native_precisions=frozenset({"bf16"}))
CPU_PLAIN = Device(id="cpu", type="cpu", name="old cpu")
H100 = Device(id="cuda:0", type="cuda", name="NVIDIA H100 80GB HBM3", index=0, compute_capability=(9, 0))


def sweep(**kw):
    kw.setdefault("workloads", plan.parse_workloads("all", REG))
    kw.setdefault("devices", [CPU_BF16])
    return plan.Sweep(**kw)


def test_builtin_workloads_come_from_entry_points():
    assert {"matmul", "mlp", "cnn", "collective"} <= set(REG.names())


def test_default_cpu_sweep_has_fp32_and_native_bf16_two_modes_two_batches():
    cases = plan.expand(sweep(), REG)
    ran = [c for c in cases if not c.skip_reason]
    assert {c.precision for c in ran} == {"fp32", "bf16"}
    assert {(c.workload, c.mode) for c in ran} == {("matmul", "infer"), ("mlp", "train"), ("mlp", "infer"),
                                                   ("cnn", "train"), ("cnn", "infer")}
    cnn = [c for c in ran if c.workload == "cnn" and c.mode == "train" and c.precision == "fp32"]
    assert [c.batch_size for c in cnn] == [32, 128]
    matmul = [c for c in ran if c.workload == "matmul"]
    assert all(c.batch_size is None for c in matmul) and len(matmul) == 2  # no batch axis, no duplicates
    assert len(set(cases)) == len(cases)


def test_cpu_without_bf16_skips_it_by_default_but_measures_when_asked():
    cases = plan.expand(sweep(devices=[CPU_PLAIN]), REG)
    bf16 = [c for c in cases if c.precision == "bf16"]
    assert bf16 and all("not in the default sweep" in c.skip_reason for c in bf16)
    asked = plan.expand(sweep(devices=[CPU_PLAIN], precisions=["fp16"]), REG)
    assert all(c.skip_reason is None and "slow path" in c.notes[0] for c in asked)


def test_gpu_defaults_and_fp8_only_for_matmul():
    cases = plan.expand(sweep(devices=[H100]), REG)
    assert {c.precision for c in cases} == {"fp32", "tf32", "bf16", "fp16"}
    asked = plan.expand(sweep(devices=[H100], precisions=["fp8"]), REG)
    by = {c.workload: c for c in asked}
    assert by["matmul"].skip_reason is None
    assert "does not implement fp8" in by["cnn"].skip_reason


def test_cpu_tf32_and_fp8_are_skipped_with_reason():
    cases = plan.expand(sweep(precisions=["tf32", "fp8"], workloads=["matmul"]), REG)
    assert len(cases) == 2 and all("CUDA" in c.skip_reason for c in cases)


def test_matmul_train_mode_asked_explicitly_is_skipped():
    cases = plan.expand(sweep(workloads=["matmul"], modes=["train"]), REG)
    assert len(cases) == 1 and "no train mode" in cases[0].skip_reason


def test_quick_takes_the_first_batch_size_and_explicit_sizes_win():
    quick = plan.expand(sweep(workloads=["cnn"], quick=True, modes=["train"], precisions=["fp32"]), REG)
    assert [c.batch_size for c in quick] == [32]
    asked = plan.expand(sweep(workloads=["cnn"], batch_sizes=[8, "auto"], modes=["train"], precisions=["fp32"]), REG)
    assert [(c.batch_size, c.auto_batch) for c in asked] == [(8, False), (None, True)]
    assert asked[1].id == "cnn/train/cpu/fp32/bs-auto"


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1.5", "8,x", "99999999999999999999", str(2**31)])
def test_bad_batch_sizes(text):
    with pytest.raises(plan.PlanError, match=r"allowed: integers from 1 to 2,147,483,647 or 'auto'"):
        plan.parse_batch_sizes(text)


def test_the_largest_batch_size_is_taken():
    assert plan.parse_batch_sizes(str(2**31 - 1)) == [2**31 - 1]


def test_parse_lists_and_errors():
    assert plan.parse_precisions(["fp32,bf16", "fp16"]) == ["fp32", "bf16", "fp16"]
    assert plan.parse_precisions("all") == list(plan.precisions_mod.PRECISIONS)
    with pytest.raises(plan.PlanError, match="unknown precision 'fp64'; allowed: fp32, tf32"):
        plan.parse_precisions("fp64")
    with pytest.raises(plan.PlanError, match="unknown workload 'resnet'; allowed: cnn, collective, matmul, mlp, all"):
        plan.parse_workloads("resnet", REG)
    # `all` in one process leaves out what needs torchrun; asked by name it is a skipped case
    assert plan.parse_workloads("all", REG) == ["cnn", "matmul", "mlp"]
    assert plan.parse_workloads("all", REG, distributed=True) == ["cnn", "collective", "matmul", "mlp"]
    with pytest.raises(plan.PlanError, match="unknown mode 'eval'"):
        plan.parse_modes("eval")


def test_params_apply_scoped_or_to_every_workload_that_has_them_and_sweep():
    parsed = plan.parse_params(["m=2048,4096", "mlp.widths=64x32x10"], ["matmul", "mlp"], REG)
    assert parsed == {"matmul": {"m": [2048, 4096]}, "mlp": {"widths": [(64, 32, 10)]}}
    cases = plan.expand(sweep(workloads=["matmul"], params=parsed, precisions=["fp32"]), REG)
    assert [c.param_dict["m"] for c in cases] == [2048, 4096]
    assert cases[0].id == "matmul/infer/cpu/fp32[m=2048,n=1024,k=1024]"


@pytest.mark.parametrize("item,message", [
    ("q=3", "unknown parameter 'q'; allowed: matmul: m, n, k"),
    ("m=abc", "expected a positive integer"),
    ("m=100", "multiple of 16"),
    ("widths=12xq", "integers joined by 'x'"),
    ("noequals", "expected key=value"),
    ("lr=nan", "expected a finite number"),
    ("lr=-1", "expected a number above 0"),
    ("momentum=1.5", "from 0 up to"),
    ("collective.op=all_reduce", "workload 'collective' is not in this sweep"),
])
def test_bad_params(item, message):
    with pytest.raises(plan.PlanError, match=message):
        plan.parse_params([item], ["matmul", "mlp", "cnn"], REG)


def test_data_param_without_cifar_is_refused(tmp_path):
    with pytest.raises(plan.PlanError, match="no CIFAR-10 in"):
        plan.parse_params([f"data={tmp_path}"], ["cnn"], REG)


def test_case_key_excludes_device():
    a = plan.Case("cnn", "train", "cpu", "fp32", 32, (("lr", 0.1),))
    b = plan.Case("cnn", "train", "cuda:0", "fp32", 32, (("lr", 0.1),))
    assert a.key() == b.key() and a != b
    assert hash(a) != hash(b) or a != b
