import pytest

from benchsuite import devices


def test_native_cpu_precisions_from_flags():
    assert devices.native_cpu_precisions({"avx2", "avx512_bf16"}) == {"bf16"}
    assert devices.native_cpu_precisions({"amx_bf16", "amx_fp16"}) == {"bf16", "fp16"}
    assert devices.native_cpu_precisions({"asimdhp", "bf16"}) == {"bf16", "fp16"}
    assert devices.native_cpu_precisions({"avx2"}) == set()


def test_cpu_is_described():
    cpu = devices.cpu()
    assert cpu.id == "cpu" and cpu.name and cpu.cores_logical >= 1 and cpu.memory_bytes > 0


def test_resolve_names(fake_gpus):
    assert [d.id for d in devices.resolve("all", fake_gpus)] == ["cpu", "cuda:0", "cuda:1"]
    assert [d.id for d in devices.resolve("cuda", fake_gpus)] == ["cuda:0", "cuda:1"]
    assert [d.id for d in devices.resolve("cpu,cuda:1", fake_gpus)] == ["cpu", "cuda:1"]


def test_resolve_errors_name_value_and_allowed(fake_gpus):
    with pytest.raises(devices.DeviceError, match=r"'cuda:7' does not exist: this machine has 2 GPU\(s\)"):
        devices.resolve("cuda:7", fake_gpus)
    with pytest.raises(devices.DeviceError, match="no CUDA GPU is visible"):
        devices.resolve("cuda", [devices.cpu()])
    with pytest.raises(devices.DeviceError, match="unknown device 'tpu'.*allowed: cpu, cuda"):
        devices.resolve("tpu", fake_gpus)


def test_host_info_has_versions_and_nvml_state():
    info = devices.host_info()
    for key in ("hostname", "torch", "cpu_model", "torch_threads", "nvml", "nvml_reason"):
        assert key in info
    if not info["nvml"]:
        assert info["nvml_reason"]
