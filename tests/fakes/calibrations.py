"""A stored calibration of this machine's CPU, as `benchsuite calibrate` would leave it (no measuring)."""

from __future__ import annotations


def save_cpu(tflop_per_s: float = 0.25, gb_per_s: float = 12.5) -> str:
    """Store a calibration of the CPU for this process (torch version, threads) in the calibration
    directory (tests/conftest.py points it at a temporary folder); return its id."""
    import torch

    from benchsuite import calibration_store, devices

    cpu = devices.cpu()
    host = devices.host_info()
    key = calibration_store.device_key(host["hostname"], cpu, host["driver"])
    calibration_store.save({"kind": calibration_store.KIND, "version": 1, "id": f"{key}@t", "machine_key": key,
                            "torch": torch.__version__, "threads": torch.get_num_threads(),
                            "device": {"id": "cpu", "type": "cpu", "name": cpu.name},
                            "matmul": {"fp32": {"tflop_per_s": tflop_per_s}},
                            "bandwidth": {"d2d": {"gb_per_s": gb_per_s}}})
    return f"{key}@t"
