"""The CUDA branches of timing with torch.cuda stand-ins: event bracketing, the L2 flush, block
timing (no synchronisation inside a block, warm-up with the timed pattern, work queued at the
window's edges).

No GPU here: these check the order of operations and the bookkeeping; the real timings are
owed on a GPU (benchmarks/selfcheck/calibration_check.py).
"""

import pytest

from benchsuite import calibrate, timing
from tests.fakes.fake_cuda import FakeCuda


def test_cuda_reps_are_bracketed_by_events_and_the_flush_is_outside(monkeypatch):
    cuda = FakeCuda().install(monkeypatch)
    op, flush = cuda.work(2.0), cuda.work(50.0, "flush")

    times = timing.time_reps(op, "cuda", reps=3, warmup=1, flush=flush, device="cuda:0")
    assert times == [0.002, 0.002, 0.002]
    assert cuda.log == ["op"] + ["flush", "record", "op", "record"] * 3 + ["query"]  # one poll, no sync


def test_l2_flush_buffer_is_twice_l2_and_at_least_the_minimum():
    flush, nbytes = timing.l2_flush("cpu", l2_bytes=50 * 2**20, minimum_bytes=2**20)  # H100: 50 MiB L2
    assert nbytes == 100 * 2**20
    flush()
    _, nbytes = timing.l2_flush("cpu", l2_bytes=4 * 2**20)
    assert nbytes == 256 * 2**20  # triton.testing.do_bench's 256 MiB floor


def test_measure_on_cuda_judges_steady_state_on_its_blocks(monkeypatch):
    """(Was: settles on SM clock and temperature readings.) The rule now reads the blocks'
    times: a flat 2 ms step is steady at the first judgement, after 4 s of blocks."""
    cuda = FakeCuda().install(monkeypatch)
    step = cuda.work(2.0)

    settings = timing.TimingSettings(min_time_s=0.5, warmup_iters=2, warmup_time_s=0.0, judge_steady=True,
                                     settle_max_s=30.0)
    polls = []

    def readings():
        polls.append(1)
        return {"sm_clock_mhz": 1980, "temp_c": 70}

    got = timing.measure(step, "cuda", settings, device="cuda:0", readings=readings)
    assert got.method == "cuda-event" and got.warmup_settled is True and got.warmup_rule == "trend"
    assert got.warmup_note is None and got.warmup_drift_pct == 0.0 and got.warmup_temp_start_c == 70
    assert got.warmup_iters >= 2000 and got.cache_state == timing.CACHE_WARM and polls == [1]
    assert "sync" not in cuda.log  # the host waits by polling events only
    quick = timing.measure(step, "cuda", timing.TimingSettings(min_time_s=0.1, warmup_time_s=0.2,
                                                               fixed_warmup_why="--quick"), device="cuda:0")
    assert quick.warmup_settled is None and quick.warmup_rule == "not judged (--quick)"
    assert "fixed warm-up of at least 0.2 s" in quick.warmup_note
    capped = timing.measure(step, "cuda", timing.TimingSettings(min_time_s=0.1, judge_steady=True, settle_max_s=0),
                            device="cuda:0")
    assert capped.warmup_rule == "not judged (--settle-max 0)"


def test_host_link_copies_need_a_gpu():
    with pytest.raises(ValueError, match="h2d and d2h \\(CUDA\\)"):
        calibrate.copy_bandwidth("cpu", "h2d", 1 << 20, reps=1)
    got = calibrate.copy_bandwidth("cpu", "d2d", 1 << 20, reps=2)
    assert got["bytes_per_copy"] == 2 << 20 and got["gb_per_s"] > 0


def test_measure_with_flush_times_every_step_cold_and_says_so(monkeypatch):
    cuda = FakeCuda().install(monkeypatch)
    step, flush = cuda.work(100.0), cuda.work(1000.0, "flush")

    settings = timing.TimingSettings(min_time_s=0.5, min_iters=3, warmup_iters=1, warmup_time_s=0.0)
    got = timing.measure(step, "cuda", settings, device="cuda:0", flush=flush)
    assert got.cache_state == timing.CACHE_FLUSHED and got.method == "cuda-event"
    assert list(got.block_times_s) == [0.1] * 5 and got.steps_per_block == 1  # 0.5 s; the flushes not counted
    assert got.span_s == pytest.approx(5 * 1.1)  # the span holds the flushes: what the energy window saw
    # every step, warm-up too (it runs the timed pattern), is flush, then its own events around it
    ops = [i for i, x in enumerate(cuda.log) if x == "op"]
    assert all(cuda.log[i - 2:i] == ["flush", "record"] and cuda.log[i + 1] == "record" for i in ops)
    assert "sync" not in cuda.log


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


