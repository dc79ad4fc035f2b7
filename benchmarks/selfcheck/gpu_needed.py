"""What the GPU self-checks need before they measure: torch with CUDA, a CUDA GPU, NVML matched to it."""

from __future__ import annotations

import sys


def nvml_gpu(script: str):
    """The first CUDA GPU (`benchsuite.devices.Device`) when NVML reads it; else None, after one
    line on stderr, prefixed with ``script``, naming what is missing (the caller exits 2)."""
    try:
        import torch
    except ImportError:
        print(f"{script}: needs torch with CUDA; nothing measured", file=sys.stderr)
        return None
    if not torch.cuda.is_available():
        print(f"{script}: needs a CUDA GPU (torch.cuda.is_available() is False); nothing measured",
              file=sys.stderr)
        return None
    from benchsuite import devices
    from benchsuite.telemetry import nvml

    ok, why = nvml.status()
    gpu = devices.cuda()[0]
    if not ok or gpu.telemetry_id is None:
        print(f"{script}: needs NVML for {gpu.id}: {why or 'no NVML device matches it'}; nothing measured",
              file=sys.stderr)
        return None
    return gpu
