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
from tests.fakes.fake_cuda import FakeCuda
from tests.fakes.fake_pynvml import NVML_ERROR_DRIVER_NOT_LOADED, FakeGpu, install


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def planted(best, peak_tflops=100.0, width=1500.0, cost_s=0.5, clock=None, reps=calibrate.MIN_FINAL_REPS):
    """A time_fn whose TFLOP/s peaks at shape ``best`` (``reps`` equal repetitions); each call costs
    ``cost_s`` × size on ``clock``."""
    def efficiency(shape):
        return math.exp(-sum(((d - b) / width) ** 2 for d, b in zip(shape, best)))

    calls = []

    def time_fn(shape):
        calls.append(shape)
        if clock is not None:
            clock.t += cost_s * calibrate.flops(shape) / calibrate.flops((1024, 1024, 1024))
        return [calibrate.flops(shape) / (peak_tflops * 1e12 * efficiency(shape))] * reps

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
        return [math.inf] if max(shape) > 2048 else time_fn(shape)

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

    def timer(device, precision_name, rule, *, flush=None):
        def time_fn(shape):
            time.sleep(0.002)
            return [calibrate.flops(shape) / 100e12] * calibrate.MIN_FINAL_REPS
        return time_fn

    # the faked matmuls do not spend the re-time's 0.6 s: count-based rules keep the budget model true
    monkeypatch.setitem(calibrate.FINAL, "cuda", calibrate.RepRule(0.0, 0.0, 1, calibrate.MIN_FINAL_REPS, 100))

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


# ---------------------------------------------------------------- the do_bench-like timer


def test_dobench_like_warms_up_and_repeats_by_time_with_a_flush_before_each_rep(monkeypatch):
    cuda = FakeCuda().install(monkeypatch)
    op, flush = cuda.work(2.0), cuda.work(0.5, "flush")  # outside every timed repetition's events: never in a time

    rule = calibrate.FINAL["cuda"]  # do_bench(warmup=100 ms, rep=500 ms)
    times = calibrate.dobench_like(op, "cuda", rule, flush=flush, device="cuda:0")
    # do_bench: 1 untimed run, 5 flushed runs estimate 2.5 ms a run with its flush, then 100 ms / 2.5 ms
    # of warm-up runs and 500 ms / 2.5 ms timed repetitions
    assert times == [0.002] * 200
    estimate, flush_timing, timed, tail = "|".join(cuda.log).split("query")
    assert estimate.split("|").count("op") == 6 and flush_timing.strip("|").split("|") == ["record", "flush",
                                                                                         "record"] * 3
    timed = timed.strip("|").split("|")
    assert timed[:40] == ["op"] * 40  # warm-up back to back, unflushed (as do_bench)
    assert timed[40:] == ["flush", "record", "op", "record"] * 200 and tail == ""
    assert "sync" not in cuda.log  # the host waits once per call, by polling the last event


def test_rep_rule_counts_have_floors_and_a_ceiling():
    rule = calibrate.RepRule(0.1, 0.5, 3, 20, 1000)
    assert rule.counts(0.002) == (50, 250)
    assert rule.counts(1.0) == (3, 20)  # a slow op still gets its floors
    assert rule.counts(1e-9) == (1000, 1000)  # a tiny one its ceiling
    assert rule.counts(math.inf) == (3, 20) and rule.expected_s(0.0) == pytest.approx(0.6)
    assert rule.expected_s(0.002) == pytest.approx((1 + 5 + 50 + 250) * 0.002)
    fixed = calibrate.RepRule(0.0, 0.0, 1, 3, 3)
    assert not fixed.by_time and fixed.counts(0.5) == (1, 3) and fixed.expected_s(0.5) == pytest.approx(2.0)
    calls = []
    got = calibrate.dobench_like(lambda: None, "cpu", fixed,
                                 reps_fn=lambda op, dt, reps, warmup, flush, device: calls.append((reps, warmup))
                                 or [0.5] * reps)
    assert got == [0.5] * 3 and calls == [(3, 1)]  # nothing estimated under fixed counts


# ---------------------------------------------------------------- the spread rule


def test_judge_accepts_a_tight_re_time_and_says_why_it_refuses_others():
    tight = [1.0e-3 * (1 + 0.002 * (i % 5)) for i in range(40)]
    assert calibrate.judge(tight, search_times_s=[1.0e-3] * 3) is None
    few = calibrate.judge(tight[: calibrate.MIN_FINAL_REPS - 1])
    assert few == f"only 19 repetitions re-timed (at least {calibrate.MIN_FINAL_REPS} are needed to know their spread)"
    busy = [1.0e-3] * 20 + [2.5e-3] * 20  # half the repetitions shared the cores with another process
    assert "re-timed spread 85.7% (interquartile range ÷ median of 40 repetitions) is above 5%" in calibrate.judge(busy)
    slower = [2.5e-3] * 40  # tight, but the whole re-time ran under a load the search did not see
    assert "150% slower than the slowest of the search's 3 repetitions" in calibrate.judge(slower, [1e-3] * 3)
    assert calibrate.judge([1e-3] * 30 + [math.inf] * 5) is None  # the finite repetitions are judged
    assert calibrate.judge([math.inf]).startswith("only 0 repetitions")  # a re-time that ran out of memory
    summary = calibrate.rep_summary(busy)
    assert summary["n"] == 40 and summary["median_s"] == pytest.approx(1.75e-3)
    assert summary["trend"] == pytest.approx(1.5)  # the last tenth 2.5x the first tenth's time


