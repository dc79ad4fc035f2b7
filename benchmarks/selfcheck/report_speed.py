"""Self-check: how long `benchsuite report` takes, and how big the page is, for a large run.

Writes a synthetic run of 1,000 cases with 100,000 raw telemetry samples (tests/fakes/
report_runs.py: 10 workloads x 4 precisions x 25 batch sizes, 50 GPU rows + 50 host rows
per case), then times the whole report (load, tables, figures, timeline downsampling,
HTML) the way the CLI does it. The bar: under 10 s on the CI machine, under 15 MB.

    python benchmarks/selfcheck/report_speed.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchsuite.report import html  # noqa: E402
from tests.fakes.report_runs import make_run  # noqa: E402

LIMIT_S, LIMIT_MB = 10.0, 15.0


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp), "20261125-000000-big0", workloads=[f"w{i}" for i in range(10)],
                       precisions=("fp32", "tf32", "bf16", "fp16"), batch_sizes=[2**i for i in range(25)],
                       samples_per_case=50, failures=False)
        cases = sum(1 for line in (run / "results.jsonl").read_text().splitlines() if '"record": "case"' in line)
        samples = sum(1 for _ in (run / "samples.csv").open()) - 1
        start = time.perf_counter()
        out, _ = html.write([run], Path(tmp) / "report.html")
        elapsed = time.perf_counter() - start
        size_mb = out.stat().st_size / 1e6
    print(f"{cases} cases, {samples} telemetry samples: report written in {elapsed:.2f} s, {size_mb:.1f} MB "
          f"(limits {LIMIT_S:.0f} s, {LIMIT_MB:.0f} MB)")
    return 0 if elapsed < LIMIT_S and size_mb < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
