"""The built-in workloads on the CPU: shapes, FLOPs, precisions, real data, the article's bug."""

import pytest
import torch

from benchsuite import precision
from benchsuite.plan import Case
from benchsuite.workload import registry
from tests.fakes import cifar_files

REG = registry()


def make(name, mode, prec, batch=None, **params):
    cls = REG[name]
    values = {p.name: p.default_for("cpu") for p in cls.params}
    values.update(params)
    case = Case(name, mode, "cpu", prec, batch, tuple(values.items()))
    w = cls(**values)
    with precision.numerics(prec):
        w.setup(case)
    return w


def test_matmul_flops_formula_and_bytes():
    w = make("matmul", "infer", "fp32", m=64, n=32, k=16)
    assert w.flops_per_step() == 2 * 64 * 32 * 16
    assert w.bytes_per_step() == (64 * 16 + 16 * 32 + 64 * 32) * 4
    assert w.c.shape == (64, 32) and w.c.abs().sum() > 0  # random data, not zeros


def test_matmul_bf16_runs_in_bf16():
    w = make("matmul", "infer", "bf16", m=32, n=32, k=32)
    w.step()
    assert w.c.dtype == torch.bfloat16


@pytest.mark.parametrize("mode", ["train", "infer"])
@pytest.mark.parametrize("prec", ["fp32", "bf16", "fp16"])
def test_mlp_runs_every_cpu_precision(mode, prec):
    w = make("mlp", mode, prec, 4, widths=(16, 32, 10))
    flops = w.flops_per_step()
    forward = 2 * 4 * (16 * 32 + 32 * 10)
    # backward: weight gradients of both layers, input gradient of the second only
    backward = forward + 2 * 4 * 32 * 10
    assert flops == (forward + backward if mode == "train" else forward)
    w.step()
    assert w.samples_per_step == 4


def test_training_changes_the_weights_and_fp16_uses_a_scaler():
    w = make("mlp", "train", "fp16", 8, widths=(8, 8, 4))
    before = [p.detach().clone() for p in w.model.parameters()]
    for _ in range(3):
        w.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, w.model.parameters()))


def test_inference_casts_the_model():
    w = make("cnn", "infer", "bf16", 2)
    assert next(w.model.parameters()).dtype == torch.bfloat16


def test_cnn_fixed_shape_and_flops():
    w = make("cnn", "infer", "fp32", 2)
    conv = 2 * 2 * 64 * 32 * 32 * 3 * 3 * 3
    fc = 2 * 2 * (64 * 16 * 16 * 128 + 128 * 10)
    assert w.flops_per_step() == pytest.approx(conv + fc, rel=0.01)
    assert w.model.fc1.in_features == 64 * 16 * 16


def test_article_variant_fails_with_pytorchs_shape_message():
    w = make("cnn", "train", "fp32", 4, variant="article")
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        w.step()


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_cnn_reads_real_cifar_batches(tmp_path, bytes_keys):
    cifar_files.write(tmp_path, per_batch=8, bytes_keys=bytes_keys)
    w = make("cnn", "train", "fp32", 4, data=str(tmp_path))
    assert len(w.__dict__) and w.samples_per_step == 4
    w.step()
    w.step()
    assert w._i == 2


def test_teardown_drops_tensors():
    w = make("matmul", "infer", "fp32", m=16, n=16, k=16)
    w.teardown()
    assert not hasattr(w, "a") and w.p["m"] == 16
