"""Claims evidence without measuring: flat case records, training results and claim rows
(for the verdict, store and rendering tests)."""

from __future__ import annotations

from benchsuite import keys
from benchsuite.claims import verdicts


def rec(workload, mode, device, samples_per_s, batch_size=128, **extra):
    """A flat case record as `benchsuite.claims.planning.flat_record` makes it."""
    params = {"m": 2048, "n": 2048, "k": 2048} if workload == "matmul" else {"variant": "fixed"}
    base = {"id": f"{workload}/{mode}/{device}/fp32/bs{batch_size}", "workload": workload, "mode": mode,
            "device": device, "device_name": "NVIDIA H100 80GB HBM3" if device.startswith("cuda") else "Some CPU",
            "precision": "fp32", "batch_size": None if workload == "matmul" else batch_size, "params": params,
            "status": "ok", "reason": None, "samples_per_s": samples_per_s, "hostname": "box",
            "step_s_median": 1 / samples_per_s, "step_s_p99": 1.2 / samples_per_s}
    base.update(extra)
    if mode == "infer" and batch_size == 1:  # a latency case: its single steps' p50/p99 (as a
        # record from before the latency pass gives them: its per-step median and p99)
        base.setdefault("latency_s_p50", base["step_s_median"])
        base.setdefault("latency_s_p99", base["step_s_p99"])
    base["key"] = keys.text(base)
    return base


def by_id(rows):
    return {r["id"]: r for r in rows}


def training(acc, subset=None, device="cpu"):
    return {"device": device, "device_name": "x", "status": "ok", "batch_size": 4, "subset": subset,
            "train_images": (subset or [50000])[0], "test_images": (subset or [0, 10000])[1],
            "accuracy_pct": acc, "cumulative_s": [10.0 * (i + 1) for i in range(len(acc))],
            "cumulative_energy_j": [None] * len(acc), "energy_note": "no RAPL on this CPU"}


def sample_claims():
    return verdicts.evaluate({
        "cases": [rec("cnn", "train", "cuda:0", 50.0), rec("cnn", "train", "cpu", 100.0)],
        "training_note": "CIFAR-10 not provided",
    })


def golden_evidence():
    """Fixed figures covering every verdict kind, for the golden markdown file."""
    gpu = dict(device_name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
    article = rec("cnn", "train", "cpu", 1.0, batch_size=4, status="error",
                  reason="RuntimeError: mat1 and mat2 shapes cannot be multiplied (4096x16 and 2304x128)")
    article.update(params={"variant": "article"}, id="cnn/train/cpu/fp32/bs4[variant=article]")
    cases = [rec("matmul", "infer", "cuda:0", 400.0, samples_per_j=2.0, sample_unit="product", tflop_per_s=6.87,
                 energy_method="counter", **gpu),
             rec("matmul", "infer", "cpu", 2.0, sample_unit="product"),
             rec("cnn", "infer", "cuda:0", 20000.0, samples_per_j=80.0, sample_unit="image", **gpu),
             rec("cnn", "infer", "cpu", 1000.0, sample_unit="image"),
             rec("cnn", "infer", "cuda:0", 2000.0, batch_size=1, sample_unit="image", step_s_p99=0.004, **gpu),
             rec("cnn", "infer", "cpu", 1000.0, batch_size=1, sample_unit="image"),
             article]
    return {
        "cases": cases,
        "gpu_results": [c for c in cases if c["device"].startswith("cuda")],
        "cpu_watts": 100.0,
        "training": [training([40.0 + 2 * i for i in range(10)])],
        "datasheets": [{"model": "H100 SXM", "tflops": {"fp32": 67.0, "bf16": 989.5}, "mem_bandwidth_gbs": 3350,
                        "tdp_w": 700, "source": "NVIDIA H100 Tensor Core GPU datasheet (2023), https://example"}],
    }