class BusyBox:
    """The issue-13 failure's shape: a 2-core CPU where the best shape reaches 0.186 TFLOP/s, each
    candidate's timing costs wall time on a fake clock (operands plus repetitions), and the
    re-time runs while another process takes the cores for a share ``busy`` of its repetitions
    (2.5x slower: 0.186 -> 0.0726, the figure that was stored)."""

    def __init__(self, busy: float, noise: float = 0.01, seed: int = 13, final_reps: int = 40,
                 overhead_s: float = 0.05):
        import random

        self.clock, self.busy, self.noise, self.overhead_s = FakeClock(), busy, noise, overhead_s
        self.rng = random.Random(seed)
        self.final_reps = final_reps
        self.finals: list[tuple[int, int, int]] = []

    def seconds(self, shape):
        eff = math.exp(-sum(((d - 512) / 400) ** 2 for d in shape))
        return calibrate.flops(shape) / (0.186e12 * max(eff, 0.05))

    def time_fn(self, shape):
        t = self.seconds(shape)
        reps = [t * (1 + self.noise * self.rng.uniform(-1, 1)) for _ in range(3)]
        self.clock.t += self.overhead_s + 4 * t  # make operands, one untimed run, three timed
        return reps

    def final_fn(self, shape):
        self.finals.append(shape)
        t = self.seconds(shape)
        reps = [t * (2.55 if self.rng.random() < self.busy else 1.0) * (1 + self.noise * self.rng.uniform(-1, 1))
                for _ in range(self.final_reps)]
        self.clock.t += self.overhead_s + sum(reps) + 4 * t
        return reps

    # what time_fn and final_fn cost besides their overhead
    candidate_rule = calibrate.RepRule(0.0, 0.0, 1, 3, 3)
    final_rule = property(lambda self: calibrate.RepRule(0.0, 0.0, 4, self.final_reps, self.final_reps))

    def search(self, budget_s=4.0):
        return search_matmul(self.time_fn, budget_s=budget_s, coarse_step=256, min_step=64, cap=2048,
                             final_time_fn=self.final_fn, clock=self.clock, candidate_rule=self.candidate_rule,
                             final_rule=self.final_rule)


def test_the_issue_13_busy_box_is_refused_not_stored_as_the_ceiling():
    box = BusyBox(busy=0.5, overhead_s=0.2)  # a busy box: 0.2 s to make each candidate's operands
    found = box.search(budget_s=4.0)  # --budget 10 --device cpu: 8 s of matmul search for fp32 and bf16
    assert found.stopped_by_budget  # the search ran out of its share of the budget, as in the issue
    # the re-time's share was reserved up front: all three finalists were re-timed, in the budget
    assert len(found.finals) == calibrate.FINAL_TOP and all(f.trial is not None for f in found.finals)
    assert all(len(f.trial.times_s) >= calibrate.MIN_FINAL_REPS for f in found.finals)
    assert found.elapsed_s <= 4.0 and box.clock.t <= 4.0
    searched = [t for t in found.trials if t.phase != "final"]
    assert searched and max(t.tflop_per_s for t in searched) == pytest.approx(0.186, rel=0.03)
    # half the re-timed repetitions ran at 0.0726: the spread says so, and nothing is the ceiling
    assert found.best is None and not any(f.accepted for f in found.finals)
    assert found.refusal.startswith("no re-timed finalist passed the spread rule")
    assert "is above 5%: the machine was busy" in found.refusal
    entry = calibrate.matmul_entry(found, datasheet=None, budget_s=4.0, grid={}, method="m")
    assert entry["tflop_per_s"] is None and entry["note"] == found.refusal
    assert [f["accepted"] for f in entry["finals"]] == [False] * 3 and entry["finals"][0]["reps"]["spread"] > 0.05


def test_a_box_busy_for_the_whole_re_time_is_refused_too():
    box = BusyBox(busy=1.0)  # tight repetitions, all 2.5x slower than the search saw
    found = box.search()
    assert found.best is None and "the machine's load changed" in found.refusal


