"""The background sampler: one daemon thread reading every GPU and the host at ``hz``.

Ticks are scheduled on a monotonic clock at ``start + k / hz``; a tick that is late
skips the deadlines it missed instead of bursting to catch up. Waits are on the stop
``threading.Event``, so :meth:`Sampler.stop` returns as soon as the current tick ends.
A failing read is counted and never kills the thread. The thread holds no reference to
the :class:`Sampler`, so a forgotten sampler is stopped when collected or at exit.
"""

from __future__ import annotations

import csv
import io
import math
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable

from benchsuite import files

from . import nvml
from .host import HOST_SAMPLE_FIELDS, HostSampler
from .ids import TelemetryId

__all__ = ["Sampler", "validate_hz", "CSV_COLUMNS", "HZ_MIN", "HZ_MAX", "HOST_DEVICE"]

HZ_MIN, HZ_MAX = 1.0, 1000.0
HOST_DEVICE = "host"
CSV_COLUMNS: tuple[str, ...] = (
    ("t_s", "time_unix", "device", "case_id") + nvml.GPU_SAMPLE_FIELDS + HOST_SAMPLE_FIELDS
)
_STOP_TIMEOUT_S = 5.0
# Rows stay in memory while a window is open, and this long after (the settle rule and
# late readers look back a little); older ones live only in samples.csv. Keeps a long
# run at a high rate from growing without bound.
KEEP_S = 120.0


def validate_hz(hz: Any) -> float:
    """Return ``hz`` as a float, or raise ValueError naming it and the allowed range."""
    ok = isinstance(hz, (int, float)) and not isinstance(hz, bool) and math.isfinite(hz)
    if not ok or not HZ_MIN <= hz <= HZ_MAX:
        raise ValueError(
            f"sampling rate hz={hz!r} is not allowed: use a number from "
            f"{HZ_MIN:g} to {HZ_MAX:g} (samples per second)")
    return float(hz)


GpuReader = Callable[..., dict[str, Any]]  # (index, errors=list) -> nvml.sample dict
CounterReader = Callable[[int], "float | None"]  # index -> total energy J (nvml.energy_counter_j)


