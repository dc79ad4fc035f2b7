"""Self-check (d): `benchsuite calibrate` against an independent timer and published figures.

On a GPU: calibrates bf16 and fp8 (with the default budget unless --budget), checks the
whole calibration took under 5 minutes, re-times the shape it found with
``triton.testing.do_bench`` (which also flushes L2 between repetitions; median) and
expects the two within 2 %, and prints the result beside the mamf-finder figures
published for an H100 SXM: bf16 794.5 and fp8 1,402.6 TFLOP/s (stas00, ml-engineering,
compute/accelerator/benchmarks, "Maximum Achievable Matmul FLOPS" table).
On a CPU (no triton): fp32 against ``torch.utils.benchmark`` (warm caches), goal 5 %.

Run: python benchmarks/selfcheck/calibration_check.py [--device cuda:0] [--budget 240]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from benchsuite import calibrate, devices, precision

# stas00/ml-engineering compute/accelerator/benchmarks/README.md (mamf-finder results table), H100 SXM
PUBLISHED_H100_SXM = {"bf16": 794.5, "fp8": 1402.6}
GOAL_GPU, GOAL_CPU, GOAL_TOTAL_S = 0.02, 0.05, 300.0


def reference_seconds(device: str, name: str, shape: tuple[int, int, int]) -> float:
    """Median seconds of one matmul of ``shape`` by an independent timer."""
    with precision.numerics(name):
        op = calibrate._operands(torch.device(device), name, shape)
        if device.startswith("cuda"):
            from triton.testing import do_bench

            return do_bench(op, warmup=100, rep=500, return_mode="median") / 1e3
        import torch.utils.benchmark as tbench

        timer = tbench.Timer("op()", globals={"op": op}, num_threads=torch.get_num_threads())
        return timer.blocked_autorange(min_run_time=1.0).median


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", default=None, help="comma list (default: bf16,fp8 on a GPU, fp32 on a CPU)")
    ap.add_argument("--budget", type=float, default=None)
    args = ap.parse_args()
    device = devices.resolve(args.device)[0]
    names = args.precision.split(",") if args.precision else (["bf16", "fp8"] if device.type == "cuda" else ["fp32"])
    names, skipped = calibrate.plan_precisions(device, names)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        made = calibrate.run([device], names, args.budget, tmp, hostname="selfcheck", driver=None, store_dir=tmp)
    total = time.monotonic() - t0
    record = made.records[0]
    verdicts = []
    if device.type == "cuda":
        verdicts.append(total <= GOAL_TOTAL_S)
        print(f"calibration took {total:.0f} s (goal: under {GOAL_TOTAL_S:.0f} s) -> {'PASS' if verdicts[-1] else 'FAIL'}")
    goal = GOAL_GPU if device.type == "cuda" else GOAL_CPU
    for name in names:
        entry = record["matmul"][name]
        if not entry["shape"]:
            print(f"{name}: no candidate fitted the budget")
            verdicts.append(False)
            continue
        shape = tuple(entry["shape"])
        refs = [reference_seconds(device.id, name, shape) for _ in range(3)]
        ref_tflops = calibrate.flops(shape) / statistics.median(refs) / 1e12
        ratio = entry["tflop_per_s"] / ref_tflops
        verdicts.append(abs(ratio - 1) <= goal)
        line = (f"{name} {shape[0]}x{shape[1]}x{shape[2]}: calibrate {entry['tflop_per_s']:.4g} TFLOP/s, "
                f"reference {ref_tflops:.4g} TFLOP/s, ratio {ratio:.4f} (goal: within {goal:.0%}) "
                f"-> {'PASS' if verdicts[-1] else 'FAIL'}")
        if entry.get("datasheet_tflop_per_s"):
            line += f"; {entry['pct_of_datasheet']:.1f}% of datasheet {entry['datasheet_tflop_per_s']:g}"
        if name in PUBLISHED_H100_SXM and "H100" in device.name:
            line += f"; mamf-finder published {PUBLISHED_H100_SXM[name]} (ours / theirs {entry['tflop_per_s'] / PUBLISHED_H100_SXM[name]:.3f})"
        print(line)
    for kind, entry in record["bandwidth"].items():
        sheet = f", {entry['pct_of_datasheet']:.1f}% of datasheet" if entry.get("pct_of_datasheet") else ""
        print(f"bandwidth {kind}: {entry['gb_per_s']:.1f} GB/s{sheet}")
    print("PASS" if all(verdicts) else "FAIL")


if __name__ == "__main__":
    main()
