"""Self-check (issue 16 item 1): benchsuite's harness against a bare loop on a launch-bound MLP.

The bare loop is the least a benchmark can do: ``with torch.inference_mode(): for _ in
range(100): model(x)``, CUDA events (GPU) or two clock reads (CPU) around the whole block,
nothing per step; its median step time over blocks is compared with:

- ``runner``: what ``benchsuite run`` reports for the case (Runner.run_case: setup, burst,
  warm-up, the telemetry window): its median step time, of blocks at every batch size. Batch-1
  inference is a latency case: after its blocks and outside the window, a latency pass times
  single steps (`benchsuite.timing.latency_pass`); their p50 is printed beside (``latency p50``,
  for information: each single step carries its own events, so it is no goal);
- ``blocks``: the block timer on the same workload (`benchsuite.timing.measure` with the
  workload's block context), what every case of batch 2 and more gets;
- ``per-step ctx``: the same block timer with ``inference_mode`` entered on every step, as
  steps were before the per-block contract (for comparison).

Same weights and input (same seed), telemetry sampling at ``--hz`` (20 by default) during
both, variants interleaved over ``--rounds``. Ratio = bare step time ÷ harness step time:
1.0 is as fast as bare. Goal (GPU, MLP 1024x4096x1024 bf16 inference, batch 1 and 256):
>= 0.99. On a CPU the default is a 64x64x10 fp32 MLP on one thread, where a step is tens of
microseconds and Python overhead shows as it does on a GPU. Every line is timed by the same
clock: CUDA events on a GPU, ``time.perf_counter`` on a CPU (what the runner uses), so a ratio
above 1 is noise, never a clock artefact (review B9: the bare loop once used the thread's CPU
time against the runner's wall clock and read 1.12). On a shared CPU, read the range of rounds.

Run: python benchmarks/selfcheck/harness_vs_bare.py [--device cuda] [--batches 1,256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from benchsuite import devices, runner, settings, timing
from benchsuite.plan import Case
from benchsuite.telemetry import Telemetry
from benchsuite.workload import registry

GOAL = 0.99
BLOCK_STEPS = 100


def bare_step_s(model, x, device_type: str, seconds: float, clock=time.perf_counter) -> float:
    """Median step time of bare blocks of `BLOCK_STEPS` steps over ``seconds`` (of ``clock``)."""
    times = []
    end = clock() + seconds
    while clock() < end or len(times) < 5:
        if device_type == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            with torch.inference_mode():
                for _ in range(BLOCK_STEPS):
                    model(x)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b) / 1e3 / BLOCK_STEPS)
        else:
            t0 = clock()
            with torch.inference_mode():
                for _ in range(BLOCK_STEPS):
                    model(x)
            times.append((clock() - t0) / BLOCK_STEPS)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda:0" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--widths", default=None, help="default 1024x4096x1024 on a GPU, 64x64x10 on a CPU")
    ap.add_argument("--precision", default=None, help="default bf16 on a GPU, fp32 on a CPU")
    ap.add_argument("--batches", default="1,256")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hz", type=float, default=20.0, help="telemetry sampling during both (0: off)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (CPU device only)")
    ap.add_argument("--settle-max", type=float, default=6.0,
                    help="GPU: longest warm-up waiting for steady (s) for the runner and the block timer")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    dev = next(d for d in devices.resolve(args.device))
    cuda = dev.type == "cuda"
    if not cuda:
        torch.set_num_threads(args.threads)
    widths = tuple(int(w) for w in (args.widths or ("1024x4096x1024" if cuda else "64x64x10")).split("x"))
    prec = args.precision or ("bf16" if cuda else "fp32")
    clock = time.perf_counter  # the runner's CPU clock (benchsuite.timing): one clock for every line
    reg = registry()
    run_settings = settings.run_settings(False, cooldown=0.0, telemetry=args.hz > 0, gpu_energy=cuda,
                                         settle_max_s=args.settle_max)
    tel = Telemetry([dev.nvml_index] if cuda and dev.nvml_index is not None else [], hz=args.hz or 20.0,
                    enabled=args.hz > 0)
    the_runner = runner.Runner(reg, [dev], None, run_settings, telemetry=tel if args.hz > 0 else None)
    block_settings = settings.timing_settings(dev.type, settle_max_s=args.settle_max)
    params = (("widths", widths), ("lr", 0.001), ("momentum", 0.9))
    print(f"torch {torch.__version__} on {dev.name} ({torch.get_num_threads()} threads); "
          f"MLP {'x'.join(map(str, widths))} {prec} inference; "
          f"telemetry {'%g Hz' % args.hz if args.hz > 0 else 'off'}; {args.rounds} interleaved rounds")
    out = []
    with tel:
        for batch in (int(b) for b in args.batches.split(",")):
            case = Case("mlp", "infer", dev.id, prec, batch, params)
            bare_w = reg["mlp"](**dict(params))
            bare_w.setup(case)
            model, x = bare_w.model, bare_w._parts.x
            res: dict[str, list[float]] = {"bare": [], "runner": [], "blocks": [], "per-step ctx": []}
            for _ in range(args.rounds):
                res["bare"].append(bare_step_s(model, x, dev.type, block_settings.min_time_s, clock))
                rec = the_runner.run_case(case)
                if rec["status"] != "ok":
                    raise SystemExit(f"{case.id}: {rec['status']}: {rec.get('reason')}")
                res["runner"].append(rec["metrics"]["step_s_median"])  # blocks, at batch 1 too
                if rec["metrics"].get("latency_s_p50") is not None:
                    res.setdefault("latency p50", []).append(rec["metrics"]["latency_s_p50"])
                w = reg["mlp"](**dict(params))
                w.setup(case)
                window = tel.window_for(dev, case.id, align=True) if args.hz > 0 else None
                got = timing.measure(w.step, dev.type, block_settings, device=torch.device(dev.id), window=window,
                                     block_context=w.block_context, clock=clock)
                res["blocks"].append(got.median_s)
                inner = w.step

                def per_step_context():  # the step before issue 16: its context entered on every step
                    with torch.inference_mode():
                        inner()

                got = timing.measure(per_step_context, dev.type, block_settings, device=torch.device(dev.id),
                                     clock=clock)
                res["per-step ctx"].append(got.median_s)
                w.teardown()
            bare = statistics.median(res["bare"])
            row = {"batch": batch, "bare_step_s": bare, "latency_case": runner.is_latency_case(case)}
            print(f"batch {batch}: bare loop {bare * 1e6:.2f} µs/step "
                  f"({'CUDA events' if cuda else 'time.perf_counter, as the runner'})")
            for name in ("runner", "blocks", "per-step ctx"):
                step = statistics.median(res[name])
                ratios = [b / h for b, h in zip(res["bare"], res[name])]
                ratio = statistics.median(ratios)
                fastest = min(res["bare"]) / min(res[name])  # the least disturbed round of each
                row.update({f"{name}_step_s": step, f"{name}_ratio": ratio, f"{name}_ratio_fastest": fastest,
                            f"{name}_ratios": ratios})
                latency = name == "runner" and row["latency_case"]
                note = " (latency case: blocks; its latency pass after the window)" if latency else ""
                print(f"  {name:12s} {step * 1e6:9.2f} µs/step  bare/harness: median of rounds {ratio:.3f} "
                      f"(range {min(ratios):.3f}-{max(ratios):.3f}), fastest rounds {fastest:.3f}{note}  "
                      f"{'PASS' if ratio >= GOAL else 'FAIL'} (goal >= {GOAL})")
            if res.get("latency p50"):  # single steps, each between its own events: no goal
                single = statistics.median(res["latency p50"])
                row["latency_p50_s"] = single
                print(f"  {'latency p50':12s} {single * 1e6:9.2f} µs/step  bare/single step: {bare / single:.3f} "
                      "(the latency pass's single steps, for information)")
            out.append(row)
            bare_w.teardown()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": dev.name, "widths": widths, "precision": prec, "hz": args.hz, "rows": out}, fh,
                      indent=2)


if __name__ == "__main__":
    main()
