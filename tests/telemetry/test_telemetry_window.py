"""Window summaries: energy methods, quality flags, not-measured reasons, the facade."""

from __future__ import annotations

import gc
import os

import pandas as pd
import pytest

from benchsuite.telemetry import Telemetry
from benchsuite.telemetry.window import (GPU_SUMMARY_FIELDS, HOST_SUMMARY_FIELDS, MIN_WINDOW_S,
                                         summarize_gpu, summarize_host)
from tests.fakes.fake_pynvml import NVML_ERROR_LIBRARY_NOT_FOUND, FakeGpu, install

# ---------------------------------------------------------------- pure summaries


def trace(seconds: float, hz: float = 20.0, power_w: float = 250.0, counter: bool = True,
          mask: int = 0, **extra) -> list[dict]:
    n = int(round(seconds * hz))
    rows = []
    for k in range(n + 1):
        t = k / hz
        rows.append({"t_s": t, "device": "cuda:0", "power_w": power_w,
                     "power_source": "instant",
                     "energy_j": 1000.0 + power_w * t if counter else None,
                     "throttle_mask": mask, "mem_used_bytes": 1000 + k, "temp_c": 50 + k % 7,
                     "util_gpu_pct": 90.0, "sm_clock_mhz": 1800, **extra})
    return rows


def gpu_summary(rows: list[dict], **kwargs) -> dict:
    args = dict(device="cuda:0", case_id="c", t_open=rows[0]["t_s"], t_close=rows[-1]["t_s"],
                open_row=rows[0], close_row=rows[-1], pids=[os.getpid()])
    args.update(kwargs)
    return summarize_gpu(rows[1:-1], **args)


def test_long_clean_window_has_no_flags():
    s = gpu_summary(trace(10.0), idle_power_w=50.0)
    assert set(s) == set(GPU_SUMMARY_FIELDS)
    assert s["energy_method"] == "counter"
    assert s["energy_j"] == pytest.approx(2500.0)
    assert s["energy_integrated_j"] == pytest.approx(2500.0)
    assert s["power_mean_w"] == pytest.approx(250.0)
    assert s["active_energy_j"] == pytest.approx(2500.0 - 50.0 * 10.0)
    assert s["window_s"] == pytest.approx(10.0)
    assert s["quality_flags"] == []
    assert s["mem_used_peak_bytes"] == 1200 and s["temp_max_c"] == 56 and s["temp_start_c"] == 50
    assert s["throttle_reasons"] == [] and s["throttled_share"] == 0.0
    assert s["achieved_hz"] == pytest.approx(20.0)
    assert s["telemetry_note"] is None


def test_short_window_and_few_samples():
    s = gpu_summary(trace(0.3))
    assert MIN_WINDOW_S["counter"] == 8.0  # per method now (issue 14): unaligned counter edges
    assert "short-window" in s["quality_flags"] and "few-samples" in s["quality_flags"]


def test_stalled_counter_falls_back_to_integration_not_zero():
    rows = trace(6.0)
    for r in rows:
        r["energy_j"] = 1000.0
    s = gpu_summary(rows)
    assert "counter-stalled" in s["quality_flags"]
    assert s["energy_method"] == "integrated-power"
    assert s["energy_j"] == pytest.approx(1500.0) and s["energy_counter_j"] is None
    assert "did not advance" in s["not_measured"]["energy_counter_j"]


def test_counter_going_backwards_is_a_reset_not_a_stall():
    rows = trace(6.0)
    rows[-1]["energy_j"] = 1.0  # the driver reloaded: the counter starts again
    s = gpu_summary(rows)
    assert "counter-reset" in s["quality_flags"] and "counter-stalled" not in s["quality_flags"]
    assert s["energy_method"] == "integrated-power" and s["energy_j"] == pytest.approx(1500.0)


