"""Self-check (issue 16 item 4): sustained and burst against outside references, one process.

On one matmul shape (default bf16 8192³ on a GPU, fp32 1024³ on a CPU):

- benchsuite's case (``benchsuite.run``): sustained TFLOP/s (median block over the steady
  window) and burst TFLOP/s (the fastest of 5 blocks of >= 10 ms after a 0.25 s idle);
- do_bench's median: ``triton.testing.do_bench(warmup=100, rep=500, return_mode="median")``
  when triton is installed, else benchsuite's re-implementation (`calibrate.dobench_like`),
  ``--rounds`` times just before the case and again just after it, as issue 16 measured (676
  before, 678 after); sustained is compared with the mean of the two medians, and each ratio is
  printed, so a drift of the card during the case shows instead of biasing one side;
  do_bench writes a 256 MiB buffer before every repetition (a gap that lets clocks rise), so
  the same events back to back without the flush are printed beside it;
- best-of-blocks, as mamf-finder reports a burst: the device idles 0.25 s, one untimed
  product, then 5 blocks of ceil(10 ms / product) products between CUDA events, the fastest;
  repeated ``--rounds`` times, the median of the rounds.

Goals (H100): sustained >= 0.99 of do_bench's median; burst >= 0.99 of best-of-blocks.
Run: python benchmarks/selfcheck/burst_check.py [--device cuda:0] [--precision bf16] [--size 8192]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

import benchsuite
from benchsuite import calibrate, timing

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout
from benchmarks.selfcheck.calibration_check import do_bench_s  # noqa: E402  (the same reference)

GOAL = 0.99


def _after_idle(op, device_type: str, idle_s: float, block_s: float) -> tuple[int, float]:
    """The device drained and idle for ``idle_s``, then one untimed product: (products per block of
    about ``block_s``, that product's seconds)."""
    if device_type == "cuda":
        torch.cuda.synchronize()
    time.sleep(idle_s)
    t0 = time.perf_counter()
    op()
    if device_type == "cuda":
        torch.cuda.synchronize()
    once = time.perf_counter() - t0
    return max(1, math.ceil(block_s / once)), once


def _block_times(op, device_type: str, blocks: int, per: int) -> list[float]:
    """Seconds of each of ``blocks`` back-to-back blocks of ``per`` products: between CUDA events
    on a GPU (one wait at the end), by perf_counter on a CPU."""
    if device_type == "cuda":
        events = [torch.cuda.Event(enable_timing=True) for _ in range(blocks + 1)]
        events[0].record()
        for i in range(blocks):
            for _ in range(per):
                op()
            events[i + 1].record()
        events[-1].synchronize()
        return [a.elapsed_time(b) / 1e3 for a, b in zip(events, events[1:])]
    times = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(per):
            op()
        times.append(time.perf_counter() - t0)
    return times


def best_of_blocks(op, device_type: str, idle_s: float = 0.25, blocks: int = 5, block_s: float = 0.010) -> float:
    """Seconds per product in the fastest of ``blocks`` blocks after an idle (module docstring)."""
    per, _ = _after_idle(op, device_type, idle_s, block_s)
    return min(_block_times(op, device_type, blocks, per)) / per


def trace(op, device_type: str, flops: float, seconds: float = 2.0, block_s: float = 0.001,
          bucket_s: float = 0.1) -> list[float]:
    """TFLOP/s per ``bucket_s`` over ``seconds`` of back-to-back ~1 ms blocks after an idle."""
    per, once = _after_idle(op, device_type, 0.25, block_s)
    count = max(1, int(seconds / (per * once or block_s)))
    times = _block_times(op, device_type, count, per)
    out, acc, work = [], 0.0, 0
    for t in times:
        acc, work = acc + t, work + per
        if acc >= bucket_s:
            out.append(flops * work / acc / 1e12)
            acc, work = 0.0, 0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    ap.add_argument("--device", default="cuda:0" if cuda else "cpu")
    ap.add_argument("--precision", default="bf16" if cuda else "fp32")
    ap.add_argument("--size", type=int, default=8192 if cuda else 1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default="reports")
    ap.add_argument("--json", default=None)
    ap.add_argument("--trace", action="store_true",
                    help="also: after a 0.25 s idle, 2 s of 1 ms blocks, TFLOP/s per 0.1 s (how long the boost lasts)")
    args = ap.parse_args()
    n = args.size
    device_type = "cuda" if args.device.startswith("cuda") else "cpu"
    flops = calibrate.flops((n, n, n))  # 2·n³
    tf = lambda s: flops / s / 1e12  # noqa: E731
    op = calibrate._operands(torch.device(args.device), args.precision, (n, n, n))  # as calibration_check.py
    flush = timing.l2_flush(torch.device(args.device))[0] if device_type == "cuda" else None
    try:
        if device_type != "cuda":
            raise ImportError("do_bench needs a GPU")
        importlib.import_module("triton.testing")  # what do_bench_s needs

        def reference() -> list[float]:
            return [do_bench_s(op) for _ in range(args.rounds)]
        how = "triton.testing.do_bench"
    except ImportError:
        rule = calibrate.FINAL[device_type]  # do_bench(warmup=100, rep=500) on a GPU

        def reference() -> list[float]:
            return [statistics.median(calibrate.dobench_like(op, device_type, rule, flush=flush, device=args.device))
                    for _ in range(args.rounds)]
        how = "calibrate.dobench_like (no triton)"
    dobench_before = reference()
    run = benchsuite.run(workloads="matmul", devices=args.device, precisions=args.precision,
                         params={"m": n, "n": n, "k": n}, out=args.out, tag="selfcheck: burst and sustained")
    rec = run.records[0]
    if rec["status"] != "ok":
        raise SystemExit(f"{rec['id']}: {rec['status']}: {rec.get('reason')}")
    m = rec["metrics"]
    dobench_after = reference()
    unflushed = statistics.median(timing.time_reps(op, device_type, 200, warmup=20, device=args.device))
    blocks = [best_of_blocks(op, device_type) for _ in range(args.rounds)]
    sustained, burst = m["tflop_per_s"], m["burst_tflop_per_s"]
    ref_before, ref_after = tf(statistics.median(dobench_before)), tf(statistics.median(dobench_after))
    ref_sustained, ref_burst = (ref_before + ref_after) / 2, tf(statistics.median(blocks))
    print(f"{run.header['devices'][0]['name']}; {rec['id']}; torch {run.header['host']['torch']}")
    print(f"do_bench median ({how}) before the case {ref_before:.4g} TFLOP/s (rounds "
          f"{', '.join(f'{tf(s):.4g}' for s in dobench_before)}), after it {ref_after:.4g} (rounds "
          f"{', '.join(f'{tf(s):.4g}' for s in dobench_after)}): {100 * (ref_after / ref_before - 1):+.2f} % across")
    print(f"benchsuite sustained {sustained:9.4g} TFLOP/s  vs the mean of before and after {ref_sustained:9.4g}: "
          f"ratio {sustained / ref_sustained:.3f} {'PASS' if sustained / ref_sustained >= GOAL else 'FAIL'} "
          f"(goal >= {GOAL}; vs before {sustained / ref_before:.3f}, vs after {sustained / ref_after:.3f})")
    print(f"  (the same product timed back to back without do_bench's flush: {tf(unflushed):.4g} TFLOP/s)")
    print(f"benchsuite burst     {burst:9.4g} TFLOP/s  vs best of 5 blocks after an idle {ref_burst:9.4g} "
          f"(rounds {', '.join(f'{tf(s):.4g}' for s in blocks)}): ratio {burst / ref_burst:.3f} "
          f"{'PASS' if burst / ref_burst >= GOAL else 'FAIL'} (goal >= {GOAL})")
    window = rec.get("telemetry") or {}
    print(f"  burst power {m.get('burst_power_w')} W, SM clock {m.get('burst_sm_clock_mhz')} MHz; sustained "
          f"{window.get('power_mean_w')} W, {window.get('sm_clock_mean_mhz')} MHz")
    if args.trace:
        print("after a 0.25 s idle, TFLOP/s per 0.1 s:", " ".join(f"{v:.4g}" for v in trace(op, device_type, flops)))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"record": rec["id"], "sustained": sustained, "burst": burst, "dobench": ref_sustained,
                       "dobench_before": ref_before, "dobench_after": ref_after, "dobench_method": how, "unflushed": tf(unflushed), "best_of_blocks": ref_burst,
                       "burst_power_w": m.get("burst_power_w"), "burst_sm_clock_mhz": m.get("burst_sm_clock_mhz")},
                      fh, indent=2)


if __name__ == "__main__":
    main()
