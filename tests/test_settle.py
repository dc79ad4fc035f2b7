"""The settle rule in warm-up, with a fake clock and fake readings, and through fake NVML telemetry."""

import pytest

from benchsuite import timing
from benchsuite.telemetry import Telemetry, nvml
from tests.fakes.fake_pynvml import FakeGpu, install

RULE = timing.TimingSettings(warmup_iters=2, warmup_time_s=1.0, settle_window_s=3.0, settle_clock_pct=2.0,
                             settle_temp_c=2.0, settle_max_s=30.0)


class Rig:
    """Each step takes 0.1 s; clock and temperature follow functions of time."""

    def __init__(self, sm=lambda t: 1980.0, temp=lambda t: 60.0):
        self.t, self.sm, self.temp, self.steps = 0.0, sm, temp, 0

    def clock(self):
        return self.t

    def step(self):
        self.t += 0.1
        self.steps += 1

    def readings(self):
        return {"sm_clock_mhz": self.sm(self.t), "temp_c": self.temp(self.t)}


def test_warms_until_temperature_settles():
    rig = Rig(temp=lambda t: 40.0 + 3.0 * min(t, 10.0))  # rises 3 °C/s for 10 s, then flat
    warm = timing.settle(rig.step, RULE, lambda: None, rig.readings, rig.clock)
    assert warm.settled is True and warm.note is None
    # flat from t=10; a 3 s window of readings within 2 °C first exists shortly after
    assert 12.0 <= warm.seconds <= 13.5
    assert warm.iters == rig.steps


def test_clock_swings_keep_it_unsettled_until_the_cap():
    rig = Rig(sm=lambda t: 1980.0 if int(t * 10) % 2 else 1500.0)  # a power cap dragging the clock
    warm = timing.settle(rig.step, RULE, lambda: None, rig.readings, rig.clock)
    assert warm.settled is False and warm.seconds == pytest.approx(30.0, abs=0.15)
    assert "not settled after 30" in warm.note and "1500-1980 MHz" in warm.note


def test_steady_from_the_start_needs_one_window_of_readings_past_the_minimum():
    rig = Rig()
    warm = timing.settle(rig.step, RULE, lambda: None, rig.readings, rig.clock)
    assert warm.settled is True and warm.seconds == pytest.approx(1.0 + 3.0, abs=0.15)


def test_no_readings_or_rule_off_ends_at_the_minimum():
    rig = Rig()
    warm = timing.settle(rig.step, RULE, lambda: None, lambda: {"sm_clock_mhz": None, "temp_c": None}, rig.clock)
    assert warm.settled is None and "no SM clock" in warm.note and warm.seconds == pytest.approx(1.0, abs=0.15)
    rig = Rig()
    off = timing.settle(rig.step, timing.TimingSettings(warmup_iters=2, warmup_time_s=1.0, settle_max_s=0),
                        lambda: None, rig.readings, rig.clock)
    assert off.settled is None and off.note == "settle rule off"
    rig = Rig()
    cpu = timing.settle(rig.step, RULE, lambda: None, None, rig.clock)
    assert cpu.settled is None and cpu.note is None


def test_measure_records_the_warm_up_and_cache_state():
    result = timing.measure(lambda: None, "cpu", timing.TimingSettings(min_time_s=0.001, min_iters=2,
                                                                        warmup_iters=1, warmup_time_s=0))
    assert result.cache_state == timing.CACHE_WARM and result.warmup_settled is None


@pytest.fixture
def nvml_reset():
    nvml._reset_for_tests()
    yield
    nvml._reset_for_tests()


def test_settles_on_readings_from_fake_nvml_telemetry(monkeypatch, nvml_reset):
    install(monkeypatch, [FakeGpu(sm_clock_mhz=1755, temp_c=61)])
    settings = timing.TimingSettings(warmup_iters=1, warmup_time_s=0.0, settle_window_s=0.05, settle_max_s=5.0,
                                     max_iters=10**9)  # the step is a no-op: do not stop on the count
    with Telemetry([0], hz=200) as tel:
        assert tel.sampler.wait_for_ticks(2)
        latest = tel.latest("cuda:0")
        assert latest["sm_clock_mhz"] == 1755 and latest["temp_c"] == 61
        assert tel.latest("cpu") is None
        warm = timing.settle(lambda: None, settings, lambda: None, lambda: tel.latest("cuda:0"))
    assert warm.settled is True and warm.seconds < 5.0
