"""Runs Cases end to end: set up, warm up, time, record. OOM and errors are results.

Nothing here formats output: progress goes out through callbacks, results through the
store.
"""

from __future__ import annotations

import contextlib
import gc
import platform
import time
import traceback
from typing import Any, Callable

from benchsuite import calibration_store, numerics, peaks, precision, ranks, results, signals, timing
from benchsuite import metrics as metrics_mod
from benchsuite import record as record_mod
from benchsuite.devices import Device
from benchsuite.plan import Case
from benchsuite.settings import RunSettings
from benchsuite.telemetry.window import THROTTLED_SHARE_THRESHOLD
from benchsuite.timing import measure
from benchsuite.workload import Registry, Unsupported

AUTO_BATCH_MAX = 65536  # `--batch-size auto` never goes past this
AUTO_BATCH_CPU_MEMORY_SHARE = 0.5  # a CPU probe may use at most this share of available memory
AUTO_BATCH_CPU_STEP_S = 2.0  # and stops growing past this step time, to stay interruptible
# `--batch-size best`: double from 1 (the same caps as auto); each probe runs BEST_PROBE_WARMUP
# untimed steps (allocation, cuDNN's algorithm search), then BEST_PROBE_BLOCKS blocks of steps, each
# at least BEST_PROBE_BLOCK_S long, and takes the fastest block's step time (another process taking
# the CPU for a moment slows one block, not the probe: on the shared 2-core box a mean over the whole
# probe made batch 2 look half as fast as batch 1). The search stops after BEST_FALLS probes in a row
# below the best throughput so far (one fall can be noise; two mean the peak is behind), and the
# batch of the highest probe throughput is measured.
BEST_PROBE_WARMUP = 2
BEST_PROBE_BLOCKS = 3
BEST_PROBE_BLOCK_S = 0.1
BEST_FALLS = 2


def run_header(devices: list[Device], settings: RunSettings, telemetry, *, tag: str | None,
               options: dict[str, Any], host: dict | None = None, extra_settings: dict | None = None) -> dict:
    """The header record of a run: version, tag, command line and options, host, devices
    (with datasheets), threads, settings and the telemetry's static facts."""
    import shlex
    import sys
    from pathlib import Path

    import torch

    from benchsuite import devices as devices_mod
    from benchsuite._version import __version__

    def plain(value: Any) -> Any:
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return str(value) if isinstance(value, Path) else value

    return {
        "benchsuite": __version__,
        "tag": tag,
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "options": {k: plain(v) for k, v in options.items()},
        "host": host or devices_mod.host_info(),
        "devices": [devices_mod.record(d) for d in devices],
        "threads": torch.get_num_threads(),
        "settings": {**(extra_settings or {}), "sample_hz": telemetry.hz, "cooldown_s": settings.cooldown_s,
                     "idle_s": settings.idle_s, "timing": {t: vars(s) for t, s in settings.timing.items()}},
        "telemetry": telemetry.info(),
    }