def test_counter_integration_mismatch():
    rows = trace(6.0)
    for r in rows:
        r["energy_j"] = 1000.0 + 1.2 * 250.0 * r["t_s"]
    s = gpu_summary(rows)
    assert "counter-integration-mismatch" in s["quality_flags"]
    assert s["energy_method"] == "counter" and s["energy_j"] == pytest.approx(1800.0)
    assert s["energy_integrated_j"] == pytest.approx(1500.0)


def test_throttled_share_counts_only_slowing_reasons():
    rows = trace(6.0)
    for k, r in enumerate(rows):
        r["throttle_mask"] = [0x0, 0x1, 0x4, 0x1 | 0x40][k % 4]   # idle is not a slow-down
    s = gpu_summary(rows)
    assert "throttled" in s["quality_flags"]
    assert s["throttle_reasons"] == ["gpu_idle", "sw_power_cap", "hw_thermal"]
    assert s["throttled_share"] == pytest.approx(0.5, abs=0.02)
    idle_only = trace(6.0, mask=0x1)
    s = gpu_summary(idle_only)
    assert "throttled" not in s["quality_flags"] and s["throttled_share"] == 0.0


def test_other_process_flag():
    me = os.getpid()
    assert "other-process" in gpu_summary(trace(6.0), pids=[me, 4242])["quality_flags"]
    assert gpu_summary(trace(6.0), pids=[me, 4242])["other_pids"] == [4242]
    assert "other-process" not in gpu_summary(trace(6.0), pids=[me])["quality_flags"]
    # In a container NVML shows host PIDs: ours is absent; one process is us, two is not.
    assert "other-process" not in gpu_summary(trace(6.0), pids=[99999])["quality_flags"]
    assert "other-process" in gpu_summary(trace(6.0), pids=[99998, 99999])["quality_flags"]
    s = gpu_summary(trace(6.0), pids=None)
    assert s["other_pids"] is None and "process list" in s["not_measured"]["other_pids"]


def test_integration_uses_interpolated_edges_for_a_step_trace():
    rows = trace(10.0, hz=10.0, counter=False)
    for r in rows:
        r["power_w"] = 100.0 if r["t_s"] < 5.0 else 300.0
    s = gpu_summary(rows)
    # 5 s at 100 W + 5 s at 300 W, less half a sample interval of slope error
    assert s["energy_j"] == pytest.approx(2000.0, rel=0.01)
    assert s["energy_method"] == "integrated-power"
    assert s["not_measured"]["energy_counter_j"] == "energy counter not supported on this GPU"
    assert s["power_max_w"] == 300.0


def test_no_power_at_all_is_none_with_reason_not_zero():
    rows = trace(6.0, counter=False)
    for r in rows:
        r["power_w"] = None
    s = gpu_summary(rows)
    assert s["energy_j"] is None and s["power_mean_w"] is None and s["energy_method"] is None
    assert s["not_measured"]["energy_j"] == "power reading not supported on this GPU"
    assert "power reading not supported" in s["telemetry_note"]


def test_host_summary_with_and_without_rapl():
    rows = [{"t_s": k / 10, "cpu_util_pct": 50.0, "rss_bytes": 100 + k,
             "cpu_energy_j": 20.0 * k / 10} for k in range(61)]
    s = summarize_host(rows[1:-1], device="cpu", case_id="c", t_open=0.0, t_close=6.0,
                       open_row=rows[0], close_row=rows[-1], idle_power_w=5.0)
    assert set(s) == set(HOST_SUMMARY_FIELDS)
    assert s["energy_method"] == "rapl" and s["energy_j"] == pytest.approx(120.0)
    assert s["power_mean_w"] == pytest.approx(20.0)
    assert s["active_energy_j"] == pytest.approx(90.0)
    assert s["cpu_util_mean_pct"] == 50.0 and s["rss_peak_bytes"] == 160
    for r in rows:
        r["cpu_energy_j"] = None
    s = summarize_host(rows[1:-1], device="cpu", case_id="c", t_open=0.0, t_close=6.0,
                       open_row=rows[0], close_row=rows[-1], rapl_reason="no RAPL on this CPU")
    assert s["energy_j"] is None and s["telemetry_note"] == "no RAPL on this CPU"


