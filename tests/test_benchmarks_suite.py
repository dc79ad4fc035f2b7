"""The pytest-benchmark suite in benchmarks/: what it collects, and what the default run leaves out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_suite_has_one_test_per_case_and_never_collects_selfcheck():
    from benchsuite.workload import registry

    ids = _collect("benchmarks/")
    assert ids and all(i.startswith("benchmarks/test_workloads.py::test_workload[") for i in ids)
    workloads = {i.split("[", 1)[1].split("/", 1)[0] for i in ids}
    assert workloads == set(registry().names())
    assert "benchmarks/test_workloads.py::test_workload[matmul/infer/cpu/fp32[m=256,n=256,k=256]]" in ids
    assert not any("selfcheck" in i for i in ids)


def test_default_test_run_does_not_collect_the_suite():
    """`python -m pytest` with no path (the README's test command) collects pyproject's testpaths
    (pytest's rule for a run given no paths), tests/ alone; reading the setting spares a second
    collection of the whole suite in a subprocess (15-25 s on two cores)."""
    import re

    config = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^testpaths = \["tests"\]$', config, re.M)


def test_gpu_selfchecks_say_they_need_a_gpu_and_measure_nothing(monkeypatch, capsys):
    """benchmarks/selfcheck/window_length.py and cooldown_check.py (issue 14) run only on a GPU;
    elsewhere they fail clearly: exit 2 and one line saying so (run in-process: torch is loaded)."""
    import importlib.util

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for script in ("window_length.py", "cooldown_check.py"):
        spec = importlib.util.spec_from_file_location(script[:-3], ROOT / "benchmarks" / "selfcheck" / script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        monkeypatch.setattr(sys, "argv", [script])
        assert module.main() == 2
        err = capsys.readouterr().err
        assert "needs a CUDA GPU" in err and "nothing measured" in err
