"""The pytest-benchmark suite: every registered workload on every device present, small sizes.

Cases come from the same planner as ``benchsuite run`` (`benchsuite.plan.expand`), so a
test's id is the case id (``matmul/infer/cpu/fp32[m=256,n=256,k=256]``) and a run made
with ``benchsuite run`` and the same options, exported with ``benchsuite export
--format pytest-benchmark``, is a baseline these tests compare with. A case the device
cannot do is a skipped test with its reason. ``benchmarks/selfcheck/`` holds scripts, not
tests: pytest never collects them.
"""

from __future__ import annotations

from functools import lru_cache

import pytest

collect_ignore = ["selfcheck"]

#: Small sizes, so that the whole suite runs in seconds on a 2-core CPU. Workloads not
#: named here run with their defaults at the batch size below.
BATCH_SIZES = [32]
PARAMS: dict[str, dict[str, list]] = {
    "matmul": {"m": [256], "n": [256], "k": [256]},
    "mlp": {"widths": [(256, 512, 10)]},
}


@lru_cache(maxsize=1)
def cases() -> dict:
    """Case id -> Case, for every workload x device present x default precision x mode."""
    from benchsuite import devices, plan
    from benchsuite.workload import registry

    reg = registry()
    names = reg.names()
    params = {name: dict(PARAMS.get(name, {})) for name in names}
    sweep = plan.Sweep(workloads=names, devices=devices.available(), batch_sizes=list(BATCH_SIZES),
                       params=params)
    return {case.id: case for case in plan.expand(sweep, reg)}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case_id" in metafunc.fixturenames:
        found = cases()
        metafunc.parametrize("case_id", [
            pytest.param(case_id, id=case_id,
                         marks=[pytest.mark.skip(reason=case.skip_reason)] if case.skip_reason else [])
            for case_id, case in found.items()
        ])


@pytest.fixture
def workload(case_id: str):
    """The case's workload, set up on its device in its precision (numerics held for the test)."""
    from benchsuite import precision
    from benchsuite.workload import registry

    case = cases()[case_id]
    instance = registry()[case.workload](**case.param_dict)
    cudnn = None
    if case.device.startswith("cuda"):  # as `benchsuite run` does: cuDNN picks its fastest kernels
        import torch

        cudnn, torch.backends.cudnn.benchmark = torch.backends.cudnn.benchmark, True
    try:
        with precision.numerics(case.precision):
            instance.setup(case)
            try:
                yield case, instance
            finally:
                instance.teardown()
    finally:
        if cudnn is not None:
            torch.backends.cudnn.benchmark = cudnn