def test_a_quiet_box_is_re_timed_and_its_figure_kept_with_its_quartiles():
    box = BusyBox(busy=0.0)
    found = box.search()
    assert found.best is not None and found.best.phase == "final"
    assert found.best.tflop_per_s == pytest.approx(0.186, rel=0.02)
    assert all(f.accepted for f in found.finals) and found.refusal is None
    entry = calibrate.matmul_entry(found, datasheet=None, budget_s=4.0, grid={}, method="m")
    assert entry["reps"]["n"] == 40 and entry["reps"]["q1_s"] <= entry["reps"]["median_s"] <= entry["reps"]["q3_s"]
    assert entry["reps"]["spread"] <= calibrate.SPREAD_MAX and len(entry["times_s"]) == 40
    assert entry["tflop_per_s"] == pytest.approx(calibrate.flops(found.best.shape) / entry["reps"]["median_s"] / 1e12)
    import json

    json.dumps(entry, allow_nan=False)  # strict JSON


def test_shapes_too_big_to_re_time_are_never_candidates():
    box = BusyBox(busy=0.0, final_reps=200)  # each re-time costs 200 repetitions
    found = box.search(budget_s=4.0)
    assert found.too_big_to_retime > 0  # the cube grid went on to 2048, but their re-times would not fit
    assert max(max(t.shape) for t in found.trials) < 2048
    assert found.best is not None and all(f.trial is not None for f in found.finals)
    assert found.elapsed_s <= 4.0


def test_a_budget_too_small_to_re_time_anything_stores_nothing():
    box = BusyBox(busy=0.0)
    found = search_matmul(box.time_fn, budget_s=0.5, coarse_step=256, min_step=64, cap=2048, clock=box.clock,
                          final_time_fn=box.final_fn, candidate_rule=box.candidate_rule,
                          final_rule=calibrate.FINAL["cpu"])
    assert found.trials == [] and found.best is None
    assert found.refusal.startswith("the budget is too small to re-time a candidate: 3 re-times of at least 0.12 s")


def test_the_mamf_seed_is_searched_where_the_cube_grid_and_its_moves_cannot_reach():
    best = (2048, 2048, 13312)  # mamf-finder's H100 bf16 shape, in a narrow basin on a flat 70% plateau

    def time_fn(shape):
        eff = 0.7 + 0.3 * math.exp(-sum(((d - b) / 200) ** 2 for d, b in zip(shape, best)))
        return [calibrate.flops(shape) / (989e12 * eff)] * calibrate.MIN_FINAL_REPS

    grid = dict(coarse_step=2048, min_step=256, cap=20480)
    without = search_matmul(time_fn, budget_s=1e6, **grid, clock=FakeClock())
    assert without.best.shape != best and without.best.tflop_per_s == pytest.approx(0.7 * 989, rel=1e-3)
    seeded = search_matmul(time_fn, budget_s=1e6, **grid, seeds=calibrate.seeds_for("cuda", "bf16"),
                           clock=FakeClock())
    assert seeded.best.shape == best and seeded.best.tflop_per_s == pytest.approx(989.0)
    assert [t.phase for t in seeded.trials if t.shape == best][0] == "seed"
    assert calibrate.seeds_for("cpu", "bf16") == () and (1024, 9216, 14336) in calibrate.seeds_for("cuda", "fp8")
    assert all(d % 256 == 0 for shapes in calibrate.MAMF_SEEDS.values() for s in shapes for d in s)


@pytest.mark.parametrize("budget", [math.nan, math.inf, -math.inf, 0.0, -1.0, True, "10"])
def test_a_budget_that_is_not_a_finite_positive_number_is_refused_before_anything_runs(budget, tmp_path):
    with pytest.raises(ValueError, match="must be a finite number of seconds above 0"):
        calibrate.run([devices.cpu()], ["fp32"], budget, tmp_path, hostname="box", driver=None, store_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_gpu_warms_up_with_the_cases_block_rule_within_the_budget(monkeypatch):
    """Calibration's warm-up is the cases' own (`timing.measure`, steady state judged on block
    times), capped at the budget's share; not the clock-and-temperature rule that never ended
    at the power cap. A CPU is not warmed."""
    seen = {}

    def measure(op, device_type, settings, device=None, **_):
        seen.update(device_type=device_type, settings=settings, device=str(device))
        return timing.Timings.of([1e-3] * 4, 1, "cuda-event", 10, 4.2, warmup_settled=True, warmup_rule="trend")

    monkeypatch.setattr(calibrate, "_operands", lambda device, precision, shape: (lambda: None))
    monkeypatch.setattr(calibrate.timing, "measure", measure)
    gpu = devices.Device(id="cuda:0", type="cuda", name="NVIDIA H100 80GB HBM3", index=0,
                         compute_capability=(9, 0), native_precisions=frozenset({"bf16", "fp16"}))
    assert calibrate._warm_device(gpu, 12.0) == {"settled": True, "seconds": 4.2, "rule": "trend", "note": None}
    assert seen["device_type"] == "cuda" and seen["device"] == "cuda:0"
    assert seen["settings"].judge_steady and seen["settings"].settle_max_s == 12.0
    calibrate._warm_device(gpu, 300.0)
    assert seen["settings"].settle_max_s == timing.TimingSettings.settle_max_s  # the cases' cap, 30 s
    cpu = devices.Device(id="cpu", type="cpu", name="cpu")
    assert calibrate._warm_device(cpu, 12.0)["settled"] is None
