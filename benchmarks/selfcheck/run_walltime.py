"""Self-check: how long `benchsuite run` (the headline sweep) and `benchsuite run --quick` take, end to end.

Each sweep runs in a fresh process (`python -m benchsuite run ...`: imports, device discovery,
idle power, every case, the closing table, exit), timed from launch to exit. Before it, a
`--dry-run --format json` in its own process gives the plan's estimate, so the two can be
compared. Prints the wall seconds, the cases per device, the estimate and the machine's load
(a shared machine makes every figure slower: quote the load with the time).

    python benchmarks/selfcheck/run_walltime.py                   # default, then --quick
    python benchmarks/selfcheck/run_walltime.py --sweep quick     # one of them
    python benchmarks/selfcheck/run_walltime.py -- --device cuda  # extra `benchsuite run` options

Works on a CPU-only machine and on a GPU machine alike. The goals (issue 14): the default
within 120 s on one H100 and 60 s on the 2-core CPU box; `--quick` within 30 s on one H100.
Exit status 0 unless a run failed (a goal missed is reported, not an error: the load decides).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchsuite import results  # noqa: E402

#: The sweeps timed, as `benchsuite run` options.
SWEEPS = {"default": [], "quick": ["--quick"]}
#: Goals in seconds, per sweep and machine kind (issue 14).
GOALS = {("default", "gpu"): 120.0, ("default", "cpu"): 60.0, ("quick", "gpu"): 30.0}


def load() -> str:
    """The load averages and core count, for the record."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} logical cores"


def benchsuite(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchsuite", "run", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT)


def time_sweep(name: str, extra: list[str], out: Path, env: dict) -> dict:
    """Estimate, then run one sweep in a fresh process; its wall time, cases and status."""
    args = [*SWEEPS[name], "--out", str(out), *extra]
    planned = benchsuite([*args, "--dry-run", "--format", "json"], env)
    estimate = json.loads(planned.stdout) if planned.returncode == 0 else {}
    before = load()
    start = time.perf_counter()
    done = benchsuite(args, env)
    wall = time.perf_counter() - start
    row = {"sweep": name, "command": "benchsuite run " + " ".join(args), "exit": done.returncode,
           "wall_s": round(wall, 1), "estimate_s": estimate.get("estimate_s"), "source": estimate.get("source"),
           "load_before": before, "load_after": load()}
    try:
        run = results.read_run(results.newest_run(out))
    except results.ResultsError as exc:
        row["error"] = str(exc)
        row["stderr_tail"] = done.stderr[-2000:]
        return row
    row.update(run_id=run.header["run_id"], status=run.status,
               cases=dict(Counter(c["device"] for c in run.cases)),
               statuses=dict(Counter(c["status"] for c in run.cases)),
               devices=[f"{d['id']}: {d['name']}" for d in run.header.get("devices", [])])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", choices=[*SWEEPS, "both"], default="both")
    parser.add_argument("--out", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per sweep instead of text")
    parser.add_argument("extra", nargs="*", help="options passed on to `benchsuite run` (after --)")
    opts = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    names = list(SWEEPS) if opts.sweep == "both" else [opts.sweep]
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            out = (opts.out or Path(tmp)) / name
            row = time_sweep(name, opts.extra, out, env)
            failed |= row["exit"] != 0 or "error" in row
            if opts.json:
                print(json.dumps(row), flush=True)
                continue
            kind = "gpu" if any(d.startswith("cuda") for d in row.get("cases", {})) else "cpu"
            goal = GOALS.get((name, kind))
            verdict = f" (goal {goal:.0f} s: {'met' if row['wall_s'] <= goal else 'missed'})" if goal else ""
            print(f"{name}: {row['command']}")
            print(f"  wall {row['wall_s']:.1f} s{verdict}; estimate before it {row['estimate_s']} s "
                  f"from {row['source']}; exit {row['exit']}")
            if "error" in row:
                print(f"  no run read back: {row['error']}\n{row['stderr_tail']}")
                continue
            per_device = ", ".join(f"{d} {n}" for d, n in row["cases"].items())
            print(f"  run {row['run_id']} ({row['status']}): cases per device: {per_device}; "
                  f"statuses: {row['statuses']}")
            print(f"  devices: {'; '.join(row['devices'])}")
            print(f"  {row['load_before']} before, {row['load_after']} after", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
