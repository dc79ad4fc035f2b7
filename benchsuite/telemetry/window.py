"""A telemetry window: one device over one span of time, summarised into a flat dict.

The runner opens a window when warm-up ends and closes it once the last timed steps are
launched (`benchsuite.timing`: the device still has work queued at both edges). At open and
close the window reads the device itself, in the caller's thread, so the power trace has a
point at each edge; the sampler's rows fill the inside. A GPU's edges are put on updates of
its energy counter (`align_edges`): the counter (updated every 100 ms on an H100) is read at
about 1 kHz until it changes, and the edge is the instant it changed, so the energy between
the edges is exact instead of stale by 0-100 ms at each end.

Energy: the GPU's total-energy counter (Volta and newer) where it exists and advanced
("counter"), else the trapezoid integral of sampled power ("integrated-power"); both are
kept when both exist. Whatever could not be measured is None, never 0, with the reason
in ``not_measured[field]`` and in the one-line ``telemetry_note``.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Callable, Iterable

from .nvml import SLOWING_REASONS, THROTTLE_REASONS, decode_throttle

__all__ = ["Window", "UnmatchedWindow", "NodeWindows", "Span", "summarize_span", "unmatched_note",
           "summarize_gpu", "summarize_host",
           "align_edges", "min_window_s", "MIN_WINDOW_S", "MIN_SAMPLES", "EDGE_POLL_S", "EDGE_WAIT_S",
           "ALIGNED", "MISMATCH_TOLERANCE", "THROTTLED_SHARE_THRESHOLD", "HOST_BUSY_PCT", "GPU_SUMMARY_FIELDS",
           "HOST_SUMMARY_FIELDS"]

#: A window's edges are polled on the energy counter this often (1 kHz: an edge is 0-1 ms late).
EDGE_POLL_S = 0.001
#: ... for at most this long: 1.5 counter periods (100 ms on an H100: every update of the
#: 2026-11-25 runs fits one 100.0 ms grid). No change by then: the edge is read as it is.
EDGE_WAIT_S = 0.15
#: ``energy_edges`` of a window whose two edges sit on counter updates.
ALIGNED = "counter-update"

#: Below this many seconds a window is flagged "short-window": its energy may be more than
#: 1 % off. Per way of measuring it (H100 runs of 2026-11-25, issue 14):
#: - "counter-aligned": edges on counter updates. The counter's own error is then < 0.2 %
#:   of 1 s (1 mJ steps, 1 kHz poll); what is left is the load: at the power cap the ~1 Hz
#:   oscillation makes 0.5 s windows' mean power differ by up to 4 % (p95 3.4 % in J/step),
#:   1 s windows by <= 1 % (J/step max 0.62 %). 1.0 s.
#: - "counter": edges read as they come; each is 0-100 ms stale, so 95 % of windows are within
#:   1 % only from 7.8 s on (8.0 s; at 5 s, 1 window in 4 is not).
#: - "integrated-power": sampled power integrated; 5 s windows agreed with the counter to a
#:   median 0.4-0.7 % (max 2.7 %), shorter ones to -10..+11 %; NVML's power average also lags
#:   (arXiv 2312.02741, "Part-time Power Measurements"). 5.0 s.
#: - "rapl": host RAPL was not measured (the VM had none); kept at 5.0 s.
MIN_WINDOW_S = {"counter-aligned": 1.0, "counter": 8.0, "integrated-power": 5.0, "rapl": 5.0}
#: Fewer in-window sampler rows than this is flagged "few-samples".
MIN_SAMPLES = 10
#: Counter and integral further apart than this (relative) is flagged.
MISMATCH_TOLERANCE = 0.05
#: A window whose share of readings slowed by a SLOWING_REASONS cause is above this is
#: flagged "throttled" (a single slowed reading in a long window is not).
THROTTLED_SHARE_THRESHOLD = 0.05
#: Other processes than the run's using more than this share of all logical CPUs (%, mean
#: over the window) flag a CPU window "host-busy": its figures were slowed by a second job.
#: Chosen, not sourced: an idle host's daemons stay within a few %, while a second
#: benchmark sharing the cores takes about half of a 2-core VM.
HOST_BUSY_PCT = 25.0

GPU_SUMMARY_FIELDS: tuple[str, ...] = (
    "device", "case_id", "energy_j", "energy_method", "energy_counter_j",
    "energy_integrated_j", "power_mean_w", "power_max_w", "power_source", "idle_power_w",
    "active_energy_j", "mem_used_peak_bytes", "util_gpu_mean_pct", "util_mem_mean_pct",
    "sm_clock_mean_mhz", "mem_clock_mean_mhz", "temp_max_c", "temp_start_c", "temp_end_c",
    "energy_edges", "throttle_reasons", "throttle_slowing_reasons", "throttled_share", "other_pids", "window_s", "samples",
    "achieved_hz", "quality_flags", "not_measured", "telemetry_note",
)
HOST_SUMMARY_FIELDS: tuple[str, ...] = (
    "device", "case_id", "energy_j", "energy_method", "power_mean_w", "idle_power_w",
    "active_energy_j", "cpu_util_mean_pct", "others_cpu_mean_pct", "rss_peak_bytes", "window_s", "samples",
    "achieved_hz", "quality_flags", "not_measured", "telemetry_note",
)

Row = dict[str, Any]


def _values(rows: Iterable[Row | None], key: str) -> list[float]:
    return [r[key] for r in rows if r is not None and r.get(key) is not None]


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _rate(rows: list[Row]) -> float | None:
    if len(rows) < 2:
        return None
    span = rows[-1]["t_s"] - rows[0]["t_s"]
    return (len(rows) - 1) / span if span > 0 else None


def _integrate_power(points: list[Row], window_s: float) -> float | None:
    """Trapezoid integral of power_w over ``points`` (sorted by t_s), in J.

    If the points do not reach the window's edges the mean power of the covered span
    is applied to the whole window.
    """
    pts = [(p["t_s"], p["power_w"]) for p in points if p.get("power_w") is not None]
    if len(pts) < 2:
        return None
    pts.sort()
    joules = sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in zip(pts, pts[1:]))
    span = pts[-1][0] - pts[0][0]
    if span <= 0:
        return None
    return joules if abs(span - window_s) < 1e-9 else joules / span * window_s


def _finish(summary: dict[str, Any], not_measured: dict[str, str],
            notes: list[str]) -> dict[str, Any]:
    for field, why in not_measured.items():
        if summary.get(field) is None and why not in notes:
            notes.append(why)
    summary["not_measured"] = not_measured
    summary["telemetry_note"] = "; ".join(notes) if notes else None
    return summary


def min_window_s(method: str | None, aligned: bool = False) -> float:
    """The `MIN_WINDOW_S` threshold for an energy ``method`` ("counter", "integrated-power",
    "rapl"; None: no energy, as for integrated power) and whether the edges were ``aligned``."""
    if method == "counter":
        return MIN_WINDOW_S["counter-aligned" if aligned else "counter"]
    return MIN_WINDOW_S.get(method or "integrated-power", MIN_WINDOW_S["integrated-power"])


def _window_flags(window_s: float, rows: list[Row], threshold_s: float) -> list[str]:
    flags = []
    if window_s < threshold_s:
        flags.append("short-window")
    if len(rows) < MIN_SAMPLES:
        flags.append("few-samples")
    return flags


def _unmeasured(fields: tuple[str, ...], device: str, case_id: str, window_s: float,
                reason: str, idle_power_w: float | None) -> dict[str, Any]:
    summary: dict[str, Any] = {f: None for f in fields}
    skip = {"device", "case_id", "window_s", "samples", "quality_flags", "not_measured",
            "telemetry_note", "idle_power_w", "energy_method", "power_source", "achieved_hz"}
    summary.update(device=device, case_id=case_id, window_s=window_s, samples=0,
                   quality_flags=[], idle_power_w=idle_power_w)
    return _finish(summary, {f: reason for f in fields if f not in skip}, [])


def _span(rows: list[Row], t_open: float, t_close: float, open_row: Row | None,
          close_row: Row | None) -> tuple[float, list[Row], list[Row]]:
    """(window seconds, sampler rows inside it in time order, those with the edge readings)."""
    inside = sorted((r for r in rows if t_open <= r["t_s"] <= t_close), key=lambda r: r["t_s"])
    points = [r for r in [open_row, *inside, close_row] if r is not None]
    return max(0.0, t_close - t_open), inside, points


def summarize_gpu(rows: list[Row], *, device: str, case_id: str, t_open: float,
                  t_close: float, open_row: Row | None, close_row: Row | None,
                  idle_power_w: float | None = None, pids: list[int] | None = None,
                  own_pid: int | None = None, reason: str | None = None,
                  new_errors: int = 0, aligned: bool = False) -> dict[str, Any]:
    """Summary of a GPU window from sampler ``rows`` inside [t_open, t_close].

    ``open_row``/``close_row`` are the readings taken at the edges (their ``energy_j``
    is the counter); ``aligned``: both edges sit on counter updates (`align_edges`), and
    t_open/t_close are those instants; ``pids`` the compute PIDs seen on the GPU during the
    window (None: not supported); ``reason`` set means nothing could be measured (e.g. no NVML).
    """
    window_s, inside, points = _span(rows, t_open, t_close, open_row, close_row)
    if reason is not None:
        return _unmeasured(GPU_SUMMARY_FIELDS, device, case_id, window_s, reason, idle_power_w)
    not_measured: dict[str, str] = {}
    notes: list[str] = []
    flags: list[str] = []

    # Energy: counter read at the edges, and the integral of sampled power.
    counter_j = None
    e0 = open_row.get("energy_j") if open_row else None
    e1 = close_row.get("energy_j") if close_row else None
    if e0 is None or e1 is None:
        not_measured["energy_counter_j"] = "energy counter not supported on this GPU"
    elif e1 - e0 > 0:
        counter_j = e1 - e0
    elif e1 < e0:  # the counter restarted (driver reload) or wrapped: not a stall
        flags.append("counter-reset")
        not_measured["energy_counter_j"] = (
            "energy counter went backwards (driver reload?); energy by power integration")
    else:
        flags.append("counter-stalled")
        not_measured["energy_counter_j"] = (
            "energy counter did not advance in this window; energy by power integration")
    integrated_j = _integrate_power(points, window_s) if window_s > 0 else None
    if integrated_j is None:
        not_measured["energy_integrated_j"] = (
            "power reading not supported on this GPU" if not _values(points, "power_w")
            else "too few power readings to integrate")
    if counter_j is not None:
        energy_j, method = counter_j, "counter"
    elif integrated_j is not None:
        energy_j, method = integrated_j, "integrated-power"
    else:
        energy_j, method = None, None
        not_measured["energy_j"] = not_measured.get("energy_integrated_j", "no energy reading")
    if counter_j is not None and integrated_j is not None:
        if abs(counter_j - integrated_j) > MISMATCH_TOLERANCE * max(abs(counter_j),
                                                                     abs(integrated_j)):
            flags.append("counter-integration-mismatch")
    aligned = aligned and method == "counter"
    flags[:0] = _window_flags(window_s, inside, min_window_s(method, aligned))

    powers = _values(points, "power_w")
    power_mean_w = energy_j / window_s if energy_j is not None and window_s > 0 else _mean(powers)
    active_energy_j = None
    if energy_j is not None and idle_power_w is not None:
        active_energy_j = energy_j - idle_power_w * window_s
    elif energy_j is not None:
        not_measured["active_energy_j"] = "idle power not measured"
    sources = sorted({p["power_source"] for p in points if p.get("power_source")})

    # Throttling: share of readings with a reason that slows the work.
    masks = [int(m) for m in _values(points, "throttle_mask")]
    if masks:
        seen = set()
        for m in masks:
            seen.update(decode_throttle(m))
        order = list(THROTTLE_REASONS)
        reasons = sorted(seen, key=lambda n: (order.index(n) if n in order else len(order), n))
        slowed = sum(1 for m in masks if SLOWING_REASONS.intersection(decode_throttle(m)))
        share = slowed / len(masks)
        slowing = [r for r in reasons if r in SLOWING_REASONS]
        if share > THROTTLED_SHARE_THRESHOLD:
            flags.append("throttled")
    else:
        reasons, share, slowing = None, None, None
        not_measured["throttled_share"] = "clock event reasons not supported on this GPU"

    # Another process on the GPU. NVML reports host-namespace PIDs: in a container our
    # own PID is not among them, and then only more than one process is suspicious.
    other_pids = None
    if pids is not None:
        pid_set = set(pids)
        own = own_pid if own_pid is not None else os.getpid()
        other_pids = sorted(pid_set - {own})
        if (own in pid_set and other_pids) or (own not in pid_set and len(pid_set) > 1):
            flags.append("other-process")
    else:
        not_measured["other_pids"] = "process list not supported on this GPU"
    if new_errors:
        flags.append("sampler-errors")

    temps = _values(points, "temp_c")
    summary = {
        "device": device,
        "case_id": case_id,
        "energy_j": energy_j,
        "energy_method": method,
        "energy_counter_j": counter_j,
        "energy_integrated_j": integrated_j,
        "power_mean_w": power_mean_w,
        "power_max_w": max(powers) if powers else None,
        "power_source": ",".join(sources) if sources else None,
        "idle_power_w": idle_power_w,
        "active_energy_j": active_energy_j,
        "mem_used_peak_bytes": max(_values(points, "mem_used_bytes"), default=None),
        "util_gpu_mean_pct": _mean(_values(inside, "util_gpu_pct")),
        "util_mem_mean_pct": _mean(_values(inside, "util_mem_pct")),
        "sm_clock_mean_mhz": _mean(_values(inside, "sm_clock_mhz")),
        "mem_clock_mean_mhz": _mean(_values(inside, "mem_clock_mhz")),
        "temp_max_c": max(temps) if temps else None,
        "temp_start_c": open_row.get("temp_c") if open_row else None,
        "temp_end_c": close_row.get("temp_c") if close_row else None,
        "energy_edges": (ALIGNED if aligned else "read") if counter_j is not None else None,
        "throttle_reasons": reasons,
        "throttle_slowing_reasons": slowing,
        "throttled_share": share,
        "other_pids": other_pids,
        "window_s": window_s,
        "samples": len(inside),
        "achieved_hz": _rate(inside),
        "quality_flags": flags,
    }
    for field in ("power_max_w", "mem_used_peak_bytes", "util_gpu_mean_pct",
                  "sm_clock_mean_mhz", "temp_max_c"):
        if summary[field] is None:
            not_measured.setdefault(field, f"{field} not reported by this GPU")
    return _finish(summary, not_measured, notes)


def summarize_host(rows: list[Row], *, device: str, case_id: str, t_open: float,
                   t_close: float, open_row: Row | None, close_row: Row | None,
                   idle_power_w: float | None = None, rapl_reason: str | None = None,
                   reason: str | None = None, new_errors: int = 0) -> dict[str, Any]:
    """Summary of a host (CPU) window; energy from RAPL's cumulative ``cpu_energy_j``."""
    window_s, inside, points = _span(rows, t_open, t_close, open_row, close_row)
    if reason is not None:
        return _unmeasured(HOST_SUMMARY_FIELDS, device, case_id, window_s, reason, idle_power_w)
    not_measured: dict[str, str] = {}
    flags = _window_flags(window_s, inside, min_window_s("rapl"))
    if new_errors:
        flags.append("sampler-errors")

    e0 = open_row.get("cpu_energy_j") if open_row else None
    e1 = close_row.get("cpu_energy_j") if close_row else None
    energy_j = method = None
    if e0 is not None and e1 is not None and e1 - e0 > 0:
        energy_j, method = e1 - e0, "rapl"
    else:
        not_measured["energy_j"] = rapl_reason or (
            "RAPL counter did not advance" if e0 is not None else "no RAPL on this CPU")
    power_mean_w = energy_j / window_s if energy_j is not None and window_s > 0 else None
    active_energy_j = None
    if energy_j is not None and idle_power_w is not None:
        active_energy_j = energy_j - idle_power_w * window_s
    elif energy_j is not None:
        not_measured["active_energy_j"] = "idle power not measured"
    for f in ("power_mean_w", "active_energy_j"):
        if energy_j is None:
            not_measured[f] = not_measured["energy_j"]
    if energy_j is None:  # the window flags qualify an energy result; there is none
        flags = [f for f in flags if f not in ("short-window", "few-samples")]
    cpu = _values(inside, "cpu_util_pct")
    others = _mean(_values(inside, "others_cpu_pct"))
    if others is not None and others > HOST_BUSY_PCT:
        flags.append("host-busy")
    summary = {
        "device": device,
        "case_id": case_id,
        "energy_j": energy_j,
        "energy_method": method,
        "power_mean_w": power_mean_w,
        "idle_power_w": idle_power_w,
        "active_energy_j": active_energy_j,
        "cpu_util_mean_pct": _mean(cpu),
        "others_cpu_mean_pct": others,
        "rss_peak_bytes": max(_values(points, "rss_bytes"), default=None),
        "window_s": window_s,
        "samples": len(inside),
        "achieved_hz": _rate(inside),
        "quality_flags": flags,
    }
    if not cpu:
        not_measured["cpu_util_mean_pct"] = "no host samples in this window"
    return _finish(summary, not_measured, [])


