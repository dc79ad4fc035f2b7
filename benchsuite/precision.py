"""Precision names and what they mean, in one place.

- ``fp32``: float32 everywhere, TF32 switched OFF for matmuls and cuDNN convolutions
  (PyTorch enables TF32 for convolutions by default, which would put "fp32" above the
  fp32 peak).
- ``tf32``: float32 tensors, TF32 tensor cores switched ON (CUDA, compute capability 8.0+).
- ``fp16`` / ``bf16``: training is autocast mixed precision (float32 master weights;
  fp16 adds a gradient scaler); inference casts the model and inputs to the dtype.
- ``fp8``: a scaled matmul (``torch._scaled_mm``, e4m3 inputs, bf16 output) on CUDA GPUs of
  compute capability 8.9+; matmul only.

Support comes from the hardware, never from trying: ``_scaled_mm`` also runs on a CPU,
slowly, and that is not fp8 support.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from benchsuite.devices import Device

PRECISIONS = ("fp32", "tf32", "fp16", "bf16", "fp8")

MEANING = {
    "fp32": "float32, TF32 off for matmul and cuDNN conv",
    "tf32": "float32 tensors on TF32 tensor cores (CUDA, compute capability 8.0+)",
    "fp16": "train: autocast fp16 + gradient scaler, fp32 weights; infer: model and data in fp16",
    "bf16": "train: autocast bf16, fp32 weights; infer: model and data in bf16",
    "fp8": "matmul only: torch._scaled_mm on e4m3 (CUDA, compute capability 8.9+)",
}


def dtype(name: str) -> "torch.dtype":
    """The tensor dtype a precision computes in (fp32 and tf32 both store float32)."""
    import torch

    return {
        "fp32": torch.float32,
        "tf32": torch.float32,
        "fp16": torch.float16,
        "bf16": torch.bfloat16,
        "fp8": torch.float8_e4m3fn,
    }[name]


@dataclass(frozen=True)
class Support:
    """Whether a device runs a precision: natively, on a slow path, or not at all."""

    runs: bool
    native: bool
    reason: str | None = None


def support(name: str, device: "Device") -> Support:
    """What ``device`` can do with precision ``name``, judged from its hardware."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; allowed: {', '.join(PRECISIONS)}")
    if device.type == "cpu":
        if name == "fp32":
            return Support(True, True)
        if name in ("tf32", "fp8"):
            return Support(False, False, f"{name} needs a CUDA GPU; CPUs have no {name} matrix units")
        if name in device.native_precisions:
            return Support(True, True)
        flags = "AVX512_BF16/AMX_BF16" if name == "bf16" else "AVX512_FP16/AMX_FP16"
        return Support(True, False, f"slow path: this CPU has no native {name} ({flags}); it is emulated")
    cc = device.compute_capability or (0, 0)
    if name in ("fp32", "fp16"):
        return Support(True, True)
    if name == "tf32":
        if cc >= (8, 0):
            return Support(True, True)
        return Support(False, False, f"tf32 needs compute capability 8.0+ (Ampere); this GPU is {cc[0]}.{cc[1]}")
    if name == "bf16":
        if cc >= (8, 0):
            return Support(True, True)
        return Support(True, False, f"slow path: no bf16 tensor cores before compute capability 8.0; this GPU is {cc[0]}.{cc[1]}")
    if cc >= (8, 9):  # fp8
        return Support(True, True)
    return Support(False, False, f"fp8 needs compute capability 8.9+ (Ada/Hopper); this GPU is {cc[0]}.{cc[1]}")


def _tf32_switches():
    """The TF32 switches of this torch, all through ONE API: the ``fp32_precision``
    settings (torch 2.9+; mixing them with the legacy ``allow_tf32`` flags raises) of
    matmul, cuDNN convolutions and cuDNN RNNs, or the legacy flags before 2.9."""
    import torch

    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    if hasattr(matmul, "fp32_precision"):
        return [matmul, cudnn.conv, cudnn.rnn], "fp32_precision", ("tf32", "ieee")
    return [matmul, cudnn], "allow_tf32", (True, False)


def _set_tf32(enabled: bool) -> list:
    """Switch TF32 on or off for every switch; return the previous values."""
    switches, attr, (on, off) = _tf32_switches()
    previous = [getattr(s, attr) for s in switches]
    for switch in switches:
        setattr(switch, attr, on if enabled else off)
    return previous


def _restore_tf32(previous: list) -> None:
    switches, attr, _ = _tf32_switches()
    for switch, value in zip(switches, previous):
        setattr(switch, attr, value)


@contextlib.contextmanager
def numerics(name: str) -> Iterator[None]:
    """Within this block float32 matmuls and convs use TF32 only for ``tf32``; restored after."""
    previous = _set_tf32(name == "tf32")
    try:
        yield
    finally:
        _restore_tf32(previous)


def autocast(name: str, device_type: str, *, cache_enabled: bool = True) -> contextlib.AbstractContextManager:
    """Autocast for mixed-precision training in fp16/bf16; a no-op for other precisions
    (``cache_enabled=False`` inside a CUDA graph capture)."""
    import torch

    if name in ("fp16", "bf16"):
        return torch.autocast(device_type, dtype=dtype(name), cache_enabled=cache_enabled)
    return contextlib.nullcontext()


def grad_scaler(name: str, device_type: str):
    """A gradient scaler for fp16 training (fp16 underflows without one), else None."""
    import torch

    if name == "fp16":
        return torch.amp.GradScaler(device_type)
    return None