class _Core:
    """Everything the thread touches; deliberately no reference back to the Sampler."""

    def __init__(self, gpu_indices: list[int], hz: float, samples_path: Path | None,
                 clock: Callable[[], float], wall_clock: Callable[[], float],
                 gpu_reader: GpuReader, host: HostSampler | None,
                 counter_reader: CounterReader) -> None:
        self.gpu_indices = list(gpu_indices)
        self.hz = hz
        self.samples_path = samples_path
        self.clock = clock
        self.wall_clock = wall_clock
        self.gpu_reader = gpu_reader
        self.counter_reader = counter_reader
        self.host = host
        self.lock = threading.Lock()
        self.ticked = threading.Condition(self.lock)
        self.stop_event = threading.Event()
        self.samples: list[dict[str, Any]] = []
        self.labels: list[tuple[int, str]] = []
        self.errors = 0
        self.last_error: str | None = None
        self.ticks = 0
        self.missed_ticks = 0
        self.first_tick: float | None = None
        self.last_tick: float | None = None
        self.t0 = 0.0
        self.thread: threading.Thread | None = None
        self.fh: files.Appender | None = None
        self.writer: Any = None
        self.buffer = io.StringIO()  # the rows of one tick, appended whole

    # -- bookkeeping -------------------------------------------------------------
    @property
    def label(self) -> str:
        labels = self.labels
        return labels[-1][1] if labels else ""

    def error(self, text: str) -> None:
        with self.lock:
            self.errors += 1
            self.last_error = text

    # -- reads -------------------------------------------------------------------
    def read_gpu(self, index: int, errors: list[str]) -> dict[str, Any] | None:
        try:
            return self.gpu_reader(index, errors=errors)
        except Exception as exc:  # never let one read kill the thread
            errors.append(f"{type(exc).__name__}: {exc}")
            return None

    def read(self, device: str, label: str, *, cpu: bool = True) -> dict[str, Any] | None:
        """One timestamped row for ``device`` ("cuda:N" or "host"), or None on failure."""
        errors: list[str] = []
        a = self.clock()
        wall = self.wall_clock()
        if device == HOST_DEVICE:
            try:
                values = self.host.sample(cpu=cpu) if self.host is not None else None
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                values = None
        else:
            values = self.read_gpu(TelemetryId.parse(device).index, errors)
        b = self.clock()
        for e in errors:
            self.error(f"{device}: {e}")
        if values is None:
            return None
        return {"t_s": (a + b) / 2 - self.t0, "time_unix": wall, "device": device,
                "case_id": label, **values}

    def devices(self) -> list[str]:
        out = [str(TelemetryId.gpu(i)) for i in self.gpu_indices]
        if self.host is not None:
            out.append(HOST_DEVICE)
        return out

    # -- the thread --------------------------------------------------------------
    def tick(self) -> None:
        label = self.label
        rows = [r for r in (self.read(d, label) for d in self.devices()) if r is not None]
        now = self.clock()
        with self.lock:
            self.samples.extend(rows)
            if not self.labels and self.samples and self.samples[0]["t_s"] < now - self.t0 - KEEP_S - 10.0:
                cutoff = now - self.t0 - KEEP_S  # trimmed in batches, never while a window is open
                keep = next((i for i, r in enumerate(self.samples) if r["t_s"] >= cutoff), len(self.samples))
                del self.samples[:keep]
            self.ticks += 1
            if self.first_tick is None:
                self.first_tick = now
            self.last_tick = now
            self.ticked.notify_all()
            if self.writer is not None and rows:
                self.write_rows(rows)

    def run(self) -> None:
        k = 0
        try:
            while not self.stop_event.is_set():
                try:
                    self.tick()
                except Exception as exc:  # belt and braces: the loop must survive
                    self.error(f"tick: {type(exc).__name__}: {exc}")
                elapsed = self.clock() - self.t0
                k_next = max(k + 1, math.floor(elapsed * self.hz) + 1)
                self.missed_ticks += k_next - k - 1
                k = k_next
                delay = self.t0 + k / self.hz - self.clock()
                if self.stop_event.wait(max(0.0, delay)):
                    break
        finally:
            self.close_file()

    def open_file(self) -> None:
        """Open samples.csv for appending (its header once); raises `benchsuite.files.WriteError`."""
        if self.samples_path is None:
            return
        path = Path(self.samples_path)
        files.make_dir(path.parent)
        self.fh = files.Appender(path)
        self.writer = csv.DictWriter(self.buffer, fieldnames=CSV_COLUMNS, restval="", extrasaction="ignore")
        if self.fh.size == 0:
            self.writer.writeheader()
            self.flush_buffer()

    def write_rows(self, rows: list[dict[str, Any]]) -> None:
        """Append whole rows (under the lock); a failed write stops the file where it ends
        (the last complete row) and is counted, never raised: the run goes on."""
        try:
            self.writer.writerows(rows)
            self.flush_buffer()
        except (files.WriteError, ValueError) as exc:
            self.errors += 1
            self.last_error = f"writing {self.samples_path} stopped: {exc}"
            self.writer = None
            self.fh.close()

    def flush_buffer(self) -> None:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        if text:
            self.fh.append(text, sync=False)

    def close_file(self) -> None:
        with self.lock:
            fh, self.fh, self.writer = self.fh, None, None
        if fh is not None:
            fh.close()


def _stop_core(core: _Core, timeout: float = _STOP_TIMEOUT_S) -> None:
    core.stop_event.set()
    t = core.thread
    if t is not None and t is not threading.current_thread():
        t.join(timeout)
    if t is None or not t.is_alive():
        core.close_file()