# ---------------------------------------------------------------- facade with the fake


def run_window(tel: Telemetry, device: str, ticks: int = 50):
    with tel.window(device, "matmul/infer/cuda:0/fp16/bs64") as w:
        assert tel.sampler.wait_for_ticks(tel.sampler.ticks + ticks)
    return w.summary


def test_constant_250w_both_methods_within_1pct(monkeypatch, tmp_path):
    install(monkeypatch, [FakeGpu(power_w=250.0)])
    with Telemetry([0], hz=200, rapl_root=tmp_path) as tel:
        assert tel.available and tel.reason is None
        s = run_window(tel, "cuda:0")
    expected = 250.0 * s["window_s"]
    assert s["window_s"] > 0.15
    assert s["energy_method"] == "counter"
    assert s["energy_counter_j"] == pytest.approx(expected, rel=0.01)
    assert s["energy_integrated_j"] == pytest.approx(expected, rel=0.01)
    assert s["power_mean_w"] == pytest.approx(250.0, rel=0.01)
    assert s["power_source"] == "instant"
    assert "counter-integration-mismatch" not in s["quality_flags"]
    assert "short-window" in s["quality_flags"]
    assert s["samples"] >= 40 and s["achieved_hz"] > 50
    assert s["case_id"] == "matmul/infer/cuda:0/fp16/bs64"


def test_gpu_without_counter_integrates_and_says_so(monkeypatch, tmp_path):
    install(monkeypatch, [FakeGpu(power_w=250.0, energy_counter=False, instant_power=False)])
    with Telemetry([0], hz=200, rapl_root=tmp_path) as tel:
        s = run_window(tel, "cuda:0")
    assert s["energy_method"] == "integrated-power"
    assert s["energy_counter_j"] is None
    assert s["energy_j"] == pytest.approx(250.0 * s["window_s"], rel=0.01)
    assert s["power_source"] == "power_usage"
    assert "energy counter not supported on this GPU" in s["telemetry_note"]


def test_stalled_counter_and_other_process_through_facade(monkeypatch, tmp_path):
    install(monkeypatch, [FakeGpu(stall_counter=True, pids=[os.getpid(), 31337])])
    with Telemetry([0], hz=200, rapl_root=tmp_path) as tel:
        s = run_window(tel, "cuda:0", ticks=20)
    assert {"counter-stalled", "other-process"} <= set(s["quality_flags"])
    assert s["energy_j"] and s["energy_j"] > 0 and s["energy_method"] == "integrated-power"


def test_measure_idle_and_active_energy(monkeypatch, tmp_path):
    # Idle power is measured between counter updates (aligned edges, polled every 1 ms in real
    # time): on a loaded 2-core box a poll can come a few ms late, a few % of a 0.3 s window.
    # How exactly the edges sit is tested with an injected clock in test_window_edges.py.
    install(monkeypatch, [FakeGpu(power_w=60.0)])
    with Telemetry([0], hz=200, rapl_root=tmp_path) as tel:
        idle = tel.measure_idle("cuda:0", seconds=0.3)
        assert idle == pytest.approx(60.0, rel=0.05)
        assert tel.measure_idle("cuda:0", seconds=30.0) == idle   # cached: returns at once
        s = run_window(tel, "cuda:0", ticks=10)
    assert s["idle_power_w"] == idle
    assert s["active_energy_j"] == pytest.approx(s["energy_j"] - idle * s["window_s"])
    assert abs(s["active_energy_j"]) <= 0.05 * s["energy_j"]