def is_oom(exc: BaseException) -> bool:
    """A CUDA out-of-memory error, or the CPU allocator giving up."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text.lower() or "can't allocate memory" in text or isinstance(exc, MemoryError)
    )


def free_memory(device: Device) -> None:
    """Release what a finished or failed case left behind."""
    gc.collect()
    if device.type == "cuda":
        import torch

        torch.cuda.empty_cache()


class Runner:
    """Runs a list of Cases into a RunStore.

    Under torch.distributed (``dist``, a `benchsuite.distributed.Context`) every rank runs
    the same cases in lock-step; each case's records are gathered and merged
    (`benchsuite.ranks.merge`), and only the rank given a ``store`` (rank 0) writes.
    ``node_devices``: telemetry ids (`benchsuite.telemetry.ids.TelemetryId`) of the other
    ranks' devices on this node, which this process (the node's local rank 0) samples too.
    """

    def __init__(self, registry: Registry, devices: list[Device], store: results.RunStore | None,
                 settings: RunSettings | None = None, telemetry=None,
                 on_start: Callable[[int, int, Case], None] | None = None,
                 on_end: Callable[[int, int, dict], None] | None = None,
                 dist=None, node_devices: tuple = ()) -> None:
        self.registry = registry
        self.devices = {d.id: d for d in devices}
        self.store = store
        self.settings = settings or RunSettings()
        self.telemetry = telemetry
        self.on_start = on_start or (lambda i, n, c: None)
        self.on_end = on_end or (lambda i, n, r: None)
        self.dist = dist
        self.node_devices = tuple(node_devices)
        self._comm = None  # the process group of the case just run, released after the gather
        self.clock: Callable[[], float] = time.perf_counter  # times the batch-search probes

    def run(self, cases: list[Case]) -> str:
        """Run every case; return the end status written (completed/interrupted/failed)."""
        total = len(cases)
        last_on: dict[str, bool] = {}
        current = None
        try:
            self.measure_idle(cases)
            for index, case in enumerate(cases):
                self.on_start(index, total, case)
                current = case
                if not case.skip_reason:
                    if last_on.get(case.device):
                        time.sleep(self.settings.cooldown_s.get(self.devices[case.device].type, 0.0))
                    last_on[case.device] = True
                record = self.run_case(case)
                if self.dist is not None:
                    record = self._gather(record, case)
                self._append(record)
                current = None
                self.on_end(index, total, record)
                if self.settings.fail_fast and record["status"] == "error":
                    self._close("failed", reason=f"--fail-fast: {record['id']} failed: {record['reason']}")
                    return "failed"
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM under the command line (`benchsuite.signals`)
            self._close("interrupted", reason=signals.reason(exc), **self._end_extra())
            raise
        except BaseException as exc:
            try:
                reason = self._failure_reason(exc, current)
            except KeyboardInterrupt as stop:  # Ctrl-C while the failure was being named (a rank that
                # left on Ctrl-C breaks this rank's collective first): the run was interrupted
                self._close("interrupted", reason=signals.reason(stop), **self._end_extra())
                raise stop from exc
            self._close("failed", reason=reason, **self._end_extra())
            raise
        self._close("completed", **self._end_extra())
        return "completed"

    def _failure_reason(self, exc: BaseException, current: Case | None) -> str:
        """The end record's reason for a run that failed; under torchrun it names the failed rank."""
        reason = f"{type(exc).__name__}: {exc}"
        if self.dist is not None:
            try:
                reason = self.dist.failure_reason(exc)
            except KeyboardInterrupt:
                raise
            except BaseException as again:  # the diagnosis must never keep the end record from disk
                reason += f" (naming the failed rank failed too: {type(again).__name__}: {again})"
        if current is not None and self.dist is not None:
            reason = f"during {current.id}: {reason}"
        return reason

    def _append(self, record: dict) -> None:
        if self.store is not None:
            self.store.append(record)

    def _close(self, status: str, **extra: Any) -> None:
        if self.store is not None:
            self.store.close(status, **extra)

    def _gather(self, record: dict, case: Case) -> dict:
        """Every rank's record of ``case``, merged into the one rank 0 writes (all ranks get it)."""
        device = self.devices[case.device]
        tid = device.telemetry_id
        record.update({"rank": self.dist.rank, "hostname": platform.node(),
                       "telemetry_device": str(tid) if tid is not None else device.id})
        try:
            return ranks.merge(self.dist.gather_records(record))
        finally:
            if self._comm is not None:  # every rank is past the case: its group can go
                self.dist.release(self._comm)
                self._comm = None

    def measure_idle(self, cases: list[Case]) -> None:
        """Idle power of each device that will run a case, once, before the sweep."""
        if self.telemetry is None or self.settings.idle_s <= 0:
            return
        names = [self.devices[d].telemetry_id for d in dict.fromkeys(c.device for c in cases if not c.skip_reason)]
        for name in dict.fromkeys(names + (list(self.node_devices) if names else [])):
            if name is not None and self.telemetry.measures_energy(name):
                self.telemetry.measure_idle(name, self.settings.idle_s)

    def _end_extra(self) -> dict[str, Any]:
        return {"telemetry": self.telemetry.info()} if self.telemetry is not None else {}

    def run_case(self, case: Case) -> dict[str, Any]:
        """Measure one case and return its record; never raises but for Ctrl-C."""
        device = self.devices[case.device]
        started = results.now_iso()
        record: dict[str, Any] = {"started_at": started}
        if case.skip_reason:
            return self._record(case, device, record, "skipped", case.skip_reason)
        workload = comm = None
        try:
            if self.dist is not None:
                comm = self.dist.case_comm()  # every rank reaches this for every measured case
            if case.batch_search is not None:
                find = self.find_auto_batch if case.auto_batch else self.find_best_batch
                size, probes = find(case, device)
                record[f"{case.batch_search}_batch_probes"] = probes
                if size is None:
                    return self._record(case, device, record, "oom",
                                        f"batch size {case.batch_search}: even batch 1 does not fit")
                case = case.with_batch(size)
            workload = self.registry[case.workload](**case.param_dict)
            workload.comm = comm
            record.update(self._measure(workload, case, device))
            status, reason = "ok", None
        except KeyboardInterrupt:
            raise
        except Unsupported as exc:  # the backend or device cannot do it: a result, not a failure
            status, reason = "skipped", str(exc)
        except Exception as exc:  # any failure is a result; the sweep goes on
            status = "oom" if is_oom(exc) else "error"
            reason = f"{type(exc).__name__}: {exc}".strip()
            if comm is not None and is_timeout(exc):
                reason = f"collective timed out after {comm.timeout_s:g} s on rank {comm.rank}: {reason}"
            if status == "error":
                record["traceback"] = traceback.format_exc(limit=8)
        finally:
            if workload is not None:
                workload.teardown()
            self._comm = comm
            free_memory(device)
        return self._record(case, device, record, status, reason)

    def _record(self, case: Case, device: Device, record: dict, status: str, reason: str | None) -> dict:
        return record_mod.build_case(record, case.to_dict(), device_name=device.name, status=status, reason=reason,
                                     ended_at=results.now_iso())

    def _measure(self, workload, case: Case, device: Device) -> dict[str, Any]:
        import torch

        settings = self.settings.timing[device.type]
        torch_device = torch.device(case.device)
        with precision.numerics(case.precision), _cudnn_benchmark(device.type == "cuda"):
            workload.setup(case)  # compiles or captures the step in the case's exec mode
            flops = workload.flops_per_step()  # runs one step: part of the warm-up
            nbytes = workload.bytes_per_step()
            checked = check_numerics(workload, case)  # before timing, outside the window
            # The L2 flush buffer is made before the peak-memory reset: it is not the workload's.
            flush = timing.l2_flush(torch_device)[0] if device.type == "cuda" and settings.flush_l2 else None
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(torch_device)
            window = self._window(device, case)
            span = getattr(self.telemetry, "span", None)  # the burst's power and clocks
            burst_span = span(device, case.id) if span is not None else None
            latest = getattr(self.telemetry, "latest", None) if device.type == "cuda" else None
            readings = ((lambda: latest(device.telemetry_id))
                        if latest is not None and device.telemetry_id is not None else None)
            timings = measure(workload.step, device.type, settings, device=torch_device, window=window,
                              readings=readings, flush=flush,
                              agree=self.dist.agree_max if self.dist is not None else None,
                              block_context=workload.steps_context,
                              burst_window=burst_span, latency=is_latency_case(case))
            mem_peak = torch.cuda.max_memory_allocated(torch_device) if device.type == "cuda" else None
        prepared = workload.exec_report()  # after the timed steps: recompiles in them are counted
        median = timings.median_s
        samples = workload.samples_per_step
        summary = getattr(window, "summary", None) if window is not None else None
        peak = peaks.peak_tflops(device.name, case.precision) if device.type == "cuda" else None
        calibration = self.settings.calibrations.get(case.device)
        achievable = calibration_store.achievable_tflops(calibration, case.precision)
        share = (summary or {}).get("throttled_share")
        derived = metrics_mod.derive(
            samples_per_step=samples, step_s=median, flops_per_step=flops, bytes_per_step=nbytes,
            peak_tflop_per_s=peak, achievable_tflop_per_s=achievable,
            energy_j=(summary or {}).get("energy_j"), power_mean_w=(summary or {}).get("power_mean_w"),
            samples_in_window=metrics_mod.window_samples(samples, timings.steps, timings.span_s,
                                                         (summary or {}).get("window_s")))
        metrics = {
            **timings.stats,
            "samples_per_step": samples,
            "sample_unit": workload.sample_unit,
            "samples_per_s": derived["samples_per_s"],
            "flops_per_step": flops,
            "bytes_per_step": nbytes,
            "tflop_per_s": derived["tflop_per_s"],
            "peak_tflop_per_s": peak,
            "pct_of_peak": derived["pct_of_peak"],
            "achievable_tflop_per_s": achievable,
            "pct_of_achievable": derived["pct_of_achievable"],
            "calibration_stale": metrics_mod.calibration_stale(derived["pct_of_achievable"]),
            "achievable_gb_per_s": calibration_store.achievable_gbs(calibration),
            "calibration": calibration.get("id") if calibration else None,
            "flop_per_byte": derived["flop_per_byte"],
            "cache_state": timings.cache_state,
            "warmup_settled": timings.warmup_settled,
            "throttled": share > THROTTLED_SHARE_THRESHOLD if share is not None else None,
            "mem_peak_bytes": mem_peak,
            "threads": torch.get_num_threads(),
            **workload.extra_metrics(median),
            **{k: derived[k] for k in metrics_mod.ENERGY},
        }
        metrics.update({k: v for k, v in derived.items() if k not in metrics})  # a newer derived figure
        if timings.latency_times_s is not None:  # a latency case's single steps, after the window
            metrics.update(metrics_mod.latency(timings.latency_times_s))
        burst = timings.burst or {}
        metrics.update(metrics_mod.burst(samples, flops, burst.get("block_times_s"), burst.get("steps_per_block")))
        spanned = getattr(burst_span, "summary", None) or {}
        metrics.update({"burst_power_w": spanned.get("power_w"), "burst_sm_clock_mhz": spanned.get("sm_clock_mhz")})
        out = {"timing": record_mod.timing_section(timings, settings), "metrics": record_mod.numbers(metrics)}
        if summary is not None:
            summary = dict(summary)
            if flush is not None and summary.get("energy_j") is not None:
                # the L2-flush writes ran inside the window: their energy is in the case's figure
                summary["quality_flags"] = [*(summary.get("quality_flags") or []), "l2-flush-in-window"]
            out["telemetry"] = record_mod.numbers(summary)
        elif self.telemetry is None:
            out["telemetry"] = dict(record_mod.TELEMETRY_OFF)
        others = getattr(window, "node_summaries", None)
        if others:
            out["node_telemetry"] = {d: record_mod.numbers(s or {}) for d, s in others.items()}
        out["numerics"] = record_mod.numbers(checked)
        if prepared is not None:
            out["compile"] = record_mod.numbers(prepared)
        flags = ([numerics.FLAG] if numerics.flagged(checked) else []) + \
            ([RECOMPILED_FLAG] if (prepared or {}).get("recompiles") else [])
        if flags:  # judgements of the result, beside the window's own (`benchsuite.flags`)
            telemetry = out.setdefault("telemetry", {})
            telemetry["quality_flags"] = [*(telemetry.get("quality_flags") or []), *flags]
        return out

    def _window(self, device: Device, case: Case):
        """The telemetry window of a case (`Telemetry.window_for`), or None when telemetry is off."""
        if self.telemetry is None:
            return None
        # the timed loop keeps the device running its pattern while the edges are read
        return self.telemetry.window_for(device, case.id, also=self.node_devices, align=True)

    def find_auto_batch(self, case: Case, device: Device) -> tuple[int | None, list[dict]]:
        """Largest power of two that fits: doubles until OOM (GPU) or a memory/time cap (CPU)."""
        probes = self._doubling(case, device, "auto", timed=False)
        fitted = [p["batch_size"] for p in probes if p["fits"]]
        return (fitted[-1] if fitted else None), probes

    def find_best_batch(self, case: Case, device: Device) -> tuple[int | None, list[dict]]:
        """The power of two of highest throughput: doubles from 1 until `BEST_FALLS` probes in a
        row fall below the best so far, or OOM, or auto's caps; returns it and every probe."""

        def fell(probes: list[dict]) -> str | None:
            best = _fastest(probes)
            if len(probes) - 1 - best < BEST_FALLS:
                return None
            return (f"fell: {BEST_FALLS} probes in a row below the best "
                    f"({_rate(probes[best]):.4g} samples/s at batch {probes[best]['batch_size']})")

        probes = self._doubling(case, device, "best", timed=True, stop=fell)
        fitted = [p for p in probes if p["fits"]]
        return (fitted[_fastest(fitted)]["batch_size"] if fitted else None), probes

    def _doubling(self, case: Case, device: Device, option: str, *, timed: bool,
                  stop: Callable[[list[dict]], str | None] = lambda probes: None) -> list[dict]:
        """Probes batch 1, 2, 4, ... up to `AUTO_BATCH_MAX` (`_probe`) until one does not fit, one
        names a cap (its ``stop``), or ``stop(the probes so far, all fitting)`` gives a reason (then
        the last probe's ``stop``); past `AUTO_BATCH_MAX` the last probe names that cap
        (``--batch-size <option>``). Returns every probe."""
        probes: list[dict] = []
        size = 1
        while size <= AUTO_BATCH_MAX:
            probe = self._probe(case, device, size, timed=timed)
            probes.append(probe)
            if not probe["fits"]:
                break
            reason = stop(probes)
            if reason:
                probe["stop"] = reason
            if probe.get("stop"):
                break
            size *= 2
        else:
            probes[-1]["stop"] = f"cap: --batch-size {option} goes no higher than {AUTO_BATCH_MAX}"
        return probes

    def _fastest_block(self, step: Callable[[], None], sync: Callable[[], None]) -> tuple[float, int]:
        """(seconds per step of the fastest of `BEST_PROBE_BLOCKS` blocks, steps run in all). The
        first block doubles its step count until it lasts `BEST_PROBE_BLOCK_S`; the others run that
        count. The device is waited for at the end of each block only."""
        n, total = 1, 0
        while True:
            t0 = self.clock()
            for _ in range(n):
                step()
            sync()
            elapsed = self.clock() - t0
            total += n
            if elapsed >= BEST_PROBE_BLOCK_S or n >= AUTO_BATCH_MAX:
                break
            n *= 2
        per_step = [elapsed / n]
        for _ in range(BEST_PROBE_BLOCKS - 1):
            t0 = self.clock()
            for _ in range(n):
                step()
            sync()
            per_step.append((self.clock() - t0) / n)
            total += n
        return min(per_step), total

    def _probe(self, case: Case, device: Device, size: int, *, timed: bool) -> dict[str, Any]:
        """Set ``case`` up at batch ``size`` and run it: ``fits`` False on OOM; ``step_s`` (two
        steps, or with ``timed`` a timed loop after a warm-up, with ``samples_per_s``); ``stop``
        names a CPU cap reached (the next doubling would pass `AUTO_BATCH_CPU_MEMORY_SHARE` of the
        available memory, or a step took over `AUTO_BATCH_CPU_STEP_S`)."""
        import psutil

        available = psutil.virtual_memory().available
        rss_before = psutil.Process().memory_info().rss
        workload = self.registry[case.workload](**case.param_dict)

        def sync() -> None:
            if device.type == "cuda":
                import torch

                torch.cuda.synchronize(case.device)

        try:
            with precision.numerics(case.precision), _cudnn_benchmark(device.type == "cuda" and timed):
                workload.setup(case.with_batch(size))
                if timed:
                    workload.run_steps(BEST_PROBE_WARMUP)
                    sync()
                    with workload.steps_context():
                        step_s, steps = self._fastest_block(workload.step, sync)
                else:
                    t0 = self.clock()
                    workload.run_steps(2)
                    sync()
                    step_s, steps = (self.clock() - t0) / 2, 2
                used = psutil.Process().memory_info().rss - rss_before  # weights, data, state
                samples = workload.samples_per_step
        except Exception as exc:
            if not is_oom(exc):
                raise
            return {"batch_size": size, "fits": False}
        finally:
            workload.teardown()
            free_memory(device)
        probe: dict[str, Any] = {"batch_size": size, "fits": True, "step_s": step_s}  # timed: the fastest block's
        if timed:
            probe.update(steps=steps, samples_per_s=samples / step_s if step_s > 0 else None)
        if device.type == "cpu":
            if 2 * max(used, 0) >= AUTO_BATCH_CPU_MEMORY_SHARE * available:
                probe["stop"] = "memory: the next doubling would pass half of the available memory"
            elif step_s > AUTO_BATCH_CPU_STEP_S:
                probe["stop"] = f"time: a step took over {AUTO_BATCH_CPU_STEP_S} s"
        return probe