def test_blocks_are_launched_back_to_back_with_one_wait_per_chunk(monkeypatch):
    """(Was time_cuda's test.) No synchronisation inside a block: between two events only
    steps; the host waits once per chunk, by a poll of its last event."""
    cuda = FakeCuda().install(monkeypatch)
    step = cuda.work(0.25)  # 0.25 ms steps: four per 1 ms block

    settings = timing.TimingSettings(min_time_s=1.0, min_iters=3, warmup_iters=4, warmup_time_s=0.5)
    got = timing.measure(step, "cuda", settings, device="cuda:0")
    assert got.steps_per_block == 4 and all(t == pytest.approx(0.001) for t in got.block_times_s)
    assert got.steps == 4000 and len(got.block_times_s) == 1000  # 1 s of 1 ms blocks, under the cap
    assert "sync" not in cuda.log
    runs, current = [], 0
    for x in cuda.log[cuda.log.index("record", 10):]:  # after the probe's single steps
        if x == "op":
            current += 1
        elif x == "record" and current:
            runs.append(current)
            current = 0
    assert set(runs) == {4}  # warm-up and timed blocks alike: 4 steps between events, nothing else
    chunks = cuda.log.count("query")
    assert chunks <= 2 + (got.warmup_s + got.span_s) / timing.CHUNK_S * 2  # about one wait per 0.25 s chunk


class QueueCuda(FakeCuda):
    """A GPU that runs behind the host: an event is passed once the host has polled it
    ``lag`` times, so launched work stays queued; tracks the work queued when asked."""

    def __init__(self, step_ms):
        super().__init__()
        self.step_ms, self.launched, self.done_upto = step_ms, 0, 0
        fake = self
        base = self.Event

        class Event(base):
            def record(self):
                super().record()
                self.upto = fake.launched

            def query(self):
                fake.log.append("query")
                fake.done_upto = max(fake.done_upto, self.upto)
                return True

        self.Event = Event

    def step(self):
        self.log.append("op")
        self.now_ms += self.step_ms
        self.launched += 1

    def queued_s(self):
        return (self.launched - self.done_upto) * self.step_ms / 1e3


def test_window_edges_are_read_while_work_is_queued(monkeypatch):
    """The telemetry window opens and closes while at least EDGE_BUSY_S of the timed pattern is
    queued on the GPU: a window that waits for an energy-counter update never sees it idle."""
    cuda = QueueCuda(step_ms=2.0)
    cuda.install(monkeypatch)
    seen = {}

    class Window:
        def __enter__(self):
            seen["open"] = cuda.queued_s()

        def __exit__(self, *exc):
            seen["close"] = cuda.queued_s()

    settings = timing.TimingSettings(min_time_s=2.0, warmup_iters=2, warmup_time_s=1.0)
    got = timing.measure(cuda.step, "cuda", settings, device="cuda:0", window=Window())
    assert seen["open"] >= timing.EDGE_BUSY_S and seen["close"] >= timing.EDGE_BUSY_S
    assert 2.0 <= sum(got.block_times_s) <= 2.0 + timing.CHUNK_S + timing.EDGE_BUSY_S


def test_the_latency_pass_times_single_steps_after_the_window_with_one_wait(monkeypatch):
    """A latency case on a GPU: the blocks as every case, then, once the window has closed, each
    single step between two events (the end of one is the start of the next), launched back to
    back after one untimed step, read by one poll of the last event; no synchronize."""
    cuda = FakeCuda()
    cuda.install(monkeypatch)

    def step():
        cuda.log.append("op")
        cuda.now_ms += 0.05  # 50 µs: the launch-bound MLP at batch 1

    class Window:
        def __enter__(self):
            pass

        def __exit__(self, *exc):
            cuda.log.append("close")

    settings = timing.TimingSettings(min_time_s=0.5, warmup_iters=2, warmup_time_s=0.2)
    got = timing.measure(step, "cuda", settings, device="cuda:0", window=Window(), latency=True)
    assert got.steps_per_block == 20 and got.median_s == pytest.approx(5e-5)  # blocks of 1 ms
    assert len(got.latency_times_s) == 10_000  # 0.5 s (the window) of 50 µs steps, the cap
    assert all(t == pytest.approx(5e-5) for t in got.latency_times_s)
    untimed = ["record", "op", "record"]
    tail = untimed + ["record"] + ["op", "record"] * 10_000 + ["query"]
    assert cuda.log[-len(tail):] == tail
    assert "close" in cuda.log[:-len(tail)] and "sync" not in cuda.log
