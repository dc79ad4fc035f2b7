"""GPU self-check: our window's energy by counter vs by integrated power, and vs Zeus.

Runs a bf16 matmul for ``--seconds`` (default 30) inside one benchsuite telemetry window
and, when the ``zeus`` package is importable, a ``ZeusMonitor`` window over the same span.
Goals: counter and integrated energy within 5 %; Zeus (which reads the same counter) within
5 % of ours, which checks our windowing. Needs a CUDA GPU and NVML.

Run: python benchmarks/selfcheck/energy_crosscheck.py [--seconds 30] [--size 8192] [--hz 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--hz", type=float, default=20.0)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    import torch

    from benchsuite import devices
    from benchsuite.telemetry import Telemetry

    if not torch.cuda.is_available():
        print("needs a CUDA GPU; nothing measured")
        return 2
    gpu = devices.cuda()[0]
    if gpu.telemetry_id is None:
        print(f"{gpu.id} could not be matched to an NVML device; nothing measured")
        return 2
    a = torch.randn(args.size, args.size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(args.size, args.size, device="cuda", dtype=torch.bfloat16)
    for _ in range(20):
        a @ b
    torch.cuda.synchronize()

    try:
        from zeus.monitor import ZeusMonitor

        zeus = ZeusMonitor(gpu_indices=[torch.cuda.current_device()])
    except Exception as exc:  # zeus is optional: carried as a wheel on the GPU machine
        zeus, zeus_error = None, f"{type(exc).__name__}: {exc}"

    with Telemetry([gpu.nvml_index], hz=args.hz) as tel:
        window = tel.window(gpu.telemetry_id, "energy-crosscheck")
        products = 0
        with window:
            if zeus is not None:
                zeus.begin_window("crosscheck", sync_execution=True)
            start = time.perf_counter()
            while time.perf_counter() - start < args.seconds:
                for _ in range(50):
                    a @ b
                products += 50
                torch.cuda.synchronize()
            zeus_m = zeus.end_window("crosscheck", sync_execution=True) if zeus is not None else None
    s = window.summary
    out = {
        "gpu": gpu.name,
        "window_s": s["window_s"],
        "tflop_per_s": 2 * args.size**3 * products / s["window_s"] / 1e12,
        "energy_counter_j": s.get("energy_counter_j"),
        "energy_integrated_j": s.get("energy_integrated_j"),
        "power_mean_w": s.get("power_mean_w"),
        "power_source": s.get("power_source"),
        "achieved_hz": s.get("achieved_hz"),
        "quality_flags": s.get("quality_flags"),
        "zeus_j": zeus_m.total_energy if zeus_m is not None else None,
        "zeus_s": zeus_m.time if zeus_m is not None else None,
    }
    ok = True
    if out["energy_counter_j"] and out["energy_integrated_j"]:
        ratio = out["energy_integrated_j"] / out["energy_counter_j"]
        out["integrated_over_counter"] = ratio
        ok &= abs(ratio - 1) <= 0.05
    if out["zeus_j"] and out["energy_counter_j"]:
        # Zeus' window opens and closes a little inside ours: compare average power.
        ratio = (out["zeus_j"] / out["zeus_s"]) / (out["energy_counter_j"] / out["window_s"])
        out["zeus_over_ours_power"] = ratio
        ok &= abs(ratio - 1) <= 0.05
    elif zeus is None:
        out["zeus"] = f"not measured: {zeus_error}"
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    print("PASS" if ok else "FAIL", "(goals: within 5 %)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
