"""Block timing on the CPU with a fake clock: block lengths, the bound on stored blocks, per-step
timing, the latency pass of latency cases, and what a results record keeps of it."""

from __future__ import annotations

import numpy as np
import pytest

from benchsuite import devices, metrics, record, results, runner, stats, timing
from benchsuite.plan import Case
from benchsuite.settings import RunSettings
from tests.fakes.runner_workloads import REG
from tests.fakes.step_clock import Clock


def measure(step_s, latency=False, **settings):
    clock = Clock(step_s)
    got = timing.measure(clock.step, "cpu", timing.TimingSettings(**{"warmup_iters": 1, "warmup_time_s": 0.0,
                                                                     **settings}), latency=latency, clock=clock)
    return got, clock


def test_a_block_holds_at_least_a_millisecond_of_steps():
    got, _ = measure(0.0001, min_time_s=0.5)  # 0.1 ms steps: 10 a block
    assert got.steps_per_block == 10 and len(got.block_times_s) in (500, 501)  # 501: float sums of 0.1 ms
    assert all(t == pytest.approx(0.001) for t in got.block_times_s)
    assert got.stats["step_s_median"] == pytest.approx(0.0001) and got.stats["iters"] == got.steps >= 5000
    slow, _ = measure(0.004, min_time_s=0.1)  # a 4 ms step is a block on its own
    assert slow.steps_per_block == 1 and slow.steps == 25


def test_stored_blocks_are_bounded_by_summing_neighbours():
    """2 s of 20 µs steps is 2,000 one-millisecond blocks; with a cap of 64 the store keeps
    between 33 and 64 blocks, all of the same steps, and every timed second."""
    got, clock = measure(0.00002, min_time_s=2.0, max_blocks=64)
    assert 32 < len(got.block_times_s) <= 64 and got.steps_per_block % 50 == 0
    assert sum(got.block_times_s) == pytest.approx(got.steps * 0.00002)
    assert sum(got.block_times_s) >= 2.0 and got.span_s == pytest.approx(sum(got.block_times_s))
    assert got.stats["iters"] == got.steps and len(set(got.block_times_s)) == 1


def test_default_cap_keeps_a_two_second_case_small():
    """Issue 14: a 2 s CPU case of 64³ matmuls wrote 2.3 MB of step times; its blocks now fit
    in the 1,024-block cap (about 12 KB of JSON)."""
    got, _ = measure(0.000005, min_time_s=2.0)  # 5 µs steps: 400,000 of them
    assert len(got.block_times_s) <= timing.TimingSettings().max_blocks == 1024
    assert got.steps >= 400_000 and len(str(list(got.block_times_s))) < 16_000


def test_store_group_and_completeness():
    store = timing._Store(cap=4)
    for _ in range(9):
        store.add(1.0)
    # 9 raw blocks, cap 4: pairs (group 2) past 4 kept, then 4 of 2 and one pending
    assert store.group == 2 and store.times == [2.0] * 4 and store.pending_n == 1
    assert timing._Store.group_after(9, 4) == 2 and timing._Store.group_after(10, 4) == 4
    # 10 would be 5 blocks of 2 (past the cap): the whole count is 12, 3 blocks of 4
    assert timing._Store.complete_count(9, 4) == 12 and timing._Store.complete_count(8, 4) == 8
    store.add(1.0)
    assert store.group == 4 and store.times == [4.0, 4.0] and store.pending_n == 2
    store.add(1.0)
    store.add(1.0)
    assert store.times == [4.0] * 3 and store.pending_n == 0


def test_timed_run_ends_on_a_whole_stored_block():
    got, _ = measure(0.001, min_time_s=0.0, min_iters=9, max_blocks=4)
    assert got.steps % got.steps_per_block == 0 and got.steps >= 9 and len(got.block_times_s) <= 4


def test_flush_l2_without_a_flush_keeps_blocks():
    """On a CPU --flush-l2 does nothing (no flush is passed): steps are timed in blocks as usual."""
    got, _ = measure(0.0001, min_time_s=0.1, flush_l2=True)
    assert got.steps_per_block == 10 and got.cache_state == timing.CACHE_WARM


def test_latency_timing_keeps_every_step_up_to_its_own_cap():
    got, _ = measure(0.00002, min_time_s=1.0, per_step=True, max_step_times=500)
    assert got.steps_per_block == 1 and len(got.block_times_s) == 500  # stopped by the cap, not the time
    assert got.stats["step_s_p99"] == pytest.approx(0.00002)


