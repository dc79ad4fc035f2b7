"""Shared fixtures: tiny sweep options, a fake third-party workload, CPU-only device lists, a tiny
calibration grid."""

from __future__ import annotations

import os
import sys

import pytest

from benchsuite import devices
from tests.fakes import tiny_workload

# Options that make any sweep fast enough for unit tests.
TINY = ["--min-time", "0.01", "--min-iters", "2", "--warmup", "1"]
# Small shapes, for sweeps that include both workloads.
SMALL = ["--param", "matmul.m=64", "--param", "matmul.n=64", "--param", "matmul.k=64",
         "--param", "mlp.widths=32x64x10"]


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """A fake installed distribution registering the workload ``tiny``."""
    root = tiny_workload.install(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    yield root
    sys.modules.pop("tinywl", None)


@pytest.fixture
def fake_gpus():
    """Two GPU descriptions (no CUDA needed) beside the real CPU."""
    def gpu(i, name="NVIDIA H100 80GB HBM3", cc=(9, 0)):
        return devices.Device(id=f"cuda:{i}", type="cuda", name=name, index=i, memory_bytes=80 * 2**30,
                              compute_capability=cc, multiprocessors=132,
                              native_precisions=frozenset({"fp16", "bf16"}))
    return [devices.cpu(), gpu(0), gpu(1)]


@pytest.fixture
def tiny_grid(monkeypatch):
    """A real CPU calibration in about a second: tiny shapes, short re-times, one torch thread and
    the spread rule relaxed, since these tests check the plumbing, not the noise of a shared box
    (the rule is tested with fakes). One thread: on a loaded 2-core box an OpenMP pool of two
    stalls a 64x64x64 matmul for 25-35 ms, and a re-time of that does not fit a 1 s budget
    (tests/test_calibrate.py, tests/test_calibration_run.py)."""
    import torch

    from benchsuite import calibrate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setitem(calibrate.GRID, "cpu", (64, 32, 128))
    monkeypatch.setitem(calibrate.COPY_BYTES, "cpu", 4 << 20)
    monkeypatch.setitem(calibrate.CANDIDATE, "cpu", calibrate.RepRule(0.0, 0.0, 1, 2, 2))
    monkeypatch.setitem(calibrate.FINAL, "cpu", calibrate.RepRule(0.001, 0.005, 1, calibrate.MIN_FINAL_REPS, 200, 2))
    monkeypatch.setattr(calibrate, "SPREAD_MAX", 10.0)
    yield
    torch.set_num_threads(threads)


# pytest's own fixture for running pytest inside a test (tests/test_pytest_plugin.py).
pytest_plugins = ("pytester",)


@pytest.fixture(autouse=True)
def _no_burst_idle(monkeypatch):
    """Cases in tests skip the 0.25 s idle before their burst: it is a sleep, hundreds of cases
    would spend a minute in it, and `benchsuite.timing.measure_burst` is tested with an
    injected sleep (tests/test_burst.py). The burst blocks themselves still run."""
    from dataclasses import replace

    from benchsuite import settings

    for table in (settings.TIMING_DEFAULTS, settings.TIMING_QUICK):
        for device_type, timing in list(table.items()):
            monkeypatch.setitem(table, device_type, replace(timing, burst_idle_s=0.0))


@pytest.fixture(autouse=True)
def _own_calibration_dir(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's calibration files (~/.cache/benchsuite/calibration)."""
    monkeypatch.setenv("BENCHSUITE_CALIBRATION_DIR", str(tmp_path_factory.mktemp("calibration")))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (a real inductor compile: 10-70 s on two cores) run only when asked
    for: ``-m slow`` or ``BENCHSUITE_SLOW=1``; the default suite stays within minutes."""
    if "slow" in (config.getoption("-m") or "") or os.environ.get("BENCHSUITE_SLOW"):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or BENCHSUITE_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _young_generation_gc(monkeypatch):
    """Between cases the runner collects garbage (`benchsuite.runner.free_memory`: tensors held
    in reference cycles). A full collection walks every object of the test process (torch,
    pandas and a thousand tests' leftovers): about 0.2 s each, tens of seconds over the suite,
    against a few ms in a real run. Tests collect the youngest generation, where a case's
    cycles are; the release itself is tested (tests/test_runner.py)."""
    import gc
    import types

    from benchsuite import runner

    monkeypatch.setattr(runner, "gc", types.SimpleNamespace(collect=lambda: gc.collect(0)))
