"""A stand-in `benchsuite.telemetry.Telemetry` that records the windows it opens, and a GPU
that torch and NVML number differently."""

from __future__ import annotations

import contextlib

from benchsuite import devices
from benchsuite.telemetry import Telemetry


class RecordingTelemetry:
    """Stands in for `benchsuite.telemetry.Telemetry`: records the GPUs it is given and the ids
    windows are opened on; each window reports 5 J."""

    made: list = []
    available = False  # no NVML here

    def __init__(self, gpu_indices=(), hz=20.0, **kwargs) -> None:
        self.gpu_indices, self.windows, self.hz = list(gpu_indices), [], hz
        RecordingTelemetry.made.append(self)

    def window(self, device, case_id, align=False):
        self.windows.append(str(device))
        window = contextlib.nullcontext()
        window.summary = {"device": str(device), "energy_j": 5.0, "energy_method": "counter",
                          "util_gpu_mean_pct": 50.0}
        return window

    window_for = Telemetry.window_for  # the real choice of window, over these recorded ones

    def info(self) -> dict:
        return {"gpu_indices": self.gpu_indices}

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def renumbered_gpu(nvml_index, id="cuda:0"):
    """torch's GPU 0, which NVML numbers ``nvml_index`` (CUDA_VISIBLE_DEVICES=2 does this)."""
    return devices.Device(id=id, type="cuda", name="NVIDIA H100 80GB HBM3", index=0, nvml_index=nvml_index,
                          compute_capability=(9, 0))