def align_edges(readers: list[Callable[[], tuple[float, float] | None] | None],
                sleep: Callable[[float], None], poll_s: float = EDGE_POLL_S,
                wait_s: float = EDGE_WAIT_S) -> list[tuple[float, float] | None]:
    """Each energy counter's next update: (instant, value after it) per reader, or None.

    A reader returns (t_s, counter J) or None (no counter). The readers are polled together
    every ``poll_s`` until each counter has changed or ``wait_s`` has passed since its first
    read; the instant is the midpoint between the last read of the old value and the first
    of the new one (a 1 kHz poll puts it within 0.5 ms). The device must be kept busy
    meanwhile (`benchsuite.timing` queues work before a window's edges are read).
    """
    state: list[list[Any] | None] = []
    for read in readers:
        got = read() if read is not None else None
        state.append([got[0], got[1], got[0]] if got is not None else None)  # t_prev, e_prev, t_first
    found: list[tuple[float, float] | None] = [None] * len(readers)
    pending = [i for i, st in enumerate(state) if st is not None]
    while pending:
        sleep(poll_s)
        for i in list(pending):
            st, got = state[i], readers[i]()  # type: ignore[misc]
            if got is None:
                pending.remove(i)
                continue
            t, e = got
            if e != st[1]:
                found[i] = ((st[0] + t) / 2, e)
                pending.remove(i)
            elif t - st[2] >= wait_s:
                pending.remove(i)
            else:
                st[0] = t
    return found


