"""The steady-state rule (`benchsuite.steady`) on step traces recorded on an H100, and on a
synthetic trace that really drifts; then through `timing.measure` replaying a trace."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from benchsuite import steady, timing
from tests.fakes.fixture_paths import H100

RULE = steady.SteadyRule()
STEADY_TRACES = ["h100_matmul8192_bf16_ff7d", "h100_matmul8192_fp16_ff7d", "h100_matmul8192_tf32_ff7d",
                 "h100_matmul8192_fp8_ff7d", "h100_cnn_infer_bf16_bs4096_da35_devicebound",
                 "h100_cnn_train_fp32_bs128_da35_hostbound"]


def load(name: str) -> dict:
    return json.loads((H100 / f"{name}.json").read_text())


def first_steady(times, steps, rule=RULE):
    return next(((t, v) for t, v in steady.evaluate(times, steps, rule) if v.steady), (None, None))


def test_the_rule_as_data_is_the_one_the_traces_were_studied_with():
    fixture_rule = load("h100_matmul8192_bf16_ff7d")["rule"]
    assert (RULE.span_s, RULE.spans, RULE.tol, RULE.noisy_rough, RULE.noisy_k) == (
        fixture_rule["span_s"], fixture_rule["n_spans"], fixture_rule["tol"], fixture_rule["rough_min"],
        fixture_rule["k"])
    assert RULE.judged_s == 4.0
    settings = timing.TimingSettings()
    assert settings.steady_rule == RULE


@pytest.mark.parametrize("name", STEADY_TRACES)
def test_recorded_h100_traces_are_steady_as_the_analysis_found(name):
    d = load(name)
    times = d["times_s"]
    got = steady.evaluate(times, [1] * len(times), RULE)
    # every judgement (t, steady, D, rough) as the analysis computed it
    assert len(got) == len(d["expected"]["judgements"])
    for (t, v), (te, se, de, re) in zip(got, d["expected"]["judgements"]):
        assert t == pytest.approx(te) and v.steady == se
        assert v.drift == pytest.approx(de, abs=2e-6) and v.rough == pytest.approx(re, abs=2e-6)
    t, v = first_steady(times, [1] * len(times))
    assert t == d["expected"]["first_steady_s"] and v.clause == d["expected"]["clause"]
    assert t <= 4.25  # within the recorded 5.1-5.3 s: no case needs the cap


@pytest.mark.parametrize("name", STEADY_TRACES)
def test_blocks_of_two_steps_judge_like_single_steps(name):
    """Span means are the same for steps and blocks (fp8's 0.91 ms steps need two per 1 ms block)."""
    times = load(name)["times_s"]
    blocks = [times[i] + times[i + 1] for i in range(0, len(times) - 1, 2)]
    t, v = first_steady(blocks, [2] * len(blocks))
    assert t == load(name)["expected"]["first_steady_s"] and v.clause == load(name)["expected"]["clause"]


def test_power_cap_traces_are_steady_while_the_sm_clock_wanders():
    """At the 700 W cap the SM clock swings 16-56 % between 50 ms samples; the rule, which reads
    the step times, still calls every matmul steady by 4.25 s, by its trend clause."""
    for precision in ("bf16", "fp16", "tf32", "fp8"):
        d = load(f"h100_matmul8192_{precision}_ff7d")
        s = d["samples"]
        clocks = [c for c, inside in zip(s["sm_clock_mhz"], s["in_window"]) if inside and c is not None]
        assert (max(clocks) - min(clocks)) / np.median(clocks) > 0.15
        assert set(d["telemetry"]["throttle_slowing_reasons"]) == {"sw_power_cap"}
        t, v = first_steady(d["times_s"], [1] * len(d["times_s"]))
        assert v.clause == steady.TREND and t <= 4.25


# -- the synthetic drift: throughput falling 5 % over 10 s, in 1 s spans ---------------------

def detrended(base: np.ndarray, skip_s: float = 1.0) -> np.ndarray:
    cum = np.cumsum(base)
    t, c = base[cum > skip_s], cum[cum > skip_s]
    b, a = np.polyfit(c, t, 1)
    return t / (a + b * c) * np.median(t)


def synthetic_drift(base: np.ndarray, smooth: bool = False, shift: int = 0, duration_s: float = 10.0,
                    drop: float = 0.05, span_s: float = 1.0) -> np.ndarray:
    """The fixture's generator: the base's real noise (start dropped, own trend divided out,
    rotated by ``shift`` and mirrored), slowed by 1 / (1 - drop * x / duration) at x seconds
    (x floored to the span unless ``smooth``)."""
    flat = np.roll(detrended(base), -shift)
    tiled = np.concatenate([flat if i % 2 == 0 else flat[::-1]
                            for i in range(int(np.ceil(duration_s / flat.sum())) + 1)])
    out, total = [], 0.0
    for dt in tiled:
        x = total if smooth else math.floor(total / span_s) * span_s
        step = dt / (1.0 - drop * x / duration_s)
        if total + step > duration_s:
            break
        out.append(step)
        total += step
    return np.array(out)


def test_synthetic_drift_matches_the_fixture_reference():
    base = np.array(load("h100_matmul8192_bf16_ff7d")["times_s"])
    ref = load("synthetic_drift_from_ff7d_bf16")["reference_values"]
    for variant, smooth in (("stepwise", False), ("smooth", True)):
        trace = synthetic_drift(base, smooth=smooth)
        assert len(trace) == ref[variant]["steps"] and trace.sum() == pytest.approx(ref[variant]["sum_s"], abs=1e-6)
        assert trace[:10] == pytest.approx(ref[variant]["first_10"], rel=1e-9)


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("shift", [0, 700, 1400, 2100])
def test_a_trace_that_really_drifts_is_never_steady(smooth, shift):
    base = np.array(load("h100_matmul8192_bf16_ff7d")["times_s"])
    trace = synthetic_drift(base, smooth=smooth, shift=shift)
    got = steady.evaluate(list(trace), [1] * len(trace), RULE)
    assert len(got) >= 20 and not any(v.steady for _, v in got)
    assert min(v.drift for _, v in got) > RULE.tol  # D ~ 1-2 %, against 0.5 %


def test_noisy_clause_needs_more_wander_than_trend():
    flat = steady.judge([1.0, 1.05, 0.95, 1.0], RULE)  # wanders 5 % and back: no trend
    assert flat.steady and flat.clause == steady.NOISY
    monotone = steady.judge([1.0, 1.03, 1.06, 1.09], RULE)  # D = 3 x rough: never steady
    assert not monotone.steady and monotone.drift == pytest.approx(3 * monotone.rough, rel=0.05)
    assert steady.judge([1.0, 1.001, 0.999, 1.0], RULE).clause == steady.TREND


def test_spans_need_the_whole_judged_time():
    assert steady.judge_blocks([0.5] * 7, [1] * 7, RULE) is None  # 3.5 s < 4 s
    v = steady.judge_blocks([0.5] * 8, [1] * 8, RULE)
    assert v is not None and v.span_means_s == (0.5, 0.5, 0.5, 0.5) and v.drift == 0.0


# -- through the timer: warm-up judged on the blocks it runs ----------------------------------

class Replay:
    """A step whose duration comes from a recorded trace (mirrored past its end), on a fake clock."""

    def __init__(self, times):
        self.times, self.i, self.t = list(times) + list(times)[::-1], 0, 0.0

    def clock(self):
        return self.t

    def step(self):
        self.t += self.times[self.i % len(self.times)]
        self.i += 1


JUDGED = timing.TimingSettings(min_time_s=0.5, min_iters=3, warmup_iters=2, warmup_time_s=1.0, judge_steady=True,
                               settle_max_s=30.0)


@pytest.mark.parametrize("name", ["h100_matmul8192_bf16_ff7d", "h100_cnn_train_fp32_bs128_da35_hostbound"])
def test_measure_ends_warm_up_when_the_recorded_trace_is_steady(name):
    d = load(name)
    replay = Replay(d["times_s"])
    got = timing.measure(replay.step, "cpu", JUDGED, clock=replay.clock)
    assert got.warmup_settled is True and got.warmup_rule == d["expected"]["clause"]
    assert 4.0 <= got.warmup_s <= 4.6  # judged every chunk of ~0.25 s from 4 s of blocks
    assert got.warmup_drift_pct is not None and got.warmup_rough_pct is not None and got.warmup_note is None


def test_measure_warms_a_drifting_trace_until_the_cap_and_says_why():
    base = np.array(load("h100_matmul8192_bf16_ff7d")["times_s"])
    replay = Replay(synthetic_drift(base))
    settings = timing.TimingSettings(min_time_s=0.2, warmup_iters=2, warmup_time_s=1.0, judge_steady=True,
                                     settle_max_s=9.0)
    got = timing.measure(replay.step, "cpu", settings, clock=replay.clock)
    assert got.warmup_settled is False and got.warmup_rule == steady.CAP
    assert 9.0 <= got.warmup_s <= 9.5 and got.warmup_drift_pct > 0.5
    assert got.warmup_note.startswith("not steady after 9.") and "tolerance 0.5 %" in got.warmup_note
