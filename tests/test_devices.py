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


def test_torch_gpus_are_matched_to_nvml_by_uuid(monkeypatch):
    from benchsuite.telemetry import nvml
    from tests.fakes import fake_pynvml

    nvml._reset_for_tests()
    try:
        fake_pynvml.install(monkeypatch, [fake_pynvml.FakeGpu(uuid="GPU-aaaa"), fake_pynvml.FakeGpu(uuid="GPU-bbbb")])
        assert nvml.index_of_uuid("BBBB") == 1 and nvml.index_of_uuid("gpu-aaaa") == 0
        assert nvml.index_of_uuid("cccc") is None
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
        assert devices._nvml_index(0, "bbbb") == 1  # torch's cuda:0 is NVML's GPU 1
        assert devices._nvml_index(0, None) is None  # remapped and no UUID: never guess
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
        assert devices._nvml_index(0, None) == 0
    finally:
        nvml._reset_for_tests()


def test_unmatched_gpu_gets_no_energy_and_says_why(tmp_path):
    from types import SimpleNamespace

    from benchsuite import results, runner
    from benchsuite.telemetry import Telemetry
    from benchsuite.workload import Registry

    gpu = devices.Device(id="cuda:0", type="cuda", name="x", index=0)
    r = runner.Runner(Registry({}, {}), [gpu], results.RunStore(tmp_path, {}), telemetry=Telemetry([], enabled=False))
    window = r._window(gpu, SimpleNamespace(id="cnn/train/cuda:0/fp32/bs8"))
    with window:
        pass
    assert window.summary["energy_j"] is None and "could not be matched" in window.summary["telemetry_note"]
