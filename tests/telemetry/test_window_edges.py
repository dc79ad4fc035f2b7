"""A window's edges on energy-counter updates (`align_edges`), on the H100's recorded update
grid and through the facade with a fake pynvml whose counter updates every 100 ms; and the
per-method length rule behind the ``short-window`` flag."""

from __future__ import annotations

import bisect
import json
import math
import random

import pytest

from benchsuite.telemetry import Telemetry
from benchsuite.telemetry.window import (ALIGNED, EDGE_POLL_S, EDGE_WAIT_S, MIN_WINDOW_S, align_edges,
                                         min_window_s, summarize_gpu)
from tests.fakes.fake_pynvml import FakeGpu, install
from tests.fakes.fixture_paths import H100


class FakeTime:
    """A clock that moves only when slept on (the edge poll's 1 ms sleeps)."""

    def __init__(self, t: float = 0.0) -> None:
        self.t, self.sleeps = t, 0

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.sleeps += 1


class GridCounter:
    """The counter as the H100 showed it: it changes only at the recorded update instants."""

    def __init__(self, name: str, clock: FakeTime) -> None:
        grid = json.loads((H100 / f"{name}.json").read_text())["update_grid"]
        self.updates, self.values, self.clock = grid["update_t_rel_s"], grid["energy_after_j"], clock

    def value(self, t: float) -> float:
        return self.values[bisect.bisect_right(self.updates, t) - 1]

    def read(self) -> tuple[float, float]:
        return self.clock(), self.value(self.clock())

    def next_update(self, t: float) -> float:
        return self.updates[bisect.bisect_right(self.updates, t)]


def test_an_edge_is_the_instant_the_counter_changed_within_half_a_poll():
    clock = FakeTime(0.0123)
    counter = GridCounter("h100_energy_counter_6bcb_matmuls", clock)
    (found,) = align_edges([counter.read], clock.sleep)
    assert found is not None
    t, energy = found
    assert t == pytest.approx(counter.next_update(0.0123), abs=EDGE_POLL_S / 2 + 1e-9)
    assert energy == counter.value(counter.next_update(0.0123))  # the value the update wrote, exactly
    assert clock.sleeps <= 101  # at most one update period of 1 ms polls


def test_a_counter_that_never_changes_gives_up_after_the_wait():
    clock = FakeTime()
    (found,) = align_edges([lambda: (clock(), 1234.5)], clock.sleep)
    assert found is None and clock() == pytest.approx(EDGE_WAIT_S, abs=2 * EDGE_POLL_S)
    assert align_edges([None], clock.sleep) == [None]  # a host window: nothing to poll
    assert align_edges([lambda: None], clock.sleep) == [None]  # no counter on this GPU


def test_counters_of_several_gpus_are_polled_together():
    clock = FakeTime()

    def counter(phase):
        return lambda: (clock(), float(math.floor((clock() - phase) / 0.1)))

    found = align_edges([counter(0.02), counter(0.07), None], clock.sleep)
    assert found[0][0] == pytest.approx(0.02, abs=EDGE_POLL_S) and found[1][0] == pytest.approx(0.07, abs=EDGE_POLL_S)
    assert found[2] is None and clock() < 0.08  # one wait for all, not one after another


def test_aligned_edges_remove_the_staleness_of_read_edges():
    """The bf16 8192³ window at the 700 W cap, counter updated every 100 ms (recorded grid):
    mean power over 1 s and 2 s windows at random places and lengths, against the whole
    window's. Edges read as they come are off by up to a counter update (~70 J) at each end;
    edges on updates are exact, and what is left is the load's own ~1 Hz wander."""
    clock = FakeTime()
    counter = GridCounter("h100_energy_counter_ff7d_bf16", clock)

    def aligned_power(t0: float, t1: float) -> float:
        clock.t = t0
        (a,) = align_edges([counter.read], clock.sleep)
        clock.t = t1
        (b,) = align_edges([counter.read], clock.sleep)
        return (b[1] - a[1]) / (b[0] - a[0])

    whole = aligned_power(0.0, 4.9)  # the recorded timed window is 5.19 s
    assert whole == pytest.approx(698.3, abs=0.1)
    rng = random.Random(14)
    for seconds, aligned_max, read_max in ((1.0, 0.006, 0.05), (2.0, 0.003, 0.025)):
        aligned_err, read_err = [], []
        for _ in range(200):
            w = seconds + rng.uniform(0.0, 0.1)
            t0 = rng.uniform(0.0, 4.8 - w)
            aligned_err.append(abs(aligned_power(t0, t0 + w) / whole - 1))
            read_err.append(abs((counter.value(t0 + w) - counter.value(t0)) / w / whole - 1))
        assert max(aligned_err) < aligned_max  # 1 s: <= 0.57 %; 2 s: <= 0.23 %
        assert max(read_err) > read_max  # 1 s: up to 9.8 %; 2 s: up to 4.6 %


