"""A real full disk: a 16 KiB tmpfs mounted in a private mount namespace (``unshare -m``, root or
user namespaces needed; skipped otherwise), and a real run that fills it up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from benchsuite import results


def _can_mount(tmp_path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=16k tmpfs {tmp_path}"],
                           capture_output=True)
    return probe.returncode == 0


def test_a_full_tmpfs_mid_run_ends_with_exit_3_and_keeps_the_finished_cases(tmp_path):
    """Issue 13, problem 1: on a full disk (a 200 KB tmpfs) efef368 ended in two ENOSPC tracebacks
    (append and close) and left the last case as a truncated line."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if not _can_mount(mnt):
        pytest.skip("cannot mount a tmpfs here (needs root or user namespaces)")
    keep = tmp_path / "kept"
    run = [sys.executable, "-m", "benchsuite", "run", "-w", "matmul,mlp", "-p", "fp32", "--param", "matmul.m=64",
           "--param", "matmul.n=64", "--param", "matmul.k=64", "--param", "mlp.widths=32x64x10",
           "-b", "1,2,3,4,5,6,7,8", "--min-time", "0.01", "--min-iters", "2", "--warmup", "1", "--no-telemetry",
           "--out", str(mnt / "runs")]
    script = (f"mount -t tmpfs -o size=16k tmpfs {mnt} && {' '.join(map(repr, run))}; code=$?; "
              f"cp -r {mnt}/runs {keep}; exit $code")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=300)
    assert done.returncode == 3, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "No space left on device" in lines[0] and "finished before are kept" in lines[0]
    assert "Traceback" not in done.stderr
    (path,) = keep.glob(f"*/{results.RESULTS_FILE}")
    assert path.read_bytes().endswith(b"\n")  # cut back to the last whole record
    finished = results.read_run(path)
    assert finished.cases and all(c["status"] in ("ok", "skipped") for c in finished.cases)
    assert len(results.load(path)) == len(finished.cases)
