"""The CUDA branches of timing with torch.cuda stand-ins: event bracketing, the L2 flush, the settle wiring.

No GPU here: these check the order of operations and the bookkeeping; the real timings are
owed on a GPU (benchmarks/selfcheck/calibration_check.py).
"""

import contextlib

import pytest
import torch

from benchsuite import calibrate, timing


class FakeCuda:
    """torch.cuda.Event/device/synchronize stand-ins over a fake device clock (ms)."""

    def __init__(self):
        self.now_ms, self.log = 0.0, []
        fake = self

        class Event:
            def __init__(self, enable_timing=False):
                self.t = None

            def record(self):
                fake.log.append("record")
                self.t = fake.now_ms

            def synchronize(self):
                raise AssertionError("a blocking Event.synchronize(): signals could not run while it waits")

            def query(self):
                fake.log.append("query")
                return True

            def elapsed_time(self, other):
                return other.t - self.t

        self.Event = Event

    def install(self, monkeypatch):
        monkeypatch.setattr(torch.cuda, "Event", self.Event)
        monkeypatch.setattr(torch.cuda, "device", lambda d: contextlib.nullcontext())
        monkeypatch.setattr(torch.cuda, "synchronize", lambda d=None: self.log.append("sync"))


def test_cuda_reps_are_bracketed_by_events_and_the_flush_is_outside(monkeypatch):
    cuda = FakeCuda()
    cuda.install(monkeypatch)

    def op():
        cuda.log.append("op")
        cuda.now_ms += 2.0

    def flush():
        cuda.log.append("flush")
        cuda.now_ms += 50.0

    times = timing.time_reps(op, "cuda", reps=3, warmup=1, flush=flush, device="cuda:0")
    assert times == [0.002, 0.002, 0.002]
    assert cuda.log == ["op"] + ["flush", "record", "op", "record"] * 3 + ["query"]  # one poll, no sync


def test_l2_flush_buffer_is_twice_l2_and_at_least_the_minimum():
    flush, nbytes = timing.l2_flush("cpu", l2_bytes=50 * 2**20, minimum_bytes=2**20)  # H100: 50 MiB L2
    assert nbytes == 100 * 2**20
    flush()
    _, nbytes = timing.l2_flush("cpu", l2_bytes=4 * 2**20)
    assert nbytes == 256 * 2**20  # triton.testing.do_bench's 256 MiB floor


def test_measure_on_cuda_settles_on_readings_then_times(monkeypatch):
    cuda = FakeCuda()
    cuda.install(monkeypatch)
    monkeypatch.setattr(timing, "time_cuda", lambda step, settings, device: [0.01, 0.01, 0.01])
    settings = timing.TimingSettings(warmup_iters=2, warmup_time_s=0.0, settle_window_s=0.02, settle_max_s=5.0,
                                     max_iters=10**9)
    polls = []

    def readings():
        polls.append(1)
        return {"sm_clock_mhz": 1980, "temp_c": 70}

    got = timing.measure(lambda: None, "cuda", settings, device="cuda:0", readings=readings)
    assert got.method == "cuda-event" and got.warmup_settled is True and got.warmup_note is None
    assert got.warmup_s >= 0.02 and got.cache_state == timing.CACHE_WARM and polls
    off = timing.measure(lambda: None, "cuda", settings, device="cuda:0", readings=None)
    assert off.warmup_settled is None


def test_host_link_copies_need_a_gpu():
    with pytest.raises(ValueError, match="h2d and d2h \\(CUDA\\)"):
        calibrate.copy_bandwidth("cpu", "h2d", 1 << 20, reps=1)
    got = calibrate.copy_bandwidth("cpu", "d2d", 1 << 20, reps=2)
    assert got["bytes_per_copy"] == 2 << 20 and got["gb_per_s"] > 0


def test_measure_with_flush_times_every_step_cold_and_says_so(monkeypatch):
    cuda = FakeCuda()
    cuda.install(monkeypatch)

    def step():
        cuda.log.append("op")
        cuda.now_ms += 100.0

    def flush():
        cuda.log.append("flush")
        cuda.now_ms += 1000.0

    settings = timing.TimingSettings(min_time_s=0.5, min_iters=3, warmup_iters=1, warmup_time_s=0.0)
    got = timing.measure(step, "cuda", settings, device="cuda:0", flush=flush)
    assert got.cache_state == timing.CACHE_FLUSHED and got.method == "cuda-event"
    assert list(got.times_s) == [0.1] * 5  # 0.5 s of timed steps; the flushes are not counted
    timed = [x for x in cuda.log[cuda.log.index("flush"):] if x not in ("sync", "query")]
    assert timed == ["flush", "record", "op", "record"] * 5


class _SlowEvent:
    """An event the GPU passes after ``pending`` polls; a blocking synchronize() is a failure."""

    def __init__(self, pending):
        self.pending, self.queries = pending, 0

    def query(self):
        self.queries += 1
        if self.pending:
            self.pending -= 1
            return False
        return True

    def synchronize(self):
        raise AssertionError("wait_event must poll, not block in synchronize()")


def test_wait_event_polls_until_the_gpu_passes_the_event():
    event, slept = _SlowEvent(pending=3), []
    timing.wait_event(event, poll_s=0.001, sleep=slept.append)
    assert event.queries == 4 and slept == [0.001] * 3
    done = _SlowEvent(pending=0)
    timing.wait_event(done, sleep=slept.append)  # already passed: no sleep at all
    assert done.queries == 1 and len(slept) == 3


def test_wait_event_lets_a_signal_handler_interrupt_the_wait():
    """What SIGTERM from torchrun relies on: between polls Python code runs, and an exception
    raised there (here by the sleep, as `Context._on_sigterm` raises Terminated) ends the wait."""
    event = _SlowEvent(pending=10**9)

    def sleep(seconds):
        if event.queries >= 5:
            raise KeyboardInterrupt("stand-in for the SIGTERM handler's Terminated")

    with pytest.raises(KeyboardInterrupt):
        timing.wait_event(event, sleep=sleep)
    assert event.queries == 5


def test_time_cuda_waits_by_polling_the_chunk_end(monkeypatch):
    cuda = FakeCuda()
    cuda.install(monkeypatch)

    def step():
        cuda.log.append("op")
        cuda.now_ms += 10.0

    settings = timing.TimingSettings(min_time_s=0.0, min_iters=3, max_iters=3)
    assert timing.time_cuda(step, settings, "cuda:0") == [0.01, 0.01, 0.01]
    assert "sync" not in cuda.log and cuda.log.count("query") == 2  # chunks of 1 and 2 steps
