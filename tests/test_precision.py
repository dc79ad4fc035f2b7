import pytest
import torch

from benchsuite import precision
from benchsuite.devices import Device


def cpu(*native):
    return Device(id="cpu", type="cpu", name="test cpu", native_precisions=frozenset(native))


def gpu(cc):
    return Device(id="cuda:0", type="cuda", name="test gpu", index=0, compute_capability=cc)


def test_cpu_support_follows_the_hardware():
    assert precision.support("fp32", cpu()).native
    assert precision.support("bf16", cpu("bf16")).native
    slow = precision.support("fp16", cpu("bf16"))
    assert slow.runs and not slow.native and "slow path" in slow.reason
    for name in ("tf32", "fp8"):
        s = precision.support(name, cpu("bf16", "fp16"))
        assert not s.runs and "CUDA" in s.reason


@pytest.mark.parametrize("cc,tf32,bf16_native,fp8", [((7, 0), False, False, False), ((8, 0), True, True, False),
                                                       ((8, 9), True, True, True), ((9, 0), True, True, True)])
def test_gpu_support_by_compute_capability(cc, tf32, bf16_native, fp8):
    assert precision.support("tf32", gpu(cc)).runs is tf32
    assert precision.support("bf16", gpu(cc)).native is bf16_native
    assert precision.support("fp8", gpu(cc)).runs is fp8
    assert precision.support("fp16", gpu(cc)).native


def test_unknown_precision_names_the_allowed_ones():
    with pytest.raises(ValueError, match="fp32, tf32, fp16, bf16, fp8"):
        precision.support("fp64", cpu())


def _flags():
    m = torch.backends.cuda.matmul
    if hasattr(m, "fp32_precision"):
        return m.fp32_precision, torch.backends.cudnn.conv.fp32_precision, torch.backends.cudnn.rnn.fp32_precision
    return m.allow_tf32, torch.backends.cudnn.allow_tf32


def test_numerics_sets_tf32_for_matmul_and_conv_and_restores():
    before = _flags()
    with precision.numerics("fp32"):
        assert _flags() in (("ieee",) * 3, (False, False))
    with precision.numerics("tf32"):
        assert _flags() in (("tf32",) * 3, (True, True))
    assert _flags() == before


def test_autocast_and_scaler():
    assert precision.grad_scaler("fp16", "cpu") is not None
    assert precision.grad_scaler("bf16", "cpu") is None
    with precision.autocast("bf16", "cpu"):
        out = torch.randn(4, 4) @ torch.randn(4, 4)
    assert out.dtype == torch.bfloat16
    with precision.autocast("fp32", "cpu"):
        assert (torch.randn(2, 2) @ torch.randn(2, 2)).dtype == torch.float32