class Window:
    """Context manager around the timed steps of one case on one device.

    After ``__exit__`` (also on an exception), :attr:`summary` holds the summary dict.
    ``align``: put the edges on energy-counter updates (`align_edges`); only for a caller that
    keeps the device running its load while an edge is read (`benchsuite.timing.measure`
    does), else the wait for an update would measure an idle device.
    Made by :meth:`benchsuite.telemetry.Telemetry.window`; ``sampler`` None or ``reason``
    set gives a not-measured summary that still has ``window_s``.
    """

    def __init__(self, device: str, case_id: str, *, sampler: Any, host: bool,
                 idle_power_w: float | None = None, reason: str | None = None,
                 rapl_reason: str | None = None,
                 procs: Callable[[], list[int] | None] | None = None,
                 clock: Callable[[], float] | None = None,
                 align: bool = False, sleep: Callable[[float], None] = time.sleep) -> None:
        self.device = device
        self.case_id = case_id
        self.summary: dict[str, Any] | None = None
        self._sampler = sampler
        self._host = host
        self._row_device = "host" if host else device
        self._idle = idle_power_w
        self._reason = reason
        self._rapl_reason = rapl_reason
        self._procs = procs
        self._clock = clock
        self.align, self.sleep = align, sleep
        self._open_aligned = False  # whether the open edge was on a counter update
        self._token: int | None = None
        self._pids: set[int] | None = set()
        self._errors0 = 0

    def _now(self) -> float:
        if self._sampler is not None:
            return self._sampler.elapsed()
        assert self._clock is not None
        return self._clock()

    def counter_reader(self) -> Callable[[], tuple[float, float] | None] | None:
        """What `align_edges` polls for this window: its GPU's energy counter (None: edges not
        to be aligned, a host window, or nothing to measure)."""
        if not self.align or self._sampler is None or self._reason is not None or self._host:
            return None
        sampler, device = self._sampler, self._row_device
        return lambda: sampler.read_counter(device)

    def _edge(self, aligned: tuple[float, float] | None = None) -> tuple[float, Row | None]:
        """Read the device at the edge of the window; returns (t_s, row or None). With
        ``aligned`` (a counter update's instant and value) the edge is that instant."""
        if self._sampler is None or self._reason is not None:
            return self._now(), None
        row = self._sampler.read_now(self._row_device)
        if aligned is not None:
            t, energy = aligned
            return t, {**(row or {}), "t_s": t, "energy_j": energy}
        return (row["t_s"] if row is not None else self._now()), row

    def _collect_pids(self) -> None:
        if self._procs is None or self._pids is None:
            return
        try:
            pids = self._procs()
        except Exception:
            pids = None
        if pids is None:
            self._pids = None
        else:
            self._pids.update(pids)

    def __enter__(self) -> "Window":
        return self.open(align_edges([self.counter_reader()], self.sleep)[0])

    def open(self, aligned: tuple[float, float] | None = None) -> "Window":
        """Open the window (at a counter update when ``aligned`` is one: `align_edges`)."""
        if self._sampler is not None:
            self._token = self._sampler.push_label(self.case_id)
            self._errors0 = self._sampler.errors
        self._collect_pids()
        self._open_aligned = aligned is not None
        self._t_open, self._open_row = self._edge(aligned)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(align_edges([self.counter_reader()], self.sleep)[0])

    def close(self, aligned: tuple[float, float] | None = None) -> None:
        """Close the window and set `summary` (at a counter update when ``aligned`` is one)."""
        both_aligned = self._open_aligned and aligned is not None
        t_close, close_row = self._edge(aligned)
        self._collect_pids()
        rows: list[Row] = []
        new_errors = 0
        if self._sampler is not None:
            # read before the label goes: while a window is open the sampler keeps every row
            rows = self._sampler.samples(self._row_device, self._t_open, t_close)
            self._sampler.pop_label(self._token)
            new_errors = self._sampler.errors - self._errors0
        common = dict(device=self.device, case_id=self.case_id, t_open=self._t_open,
                      t_close=t_close, open_row=self._open_row, close_row=close_row,
                      idle_power_w=self._idle, reason=self._reason, new_errors=new_errors)
        if self._host:
            self.summary = summarize_host(rows, rapl_reason=self._rapl_reason, **common)
        else:
            pids = sorted(self._pids) if self._pids is not None and self._procs else None
            self.summary = summarize_gpu(rows, pids=pids, aligned=both_aligned, **common)