def test_runner_times_a_latency_case_in_blocks_then_single_steps(tmp_path):
    """(Was: batch-1 inference timed step by step.) A latency case is timed in blocks like every
    case, so its samples/s carries no per-step events; its single steps come from the latency pass,
    stored apart (``timing.latency_times_s``) with their p50/p99."""
    fast = RunSettings(timing={"cpu": timing.TimingSettings(min_time_s=0.01, min_iters=2, warmup_iters=1,
                                                            warmup_time_s=0)})
    store = results.RunStore(tmp_path, {})
    cases = [Case("add", "infer", "cpu", "fp32", 1), Case("add", "infer", "cpu", "fp32", 64)]
    assert runner.is_latency_case(cases[0]) and not runner.is_latency_case(cases[1])
    runner.Runner(REG, [devices.cpu()], store, fast).run(cases)
    latency, throughput = results.read_run(store.path).cases
    for rec in (latency, throughput):
        t, m = rec["timing"], rec["metrics"]
        assert t["steps_per_block"] > 1  # µs steps: blocks of many, latency case or not
        assert m["iters"] == len(t["block_times_s"]) * t["steps_per_block"] == record.timed_steps(rec)
        assert t["warmup_rule"] == "not judged (fixed warm-up)" and t["span_s"] > 0
        assert m["samples_per_s"] == pytest.approx(m["samples_per_step"] / m["step_s_median"])  # from blocks
    single = latency["timing"]["latency_times_s"]
    assert metrics.LATENCY_MIN_STEPS <= len(single) <= timing.TimingSettings().max_step_times
    assert latency["metrics"]["latency_s_p50"] == pytest.approx(float(np.percentile(single, 50)))
    assert latency["metrics"]["latency_s_p99"] == pytest.approx(float(np.percentile(single, 99)))
    assert "latency_times_s" not in throughput["timing"] and "latency_s_p50" not in throughput["metrics"]


def test_the_latency_pass_is_bounded_by_time_count_and_cap():
    """About LATENCY_PASS_S of single steps (or the timed window, if shorter), at least
    LATENCY_MIN_STEPS, at most max_step_times; after one untimed step, with no second warm-up."""
    got, clock = measure(0.0005, min_time_s=2.0, latency=True)  # 0.5 ms steps: 1 s is 2,000 steps
    assert got.latency_times_s is not None and len(got.latency_times_s) == 2000
    assert all(t == pytest.approx(0.0005) for t in got.latency_times_s)
    plain, _ = measure(0.0005, min_time_s=2.0)
    assert plain.latency_times_s is None  # not a latency case: no pass
    assert (got.block_times_s, got.steps_per_block, got.stats) == (plain.block_times_s, plain.steps_per_block,
                                                                   plain.stats)  # the blocks are as without it
    short, _ = measure(0.0005, min_time_s=0.2, latency=True)  # --quick on a CPU: no longer than its window
    assert len(short.latency_times_s) == 400
    capped, _ = measure(0.00002, min_time_s=1.0, latency=True, max_step_times=500)  # 50,000 wanted
    assert len(capped.latency_times_s) == 500
    slow, _ = measure(0.02, min_time_s=0.2, latency=True)  # 20 ms steps: 10 in 0.2 s, 100 for a p99
    assert len(slow.latency_times_s) == metrics.LATENCY_MIN_STEPS


def test_the_latency_pass_runs_after_the_window_closes():
    clock = Clock(0.001)
    seen = {}

    class Window:
        def __enter__(self):
            seen["open"] = clock.steps

        def __exit__(self, *exc):
            seen["close"] = clock.steps

    got = timing.measure(clock.step, "cpu", timing.TimingSettings(min_time_s=0.3, warmup_iters=1, warmup_time_s=0.0),
                         window=Window(), latency=True, clock=clock)
    assert seen["close"] - seen["open"] == got.steps  # the window holds the timed blocks only
    untimed = metrics.LATENCY_UNTIMED_STEPS
    assert clock.steps - seen["close"] == untimed + len(got.latency_times_s) == untimed + 300


def test_ranks_agree_on_the_latency_pass():
    settings = timing.TimingSettings(min_time_s=1.0)
    asked = []

    def agree(values):
        asked.append(list(values))
        return [max(values[0], 4321)]

    assert timing.latency_steps(0.001, settings) == 1000
    assert timing.latency_steps(0.001, settings, agree) == 4321 and asked == [[1000]]
    assert timing.latency_steps(0.0, settings) == metrics.LATENCY_MIN_STEPS  # no step time: the minimum


def test_statistics_are_of_per_block_means():
    s = stats.summarize([0.004, 0.008], steps_per_block=4)
    assert s["iters"] == 8 and s["step_s_min"] == 0.001 and s["step_s_max"] == 0.002
    assert s["step_s_mean"] == pytest.approx(0.0015) and s["step_s_total"] == pytest.approx(0.012)
    assert stats.merge_neighbours([1, 2, 3, 4, 5], 1, 2) == ([3.0, 7.0], 2)  # the odd last one dropped
    with pytest.raises(ValueError, match="cap=0"):
        stats.merge_neighbours([1.0], 1, 0)
