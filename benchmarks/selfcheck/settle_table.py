"""Self-check (issue 14): how each GPU case's warm-up ended, from the runs under a folder.

Reads every ``results.jsonl`` under the folders given (any depth) and prints, per GPU case in
the order run: what ended warm-up (`timing.warmup_rule`: trend, noisy, cap), after how many
seconds, the temperature as warm-up began and at the window's start and end, and the sustained
figure. Issue 14's goal: on the H100 no case needs the cap (`--settle-max`); a matmul case run
from cold settles by the rule. No torch needed.

Run: python benchmarks/selfcheck/settle_table.py RUNS_DIR [RUNS_DIR ...] [--workload matmul]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run from a checkout

from benchmarks.selfcheck.case_records import case_records  # noqa: E402


def rows(folders: list[str], workload: str | None) -> list[dict]:
    """One dict per GPU case record under ``folders`` (every results.jsonl found)."""
    out = []
    for path, rec in case_records(folders):
        if not str(rec.get("device", "")).startswith("cuda"):
            continue
        if workload and rec.get("workload") != workload:
            continue
        out.append({"run": path.parent.name, **rec})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+")
    ap.add_argument("--workload", default=None, help="only this workload (default: every GPU case)")
    args = ap.parse_args(argv)
    found = rows(args.folders, args.workload)
    if not found:
        print(f"settle_table: no GPU case under {', '.join(args.folders)}")
        return 1
    print(f"{'run':22s} {'case':56s} {'rule':>10s} {'warm-up s':>9s} {'°C start':>8s} {'window °C':>10s} "
          f"{'TFLOP/s':>8s}")
    capped = 0
    for r in found:
        t, tel, m = r.get("timing") or {}, r.get("telemetry") or {}, r.get("metrics") or {}
        rule = t.get("warmup_rule") or "-"
        capped += rule == "cap"
        window = f"{tel.get('temp_start_c', '-')}→{tel.get('temp_end_c', '-')}"
        tflops = m.get("tflop_per_s")
        print(f"{r['run'][:22]:22s} {r.get('id', '?')[:56]:56s} {rule[:10]:>10s} "
              f"{(t.get('warmup_s') if t.get('warmup_s') is not None else float('nan')):9.1f} "
              f"{str(t.get('warmup_temp_start_c', '-')):>8s} {window:>10s} "
              f"{(tflops if tflops is not None else float('nan')):8.4g}"
              + (f"  [{r['status']}: {r.get('reason')}]" if r.get("status") != "ok" else ""))
    print(f"{'PASS' if not capped else 'FAIL'}: {capped} of {len(found)} GPU cases needed the cap "
          f"(goal: none; issue 14)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
