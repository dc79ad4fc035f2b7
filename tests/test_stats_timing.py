import itertools

from benchsuite import stats, timing


def test_summarize_percentiles():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["iters"] == 5 and s["step_s_median"] == 3.0
    assert s["step_s_iqr"] == 2.0 and s["step_s_max"] == 100.0
    assert s["step_s_p99"] > s["step_s_p90"] > s["step_s_median"]
    assert stats.summarize([]) == {"iters": 0}


class FakeClock:
    """Each step advances time by `step` seconds; reading the clock is free."""

    def __init__(self, step):
        self.t, self.step = 0.0, step

    def __call__(self):
        return self.t

    def tick(self):
        self.t += self.step


def test_timed_loop_stops_when_count_and_time_are_met():
    """(Was time_cpu's test; the block loop of `measure` replaced it.) 0.25 s steps: blocks of one step."""
    def timed(settings, step_s):
        clock = FakeClock(step_s)
        return timing.measure(clock.tick, "cpu", settings, clock=clock)

    got = timed(timing.TimingSettings(min_time_s=1.0, min_iters=2, warmup_iters=1, warmup_time_s=0), 0.25)
    assert list(got.block_times_s) == [0.25] * 4 and got.steps_per_block == 1
    got = timed(timing.TimingSettings(min_time_s=0.1, min_iters=6, warmup_iters=1, warmup_time_s=0), 0.25)
    assert got.steps == 6
    got = timed(timing.TimingSettings(min_time_s=1.0, min_iters=1, max_iters=50, warmup_iters=1, warmup_time_s=0), 0.0)
    assert got.steps == 50


def test_measure_keeps_raw_times_and_enters_the_window_after_warmup():
    calls = itertools.count()
    events = []

    class Window:
        def __enter__(self):
            events.append(("open", next(calls)))

        def __exit__(self, *exc):
            events.append(("close", next(calls)))

    def step():
        events.append(("step", next(calls)))

    settings = timing.TimingSettings(min_time_s=0.0001, min_iters=3, warmup_iters=2, warmup_time_s=0)
    result = timing.measure(step, "cpu", settings, window=Window())
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["step", "step"] and kinds[2] == "open" and kinds[-1] == "close"
    assert result.steps == kinds.count("step") - 2 == result.stats["iters"]
    assert result.method == "perf_counter" and result.warmup_iters == 2
