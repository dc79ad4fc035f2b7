"""One case record from every rank's record of it (torch-free): status, global figures, per rank.

Global throughput is ``Σ samples_per_step over ranks ÷ the slowest rank's median step time``:
data-parallel ranks move in lock-step, so the slowest sets the pace (for equal batches
this is ``N × batch ÷ slowest median``). ``samples_per_s_per_device`` is that ÷ N;
``tflop_per_s`` sums the ranks' FLOPs the same way, and ``pct_of_peak`` and
``pct_of_achievable`` compare it with the sum of every rank's device figure (N × one
device's for equal devices; None when a rank lacks it). A collective is one
operation that every rank takes part in, so its ``samples_per_s`` is collectives per
second (1 ÷ slowest median), with no per-device figure; its ``algbw_gbps``/``busbw_gbps``
also use the slowest rank's median (nccl-tests averages the time over ranks by default, so
its figure can be slightly higher). Each rank's own figures stay in ``ranks``.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from benchsuite import bandwidth
from benchsuite import metrics as metrics_mod
from benchsuite import record as record_mod

# Figures kept for each rank in the merged record's ``ranks`` list.
PER_RANK_METRICS = record_mod.RANK_FIGURES
# Energy-derived figures: recomputed over the distinct devices when every one was measured.
ENERGY_METRICS = metrics_mod.ENERGY


def merge(records: Sequence[dict]) -> dict:
    """The record rank 0 writes for one case, from every rank's record (index = rank)."""
    n = len(records)
    base = copy.deepcopy(dict(records[0]))
    base.pop("node_telemetry", None)
    base["world_size"] = n
    base["ranks"] = [_rank_entry(i, r, records) for i, r in enumerate(records)]
    statuses = [r["status"] for r in records]
    if all(s == "ok" for s in statuses):
        base["metrics"] = _global_metrics(records, base["ranks"])
        return base
    if all(s == "skipped" for s in statuses):
        return base
    failing = [i for i, s in enumerate(statuses) if s != "ok"]
    status = "error" if "error" in statuses or "skipped" in statuses else "oom"
    reason = "; ".join(f"rank {i}: {records[i].get('reason')}" for i in failing)
    done = [i for i, s in enumerate(statuses) if s == "ok"]
    if done:
        reason += f" (rank{'s' if len(done) > 1 else ''} {', '.join(map(str, done))} completed the case)"
    base.update({"status": status, "reason": reason})
    if base.get("traceback") is None:
        tb = next((records[i].get("traceback") for i in failing if records[i].get("traceback")), None)
        if tb:
            base["traceback"] = tb
    for key in record_mod.SECTIONS:  # a failed case has no measurement
        base.pop(key, None)
    return base


def _rank_entry(i: int, record: dict, records: Sequence[dict]) -> dict:
    return record_mod.rank_entry(i, record, _telemetry_of(record, records))


def _telemetry_of(record: dict, records: Sequence[dict]) -> dict | None:
    """A rank's window summary: its own, or the one its node's local rank 0 took of its device."""
    if record.get("telemetry") is not None:
        return record["telemetry"]
    key = record.get("telemetry_device")
    for other in records:
        if other.get("hostname") != record.get("hostname"):
            continue
        if key in (other.get("node_telemetry") or {}):
            return other["node_telemetry"][key]
        if other.get("telemetry_device") == key and other.get("telemetry") is not None:
            return other["telemetry"]  # the same device (ranks sharing a node's CPU)
    return None


def _global_metrics(records: Sequence[dict], ranks: list[dict]) -> dict:
    n = len(records)
    per = [r.get("metrics") or {} for r in records]
    metrics = dict(per[0])
    medians = [m["step_s_median"] for m in per]
    slowest = max(medians)
    collective = is_collective(records[0])
    # A collective is done jointly: one per step for the whole job, not one per rank.
    samples = 1 if collective else sum(m.get("samples_per_step") or 0 for m in per)
    flops = [m.get("flops_per_step") for m in per]
    refs = {ref: [m.get(ref) for m in per] for ref in ("peak_tflop_per_s", "achievable_tflop_per_s")}
    # each rank's device: N × one device's figure for equal devices
    derived = metrics_mod.derive(samples_per_step=samples, step_s=slowest, devices=None if collective else n,
                                 flops_per_step=sum(flops) if all(flops) else None,
                                 **{ref: sum(v) if all(v) else None for ref, v in refs.items()})
    metrics.update({
        "world_size": n,
        "step_s_median_slowest": slowest,
        "slowest_rank": medians.index(slowest),
        "samples_per_step_global": samples,
        "samples_per_s": derived["samples_per_s"],
        "samples_per_s_per_device": derived.get("samples_per_s_per_device"),
    })
    if all(flops):
        metrics["flops_per_step_global"] = sum(flops)
        metrics.update({k: derived[k] for k in ("tflop_per_s", "pct_of_peak", "pct_of_achievable")})
    if metrics.get("collective_op"):
        size = metrics["bytes_per_step"]
        metrics["algbw_gbps"] = bandwidth.algbw_gbps(size, slowest)
        metrics["busbw_gbps"] = bandwidth.busbw_gbps(metrics["collective_op"], size, slowest, n)
    metrics.update(_global_energy(records, ranks, samples / slowest, metrics.get("tflop_per_s"), collective))
    return metrics


def is_collective(record: dict) -> bool:
    """Whether a case record is a collective (`workloads.collective`): its metrics name the
    collective operation, or its workload is ``collective``."""
    return bool((record.get("metrics") or {}).get("collective_op")) or record.get("workload") == "collective"


def _global_energy(records: Sequence[dict], ranks: list[dict], samples_per_s: float,
                   tflop_per_s: float | None, collective: bool = False) -> dict:
    """Energy figures over every distinct device (a CPU shared by ranks counts once); None
    unless each device's window measured energy and power. A collective counts one sample
    per timed step for the whole job (ranks run the same agreed number of steps)."""
    seen: dict[tuple, dict | None] = {}
    for record, entry in zip(records, ranks):
        seen.setdefault((entry["hostname"], record.get("telemetry_device") or entry["device"]), entry["telemetry"])
    energies = [(t or {}).get("energy_j") for t in seen.values()]
    watts = [(t or {}).get("power_mean_w") for t in seen.values()]
    if collective:
        in_window = len((records[0].get("timing") or {}).get("times_s") or [])
    else:
        in_window = sum((r.get("metrics") or {}).get("samples_per_step", 0)
                        * len((r.get("timing") or {}).get("times_s") or []) for r in records)
    total = sum(energies) if energies and all(energies) else None
    total_w = sum(watts) if watts and all(watts) else None
    out: dict[str, Any] = metrics_mod.energy(total, in_window, total_w, samples_per_s, tflop_per_s)
    if out["samples_per_j"] is not None:
        out["energy_j_global"] = total
    if total_w is not None:
        out["power_mean_w_global"] = total_w
    return out