def unmatched_note(device_id: str) -> str:
    """Why a GPU's figures are missing when NVML could not be matched to it."""
    return f"{device_id} could not be matched to an NVML device (no UUID match)"


class UnmatchedWindow(contextlib.nullcontext):
    """The window of a GPU that NVML could not be matched to: says so instead of guessing.

    ``device_id`` is torch's name for it (``cuda:N``); no NVML GPU is read.
    """

    def __init__(self, device_id: str) -> None:
        super().__init__()
        note = unmatched_note(device_id)
        self.summary: dict[str, Any] = {"device": device_id, "energy_j": None, "telemetry_note": note,
                                        "not_measured": {"energy_j": note}, "quality_flags": []}

    def counter_reader(self) -> None:
        """No counter: `align_edges` has nothing to poll for this window."""
        return None

    def open(self, aligned: tuple[float, float] | None = None) -> "UnmatchedWindow":
        """Nothing to read: opening changes nothing."""
        return self

    def close(self, aligned: tuple[float, float] | None = None) -> None:
        """Nothing to read: `summary` already says why."""


class NodeWindows:
    """One case's own window and, on a node's local rank 0, a window per other local rank's
    device (``others``: {telemetry id text: window}), opened and closed together: their
    counters are polled together (`align_edges`), so N GPUs cost one counter period per edge.
    Each window is a `Window` or an `UnmatchedWindow`; ``sleep`` is what the polling waits with."""

    def __init__(self, own: Any, others: dict[str, Any], sleep: Callable[[float], None] = time.sleep) -> None:
        self.own, self.others, self.sleep = own, others, sleep

    def _windows(self) -> list[Any]:
        return [self.own, *self.others.values()]

    def _aligned(self) -> list[tuple[float, float] | None]:
        return align_edges([w.counter_reader() for w in self._windows()], self.sleep)

    def __enter__(self) -> "NodeWindows":
        for window, aligned in zip(self._windows(), self._aligned()):
            window.open(aligned)
        return self

    def __exit__(self, *exc: object) -> None:
        for window, aligned in zip(self._windows(), self._aligned()):
            window.close(aligned)

    @property
    def summary(self) -> dict[str, Any] | None:
        return getattr(self.own, "summary", None)

    @property
    def node_summaries(self) -> dict[str, dict[str, Any] | None]:
        return {d: getattr(w, "summary", None) for d, w in self.others.items()}


