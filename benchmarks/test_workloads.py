"""Each registered workload as a pytest-benchmark benchmark (one test per case).

Regression tracking::

    pytest benchmarks/ --benchmark-autosave
    pytest benchmarks/ --benchmark-compare --benchmark-compare-fail=median:5%

On CUDA the timed call ends with ``torch.cuda.synchronize``, so a round measures the
work, not the kernel launch.
"""

from __future__ import annotations

from typing import Callable


def timed_step(case, workload) -> Callable[[], None]:
    """One workload step (inside its block context: `benchsuite.workload.Workload.run_steps`),
    synchronised on CUDA so the call returns when the work is done."""
    if not case.device.startswith("cuda"):
        return workload.run_steps
    import torch

    device = torch.device(case.device)

    def step() -> None:
        workload.run_steps(1)
        torch.cuda.synchronize(device)

    return step


def test_workload(benchmark, workload, case_id):
    case, instance = workload
    benchmark.group = case.workload
    benchmark.extra_info.update({
        "case_id": case_id,
        "workload": case.workload,
        "mode": case.mode,
        "device": case.device,
        "precision": case.precision,
        "batch_size": case.batch_size,
        "samples": instance.samples_per_step,  # per call: read by --benchsuite-telemetry for samples/J
        "sample_unit": instance.sample_unit,
    })
    benchmark(timed_step(case, instance))
