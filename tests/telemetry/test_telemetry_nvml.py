"""benchsuite.telemetry.nvml against the fake pynvml (and the real one's constants)."""

from __future__ import annotations

import sys
import threading

import pytest

from benchsuite.telemetry import nvml
from tests.fakes.fake_pynvml import (NVML_ERROR_GPU_IS_LOST, NVML_ERROR_LIBRARY_NOT_FOUND,
                                     NVML_ERROR_NO_PERMISSION, FakeGpu, install)


def test_throttle_bits_match_real_pynvml():
    real = pytest.importorskip("pynvml")  # importing does not init NVML
    assert not isinstance(real, type(sys)) or not hasattr(real, "gpus"), "got the fake"
    names = {
        "gpu_idle": "GpuIdle", "applications_clocks_setting": "ApplicationsClocksSetting",
        "sw_power_cap": "SwPowerCap", "hw_slowdown": "HwSlowdown", "sync_boost": "SyncBoost",
        "sw_thermal": "SwThermalSlowdown", "hw_thermal": "HwThermalSlowdown",
        "hw_power_brake": "HwPowerBrakeSlowdown", "display_clocks_setting": "DisplayClockSetting",
    }
    for ours, theirs in names.items():
        assert nvml.THROTTLE_REASONS[ours] == getattr(real, "nvmlClocksThrottleReason" + theirs)
        event = getattr(real, "nvmlClocksEventReason" + theirs, None)
        assert event is None or event == nvml.THROTTLE_REASONS[ours]


def test_decode_throttle_and_slowing_reasons():
    assert nvml.decode_throttle(0) == []
    assert nvml.decode_throttle(None) == []
    assert nvml.decode_throttle(0x1 | 0x4 | 0x40) == ["gpu_idle", "sw_power_cap", "hw_thermal"]
    assert nvml.decode_throttle(0x800) == ["unknown_0x800"]
    assert "gpu_idle" not in nvml.SLOWING_REASONS
    assert "applications_clocks_setting" not in nvml.SLOWING_REASONS
    assert "display_clocks_setting" not in nvml.SLOWING_REASONS
    assert {"sw_power_cap", "hw_slowdown", "sw_thermal", "hw_thermal",
            "hw_power_brake"} <= nvml.SLOWING_REASONS


def test_init_failure_is_unavailable_with_reason(monkeypatch):
    fake = install(monkeypatch, init_error=NVML_ERROR_LIBRARY_NOT_FOUND)
    ok, why = nvml.status()
    assert not ok and why.startswith("no NVML: driver not found")
    with pytest.raises(nvml.NvmlUnavailable, match="driver not found"):
        nvml.query("nvmlDeviceGetCount")
    assert nvml.device_count() == 0
    assert nvml.driver_version() is None
    assert fake.calls["nvmlInit"] == 1  # tried once, not on every call


def test_pynvml_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import raises ImportError
    assert nvml.status() == (False, "no NVML: pynvml not installed (pip install nvidia-ml-py)")


def test_init_once_across_threads(monkeypatch):
    fake = install(monkeypatch)
    barrier = threading.Barrier(8)

    def go():
        barrier.wait()
        nvml.device_count()

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.calls["nvmlInit"] == 1


def test_query_maps_errors(monkeypatch):
    install(monkeypatch, [FakeGpu(unsupported={"nvmlDeviceGetPowerUsage"},
                                  errors={"nvmlDeviceGetTemperature": NVML_ERROR_GPU_IS_LOST})])
    h = nvml.handle(0)
    assert nvml.query("nvmlDeviceGetPowerUsage", h) is None
    assert nvml.query("nvmlDeviceGetPowerUsage", h, default=-1) == -1
    assert nvml.query("nvmlNoSuchFunction") is None
    with pytest.raises(nvml.NvmlError) as info:
        nvml.query("nvmlDeviceGetTemperature", h, 0)
    assert info.value.error_name == "GPU_IS_LOST"
    assert info.value.function == "nvmlDeviceGetTemperature"
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(nvml.NvmlError, match="no NVML device at index 3"):
        nvml.handle(3)


def test_versions_and_static(monkeypatch):
    install(monkeypatch, [FakeGpu(unsupported={"nvmlDeviceGetApplicationsClock"})])
    assert nvml.driver_version() == "580.82.07"
    assert nvml.cuda_driver_version() == "13.0"
    assert nvml.device_count() == 1
    s = nvml.device_static(0)
    assert s["name"].startswith("NVIDIA Fake")
    assert s["power_limit_w"] == 700.0
    assert s["pcie_gen"] == 5 and s["pcie_width"] == 16
    assert s["ecc_enabled"] is True and s["mig_enabled"] is False
    assert s["persistence_enabled"] is True and s["compute_mode"] == "default"
    assert s["sm_clock_app_mhz"] is None and s["mem_clock_app_mhz"] is None  # not supported
    assert s["sm_clock_max_mhz"] == 1980
    assert s["temp_start_c"] is not None  # the fingerprint's "GPU temperature at start"
    assert s["memory_total_bytes"] == 80 * 1024 ** 3


def test_sample_fields_and_fallbacks(monkeypatch):
    install(monkeypatch, [FakeGpu(power_w=250.0),
                          FakeGpu(power_w=100.0, instant_power=False, energy_counter=False,
                                  unsupported={"nvmlDeviceGetUtilizationRates"})],
            missing=["nvmlDeviceGetCurrentClocksEventReasons"])
    a = nvml.sample(0)
    assert set(a) == set(nvml.GPU_SAMPLE_FIELDS)
    assert a["power_w"] == 250.0 and a["power_source"] == "instant"
    assert a["energy_j"] is not None and a["util_gpu_pct"] == 97.0
    assert a["throttle_mask"] == 0  # through the ThrottleReasons fallback
    b = nvml.sample(1)
    assert b["power_w"] == 100.0 and b["power_source"] == "power_usage"
    assert b["energy_j"] is None
    assert b["util_gpu_pct"] is None and b["util_mem_pct"] is None


def test_sample_collects_unexpected_errors_when_asked(monkeypatch):
    install(monkeypatch, [FakeGpu(errors={"nvmlDeviceGetTemperature": NVML_ERROR_NO_PERMISSION})])
    errors: list[str] = []
    s = nvml.sample(0, errors=errors)
    assert s["temp_c"] is None and s["power_w"] == 250.0
    assert errors and "NO_PERMISSION" in errors[0]
    with pytest.raises(nvml.NvmlError):
        nvml.sample(0)


def test_running_processes(monkeypatch):
    install(monkeypatch, [FakeGpu(pids=[42, 7]),
                          FakeGpu(unsupported={"nvmlDeviceGetComputeRunningProcesses"})])
    assert nvml.running_processes(0) == [7, 42]
    assert nvml.running_processes(1) is None
