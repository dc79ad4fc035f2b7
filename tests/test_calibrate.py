"""The calibration search (fake clock, planted best shape), the budget, a tiny real CPU calibration, and the
telemetry a GPU search records (fake NVML, faked CUDA matmuls)."""

import math
import time

import pytest
import torch

from benchsuite import calibrate, calibration_store, devices, timing
from benchsuite.calibrate import Trial, search_matmul
from benchsuite.report import calibration
from benchsuite.telemetry import nvml
from benchsuite.telemetry.window import THROTTLED_SHARE_THRESHOLD
from tests.fakes.fake_pynvml import NVML_ERROR_DRIVER_NOT_LOADED, FakeGpu, install


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def planted(best, peak_tflops=100.0, width=1500.0, cost_s=0.5, clock=None):
    """A time_fn whose TFLOP/s peaks at shape ``best``; each call costs ``cost_s`` × size on ``clock``."""
    def efficiency(shape):
        return math.exp(-sum(((d - b) / width) ** 2 for d, b in zip(shape, best)))

    calls = []

    def time_fn(shape):
        calls.append(shape)
        if clock is not None:
            clock.t += cost_s * calibrate.flops(shape) / calibrate.flops((1024, 1024, 1024))
        return calibrate.flops(shape) / (peak_tflops * 1e12 * efficiency(shape))

    return time_fn, calls


def test_search_finds_the_planted_best_shape():
    clock = FakeClock()
    best = (2304, 3072, 1280)  # off the coarse cube grid: only the fine phase can reach it
    time_fn, calls = planted(best, cost_s=0.001, clock=clock)
    found = search_matmul(time_fn, budget_s=1e6, coarse_step=512, min_step=128, cap=4096, clock=clock)
    assert found.best.shape == best
    assert found.best.phase == "final" and found.best.tflop_per_s == pytest.approx(100.0)
    assert not found.stopped_by_budget
    phases = [t.phase for t in found.trials]
    assert phases[:8] == ["coarse"] * 8 and "fine" in phases and phases[-1] == "final"
    assert len(set(calls)) == len({t.shape for t in found.trials})  # no shape searched twice
    assert all(s[i] % 128 == 0 for s in calls for i in range(3))


def test_search_respects_the_budget():
    clock = FakeClock()
    time_fn, calls = planted((4096, 4096, 4096), cost_s=1.0, clock=clock)
    found = search_matmul(time_fn, budget_s=20.0, coarse_step=512, min_step=128, cap=8192, clock=clock)
    assert found.stopped_by_budget
    assert found.elapsed_s <= 20.0
    assert found.best is not None and 0 < len(found.trials) < 16
    # the coarse and fine phases stay within SEARCH_SHARE of the budget
    searched = [t for t in found.trials if t.phase != "final"]
    assert sum(calibrate.flops(t.shape) for t in searched) / calibrate.flops((1024,) * 3) <= 0.8 * 20.0


def test_a_budget_too_small_for_anything_says_so():
    clock = FakeClock()
    time_fn, _ = planted((1024, 1024, 1024), cost_s=10.0, clock=clock)
    found = search_matmul(time_fn, budget_s=5.0, coarse_step=1024, min_step=256, cap=4096, clock=clock)
    # the first candidate is started (nothing is known of the cost yet) but nothing after it
    assert [t.phase for t in found.trials] == ["coarse"] and found.stopped_by_budget


def test_shapes_that_run_out_of_memory_lose_without_ending_the_search():
    clock = FakeClock()
    time_fn, _ = planted((3072, 3072, 3072), cost_s=0.001, clock=clock)

    def limited(shape):
        return math.inf if max(shape) > 2048 else time_fn(shape)

    found = search_matmul(limited, budget_s=1e6, coarse_step=512, min_step=256, cap=4096, clock=clock)
    assert found.best.shape == (2048, 2048, 2048) and found.best.tflop_per_s > 0
    assert any(t.tflop_per_s == 0 for t in found.trials)


def test_max_dim_fits_memory_and_grid():
    assert calibrate.max_dim("cuda", "bf16", None, 20480, 2048) == 20480
    dim = calibrate.max_dim("cuda", "fp32", 8 * 2**30, 20480, 2048)
    assert dim % 2048 == 0 and (3 * 4 + 8) * dim**2 <= calibrate.MEMORY_SHARE * 8 * 2**30
    assert (3 * 4 + 8) * (dim + 2048) ** 2 > calibrate.MEMORY_SHARE * 8 * 2**30  # the largest that fits
    assert calibrate.max_dim("cpu", "fp32", 1000, 2048, 256) == 256  # never below one step


