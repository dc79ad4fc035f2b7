"""Self-check on a GPU machine: `benchsuite claims` end to end on tiny generated CIFAR-10.

Checks what cannot be checked without a GPU: claims 1-3 are judged (not "not measured
here"), GPU energy comes from NVML, and the training check reports the GPU idle share at
batch 4 and at batch 128 (CUDA events and NVML utilisation). Exits 1 naming each failure.
Run: python benchmarks/selfcheck/claims_gpu.py   (about a minute on one GPU)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.fakes import cifar_files  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        data = cifar_files.write(Path(tmp) / "data", per_batch=400)
        cmd = [sys.executable, "-m", "benchsuite", "claims", "--data", str(data), "--epochs", "2",
               "--subset", "1600/400", "--matmul-size", "2048", "--batch-size", "128", "--quick",
               "--cpu-watts", "100",  # RAPL is often unreadable on GPU servers: claim 2 then uses this (labelled)
               "--out", str(Path(tmp) / "runs"), "--format", "json"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        print(proc.stderr, file=sys.stderr)
        if proc.returncode != 0:
            print(f"FAIL: exit {proc.returncode}")
            return 1
        rows = {r["id"]: r for r in json.loads(proc.stdout)}
    failures = []
    for claim_id in ("1", "2", "3"):
        if rows[claim_id]["verdict"] == "not measured here":
            failures.append(f"claim {claim_id} not judged: {rows[claim_id]['reason']}")
    gpu_figures = [f for f in rows["4b"]["figures"] if f["device"].startswith("cuda")]
    idle = {f["label"]: f["value"] for f in gpu_figures if f["label"].startswith("GPU idle share")}
    for batch in (4, 128):
        for how in ("CUDA events", "NVML utilisation"):
            label = f"GPU idle share of wall time at batch {batch} ({how})"
            if idle.get(label) is None:
                failures.append(f"missing: {label}")
    if not any(f["label"] == "energy to best accuracy" and f["value"] for f in gpu_figures):
        failures.append("no GPU energy to accuracy")
    for row in rows.values():
        print(f"{row['id']}: {row['verdict']}: {row['reason']}")
    print(json.dumps(idle, indent=2))
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