#: The quality flag of a compiled case that compiled again after it was prepared (in warm-up
#: or the timed window): its figures may mix the compiles' time or two versions of the step.
RECOMPILED_FLAG = "recompiled"


def check_numerics(workload, case: Case) -> dict[str, Any]:
    """The case's ``numerics`` section (`benchsuite.numerics`): the workload's check, "not
    checked" for a workload without one, "not applicable" for collectives; a check that fails
    is recorded as status "error" and the case is still timed."""
    if workload.needs_process_group:
        return numerics.not_checked("a collective moves data: there is no fp32 result to compare",
                                    numerics.NOT_APPLICABLE)
    try:
        checked = workload.numerics()
    except Exception as exc:
        if is_oom(exc):
            raise
        return {"status": "error", "note": f"{type(exc).__name__}: {exc}".strip()}
    if checked is None:
        return numerics.not_checked(f"{case.workload} has no numerics check (Workload.numerics)")
    return checked


def is_latency_case(case: Case) -> bool:
    """Whether ``case`` measures latency (`benchsuite.metrics.is_latency`: batch-1 inference, what
    the claims' latency figures use): timed in blocks like every case, then a latency pass of
    single steps after the telemetry window (`benchsuite.timing.latency_pass`)."""
    return metrics_mod.is_latency(case.mode, case.batch_size)


def is_timeout(exc: BaseException) -> bool:
    """A process-group operation that ran past its timeout (gloo and NCCL word it differently)."""
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("timed out" in text or "timeout" in text)


def energy_metrics(summary: dict | None, samples_in_window: int, samples_per_s: float,
                   tflop_per_s: float | None) -> dict[str, float | None]:
    """Energy figures of one case from its telemetry window (`benchsuite.metrics.energy`);
    None where not measured."""
    return metrics_mod.energy((summary or {}).get("energy_j"), samples_in_window,
                              (summary or {}).get("power_mean_w"), samples_per_s, tflop_per_s)


def _rate(probe: dict) -> float:
    """A timed probe's samples/s, 0 where it has none."""
    return probe.get("samples_per_s") or 0.0


def _fastest(probes: list[dict]) -> int:
    """Index of the probe of highest samples/s; the first of equals (the smaller batch)."""
    return max(range(len(probes)), key=lambda i: _rate(probes[i]))


@contextlib.contextmanager
def _cudnn_benchmark(enabled: bool):
    """Let cuDNN pick its fastest convolution algorithms (during warm-up) on a GPU."""
    import torch

    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = enabled or previous
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous
