"""Burst and sustained (issue 16 item 4): the burst measured at the start of warm-up (an idle, one
untimed step, the fastest of 5 blocks of >= 10 ms), its derivation, its power and clocks, what a
record keeps, and that "% of achievable" stays sustained."""

from __future__ import annotations

import math

import pytest

from benchsuite import devices, metrics, ranks, results, runner, settings, timing
from benchsuite.plan import Case
from benchsuite.telemetry.window import summarize_span
from tests.fakes.fake_cuda import FakeCuda
from tests.fakes.runner_workloads import REG
from tests.fakes.step_clock import Clock

BURST = {"burst_blocks": 5, "burst_block_s": 0.010, "burst_idle_s": 0.25}


def test_burst_is_the_fastest_block_and_none_without_blocks():
    got = metrics.burst(32, 2e9, [0.012, 0.010, 0.011], 5)
    assert got["burst_samples_per_s"] == pytest.approx(32 * 5 / 0.010)
    assert got["burst_tflop_per_s"] == pytest.approx(2e9 * 5 / 0.010 / 1e12)
    assert metrics.burst(32, 2e9, [], 5) == {"burst_samples_per_s": None, "burst_tflop_per_s": None}
    assert metrics.burst(32, None, [0.01], 1)["burst_tflop_per_s"] is None


class SlowingClock(Clock):
    """Steps get slower after the first 60 ms of load: a burst is faster than sustained."""

    def step(self):
        self.t += self.step_s * (1.0 if self.t < 0.06 else 1.25)
        self.steps += 1


def test_measure_starts_warm_up_with_an_idle_and_the_burst_blocks():
    clock = SlowingClock(0.002)
    slept = []
    got = timing.measure(clock.step, "cpu", timing.TimingSettings(min_time_s=0.2, warmup_iters=1, warmup_time_s=0.1,
                                                                  **BURST), clock=clock, sleep=slept.append)
    assert slept == [0.25]  # the idle, before anything ran
    burst = got.burst
    assert burst["steps_per_block"] == 5 and len(burst["block_times_s"]) == 5  # ceil(10 ms / 2 ms)
    assert burst["idle_s"] == 0.25 and burst["warmup_steps"] == 1
    assert min(burst["block_times_s"]) == pytest.approx(0.010)
    assert got.median_s == pytest.approx(0.0025)  # sustained: the slower steady steps
    assert got.warmup_iters >= 1 + 25  # the burst's steps are warm-up steps
    plain = Clock(0.002)
    off = timing.measure(plain.step, "cpu", timing.TimingSettings(min_time_s=0.01), clock=plain)
    assert off.burst is None  # not asked for (TimingSettings default): nothing measured, nothing stored


def test_a_burst_on_a_gpu_waits_for_the_queue_by_polling_then_idles(monkeypatch):
    cuda = FakeCuda().install(monkeypatch)
    step = cuda.work(4.0)

    slept = []
    got = timing.measure(step, "cuda", timing.TimingSettings(min_time_s=0.05, warmup_time_s=0.0, **BURST),
                         device="cuda:0", sleep=lambda s: (slept.append(s), cuda.log.append("idle")))
    first_op = cuda.log.index("op")
    assert cuda.log[:first_op] == ["record", "query", "idle", "record"]  # queue drained by polling, then idle
    assert "sync" not in cuda.log and slept == [0.25]
    assert got.burst["steps_per_block"] == 3 and got.burst["block_times_s"] == [0.012] * 5


def test_under_a_flush_a_burst_block_is_one_step(monkeypatch):
    cuda = FakeCuda().install(monkeypatch)
    step = cuda.work(1.0)

    got = timing.measure(step, "cuda", timing.TimingSettings(min_time_s=0.01, warmup_time_s=0.0, **BURST),
                         device="cuda:0", flush=lambda: None, sleep=lambda s: None)
    assert got.burst["steps_per_block"] == 1


