"""Calibration: what a device really reaches, as opposed to its datasheet.

Two ceilings per device, the two a roofline needs:

- **matmul TFLOP/s per precision**: a coarse-to-fine search over matmul shapes
  (`search_matmul`). Coarse: cubes M=N=K on a grid of ``coarse_step`` multiples up to a
  cap that fits memory. Fine: from the best so far, each of M, N, K is moved by ±step
  while that helps, then the step is halved, down to ``min_step``. Every candidate is timed
  with warm-up runs and then ``reps`` single repetitions (the median counts); on CUDA each
  repetition is timed by events and preceded by writing a buffer larger than L2, so no
  operand is served from L2 (cache state "flushed"). The search stops before a candidate
  would pass the time budget. The best few are re-timed with more repetitions at the end
  (the maximum of noisy medians is biased high) and the best re-timed median is reported.
- **memory bandwidth**: device-to-device copy (bytes read + bytes written per second,
  the convention behind datasheet HBM figures), and host-to-device / device-to-host copies
  from pinned memory (PCIe or NVLink-C2C). On a CPU: a large tensor copy in RAM.

A GPU is watched by NVML telemetry during each precision's search (matched by its NVML
index, never the torch index): the share of readings slowed by a power cap or thermal
slowdown, the reasons, mean power and peak temperature are stored with the figure, and a
search throttled for more than `THROTTLED_SHARE_THRESHOLD` of its readings is flagged
``throttled``, since its TFLOP/s is what a capped chip reached. Every record also holds
the torch version and thread count it was made with (`calibration_store.problem` refuses
it under another torch, and on a CPU under another thread count).

torch is imported inside functions only. The search takes a ``time_fn(shape) -> seconds``
and a clock, so tests drive it with fakes.
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from benchsuite import calibration_store, peaks, results, timing
from benchsuite.telemetry.window import THROTTLED_SHARE_THRESHOLD

Shape = tuple[int, int, int]

# Search grids per device type: (coarse step, min step, largest dimension).
# GPU tensor-core tiles are multiples of 64..256; mamf-finder's published H100 search
# uses steps of 256 up to 20480 (stas00/ml-engineering, compute/accelerator/benchmarks).
GRID = {"cuda": (2048, 256, 20480), "cpu": (256, 64, 2048)}
REPS = {"cuda": 10, "cpu": 3}        # timed repetitions per candidate (median counts)
WARMUP = {"cuda": 3, "cpu": 1}       # untimed runs per candidate
FINAL_REPS = {"cuda": 50, "cpu": 5}  # repetitions when re-timing the best candidates
FINAL_TOP = 3                        # how many of the best are re-timed
BUDGET_S = {"cuda": 120.0, "cpu": 20.0}
MATMUL_SHARE = 0.8                   # of the budget for the matmul searches, the rest for bandwidth
MEMORY_SHARE = 0.4                   # operands may take at most this share of free device memory
COPY_BYTES = {"cuda": 1 << 30, "cpu": 256 << 20}  # bytes per copy in the bandwidth measurements
COPY_REPS = {"cuda": 20, "cpu": 5}
TELEMETRY_HZ = 20.0                  # NVML readings per second while a GPU search runs
CPU_TELEMETRY_NOTE = "throttling not measured on a CPU"


@dataclass(frozen=True)
class Trial:
    """One timed candidate shape."""

    shape: Shape
    seconds: float
    tflop_per_s: float
    phase: str  # "coarse", "fine" or "final"


@dataclass
class SearchResult:
    """The outcome of one matmul search: the best shape and everything tried."""

    best: Trial | None
    trials: list[Trial] = field(default_factory=list)
    elapsed_s: float = 0.0
    budget_s: float = 0.0
    stopped_by_budget: bool = False


def flops(shape: Shape) -> float:
    """FLOPs of one M×K by K×N matmul: 2·M·N·K."""
    m, n, k = shape
    return 2.0 * m * n * k


def coarse_shapes(step: int, cap: int) -> list[Shape]:
    """Cubes on the coarse grid, largest last: (step, step, step) … (cap, cap, cap)."""
    return [(d, d, d) for d in range(step, cap + 1, step)]


SEARCH_SHARE = 0.8  # of a search's budget for the coarse and fine phases; the rest re-times the best


def search_matmul(time_fn: Callable[[Shape], float], *, budget_s: float, coarse_step: int, min_step: int,
                  cap: int, final_time_fn: Callable[[Shape], float] | None = None,
                  final_cost_factor: float = 1.0, clock: Callable[[], float] = time.monotonic,
                  on_trial: Callable[[Trial], None] | None = None) -> SearchResult:
    """Coarse-to-fine search for the shape with the highest TFLOP/s within ``budget_s``.

    ``time_fn(shape)`` returns the seconds of one matmul of that shape (a median);
    ``final_time_fn`` (default ``time_fn``) re-times the best ``FINAL_TOP`` at the end and
    costs about ``final_cost_factor`` times as much per candidate. A candidate is only
    started when the time it is expected to take (its FLOPs times the wall seconds per
    FLOP of the last candidate) still fits: the coarse and fine phases within
    ``SEARCH_SHARE`` of the budget, the re-timing within all of it.
    """
    start = clock()
    result = SearchResult(best=None, budget_s=budget_s)
    seen: dict[Shape, Trial] = {}
    cost_per_flop = [0.0]  # wall seconds per FLOP of the last candidate, for the budget check

    def fits(shape: Shape, phase: str) -> bool:
        factor, limit = (final_cost_factor, budget_s) if phase == "final" else (1.0, SEARCH_SHARE * budget_s)
        expected = cost_per_flop[0] * flops(shape) * factor
        if clock() - start + expected > limit:
            result.stopped_by_budget = True
            return False
        return True

    def attempt(shape: Shape, phase: str, fn: Callable[[Shape], float]) -> Trial | None:
        if phase != "final" and shape in seen:
            return seen[shape]
        if not fits(shape, phase):
            return None
        t0 = clock()
        seconds = fn(shape)
        cost_per_flop[0] = (clock() - t0) / flops(shape)
        trial = Trial(shape, seconds, flops(shape) / seconds / 1e12, phase)
        result.trials.append(trial)
        if phase != "final":
            seen[shape] = trial
        if on_trial is not None:
            on_trial(trial)
        return trial

    # Coarse: cubes, smallest first, so the budget check learns the cost before big ones.
    best: Trial | None = None
    for shape in coarse_shapes(coarse_step, cap):
        trial = attempt(shape, "coarse", time_fn)
        if trial is None:
            break
        if best is None or trial.tflop_per_s > best.tflop_per_s:
            best = trial
    # Fine: move one dimension at a time while it helps, halving the step.
    step = coarse_step // 2
    while best is not None and step >= min_step and not result.stopped_by_budget:
        improved = True
        while improved and not result.stopped_by_budget:
            improved = False
            for axis in range(3):
                for sign in (1, -1):
                    shape = list(best.shape)
                    shape[axis] += sign * step
                    if not min_step <= shape[axis] <= cap:
                        continue
                    trial = attempt(tuple(shape), "fine", time_fn)
                    if trial is None:
                        break
                    if trial.tflop_per_s > best.tflop_per_s:
                        best, improved = trial, True
        step //= 2
    # Final: re-time the best few with more repetitions; report the best re-timed median.
    ranked = sorted(seen.values(), key=lambda t: -t.tflop_per_s)[:FINAL_TOP]
    finals = [t for t in (attempt(c.shape, "final", final_time_fn or time_fn) for c in ranked) if t]
    result.best = max(finals, key=lambda t: t.tflop_per_s) if finals else best
    result.elapsed_s = clock() - start
    return result


# ------------------------------------------------------------------ measuring on torch


def _operands(device, precision_name: str, shape: Shape):
    """Random normal operands of ``shape`` in ``precision_name``, and the op that multiplies them."""
    import torch

    from benchsuite import precision

    m, n, k = shape
    a = torch.randn(m, k, device=device, dtype=torch.float32)
    b = torch.randn(n, k, device=device, dtype=torch.float32)
    if precision_name == "fp8":
        fp8 = precision.dtype("fp8")
        a8, b8 = a.to(fp8), b.to(fp8).t()  # b column-major, as _scaled_mm needs
        scale = torch.ones((), device=device, dtype=torch.float32)
        del a, b

        def op() -> None:
            torch._scaled_mm(a8, b8, scale_a=scale, scale_b=scale, out_dtype=torch.bfloat16)

        return op
    dtype = precision.dtype(precision_name)
    a, b = a.to(dtype), b.t().contiguous().to(dtype)
    c = torch.empty(m, n, device=device, dtype=dtype)

    def op() -> None:
        torch.mm(a, b, out=c)

    return op


def matmul_timer(device: str, precision_name: str, *, reps: int, warmup: int,
                 flush: Callable[[], Any] | None = None) -> Callable[[Shape], float]:
    """``time_fn(shape)``: median seconds of one matmul of ``shape`` on ``device``.

    Under `precision.numerics` (TF32 only for ``tf32``); ``flush`` runs before every
    repetition (CUDA: `timing.l2_flush`). A shape that runs out of memory takes ``inf`` seconds.
    """
    import torch

    from benchsuite import precision

    dev = torch.device(device)

    def time_fn(shape: Shape) -> float:
        try:
            with precision.numerics(precision_name):
                op = _operands(dev, precision_name, shape)
                times = timing.time_reps(op, dev.type, reps, warmup, flush=flush, device=dev)
        except torch.cuda.OutOfMemoryError:  # a shape that does not fit is a loser, not a crash
            op = None
            torch.cuda.empty_cache()
            return math.inf
        del op
        return statistics.median(times)

    return time_fn


def max_dim(device_type: str, precision_name: str, free_bytes: int | None, cap: int, step: int) -> int:
    """The largest multiple of ``step`` (≤ ``cap``) whose three square operands (plus the
    fp32 staging copies) fit in ``MEMORY_SHARE`` of ``free_bytes``."""
    if not free_bytes:
        return cap
    per_element = {"fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1}[precision_name]
    out_element = 2 if precision_name == "fp8" else per_element  # fp8 writes bf16
    # a and b in the precision, c in its output type, plus a and b staged in fp32 while made
    need_per_dim2 = 2 * per_element + out_element + 2 * 4
    largest = int(math.sqrt(MEMORY_SHARE * free_bytes / need_per_dim2))
    return max(step, min(cap, largest // step * step))


def copy_bandwidth(device: str, kind: str, nbytes: int, reps: int, warmup: int = 2) -> dict[str, Any]:
    """Achievable bandwidth of one copy kind, from the median of ``reps`` copies of ``nbytes``.

    ``d2d`` (device memory: read + write, 2·nbytes per copy) and, on CUDA, ``h2d`` /
    ``d2h`` (pinned host memory over PCIe or NVLink-C2C, nbytes per copy). On a CPU,
    ``d2d`` is a copy within RAM.
    """
    import torch

    dev = torch.device(device)
    count = nbytes // 4
    if kind == "d2d":
        src = torch.randn(count, device=dev)
        dst = torch.empty_like(src)
        moved = 2 * count * 4
    elif kind in ("h2d", "d2h") and dev.type == "cuda":
        host = torch.empty(count, dtype=torch.float32, pin_memory=True).normal_()
        gpu = torch.empty(count, dtype=torch.float32, device=dev)
        src, dst = (host, gpu) if kind == "h2d" else (gpu, host)
        moved = count * 4
    else:
        raise ValueError(f"copy kind {kind!r} on {device}: allowed are d2d (any device), h2d and d2h (CUDA)")

    def op() -> None:
        dst.copy_(src, non_blocking=True)

    seconds = statistics.median(timing.time_reps(op, dev.type, reps, warmup, device=dev))
    return {"gb_per_s": moved / seconds / 1e9, "bytes_per_copy": moved, "seconds": seconds, "reps": reps}


def default_precisions(device) -> list[str]:
    """fp32, tf32, bf16, fp16 and fp8 on a GPU, fp32 and bf16 on a CPU: those the device runs natively."""
    from benchsuite import precision

    wanted = ["fp32", "tf32", "bf16", "fp16", "fp8"] if device.type == "cuda" else ["fp32", "bf16"]
    return [p for p in wanted if precision.support(p, device).native]


def _free_bytes(device) -> int | None:
    if device.type != "cuda":
        import psutil

        return psutil.virtual_memory().available
    import torch

    free, _total = torch.cuda.mem_get_info(device.index)
    return int(free)


def _warm_device(device, budget_s: float) -> dict[str, Any]:
    """Bring a GPU to steady clocks and temperature before the search (the settle rule,
    readings straight from NVML), within ``budget_s``; a CPU is not warmed."""
    if device.type != "cuda":
        return {"settled": None, "seconds": 0.0, "note": "CPU: no settle rule"}
    import torch

    from benchsuite.telemetry import nvml

    ok, why = nvml.status()
    readings = (lambda: nvml.sample(device.nvml_index)) if ok and device.nvml_index is not None else None
    op = _operands(torch.device(device.id), "bf16" if "bf16" in device.native_precisions else "fp16",
                   (4096, 4096, 4096))
    settings = timing.TimingSettings(warmup_iters=10, warmup_time_s=1.0,
                                     settle_max_s=max(1.0, min(timing.TimingSettings.settle_max_s, budget_s)))
    warm = timing.settle(op, settings, lambda: torch.cuda.synchronize(device.index), readings)
    del op
    return {"settled": warm.settled, "seconds": warm.seconds, "note": warm.note or (None if ok else why)}


def _start_telemetry(device) -> Any:
    """A started `Telemetry` sampling ``device``'s GPU by its NVML index (never the torch
    index), or None for a CPU or a GPU not matched to NVML. Without NVML one is still made:
    its windows then say why nothing was measured."""
    if device.type != "cuda" or device.nvml_index is None:
        return None
    from benchsuite.telemetry import Telemetry

    tel = Telemetry([device.nvml_index], hz=TELEMETRY_HZ)
    tel.start()
    return tel


# What a search record keeps from its telemetry window, and the not_measured keys that
# explain each one when it is missing.
_WATCHED = {"throttled_share": ("throttled_share",), "power_mean_w": ("power_mean_w", "energy_j"),
            "temp_max_c": ("temp_max_c",)}


def search_conditions(summary: dict[str, Any] | None, note: str | None = None) -> dict[str, Any]:
    """The conditions one precision's search ran under, from its telemetry window ``summary``.

    ``throttled_share``: share (0..1) of readings slowed by a power, thermal or hardware cap;
    ``throttled``: that share above `THROTTLED_SHARE_THRESHOLD`; ``throttle_reasons`` (every
    clock-event reason seen) and ``throttle_slowing_reasons`` (those that slow the work);
    ``power_mean_w`` (W); ``temp_max_c`` (°C). What was not measured is None and
    ``telemetry_note`` says why (``note`` when given, e.g. on a CPU).
    """
    s = summary or {}
    share = s.get("throttled_share")
    if note is None:
        why: list[str] = []
        not_measured = s.get("not_measured") or {}
        for name, keys in _WATCHED.items():
            if s.get(name) is None:
                reason = next((not_measured[k] for k in keys if not_measured.get(k)), f"{name} not measured")
                if reason not in why:
                    why.append(reason)
        note = "; ".join(why) or None
    return {
        "throttled_share": share,
        "throttled": share > THROTTLED_SHARE_THRESHOLD if share is not None else None,
        "throttle_reasons": s.get("throttle_reasons"),
        "throttle_slowing_reasons": s.get("throttle_slowing_reasons"),
        "power_mean_w": s.get("power_mean_w"),
        "temp_max_c": s.get("temp_max_c"),
        "telemetry_note": note,
    }


def _prepare_cuda(device) -> tuple[Callable[[], Any] | None, int]:
    """Make ``device`` current and allocate its L2 flush buffer: (flush, buffer bytes)."""
    import torch

    torch.cuda.set_device(device.index)
    return timing.l2_flush(device.index)


def _search_precisions(device, precisions: list[str], budget_s: float, tel: Any, sheet: Any, *,
                       flush: Callable[[], Any] | None, on_trial: Callable[[str, Trial], None] | None,
                       clock: Callable[[], float]) -> dict[str, Any]:
    """Search each precision's best matmul within an even share of ``budget_s`` seconds, each
    inside its own window of telemetry ``tel`` (None on a CPU or a GPU not matched to NVML);
    {precision: matmul entry} with the datasheet figure from ``sheet`` (`peaks` entry or None)."""
    import torch

    coarse_step, min_step, cap = GRID[device.type]
    per_precision = max(0.0, budget_s) / max(1, len(precisions))
    matmul: dict[str, Any] = {}
    for name in precisions:
        window = tel.window_for(device, f"calibrate-{name}") if tel is not None else None
        cap_here = max_dim(device.type, name, _free_bytes(device), cap, coarse_step)
        time_fn = matmul_timer(device.id, name, reps=REPS[device.type], warmup=WARMUP[device.type], flush=flush)
        final_fn = matmul_timer(device.id, name, reps=FINAL_REPS[device.type], warmup=WARMUP[device.type],
                                flush=flush)
        with window if window is not None else contextlib.nullcontext():
            found = search_matmul(time_fn, budget_s=per_precision, coarse_step=coarse_step, min_step=min_step,
                                  cap=cap_here, final_time_fn=final_fn, clock=clock,
                                  final_cost_factor=(FINAL_REPS[device.type] + WARMUP[device.type])
                                  / (REPS[device.type] + WARMUP[device.type]),
                                  on_trial=(lambda t, n=name: on_trial(n, t)) if on_trial else None)
        if device.type != "cuda":
            conditions = search_conditions(None, CPU_TELEMETRY_NOTE)
        elif window is None:
            conditions = search_conditions(None, f"{device.id} is not matched to an NVML GPU: throttling "
                                                 "not measured")
        else:
            conditions = search_conditions(window.summary)
        datasheet = sheet.tflops.get(name) if sheet else None
        best = found.best if found.best is not None and found.best.tflop_per_s > 0 else None
        why = ("the budget did not allow a single candidate" if not found.trials
               else "every candidate ran out of memory")
        matmul[name] = {
            "tflop_per_s": best.tflop_per_s if best else None,
            "shape": list(best.shape) if best else None,
            "seconds": best.seconds if best else None,
            "datasheet_tflop_per_s": datasheet,
            "pct_of_datasheet": 100.0 * best.tflop_per_s / datasheet if best and datasheet else None,
            "candidates": len({t.shape for t in found.trials}),
            "search_s": found.elapsed_s,
            "budget_s": per_precision,
            "stopped_by_budget": found.stopped_by_budget,
            "grid": {"coarse_step": coarse_step, "min_step": min_step, "cap": cap_here},
            "top": [asdict(t) for t in sorted(found.trials, key=lambda t: -t.tflop_per_s)[:5]
                    if math.isfinite(t.seconds)],
            "note": None if best else why,
            **conditions,
        }
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return matmul


def calibrate_device(device, precisions: Iterable[str], budget_s: float, *, hostname: str,
                     driver: str | None, on_trial: Callable[[str, Trial], None] | None = None,
                     clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Measure one device's ceilings within ``budget_s`` seconds; return its calibration record."""
    import torch

    precisions = list(precisions)
    started_at = results.now_iso()
    t0 = clock()
    flush, flush_bytes = _prepare_cuda(device) if device.type == "cuda" else (None, 0)
    warm = _warm_device(device, 0.1 * budget_s)
    sheet = peaks.lookup(device.name) if device.type == "cuda" else None
    tel = _start_telemetry(device)
    try:
        matmul = _search_precisions(device, precisions, MATMUL_SHARE * budget_s - (clock() - t0), tel, sheet,
                                    flush=flush, on_trial=on_trial, clock=clock)
    finally:
        if tel is not None:
            tel.stop()
    bandwidth: dict[str, Any] = {}
    kinds = ["d2d", "h2d", "d2h"] if device.type == "cuda" else ["d2d"]
    free = _free_bytes(device) or COPY_BYTES[device.type] * 8
    nbytes = min(COPY_BYTES[device.type], int(free * 0.1) // 4 * 4)
    for kind in kinds:
        entry = copy_bandwidth(device.id, kind, nbytes, COPY_REPS[device.type])
        datasheet_gbs = sheet.mem_bandwidth_gbs if sheet and kind == "d2d" else None
        entry["datasheet_gb_per_s"] = datasheet_gbs
        entry["pct_of_datasheet"] = 100.0 * entry["gb_per_s"] / datasheet_gbs if datasheet_gbs else None
        bandwidth[kind] = entry
    key = calibration_store.device_key(hostname, device, driver)
    return {
        "kind": calibration_store.KIND,
        "version": calibration_store.CALIBRATION_VERSION,
        "id": f"{key}@{started_at}",
        "machine_key": key,
        "created_at": started_at,
        "hostname": hostname,
        "driver": driver if device.type == "cuda" else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": {"id": device.id, "type": device.type, "name": device.name},
        "datasheet_model": sheet.model if sheet else None,
        "budget_s": budget_s,
        "elapsed_s": clock() - t0,
        "cache_state": timing.CACHE_FLUSHED if flush is not None else timing.CACHE_WARM,
        "l2_flush_bytes": flush_bytes or None,
        "timing": "cuda-event per repetition" if device.type == "cuda" else "perf_counter per repetition",
        "warmup": warm,
        "matmul": matmul,
        "bandwidth": bandwidth,
    }


def plan_precisions(device, requested: list[str] | None) -> tuple[list[str], dict[str, str]]:
    """Precisions to calibrate on ``device`` (defaults when ``requested`` is None), and
    those skipped with their reason (fp8 on a CPU, tf32 before Ampere, …)."""
    from benchsuite import precision

    if requested is None:
        return default_precisions(device), {}
    chosen, skipped = [], {}
    for name in requested:
        support = precision.support(name, device)
        if support.runs:
            chosen.append(name)
        else:
            skipped[name] = support.reason or "not supported"
    return chosen, skipped


@dataclass
class CalibrationRun:
    """What `run` made: one record per device, the files written, the precisions skipped."""

    run_dir: Any
    records: list[dict] = field(default_factory=list)
    files: list[Any] = field(default_factory=list)
    run_file: Any = None
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)


