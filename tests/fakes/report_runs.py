"""Synthetic run directories for report, compare and table tests (and the report-speed
self-check): results.jsonl written through `results.RunStore`, plus a samples.csv.

Everything is derived from a seeded generator, so the files are the same every time.
No torch, no GPU: these stand in for runs measured elsewhere.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import Any

from benchsuite import results

SAMPLE_COLUMNS = ["t_s", "time_unix", "device", "case_id", "power_w", "power_source", "energy_j",
                  "mem_used_bytes", "mem_total_bytes", "util_gpu_pct", "util_mem_pct", "sm_clock_mhz",
                  "mem_clock_mhz", "temp_c", "pstate", "power_limit_w", "throttle_mask", "cpu_util_pct",
                  "rss_bytes", "cpu_energy_j"]


def gpu_static(index: int = 0, power_limit_w: float = 700.0, **over: Any) -> dict:
    """What nvml.device_static returns for one GPU (fingerprint fields)."""
    data = {"index": index, "name": "NVIDIA H100 80GB HBM3", "uuid": f"GPU-{index}", "pci_bus_id": f"0000:0{index}:00.0",
            "memory_total_bytes": 80 * 2**30, "power_limit_w": power_limit_w, "enforced_power_limit_w": power_limit_w,
            "default_power_limit_w": 700.0, "sm_clock_app_mhz": 1755, "mem_clock_app_mhz": 2619,
            "sm_clock_max_mhz": 1980, "mem_clock_max_mhz": 2619, "ecc_enabled": True, "mig_enabled": False,
            "persistence_enabled": True, "pcie_gen": 5, "pcie_width": 16, "compute_mode": "default", "temp_start_c": 35}
    data.update(over)
    return data


def header(hostname: str = "gpu-box", tag: str | None = "nightly", device: str = "cuda:0",
           device_name: str = "NVIDIA H100 80GB HBM3", telemetry: bool = True, driver: str = "580.65.06",
           gpus: list[dict] | None = None, quick: bool = False) -> dict:
    is_gpu = device.startswith("cuda")
    host = {"hostname": hostname, "os": "Linux 6.8", "python": "3.11.7", "torch": "2.14.1+cu130",
            "cuda_runtime": "13.0" if is_gpu else None, "cpu_model": "AMD EPYC 9654", "cpu_governor": "performance",
            "driver": driver if is_gpu else None, "cuda_driver": "13.0" if is_gpu else None, "nvml": is_gpu}
    dev = {"id": device, "type": "cuda" if is_gpu else "cpu", "name": device_name, "memory_bytes": 80 * 2**30,
           "compute_capability": "9.0" if is_gpu else None,
           "datasheet": {"model": device_name, "tflops": {"fp32": 67.0, "bf16": 989.0}} if is_gpu else None}
    out = {"benchsuite": "0.1.0", "tag": tag, "command": "benchsuite run -w mlp,cnn -b 32,128",
           "options": {}, "host": host, "devices": [dev], "threads": 8, "settings": {"quick": quick}}
    if telemetry and is_gpu:
        out["telemetry"] = {"gpus": gpus if gpus is not None else [gpu_static()]}
    return out


def make_run(parent: Path, run_id: str, *, workloads=("mlp", "cnn"), precisions=("fp32", "bf16"),
             batch_sizes=(32, 128, 512), speed: float = 1.0, telemetry: bool = True, samples_per_case: int = 20,
             failures: bool = True, seed: int = 0, reason_text: str = "CUDA out of memory", **head: Any) -> Path:
    """Write ``parent/run_id/`` and return it. ``speed`` scales every throughput."""
    rng = random.Random(seed)
    h = header(telemetry=telemetry, **head)
    device = h["devices"][0]["id"]
    device_name = h["devices"][0]["name"]
    store = results.RunStore(parent, h, run_id=run_id)
    rows = []
    t0 = 1_764_000_000.0
    t = 0.0
    for workload in workloads:
        for precision in precisions:
            for bs in batch_sizes:
                case_id = f"{workload}/train/{device}/{precision}/bs{bs}"
                base = {"id": case_id, "workload": workload, "mode": "train", "device": device,
                        "device_name": device_name, "precision": precision, "batch_size": bs,
                        "params": {"widths": [32, 64, 10]} if workload == "mlp" else {}, "notes": []}
                if failures and bs == batch_sizes[-1] and precision == precisions[0]:
                    store.append({**base, "status": "oom", "reason": f"{reason_text} at batch {bs}"})
                    continue
                # Throughput rises with batch size and with lower precision, saturating.
                per_sample = 1e-5 * (2.0 if precision == "fp32" else 1.0) * (1 + 64 / bs) / speed
                median = per_sample * bs
                times = [median * (1 + rng.gauss(0, 0.01)) for _ in range(50)]
                times.sort()
                q1, q3 = times[12], times[37]
                med = (times[24] + times[25]) / 2
                sps = bs / med
                flops = 1e9 * bs
                power = 300 + 200 * (1 - 64 / (bs + 64)) * (1.2 if precision == "fp32" else 1.0)
                metrics = {"iters": 50, "step_s_median": med, "step_s_iqr": q3 - q1, "step_s_p90": times[45],
                           "step_s_p99": times[49], "step_s_mean": sum(times) / 50, "step_s_min": times[0],
                           "step_s_max": times[49], "samples_per_s": sps, "tflop_per_s": flops / med / 1e12,
                           "peak_tflop_per_s": (989.0 if precision == "bf16" else 67.0) if device != "cpu" else None,
                           "flops_per_step": flops,
                           "mem_peak_bytes": int(2**20 * bs * (4 if precision == "fp32" else 2))}
                metrics["pct_of_peak"] = (100 * metrics["tflop_per_s"] / metrics["peak_tflop_per_s"]
                                          if metrics["peak_tflop_per_s"] else None)
                tele = None
                if telemetry:
                    energy = power * med * 50
                    tele = {"power_mean_w": power, "power_max_w": power * 1.1, "energy_j": energy,
                            "energy_method": "counter", "idle_power_w": 70.0, "active_energy_j": energy * 0.8,
                            "mem_used_peak_bytes": metrics["mem_peak_bytes"] + 2**29, "util_gpu_mean_pct": 95.0,
                            "util_mem_mean_pct": 60.0, "sm_clock_mean_mhz": 1750.0, "mem_clock_mean_mhz": 2619.0,
                            "temp_max_c": 70.0, "temp_start_c": 40.0, "throttle_reasons": [], "throttled_share": 0.0,
                            "quality_flags": [], "telemetry_note": None}
                    metrics.update({"samples_per_j": sps / power, "j_per_sample": power / sps,
                                    "samples_per_s_per_w": sps / power,
                                    "tflop_per_s_per_w": metrics["tflop_per_s"] / power})
                record = {**base, "status": "ok", "reason": None, "metrics": metrics,
                          "timing": {"method": "cuda_event", "times_s": times}}
                if tele is not None:
                    record["telemetry"] = tele
                store.append(record)
                for k in range(samples_per_case):
                    rows.append(_sample(rng, t, t0, device, case_id, power, k, samples_per_case))
                    rows.append([round(t, 3), round(t0 + t, 3), "host", case_id] + [""] * 13
                                + [round(rng.uniform(40, 60), 1), 2**31, ""])
                    t += 0.1
            if failures and workload == workloads[-1] and precision == precisions[-1]:
                store.append({"id": f"{workload}/train/{device}/fp8/bs32", "workload": workload, "mode": "train",
                              "device": device, "device_name": device_name, "precision": "fp8", "batch_size": 32,
                              "params": {}, "notes": [], "status": "skipped",
                              "reason": "fp8 needs compute capability 8.9+"})
                store.append({"id": f"{workload}/infer/{device}/bf16/bs32", "workload": workload, "mode": "infer",
                              "device": device, "device_name": device_name, "precision": "bf16", "batch_size": 32,
                              "params": {}, "notes": [], "status": "error",
                              "reason": "RuntimeError: mat1 and mat2 shapes cannot be multiplied (32x16384 and 4096x128)"})
    store.close("completed")
    if telemetry and rows:
        with (store.dir / results.SAMPLES_FILE).open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(SAMPLE_COLUMNS)
            writer.writerows(rows)
    return store.dir


def _sample(rng: random.Random, t: float, t0: float, device: str, case_id: str, power: float, k: int, n: int) -> list:
    """One samples.csv row: a GPU row (power, memory, clocks) for the case."""
    ramp = min(1.0, (k + 1) / max(1, n // 4))
    p = 70 + (power - 70) * ramp + rng.gauss(0, 3)
    return [round(t, 3), round(t0 + t, 3), device, case_id, round(p, 1), "instant", round(p * t, 1),
            int(2**30 * (1 + ramp)), 80 * 2**30, round(95 * ramp, 1), round(60 * ramp, 1), int(1400 + 350 * ramp),
            2619, round(40 + 20 * ramp, 1), 0, 700, 0, "", "", ""]
