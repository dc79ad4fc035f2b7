"""GPU self-check: does a rest before a case change its result? (issue 14, item 4: the cool-down)

benchsuite runs GPU cases back to back (`benchsuite.settings.COOLDOWN_GPU_S` is 0): the H100
runs of 2026-11-25 showed no effect of the old 3 s rest but never compared it with none. This
measures one case at the power cap (8192³ bf16 matmul) and one below it (cnn train bf16, batch
1024) as `benchsuite run` does (judged warm-up, 2 s window), ``--pairs`` times after a rest of
0 s and of ``--rest`` s, in alternating order, and prints per case: samples/s, J/sample,
warm-up seconds and the temperature as warm-up began, per rest; then the pairs' mean relative
difference (rest - no rest) against its spread. A rest matters when the mean difference is
beyond twice its standard error and beyond 0.5 %.
Needs a CUDA GPU and NVML: without them it says so and exits 2. About 3-4 minutes.

Run: python benchmarks/selfcheck/cooldown_check.py [--pairs 5] [--rest 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from benchmarks.selfcheck.gpu_needed import nvml_gpu  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=5, help="rest / no-rest pairs per case (default 5)")
    ap.add_argument("--rest", type=float, default=3.0, help="the rest compared with none, seconds (default 3)")
    ap.add_argument("--json", help="also write every run's figures to this file")
    args = ap.parse_args()
    gpu = nvml_gpu("cooldown_check")
    if gpu is None:
        return 2
    from benchsuite import runner
    from benchsuite.plan import Case
    from benchsuite.settings import RunSettings
    from benchsuite.telemetry import Telemetry
    from benchsuite.workload import registry

    cases = [Case("matmul", "infer", gpu.id, "bf16", None, (("m", 8192), ("n", 8192), ("k", 8192))),
             Case("cnn", "train", gpu.id, "bf16", 1024)]
    runs: list[dict] = []
    with Telemetry([gpu.nvml_index]) as tel:
        the_runner = runner.Runner(registry(), [gpu], None, RunSettings(), telemetry=tel)
        for case in cases:
            the_runner.run_case(case)  # once from cold, not counted: compilation, cuDNN, first heat
            for pair in range(args.pairs):
                for rest in ((0.0, args.rest) if pair % 2 == 0 else (args.rest, 0.0)):
                    time.sleep(rest)
                    rec = the_runner.run_case(case)
                    m, t, tel_s = rec.get("metrics") or {}, rec.get("timing") or {}, rec.get("telemetry") or {}
                    runs.append({"case": case.id, "pair": pair, "rest_s": rest, "status": rec["status"],
                                 "samples_per_s": m.get("samples_per_s"), "j_per_sample": m.get("j_per_sample"),
                                 "warmup_s": t.get("warmup_s"), "warmup_rule": t.get("warmup_rule"),
                                 "temp_warmup_start_c": t.get("warmup_temp_start_c"),
                                 "temp_window_start_c": tel_s.get("temp_start_c"),
                                 "temp_window_end_c": tel_s.get("temp_end_c")})
    matters = False
    print(f"{gpu.name}: rest {args.rest:g} s vs none, {args.pairs} pairs per case")
    for case in cases:
        mine = [r for r in runs if r["case"] == case.id and r["status"] == "ok"]
        print(f"\n{case.id}")
        print(f"{'rest':>6} {'samples/s':>12} {'J/sample':>10} {'warm-up s':>10} {'start °C':>9}  rules")
        for rest in (0.0, args.rest):
            got = [r for r in mine if r["rest_s"] == rest]
            if not got:
                continue
            print(f"{rest:>5g}s {statistics.median(r['samples_per_s'] for r in got):>12.1f} "
                  f"{_median(r['j_per_sample'] for r in got):>10.4g} {statistics.median(r['warmup_s'] for r in got):>10.2f} "
                  f"{_median(r['temp_warmup_start_c'] for r in got):>9}  {sorted({r['warmup_rule'] for r in got})}")
        for figure in ("samples_per_s", "j_per_sample"):
            diffs = []
            for pair in range(args.pairs):
                by_rest = {r["rest_s"]: r[figure] for r in mine if r["pair"] == pair}
                if by_rest.get(0.0) and by_rest.get(args.rest):
                    diffs.append(by_rest[args.rest] / by_rest[0.0] - 1)
            if len(diffs) < 2:
                print(f"  {figure}: too few pairs measured")
                continue
            mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
            se = sd / math.sqrt(len(diffs))
            beyond = abs(mean) > max(2 * se, 0.005)
            matters |= beyond
            print(f"  {figure}: rest - none {100 * mean:+.2f} % (pair sd {100 * sd:.2f} %, se {100 * se:.2f} %): "
                  f"{'MATTERS' if beyond else 'within noise'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"gpu": gpu.name, "rest_s": args.rest, "runs": runs}, fh, indent=1)
    print("\nverdict:", "a rest changes results: keep a cool-down" if matters
          else "no effect beyond noise: no cool-down (benchsuite's default)")
    return 0


def _median(values) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


if __name__ == "__main__":
    sys.exit(main())