def run(devices: list, requested: list[str] | None, budget_s: float | None, out_dir, *,
        hostname: str, driver: str | None, store_dir=None,
        on_trial: Callable[[str, str, Trial], None] | None = None) -> CalibrationRun:
    """Calibrate each device (``budget_s`` seconds each; default `BUDGET_S` by device type),
    store each record in its per-machine file and all of them in ``out_dir/<run-id>/``."""
    from pathlib import Path

    run_dir = Path(out_dir) / results.new_run_id()
    made = CalibrationRun(run_dir=run_dir)
    try:
        for device in devices:
            names, skipped = plan_precisions(device, requested)
            if skipped:
                made.skipped[device.id] = skipped
            budget = budget_s if budget_s is not None else BUDGET_S[device.type]
            record = calibrate_device(device, names, budget, hostname=hostname, driver=driver,
                                      on_trial=(lambda p, t, d=device.id: on_trial(d, p, t)) if on_trial else None)
            record["skipped"] = skipped
            made.files.append(calibration_store.save(record, store_dir))
            record["file"] = str(made.files[-1])
            made.records.append(record)
            made.run_file = calibration_store.write_run_copy(run_dir, made.records)
    except KeyboardInterrupt as exc:
        raise CalibrationInterrupted(made, exc) from exc
    return made


class CalibrationInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) stopped `run`; ``made`` holds what was stored before it (its
    ``files`` and ``run_file``: nothing when both are empty), ``cause`` the interruption."""

    def __init__(self, made: CalibrationRun, cause: BaseException) -> None:
        super().__init__(f"calibration interrupted after {len(made.files)} device(s)")
        self.made = made
        self.cause = cause
