"""How much does the telemetry sampler slow the work it measures? (run on demand)

    python benchmarks/selfcheck/sampler_overhead.py [--hz 100] [--pairs 10] [--seconds 1.0]

A CPU-bound torch workload (an N×N fp32 matmul loop) runs for a fixed time with the
sampler off and at ``--hz``, in interleaved pairs (the order alternates, so drift and
thermal trends fall on both sides). Per pair: ratio = throughput(on) / throughput(off).
Prints the median ratio, its min/max and IQR, and a one-line conclusion. GPUs visible to
NVML are sampled too; without NVML only the host is (say so when quoting the figure).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

import torch  # noqa: E402  (the workload; benchsuite.telemetry itself never imports torch)

from benchsuite.telemetry import Telemetry, nvml  # noqa: E402
from benchsuite.telemetry.host import HostSampler  # noqa: E402


def throughput(a: torch.Tensor, b: torch.Tensor, seconds: float) -> float:
    """Matmuls per second over about ``seconds`` of wall time."""
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        torch.mm(a, b)
        n += 1
        if n % 8 == 0 and time.perf_counter() >= deadline:
            break
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hz", type=float, default=100.0, help="sampler rate (1..1000)")
    p.add_argument("--pairs", type=int, default=10, help="interleaved on/off pairs")
    p.add_argument("--seconds", type=float, default=1.0, help="seconds per trial")
    p.add_argument("--size", type=int, default=512, help="matmul size N (N×N fp32)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--verbose", action="store_true", help="print every pair")
    args = p.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    a, b = torch.randn(args.size, args.size), torch.randn(args.size, args.size)
    throughput(a, b, 0.5)  # warm-up
    gpus = list(range(nvml.device_count()))
    ok, why = nvml.status()

    host = HostSampler()
    t0 = time.perf_counter()
    for _ in range(200):
        host.sample()
        for g in gpus:
            nvml.sample(g, errors=[])
    tick_us = (time.perf_counter() - t0) / 200 * 1e6

    ratios, rates = [], []
    for i in range(args.pairs):
        results = {}
        for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
            if mode == "off":
                results[mode] = throughput(a, b, args.seconds)
                continue
            with Telemetry(gpus, hz=args.hz) as tel:
                tel.sampler.wait_for_ticks(2)
                results[mode] = throughput(a, b, args.seconds)
            rates.append(tel.sampler.achieved_hz or float("nan"))
        ratios.append(results["on"] / results["off"])
        if args.verbose:
            print(f"pair {i}: off {results['off']:.1f}/s  on {results['on']:.1f}/s  "
                  f"ratio {ratios[-1]:.4f}")

    q1, med, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    med = statistics.median(ratios)
    overhead_pct = (1 - med) * 100
    noise_pct = (q3 - q1) * 100
    print(f"workload: {args.size}x{args.size} fp32 matmul, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.pairs} pairs x {args.seconds:g} s")
    print(f"sampled: {', '.join([f'cuda:{g}' for g in gpus] + ['host'])}"
          + ("" if ok else f"  (GPU: {why})"))
    print(f"sampler: asked {args.hz:g} Hz, achieved median {statistics.median(rates):.1f} Hz")
    print(f"throughput ratio on/off: median {med:.4f}  min {min(ratios):.4f}  "
          f"max {max(ratios):.4f}  IQR {q1:.4f}..{q3:.4f}")
    slower = sum(r < 1 for r in ratios)
    print(f"pairs slower with the sampler: {slower} of {len(ratios)}")
    print(f"one tick (all devices) costs {tick_us:.0f} us of CPU -> "
          f"{tick_us * args.hz / 1e4:.2f} % of one core at {args.hz:g} Hz")
    if q1 <= 1.0 <= q3:
        verdict = (f"median change {-overhead_pct:+.2f} % but the IQR ({noise_pct:.2f} points) "
                   f"straddles 1.0: not distinguishable from zero on this machine")
    else:
        verdict = (f"sampler at {args.hz:g} Hz changes throughput by about {-overhead_pct:+.2f} % "
                   f"(IQR {q1:.4f}..{q3:.4f} excludes 1.0: a real effect here)")
    if overhead_pct > 2 * tick_us * args.hz / 1e4 and not q1 <= 1.0 <= q3:
        verdict += ("; far more than the tick's own CPU cost, so the cost is wakeups "
                    "preempting a torch worker on a fully used CPU (try --threads N-1)")
    print("conclusion: " + verdict)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