def test_ranks_agree_on_the_burst_block():
    clock = Clock(0.002)
    asked = []

    def agree(values):
        asked.append(list(values))
        return [max(v, 8) for v in values] if len(values) == 1 else list(values)

    got = timing.measure(clock.step, "cpu", timing.TimingSettings(min_time_s=0.01, warmup_time_s=0.0, **BURST),
                         clock=clock, sleep=lambda s: None, agree=agree)
    assert asked[0] == [5] and got.burst["steps_per_block"] == 8


def test_span_power_and_clocks():
    rows = [{"t_s": 1.02, "power_w": 700.0, "sm_clock_mhz": 1830, "temp_c": 60},
            {"t_s": 1.04, "power_w": 720.0, "sm_clock_mhz": 1790, "temp_c": 61}]
    got = summarize_span(rows, host=False, t_open=1.0, t_close=1.05, open_row=None, close_row=None)
    assert got["power_w"] == 710.0 and got["sm_clock_mhz"] == 1810 and got["temp_c"] == 61
    assert got["samples"] == 2 and got["source"] == "samples inside the span"
    late = summarize_span([], host=False, t_open=1.0, t_close=1.05, open_row=None, close_row=rows[0])
    assert late["power_w"] == 700.0 and late["source"] == "read as the span closed"
    host = summarize_span([], host=True, t_open=1.0, t_close=1.05, open_row={"cpu_energy_j": 10.0},
                          close_row={"cpu_energy_j": 13.0})
    assert host["power_w"] == pytest.approx(60.0)
    none = summarize_span([], host=True, t_open=1.0, t_close=1.05, open_row={}, close_row={})
    assert none["power_w"] is None


def test_every_run_case_records_its_burst_beside_sustained(tmp_path):
    store = results.RunStore(tmp_path, {})
    fast = settings.RunSettings(timing={"cpu": timing.TimingSettings(min_time_s=0.01, min_iters=2, warmup_iters=1,
                                                                     warmup_time_s=0, **{**BURST,
                                                                                         "burst_idle_s": 0.0})})
    runner.Runner(REG, [devices.cpu()], store, fast).run([Case("add", "infer", "cpu", "fp32", 4)])
    rec = results.read_run(store.path).cases[0]
    burst = rec["timing"]["burst"]
    assert len(burst["block_times_s"]) == 5 and burst["idle_s"] == 0.0
    m = rec["metrics"]
    assert m["burst_samples_per_s"] == pytest.approx(4 * burst["steps_per_block"] / min(burst["block_times_s"]))
    assert "burst_power_w" in m  # None: no telemetry here, never 0
    row = results.load(store.path).iloc[0]
    assert row["burst_samples_per_s"] == m["burst_samples_per_s"] and not math.isnan(row["samples_per_s"])


def test_the_runs_defaults_measure_a_burst_on_every_device():
    assert settings.BURST == {"burst_blocks": 5, "burst_block_s": 0.010, "burst_idle_s": 0.25}
    for table in (settings.TIMING_DEFAULTS, settings.TIMING_QUICK):
        for device_type in ("cpu", "cuda"):
            s = table[device_type]  # (the tests' own fixture leaves out the idle: tests/conftest.py)
            assert (s.burst_blocks, s.burst_block_s) == (5, 0.010)


def test_percent_of_achievable_and_the_stale_flag_use_sustained_only():
    got = metrics.derive(samples_per_step=1, step_s=0.010, flops_per_step=1e12, achievable_tflop_per_s=100.0)
    assert got["pct_of_achievable"] == pytest.approx(100.0)  # 100 TFLOP/s sustained
    assert "burst" not in metrics.metric("pct_of_achievable").description.replace("(sustained)", "")


def test_the_job_burst_is_every_ranks_samples_over_the_slowest_best_block():
    def rec(rank, best):
        return {"id": "mlp", "status": "ok", "rank": rank, "device": f"cuda:{rank}",
                "timing": {"burst": {"block_times_s": [best, best * 1.1], "steps_per_block": 4}},
                "metrics": {"step_s_median": 0.01, "samples_per_step": 32, "flops_per_step": 1e9}}

    merged = ranks.merge([rec(0, 0.004), rec(1, 0.005)])
    assert merged["metrics"]["burst_samples_per_s"] == pytest.approx(64 * 4 / 0.005)
