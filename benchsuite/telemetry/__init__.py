"""Telemetry: GPU (NVML) and host sampling, and per-case window summaries.

Importing this package does nothing: NVML is initialised on first use, psutil imported
when a sampler is made, and torch never. Typical use by the runner::

    with Telemetry([0], hz=20, samples_path=run_dir / "samples.csv") as tel:
        idle_w = tel.measure_idle("cuda:0")          # once per device, before the sweep
        ...warm up...
        with tel.window_for(device, case.id) as w:   # a benchsuite.devices.Device
            ...timed steps; synchronise the device...
        result.telemetry = w.summary

Devices are named by telemetry ids (`benchsuite.telemetry.ids.TelemetryId`, or their text
"cpu" / "cuda:<NVML index>").

Without NVML everything still runs: GPU summaries say "not measured" with the reason,
host rows are sampled and samples.csv is written.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from . import nvml
from .host import POWERCAP_ROOT, HostSampler
from .ids import TelemetryId
from .nvml import NvmlError, NvmlUnavailable
from .sampler import Sampler, validate_hz
from .window import NodeWindows, Span, UnmatchedWindow, Window, unmatched_note

__all__ = ["Telemetry", "TelemetryId", "Window", "Sampler", "NvmlError", "NvmlUnavailable", "IDLE_CASE_ID",
           "validate_hz"]

IDLE_CASE_ID = "__idle__"


class Telemetry:
    """Samples GPUs ``gpu_indices`` and the host, and makes windows over them.

    ``hz`` must be 1..1000. ``samples_path`` (optional) receives every row as CSV.
    ``enabled=False`` samples nothing and every summary says "telemetry disabled".
    ``run_pids``: other processes of this run on this host (torchrun ranks), whose CPU time
    is not "other processes" (the ``host-busy`` flag).
    ``clock`` (monotonic seconds), ``sleep`` (the windows' edge polling) and ``rapl_root``
    (the powercap folder) are for tests.
    """

    def __init__(self, gpu_indices: list[int], *, hz: float = 20.0,
                 samples_path: Path | str | None = None, enabled: bool = True,
                 clock: Callable[[], float] = time.monotonic,
                 rapl_root: Path | str = POWERCAP_ROOT, run_pids: Iterable[int] = (),
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.gpu_indices = list(gpu_indices)
        self.hz = validate_hz(hz)
        self.samples_path = Path(samples_path) if samples_path is not None else None
        self.enabled = enabled
        self._clock = clock
        self._sleep = sleep
        self._rapl_root = rapl_root
        self._run_pids = tuple(run_pids)
        self._sampler: Sampler | None = None
        self._idle: dict[TelemetryId, float | None] = {}
        self._device_reason: dict[int, str] = {}
        self._lock = threading.Lock()

    # -- availability --------------------------------------------------------------
    @property
    def available(self) -> bool:
        """True when GPU telemetry (NVML) can be read."""
        return self.enabled and nvml.status()[0]

    @property
    def reason(self) -> str | None:
        """Why GPU telemetry is not available, or None."""
        if not self.enabled:
            return "telemetry disabled"
        return nvml.status()[1]

    def device_reason(self, device: TelemetryId | str) -> str | None:
        """Why ``device`` cannot be measured, or None."""
        if not self.enabled:
            return "telemetry disabled"
        index = TelemetryId.parse(device).index
        if index is None:
            return None
        if not self.available:
            return self.reason
        if index in self._device_reason:
            return self._device_reason[index]
        if index not in self.gpu_indices:
            return f"{device} is not sampled by this Telemetry (gpu_indices={self.gpu_indices})"
        return None

    @property
    def sampler(self) -> Sampler | None:
        return self._sampler

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the sampler thread (and NVML). Calling it twice is harmless."""
        if not self.enabled or self._sampler is not None:
            return
        gpus: list[int] = []
        if self.gpu_indices and self.available:
            count = nvml.device_count()
            for i in self.gpu_indices:
                if 0 <= i < count:
                    gpus.append(i)
                else:
                    self._device_reason[i] = f"cuda:{i} not found by NVML ({count} GPUs)"
        sampler = Sampler(gpus, hz=self.hz, samples_path=self.samples_path,
                          host=HostSampler(self._rapl_root, self._run_pids), clock=self._clock)
        sampler.start()
        self._sampler = sampler

    def stop(self) -> None:
        """Stop the sampler thread and flush samples.csv; idempotent."""
        if self._sampler is not None:
            self._sampler.stop()

    def __enter__(self) -> "Telemetry":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- measuring --------------------------------------------------------------------
    def _unread_reason(self, tid: TelemetryId) -> str | None:
        """Why a window or span on ``tid`` reads nothing (`device_reason`, or no sampler
        running), or None when it reads."""
        return self.device_reason(tid) or (None if self._sampler is not None else "telemetry not started")

    def window(self, device: TelemetryId | str, case_id: str, align: bool = False) -> Window:
        """A window over ``device`` ("cpu" or "cuda:<NVML index>"); its summary is set on exit.
        ``align``: a GPU window's edges go on energy-counter updates (`Window`)."""
        tid = TelemetryId.parse(device)
        index = tid.index
        reason = self._unread_reason(tid)
        sampler = self._sampler
        if index is None:
            host = sampler.host if sampler is not None else None
            return Window(str(tid), case_id, sampler=sampler, host=True,
                          idle_power_w=self._idle.get(tid), reason=reason,
                          rapl_reason=host.rapl.reason if host is not None else None,
                          clock=self._clock, align=align, sleep=self._sleep)
        procs = (lambda: nvml.running_processes(index)) if reason is None else None
        return Window(str(tid), case_id, sampler=sampler, host=False,
                      idle_power_w=self._idle.get(tid), reason=reason, procs=procs,
                      clock=self._clock, align=align, sleep=self._sleep)

    def window_for(self, device: Any, label: str, also: Iterable[TelemetryId | str] = (),
                   align: bool = False) -> Any:
        """The window of ``label`` on ``device`` (a `benchsuite.devices.Device`: anything with
        ``id`` and ``telemetry_id``), by its telemetry id, never by torch's number.

        A GPU that NVML could not be matched to (``telemetry_id`` None) gets a window that
        measures nothing and says so. ``also``: telemetry ids of other devices to window over
        the same span (on a node's local rank 0, the other local ranks' GPUs); their summaries
        come back in the returned window's ``node_summaries``, keyed by id text. ``align``: as
        for `window`.
        """
        tid = device.telemetry_id
        own = UnmatchedWindow(device.id) if tid is None else self.window(tid, label, align=align)
        others = [o for o in (TelemetryId.parse(d) for d in also) if o != tid]
        if not others:
            return own
        return NodeWindows(own, {str(o): self.window(o, label, align=align) for o in dict.fromkeys(others)},
                           sleep=self._sleep)

    def span(self, device: Any, label: str) -> Span:
        """A short span over ``device`` (a `benchsuite.devices.Device`) for power and clocks
        without energy: the burst's (`benchsuite.telemetry.window.Span`)."""
        tid = device.telemetry_id
        if tid is None:
            return Span(device.id, label, sampler=None, host=False, reason=unmatched_note(device.id))
        return Span(str(tid), label, sampler=self._sampler, host=tid.index is None,
                    reason=self._unread_reason(tid))

    def latest(self, device: TelemetryId | str, max_age_s: float | None = None) -> dict[str, Any] | None:
        """The sampler's newest row for GPU ``device`` if under ``max_age_s`` old (default:
        1 s or two sampling periods, whichever is longer), else None.

        This is what the settle rule reads during warm-up (SM clock, temperature); it
        costs no NVML call of its own.
        """
        tid = TelemetryId.parse(device)
        if not tid.is_gpu or self.device_reason(tid) is not None:
            return None
        sampler = self._sampler
        if sampler is None:
            return None
        row = sampler.latest(str(tid))
        max_age_s = max(1.0, 2.0 / self.hz) if max_age_s is None else max_age_s
        return row if row is not None and row["t_s"] >= sampler.elapsed() - max_age_s else None

    def measures_energy(self, device: TelemetryId | str) -> bool:
        """Whether ``device`` gets energy figures: NVML for a GPU, readable RAPL for the CPU."""
        if self.device_reason(device) is not None:
            return False
        if TelemetryId.parse(device).is_gpu:
            return True
        if self._sampler is None:
            self.start()
        return self._sampler is not None and self._sampler.host.rapl.available

    def measure_idle(self, device: TelemetryId | str, seconds: float = 3.0) -> float | None:
        """Mean power of ``device`` in W over ``seconds`` of doing nothing; cached per device.

        Call before the sweep with the device idle. None when power cannot be read.
        """
        device = TelemetryId.parse(device)
        with self._lock:
            if device in self._idle:
                return self._idle[device]
        if self._sampler is None:
            self.start()
        w = self.window(device, IDLE_CASE_ID, align=True)  # idle by design: the wait changes nothing
        with w:
            if self._sampler is not None:
                # Wait on the sampler's stop event: returns early if the sampler stops.
                self._sampler.wait(seconds)
        assert w.summary is not None
        idle = w.summary.get("power_mean_w")
        with self._lock:
            self._idle[device] = idle
        return idle

    def info(self) -> dict[str, Any]:
        """Run-header facts: NVML status, driver/CUDA versions, per-GPU static properties."""
        ok, why = nvml.status() if self.enabled else (False, "telemetry disabled")
        devices = []
        if ok:
            for i in self.gpu_indices:
                errors: list[str] = []
                try:
                    devices.append(nvml.device_static(i, errors=errors))
                except NvmlError as exc:
                    devices.append({"index": i, "error": str(exc)})
        host = self._sampler.host if self._sampler is not None else None
        return {
            "nvml_available": ok,
            "nvml_reason": why,
            "driver_version": nvml.driver_version() if ok else None,
            "cuda_driver_version": nvml.cuda_driver_version() if ok else None,
            "gpus": devices,
            "rapl_available": host.rapl.available if host is not None else None,
            "rapl_reason": host.rapl.reason if host is not None else None,
            "hz": self.hz,
            "achieved_hz": self._sampler.achieved_hz if self._sampler is not None else None,
            "sampler_errors": self._sampler.errors if self._sampler is not None else 0,
            "sampler_last_error": self._sampler.last_error if self._sampler else None,
            "pid": os.getpid(),
        }