def test_window_edges_sit_on_counter_updates_through_the_facade(monkeypatch, tmp_path):
    clock = FakeTime(10.0)
    install(monkeypatch, [FakeGpu(power_w=700.0, counter_period_s=0.1)], clock=clock)
    with Telemetry([0], hz=20, rapl_root=tmp_path, clock=clock, sleep=clock.sleep) as tel:
        clock.t += 0.023  # the window opens 23 ms after an update
        with tel.window("cuda:0", "case", align=True) as w:  # polls until the update at 10.1
            clock.t += 1.95  # the timed steps; the close polls until the update at 12.1
        s = w.summary
    assert s["energy_edges"] == ALIGNED and s["energy_method"] == "counter"
    assert s["window_s"] == pytest.approx(2.0, abs=EDGE_POLL_S)  # 10.1 .. 12.1 on the fake clock
    assert s["energy_j"] == pytest.approx(1400.0, rel=1e-6)  # exactly 700 W x the updates' 2.0 s
    assert s["power_mean_w"] == pytest.approx(700.0, rel=EDGE_POLL_S / 2.0)
    assert "short-window" not in s["quality_flags"]  # 2 s >= 1 s for aligned counter edges
    assert s["temp_start_c"] == s["temp_end_c"] == 55


def test_a_gpu_without_a_counter_is_not_polled(monkeypatch, tmp_path):
    clock = FakeTime(5.0)
    install(monkeypatch, [FakeGpu(power_w=300.0, energy_counter=False)], clock=clock)
    with Telemetry([0], hz=20, rapl_root=tmp_path, clock=clock, sleep=clock.sleep) as tel:
        with tel.window("cuda:0", "case", align=True) as w:
            clock.t += 6.0
    assert clock.sleeps == 0 and w.summary["energy_edges"] is None
    assert w.summary["energy_method"] == "integrated-power"


@pytest.mark.parametrize("method, aligned, seconds, short", [
    ("counter", True, 1.5, False), ("counter", True, 0.8, True),
    ("counter", False, 5.0, True), ("counter", False, 8.5, False),
    ("integrated-power", False, 4.9, True), ("integrated-power", False, 5.1, False),
    ("rapl", False, 4.0, True), (None, False, 5.1, False),
])
def test_the_length_rule_is_per_method(method, aligned, seconds, short):
    assert (seconds < min_window_s(method, aligned)) == short
    assert MIN_WINDOW_S == {"counter-aligned": 1.0, "counter": 8.0, "integrated-power": 5.0, "rapl": 5.0}


def test_a_summary_flags_short_windows_by_how_their_energy_was_measured():
    def rows(seconds, counter=True):
        return [{"t_s": k / 20, "power_w": 700.0, "energy_j": 1000.0 + 700.0 * k / 20 if counter else None}
                for k in range(int(seconds * 20) + 1)]

    def summary(seconds, aligned, counter=True):
        r = rows(seconds, counter)
        return summarize_gpu(r[1:-1], device="cuda:0", case_id="c", t_open=0.0, t_close=seconds, open_row=r[0],
                             close_row=r[-1], aligned=aligned)

    assert "short-window" not in summary(2.0, aligned=True)["quality_flags"]
    assert summary(2.0, aligned=True)["energy_edges"] == ALIGNED
    assert "short-window" in summary(2.0, aligned=False)["quality_flags"]  # edges read: 8 s needed
    assert summary(2.0, aligned=False)["energy_edges"] == "read"
    no_counter = summary(6.0, aligned=True, counter=False)  # aligned means nothing without a counter
    assert no_counter["energy_method"] == "integrated-power" and no_counter["energy_edges"] is None
    assert "short-window" not in no_counter["quality_flags"]


def test_a_window_is_aligned_only_when_its_caller_keeps_the_gpu_busy(monkeypatch, tmp_path):
    """Aligning waits up to a counter period at each edge: only the timed loop, which keeps the
    GPU running meanwhile, asks for it (the runner); a pytest-benchmark call or a training
    epoch would let the GPU idle in the wait, so their windows read the edges as they come."""
    clock = FakeTime(10.0)
    install(monkeypatch, [FakeGpu(power_w=700.0, counter_period_s=0.1)], clock=clock)
    with Telemetry([0], hz=20, rapl_root=tmp_path, clock=clock, sleep=clock.sleep) as tel:
        clock.t += 0.023
        with tel.window("cuda:0", "case") as w:
            clock.t += 2.0
    assert clock.sleeps == 0 and w.summary["energy_edges"] == "read"
    assert "short-window" in w.summary["quality_flags"]  # 2 s of read edges: 8 s needed for 1 %

    from benchsuite import devices, runner

    asked = []

    class Recorder:
        def window_for(self, device, label, also=(), align=False):
            asked.append(align)

    the_runner = runner.Runner({}, [devices.cpu()], None, telemetry=Recorder())
    the_runner._window(devices.cpu(), runner.Case("matmul", "infer", "cpu", "fp32", None))
    assert asked == [True]
