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
its figure can be slightly higher). Energy figures are over every distinct device, when each
one was measured. The figures are `benchsuite.metrics.derive`'s, from these global inputs.
Each rank's own figures stay in ``ranks``.
"""

from __future__ import annotations

import copy
from typing import Sequence

from benchsuite import bandwidth
from benchsuite import metrics as metrics_mod
from benchsuite import record as record_mod


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
    nbytes = [m.get("bytes_per_step") for m in per]
    refs = {ref: [m.get(ref) for m in per] for ref in ("peak_tflop_per_s", "achievable_tflop_per_s")}
    energy_j, power_w, in_window = _window_totals(records, ranks, collective)
    derived = metrics_mod.derive(
        samples_per_step=samples, step_s=slowest, devices=None if collective else n,
        flops_per_step=sum(flops) if all(flops) else None, bytes_per_step=sum(nbytes) if all(nbytes) else None,
        # each rank's device: N × one device's figure for equal devices
        **{ref: sum(v) if all(v) else None for ref, v in refs.items()},
        energy_j=energy_j, power_mean_w=power_w, samples_in_window=in_window)
    if collective:  # done jointly: there is no per-device figure
        derived["samples_per_s_per_device"] = None
    metrics.update({
        "world_size": n,
        "step_s_median_slowest": slowest,
        "slowest_rank": medians.index(slowest),
        "samples_per_step_global": samples,
    })
    metrics.update(derived)
    metrics.update(_global_burst(records, samples, derived, flops))
    metrics["calibration_stale"] = metrics_mod.calibration_stale(metrics.get("pct_of_achievable"))
    if all(flops):
        metrics["flops_per_step_global"] = sum(flops)
    if metrics.get("collective_op"):
        size = metrics["bytes_per_step"]
        metrics["algbw_gbps"] = bandwidth.algbw_gbps(size, slowest)
        metrics["busbw_gbps"] = bandwidth.busbw_gbps(metrics["collective_op"], size, slowest, n)
    if derived["samples_per_j"] is not None:
        metrics["energy_j_global"] = energy_j
    if power_w is not None:
        metrics["power_mean_w_global"] = power_w
    return metrics


def _global_burst(records: Sequence[dict], samples: float, derived: dict, flops: list) -> dict:
    """The job's burst: every rank's samples per burst block ÷ the slowest rank's fastest burst
    block (the ranks agree on the block size); None when a rank has no burst."""
    bursts = [(r.get("timing") or {}).get("burst") or {} for r in records]
    best = [min(b["block_times_s"]) for b in bursts if b.get("block_times_s")]
    steps = {b.get("steps_per_block") for b in bursts}
    if len(best) != len(records) or len(steps) != 1:
        return metrics_mod.burst(None, None, None, None)
    return metrics_mod.burst(samples, sum(flops) if all(flops) else None, [max(best)], steps.pop())


def is_collective(record: dict) -> bool:
    """Whether a case record is a collective (`workloads.collective`): its metrics name the
    collective operation, or its workload is ``collective``."""
    return bool((record.get("metrics") or {}).get("collective_op")) or record.get("workload") == "collective"


def _window_totals(records: Sequence[dict], ranks: list[dict],
                   collective: bool = False) -> tuple[float | None, float | None, float]:
    """(energy J, mean power W) summed over every distinct device (a CPU shared by ranks
    counts once), each None unless every device's window measured it, and the samples
    processed in the windows (`benchsuite.metrics.window_samples`). A collective counts one
    sample per timed step for the whole job (ranks run the same agreed number of steps)."""
    seen: dict[tuple, dict | None] = {}
    for record, entry in zip(records, ranks):
        seen.setdefault((entry["hostname"], record.get("telemetry_device") or entry["device"]), entry["telemetry"])
    energies = [(t or {}).get("energy_j") for t in seen.values()]
    watts = [(t or {}).get("power_mean_w") for t in seen.values()]

    def in_window(record: dict, entry: dict, samples: float) -> float:
        return metrics_mod.window_samples(samples, record_mod.timed_steps(record),
                                          (record.get("timing") or {}).get("span_s"),
                                          (entry["telemetry"] or {}).get("window_s")) or 0.0

    if collective:  # ranks run the same agreed steps: one collective per step for the job
        samples = in_window(records[0], ranks[0], 1)
    else:
        samples = sum(in_window(r, e, (r.get("metrics") or {}).get("samples_per_step", 0))
                      for r, e in zip(records, ranks))
    return (sum(energies) if energies and all(energies) else None,
            sum(watts) if watts and all(watts) else None, samples)
