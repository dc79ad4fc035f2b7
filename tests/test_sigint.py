"""Ctrl-C in a real process: finished cases stay on disk, the end record says interrupted, exit 130."""

import os
import signal
import subprocess
import sys
import time

from benchsuite import results


def test_sigint_mid_run_keeps_finished_cases(tmp_path):
    cmd = [sys.executable, "-m", "benchsuite", "run", "--workload", "mlp", "--precision", "fp32",
           "--param", "widths=64x64x10", "--batch-size", "1,2,3,4,5,6,7,8", "--min-time", "0.5",
           "--min-iters", "2", "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        path = None
        while time.monotonic() < deadline:
            found = list(tmp_path.glob("*/results.jsonl"))
            if found and len(results.read_run(found[0]).cases) >= 1:
                path = found[0]
                break
            time.sleep(0.05)
        assert path is not None, "no case finished in time"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    run = results.read_run(path)
    assert run.status == "interrupted" and 1 <= len(run.cases) < 16
    assert all(c["status"] == "ok" for c in run.cases)
    assert len(results.load(path)) == len(run.cases)