def summarize_span(rows: list[Row], *, host: bool, t_open: float, t_close: float, open_row: Row | None,
                   close_row: Row | None) -> dict[str, Any]:
    """Power and clocks over a short span (the burst, ~50 ms: at 20 Hz about one sample).

    GPU: means of the sampler's rows inside the span (power from the instant field where the
    sampler reads it), else the reading taken as the span closed (``source`` says which).
    Host: power from the RAPL energy counter's change between the edge readings, mean CPU
    utilisation of the rows inside."""
    span_s = t_close - t_open
    out: dict[str, Any] = {"span_s": span_s, "samples": len(rows)}
    if host:
        e0, e1 = (open_row or {}).get("cpu_energy_j"), (close_row or {}).get("cpu_energy_j")
        out["power_w"] = (e1 - e0) / span_s if e0 is not None and e1 is not None and e1 >= e0 and span_s > 0 \
            else None
        out["cpu_util_pct"] = _mean(_values(rows, "cpu_util_pct"))
        out["source"] = "rapl counter at the edges" if out["power_w"] is not None else None
        return out
    used = rows or ([close_row] if close_row is not None else [])
    out["power_w"] = _mean(_values(used, "power_w"))
    out["sm_clock_mhz"] = _mean(_values(used, "sm_clock_mhz"))
    temps = _values(used, "temp_c")
    out["temp_c"] = max(temps) if temps else None
    out["source"] = "samples inside the span" if rows else ("read as the span closed" if used else None)
    return out


