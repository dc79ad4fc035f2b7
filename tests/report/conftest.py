"""Three runs for the report's table tests: an H100, an A100 at half its speed, and a CPU with
one out-of-memory case and no telemetry."""

from __future__ import annotations

import pytest

from tests.fakes.report_runs import make_run


@pytest.fixture(scope="package")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    small = dict(workloads=("mlp",), batch_sizes=(32, 128))
    h100 = make_run(root, "20261101-000000-h100", **small)
    a100 = make_run(root, "20261102-000000-a100", hostname="a100-box", device_name="NVIDIA A100-SXM4-80GB",
                    speed=0.5, seed=1, **small)
    cpu = make_run(root, "20261103-000000-cpu0", device="cpu", device_name="AMD EPYC 9654", telemetry=False,
                   reason_text="out of memory (CPU search limit)", speed=0.05, seed=2, workloads=("mlp",),
                   batch_sizes=(32,))
    return h100, a100, cpu