def test_plan_precisions_skips_what_the_device_cannot_do():
    cpu = devices.cpu()
    names, skipped = calibrate.plan_precisions(cpu, ["fp32", "fp8", "tf32"])
    assert names == ["fp32"] and set(skipped) == {"fp8", "tf32"} and "CUDA" in skipped["fp8"]
    defaults, _ = calibrate.plan_precisions(cpu, None)
    assert defaults[0] == "fp32" and set(defaults) <= {"fp32", "bf16"}


def test_time_reps_flushes_before_every_repetition_outside_the_timed_span():
    clock, log = FakeClock(), []

    def op():
        log.append("op")
        clock.t += 0.5

    def flush():
        log.append("flush")
        clock.t += 100.0  # must not be counted

    times = timing.time_reps(op, "cpu", reps=3, warmup=2, flush=flush, clock=clock)
    assert times == [0.5, 0.5, 0.5]
    assert log == ["op", "op", "flush", "op", "flush", "op", "flush", "op"]


def test_real_cpu_calibration_on_tiny_shapes(tiny_grid, tmp_path):
    cpu = devices.cpu()
    seen = []
    made = calibrate.run([cpu], ["fp32"], 1.0, tmp_path / "reports", hostname="box", driver="550.1",
                         store_dir=tmp_path / "cal", on_trial=lambda d, p, t: seen.append((d, p, t)))
    rec = made.records[0]
    assert rec["device"]["id"] == "cpu" and rec["driver"] is None  # the GPU driver is not a CPU's
    assert rec["machine_key"] == calibration_store.device_key("box", cpu, "550.1")
    entry = rec["matmul"]["fp32"]
    assert entry["tflop_per_s"] > 0 and all(d % 32 == 0 and d <= 128 for d in entry["shape"])
    assert entry["datasheet_tflop_per_s"] is None and entry["pct_of_datasheet"] is None  # no CPU datasheet
    assert entry["search_s"] <= 1.0 * calibrate.MATMUL_SHARE + 0.5
    assert rec["bandwidth"]["d2d"]["gb_per_s"] > 0 and rec["bandwidth"]["d2d"]["bytes_per_copy"] == 2 * (4 << 20)
    assert rec["cache_state"] == timing.CACHE_WARM and rec["l2_flush_bytes"] is None
    assert rec["threads"] == torch.get_num_threads() and rec["torch"] == torch.__version__
    assert entry["telemetry_note"] == calibrate.CPU_TELEMETRY_NOTE
    assert entry["throttled"] is None and entry["throttled_share"] is None and entry["power_mean_w"] is None
    assert seen and all(d == "cpu" and p == "fp32" and isinstance(t, Trial) for d, p, t in seen)
    assert calibration_store.load(rec["machine_key"], tmp_path / "cal")["id"] == rec["id"]
    assert calibration_store.read_run_copy(made.run_dir)[0]["id"] == rec["id"]


@pytest.fixture
def nvml_reset():
    nvml._reset_for_tests()
    yield
    nvml._reset_for_tests()


@pytest.fixture
def fake_cuda(monkeypatch):
    """calibrate_device on a "cuda" Device without CUDA: tiny grid, matmuls and copies faked (each
    candidate sleeps 2 ms so telemetry windows span real time), no settle warm-up."""
    monkeypatch.setitem(calibrate.GRID, "cuda", (64, 32, 128))
    monkeypatch.setattr(calibrate, "TELEMETRY_HZ", 200.0)
    monkeypatch.setattr(calibrate, "_prepare_cuda", lambda device: (None, 0))
    monkeypatch.setattr(calibrate, "_warm_device", lambda device, budget_s: {"settled": True, "seconds": 0.0,
                                                                              "note": None})
    monkeypatch.setattr(calibrate, "_free_bytes", lambda device: None)

    def timer(device, precision_name, *, reps, warmup, flush=None):
        def time_fn(shape):
            time.sleep(0.002)
            return calibrate.flops(shape) / 100e12
        return time_fn

    monkeypatch.setattr(calibrate, "matmul_timer", timer)
    monkeypatch.setattr(calibrate, "copy_bandwidth", lambda device, kind, nbytes, reps: {
        "gb_per_s": 1000.0, "bytes_per_copy": nbytes, "seconds": 1e-3, "reps": reps})