class Span:
    """A short telemetry span without energy (the burst): the sampler's rows between its edges,
    labelled with the case, and a reading at each edge (`summarize_span`). ``summary`` is set on
    exit; with nothing to read it says why (``telemetry_note``: ``reason``, which must be given
    when ``sampler`` is None)."""

    def __init__(self, device: str, case_id: str, *, sampler: Any, host: bool, reason: str | None = None) -> None:
        self.device, self.case_id = device, case_id
        self.summary: dict[str, Any] | None = None
        self._sampler, self._host, self._reason = sampler, host, reason
        self._row_device = "host" if host else device
        self._token: int | None = None

    def __enter__(self) -> "Span":
        if self._sampler is not None and self._reason is None:
            self._token = self._sampler.push_label(self.case_id)
            self._open_row = self._sampler.read_now(self._row_device) if self._host else None
            self._t_open = self._sampler.elapsed()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sampler is None or self._reason is not None:
            self.summary = {"telemetry_note": self._reason}
            return
        t_close = self._sampler.elapsed()
        close_row = self._sampler.read_now(self._row_device)
        rows = self._sampler.samples(self._row_device, self._t_open, t_close)
        self._sampler.pop_label(self._token)
        self.summary = summarize_span(rows, host=self._host, t_open=self._t_open, t_close=t_close,
                                      open_row=self._open_row, close_row=close_row)
