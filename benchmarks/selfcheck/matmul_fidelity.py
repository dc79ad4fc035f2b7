"""Self-check (b): benchsuite's matmul fp32 TFLOP/s on the CPU vs torch.utils.benchmark.

The Timer runs with ``num_threads=torch.get_num_threads()`` (it uses one thread unless
told). Goal: within 3 %. Run: python benchmarks/selfcheck/matmul_fidelity.py [--size 1024]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch
import torch.utils.benchmark as tbench

from benchsuite import devices, runner
from benchsuite.plan import Case
from benchsuite.results import RunStore
from benchsuite.settings import RunSettings
from benchsuite.timing import TimingSettings
from benchsuite.workload import registry


def ours(size: int, seconds: float) -> float:
    """TFLOP/s as `benchsuite run --workload matmul --precision fp32` measures it."""
    reg = registry()
    case = Case("matmul", "infer", "cpu", "fp32", None, (("m", size), ("n", size), ("k", size)))
    settings = RunSettings(timing={"cpu": TimingSettings(min_time_s=seconds, min_iters=10)})
    with tempfile.TemporaryDirectory() as tmp:
        the_runner = runner.Runner(reg, [devices.cpu()], RunStore(tmp, {}), settings)
        record = the_runner.run_case(case)
    return record["metrics"]["tflop_per_s"]


def reference(size: int, seconds: float) -> float:
    a, b, c = torch.randn(size, size), torch.randn(size, size), torch.empty(size, size)
    # The same operation benchsuite's matmul step runs: into a preallocated output.
    timer = tbench.Timer("torch.mm(a, b, out=c)", globals={"a": a, "b": b, "c": c, "torch": torch},
                         num_threads=torch.get_num_threads())
    m = timer.blocked_autorange(min_run_time=seconds)
    return 2 * size**3 / m.median / 1e12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    ratios = []
    for _ in range(args.pairs):
        ref = reference(args.size, args.seconds)
        got = ours(args.size, args.seconds)
        ratios.append(got / ref)
        print(f"benchsuite {got:.4f} TFLOP/s, torch.utils.benchmark {ref:.4f} TFLOP/s, ratio {got / ref:.4f}")
    med = statistics.median(ratios)
    print(f"{args.size}^3 fp32 matmul, {torch.get_num_threads()} threads: ratio median {med:.4f} "
          f"(min {min(ratios):.4f}, max {max(ratios):.4f})")
    print("PASS" if abs(med - 1) <= 0.03 else "FAIL", "(goal: within 3 %)")


if __name__ == "__main__":
    main()