class Sampler:
    """Samples GPUs ``gpu_indices`` (through :func:`nvml.sample`) and the host at ``hz``.

    Rows are dicts with ``t_s`` (monotonic seconds since :meth:`start`), ``time_unix``,
    ``device`` ("cuda:N" or "host"), ``case_id`` (the innermost open label, "" outside
    windows) and the device's fields; they are kept in memory and, with ``samples_path``,
    appended to a CSV file with columns :data:`CSV_COLUMNS`, each tick's rows whole
    (`benchsuite.files.Appender`: a full disk ends the file at the last complete row and
    the run goes on). A sampler runs once: start, then stop.
    """

    def __init__(self, gpu_indices: list[int], *, hz: float = 20.0,
                 samples_path: Path | str | None = None, host: bool | HostSampler = True,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time,
                 gpu_reader: GpuReader | None = None,
                 counter_reader: CounterReader | None = None) -> None:
        hz = validate_hz(hz)
        if host is True:
            host_sampler: HostSampler | None = HostSampler()
        elif host is False:
            host_sampler = None
        else:
            host_sampler = host
        self._core = _Core(gpu_indices, hz, Path(samples_path) if samples_path else None,
                           clock, wall_clock, gpu_reader or nvml.sample, host_sampler,
                           counter_reader or nvml.energy_counter_j)
        self._finalizer: weakref.finalize | None = None
        self._label_seq = 0

    # -- lifecycle ---------------------------------------------------------------
    def start(self) -> None:
        """Open the CSV file (header once) and start the daemon thread; first tick at once."""
        core = self._core
        if core.thread is not None:
            raise RuntimeError("this Sampler was already started; make a new one")
        core.open_file()
        core.t0 = core.clock()
        core.thread = threading.Thread(target=core.run, name="benchsuite-telemetry",
                                       daemon=True)
        # Stops the thread when this Sampler is collected, or at interpreter exit.
        self._finalizer = weakref.finalize(self, _stop_core, core)
        core.thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (it ends after the tick in progress); idempotent."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> "Sampler":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` on the stop event; True if the sampler was stopped."""
        return self._core.stop_event.wait(seconds)

    def wait_for_ticks(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until the thread has completed ``n`` ticks in all; False on timeout."""
        with self._core.ticked:
            return self._core.ticked.wait_for(lambda: self._core.ticks >= n, timeout)

    # -- labels and reads --------------------------------------------------------
    def push_label(self, case_id: str) -> int:
        """Mark rows sampled from now on with ``case_id``; returns a token for pop_label."""
        with self._core.lock:
            self._label_seq += 1
            self._core.labels = self._core.labels + [(self._label_seq, case_id)]
            return self._label_seq

    def pop_label(self, token: int) -> None:
        with self._core.lock:
            self._core.labels = [lt for lt in self._core.labels if lt[0] != token]

    def elapsed(self) -> float:
        """Seconds since start on the sampler's clock (the ``t_s`` time base)."""
        return self._core.clock() - self._core.t0

    def read_now(self, device: str, *, cpu: bool = False) -> dict[str, Any] | None:
        """A synchronous reading of ``device`` in the caller's thread (not stored).

        ``cpu=False`` leaves psutil's CPU-% reference to the thread's own ticks.
        """
        return self._core.read(device, self._core.label, cpu=cpu)

    def read_counter(self, device: str) -> tuple[float, float] | None:
        """(t_s, total energy J) of GPU ``device`` read now, in the caller's thread (not stored):
        one NVML call, for polling a window's edges. None for the host, a GPU without a
        counter, or a failed read (counted as an error)."""
        core = self._core
        index = TelemetryId.parse(device).index if device != HOST_DEVICE else None
        if index is None:
            return None
        a = core.clock()
        try:
            energy = core.counter_reader(index)
        except Exception as exc:  # a failed edge read must not fail the case
            core.error(f"{device}: energy counter: {type(exc).__name__}: {exc}")
            return None
        b = core.clock()
        return None if energy is None else ((a + b) / 2 - core.t0, energy)

    def latest(self, device: str) -> dict[str, Any] | None:
        """The newest stored row of ``device`` (scanned from the end: cheap on a long run)."""
        with self._core.lock:
            for row in reversed(self._core.samples):
                if row["device"] == device:
                    return row
        return None

    def samples(self, device: str | None = None, start: float | None = None,
                end: float | None = None) -> list[dict[str, Any]]:
        """Stored rows (optionally one device's, with start <= t_s <= end), oldest first."""
        with self._core.lock:
            rows = list(self._core.samples)
        return [r for r in rows
                if (device is None or r["device"] == device)
                and (start is None or r["t_s"] >= start)
                and (end is None or r["t_s"] <= end)]

    # -- state -------------------------------------------------------------------
    @property
    def hz(self) -> float:
        return self._core.hz

    @property
    def devices(self) -> list[str]:
        return self._core.devices()

    @property
    def thread(self) -> threading.Thread | None:
        return self._core.thread

    @property
    def running(self) -> bool:
        t = self._core.thread
        return t is not None and t.is_alive()

    @property
    def errors(self) -> int:
        return self._core.errors

    @property
    def last_error(self) -> str | None:
        return self._core.last_error

    @property
    def missed_ticks(self) -> int:
        return self._core.missed_ticks

    @property
    def ticks(self) -> int:
        return self._core.ticks

    @property
    def achieved_hz(self) -> float | None:
        """Ticks per second actually achieved between the first and last tick."""
        c = self._core
        if c.ticks < 2 or c.first_tick is None or c.last_tick is None:
            return None
        span = c.last_tick - c.first_tick
        return (c.ticks - 1) / span if span > 0 else None

    @property
    def samples_path(self) -> Path | None:
        return self._core.samples_path

    @property
    def host(self) -> HostSampler | None:
        return self._core.host
