"""Self-check (a): benchsuite's timing harness vs a bare perf_counter loop, ~1 ms step.

Goal: benchsuite's median step time within 2 % of the bare loop's mean step time.
Run: python benchmarks/selfcheck/harness_overhead.py [--size 384] [--pairs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchsuite.timing import TimingSettings, measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=384, help="matmul side; 384 is about 1 ms on 2 cores")
    ap.add_argument("--pairs", type=int, default=7, help="interleaved repeats")
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement")
    args = ap.parse_args()
    a, b = torch.randn(args.size, args.size), torch.randn(args.size, args.size)
    c = torch.empty(args.size, args.size)

    def step() -> None:
        torch.mm(a, b, out=c)

    def bare() -> float:
        for _ in range(20):
            step()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            step()
            n += 1
        return (time.perf_counter() - start) / n

    settings = TimingSettings(min_time_s=args.seconds, min_iters=10, warmup_iters=20, warmup_time_s=0)
    ratios, ours_all, bare_all = [], [], []
    for _ in range(args.pairs):
        b_s = bare()
        o_s = measure(step, "cpu", settings).median_s
        ratios.append(o_s / b_s)
        ours_all.append(o_s)
        bare_all.append(b_s)
    med = statistics.median(ratios)
    print(f"step: {args.size}x{args.size} fp32 matmul, {torch.get_num_threads()} threads, {args.pairs} interleaved pairs")
    print(f"bare perf_counter loop: median step {statistics.median(bare_all) * 1e3:.3f} ms")
    print(f"benchsuite median step: {statistics.median(ours_all) * 1e3:.3f} ms")
    print(f"ratio benchsuite/bare: median {med:.4f} (min {min(ratios):.4f}, max {max(ratios):.4f})")
    print("PASS" if abs(med - 1) <= 0.02 else "FAIL", "(goal: within 2 %)")


if __name__ == "__main__":
    main()