def gpu(nvml_index):
    return devices.Device(id="cuda:0", type="cuda", name="NVIDIA H100 80GB HBM3", index=0,
                          nvml_index=nvml_index, native_precisions=frozenset({"bf16", "fp16"}))


def test_a_power_capped_gpu_search_is_stored_as_throttled(monkeypatch, nvml_reset, fake_cuda):
    # torch's cuda:0 is NVML's GPU 1 (CUDA_VISIBLE_DEVICES): the capped one must be read, not NVML GPU 0
    install(monkeypatch, [FakeGpu(power_w=120.0, temp_c=40),
                          FakeGpu(power_w=690.0, temp_c=83, throttle_mask=0x4)])  # sw_power_cap
    rec = calibrate.calibrate_device(gpu(1), ["bf16", "fp16"], 1.0, hostname="box", driver="580.82.07")
    for name in ("bf16", "fp16"):
        entry = rec["matmul"][name]
        assert entry["tflop_per_s"] == pytest.approx(100.0)
        assert entry["throttled"] is True and entry["throttled_share"] == 1.0
        assert entry["throttle_reasons"] == ["sw_power_cap"] and entry["throttle_slowing_reasons"] == ["sw_power_cap"]
        assert entry["power_mean_w"] == pytest.approx(690.0, rel=0.05) and entry["temp_max_c"] == 83
    assert rec["threads"] == torch.get_num_threads() and rec["torch"] == torch.__version__
    notes = calibration.calibration_table([rec]).set_index("ceiling")["notes"]
    assert notes["matmul bf16"] == "throttled 100% of the search (sw_power_cap)" and notes["memory copy"] == ""


def test_an_unthrottled_gpu_search_is_not_flagged(monkeypatch, nvml_reset, fake_cuda):
    install(monkeypatch, [FakeGpu(power_w=450.0, throttle_mask=0x1)])  # gpu_idle does not slow the work
    entry = calibrate.calibrate_device(gpu(0), ["bf16"], 0.5, hostname="box", driver="580")["matmul"]["bf16"]
    assert entry["throttled"] is False and entry["throttled_share"] == 0.0
    assert entry["throttle_reasons"] == ["gpu_idle"] and entry["throttle_slowing_reasons"] == []
    assert entry["power_mean_w"] == pytest.approx(450.0, rel=0.05) and entry["telemetry_note"] is None


def test_without_nvml_or_an_nvml_match_the_search_says_why(monkeypatch, nvml_reset, fake_cuda):
    install(monkeypatch, [FakeGpu()], init_error=NVML_ERROR_DRIVER_NOT_LOADED)
    ok, why = nvml.status()
    assert not ok
    entry = calibrate.calibrate_device(gpu(0), ["bf16"], 0.3, hostname="box", driver=None)["matmul"]["bf16"]
    assert entry["tflop_per_s"] == pytest.approx(100.0)  # the figure is still measured
    assert entry["throttled"] is None and entry["throttled_share"] is None and entry["power_mean_w"] is None
    assert entry["telemetry_note"] == why
    entry = calibrate.calibrate_device(gpu(None), ["bf16"], 0.3, hostname="box", driver=None)["matmul"]["bf16"]
    assert entry["throttled"] is None
    assert entry["telemetry_note"] == "cuda:0 is not matched to an NVML GPU: throttling not measured"


def test_search_conditions_flag_only_above_the_threshold():
    def summary(share):
        return {"throttled_share": share, "throttle_reasons": ["hw_thermal"],
                "throttle_slowing_reasons": ["hw_thermal"], "power_mean_w": 600.0, "temp_max_c": 88,
                "not_measured": {"active_energy_j": "idle power not measured"}}

    below = calibrate.search_conditions(summary(THROTTLED_SHARE_THRESHOLD))
    above = calibrate.search_conditions(summary(0.12))
    assert below["throttled"] is False and above["throttled"] is True
    assert below["telemetry_note"] is None  # notes about fields a calibration does not keep are left out
    none = calibrate.search_conditions({"throttled_share": None, "power_mean_w": None, "temp_max_c": 70,
                                        "not_measured": {"throttled_share": "clock event reasons not supported",
                                                         "energy_j": "power reading not supported on this GPU"}})
    assert none["throttled"] is None
    assert none["telemetry_note"] == "clock event reasons not supported; power reading not supported on this GPU"