def test_nvml_unavailable_still_samples_host(monkeypatch, tmp_path):
    install(monkeypatch, [FakeGpu()], init_error=NVML_ERROR_LIBRARY_NOT_FOUND)
    path = tmp_path / "samples.csv"
    with Telemetry([0], hz=200, samples_path=path, rapl_root=tmp_path) as tel:
        assert not tel.available and tel.reason.startswith("no NVML: driver not found")
        g = run_window(tel, "cuda:0", ticks=5)
        h = run_window(tel, "cpu", ticks=5)
        assert tel.measure_idle("cuda:0", seconds=0.01) is None
    assert g["energy_j"] is None and g["power_mean_w"] is None
    assert g["telemetry_note"].startswith("no NVML: driver not found")
    assert g["not_measured"]["energy_j"] == g["telemetry_note"]
    assert g["window_s"] > 0
    assert h["samples"] >= 4 and h["rss_peak_bytes"] > 0
    assert h["energy_j"] is None and h["telemetry_note"] == "no RAPL on this CPU"
    df = pd.read_csv(path)
    assert len(df) > 0 and set(df["device"]) == {"host"}


def test_disabled_telemetry(tmp_path):
    tel = Telemetry([0], enabled=False, samples_path=tmp_path / "s.csv")
    with tel:
        with tel.window("cuda:0", "x") as w:
            pass
    assert not tel.available and tel.reason == "telemetry disabled"
    assert w.summary["telemetry_note"] == "telemetry disabled" and w.summary["energy_j"] is None
    assert not (tmp_path / "s.csv").exists()


def test_bad_hz_in_facade():
    with pytest.raises(ValueError, match="hz=5000"):
        Telemetry([0], hz=5000)


def test_thread_does_not_outlive_telemetry(monkeypatch, tmp_path):
    install(monkeypatch, [FakeGpu()])
    tel = Telemetry([0], hz=100, rapl_root=tmp_path)
    tel.start()
    assert tel.sampler.wait_for_ticks(2)
    t = tel.sampler.thread
    tel.stop()
    assert not t.is_alive()
    tel2 = Telemetry([0], hz=100, rapl_root=tmp_path)
    tel2.start()
    t2 = tel2.sampler.thread
    del tel2
    gc.collect()
    assert not t2.is_alive()


def test_info_for_run_header(monkeypatch, tmp_path):
    install(monkeypatch, [FakeGpu(), FakeGpu(name="NVIDIA Fake A100")])
    with Telemetry([0, 1, 5], hz=50, rapl_root=tmp_path) as tel:
        info = tel.info()
        s = run_window(tel, "cuda:5", ticks=1)
    assert info["nvml_available"] and info["driver_version"] == "580.82.07"
    assert info["cuda_driver_version"] == "13.0"
    assert [d.get("name") for d in info["gpus"][:2]] == ["NVIDIA Fake H100 80GB HBM3",
                                                          "NVIDIA Fake A100"]
    assert "error" in info["gpus"][2]
    assert s["telemetry_note"] == "cuda:5 not found by NVML (2 GPUs)"


def test_throttled_flag_needs_more_than_the_threshold_share():
    from benchsuite.telemetry.window import THROTTLED_SHARE_THRESHOLD

    assert THROTTLED_SHARE_THRESHOLD == 0.05
    rows = trace(10.0)  # 201 readings; the edges are the open and close rows
    for r in rows[1:5]:  # 4 of 201: about 2 % slowed by the power cap
        r["throttle_mask"] = 0x4
    s = gpu_summary(rows)
    assert 0 < s["throttled_share"] <= THROTTLED_SHARE_THRESHOLD
    assert "throttled" not in s["quality_flags"] and s["throttle_slowing_reasons"] == ["sw_power_cap"]
    for r in rows[5:40]:  # 35 more: thermal, with idle and application-clock bits that do not count
        r["throttle_mask"] = 0x40 | 0x1 | 0x2
    for r in rows[40:80]:  # idle alone is not a slow-down
        r["throttle_mask"] = 0x1
    s = gpu_summary(rows)
    assert "throttled" in s["quality_flags"] and s["throttled_share"] == pytest.approx(39 / 201)
    assert s["throttle_slowing_reasons"] == ["sw_power_cap", "hw_thermal"]
    assert s["throttle_reasons"] == ["gpu_idle", "applications_clocks_setting", "sw_power_cap", "hw_thermal"]
