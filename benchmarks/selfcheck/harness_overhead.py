"""Self-check (a): benchsuite's timing harness vs a bare perf_counter loop, ~1 ms step.

Goal: benchsuite's median step time within 2 % of a bare loop's. The bare loop is the least
a per-step timer can do (perf_counter before and after each step, nothing else); its
median is compared with benchsuite's, and the loop's whole time / steps (which holds the
timer calls themselves) is printed beside benchsuite's mean.
Run: python benchmarks/selfcheck/harness_overhead.py [--size 464] [--pairs 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from benchsuite.timing import TimingSettings, measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=464, help="matmul side; 464 is about 1 ms on 2 cores")
    ap.add_argument("--pairs", type=int, default=7, help="interleaved repeats")
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement")
    args = ap.parse_args()
    a, b = torch.randn(args.size, args.size), torch.randn(args.size, args.size)
    c = torch.empty(args.size, args.size)

    def step() -> None:
        torch.mm(a, b, out=c)

    def bare() -> tuple[float, float]:
        """(median step, whole loop time / steps) of a bare perf_counter loop."""
        for _ in range(20):
            step()
        times, start = [], time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        return statistics.median(times), (time.perf_counter() - start) / len(times)

    settings = TimingSettings(min_time_s=args.seconds, min_iters=10, warmup_iters=20, warmup_time_s=0)
    ratios, mean_ratios, ours_all, bare_all = [], [], [], []
    for _ in range(args.pairs):
        b_median, b_mean = bare()
        timings = measure(step, "cpu", settings)
        ratios.append(timings.median_s / b_median)
        mean_ratios.append(timings.stats["step_s_mean"] / b_mean)
        ours_all.append(timings.median_s)
        bare_all.append(b_median)
    med = statistics.median(ratios)
    print(f"step: {args.size}x{args.size} fp32 matmul, {torch.get_num_threads()} threads, {args.pairs} interleaved pairs")
    print(f"bare perf_counter loop: median step {statistics.median(bare_all) * 1e3:.3f} ms")
    print(f"benchsuite median step: {statistics.median(ours_all) * 1e3:.3f} ms")
    print(f"ratio benchsuite/bare, medians: median {med:.4f} (min {min(ratios):.4f}, max {max(ratios):.4f})")
    print(f"ratio benchsuite mean / bare loop time per step: median {statistics.median(mean_ratios):.4f} "
          f"(min {min(mean_ratios):.4f}, max {max(mean_ratios):.4f})")
    print("PASS" if abs(med - 1) <= 0.02 else "FAIL", "(goal: within 2 %)")


if __name__ == "__main__":
    main()
