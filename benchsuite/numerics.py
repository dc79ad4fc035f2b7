"""The numerics check of a case: one step against fp32 eager, and the tolerances it is held to.

Before timing, one step on the case's own shapes, with its fixed seed, in its precision and
exec mode, is compared with the same step in fp32 eager (TF32 off) on a deep copy of the
same initial model: inference compares the outputs, training the loss and the first weight
layer's gradient (taken after backward and before the optimizer step; under fp16 divided by
the gradient scale). The error is norm-wise, ``‖got − ref‖₂ / ‖ref‖₂`` in float64 (Higham's
normwise relative error; an elementwise ``assert_close`` fails a whole network on outputs
near zero), and inf when ``got`` is not finite. A case beyond its precision's tolerance is
flagged ``numerics``: fast but wrong is not a result. The errors are always stored, not only
the verdict.

What it catches: wrong ops, wrong scales, NaNs (a ReLU turned into the identity gives
errors of 0.9-1.0, 2-30x over every tolerance). What it cannot: a 1 % drift in a bf16
weight is within 2-3x of honest bf16 noise, so no tolerance separates them.

The tolerances (`TOLERANCE`): a multiple of the precision's machine epsilon ``2**-p`` (p
mantissa bits stored: fp32 23, tf32 10 (NVIDIA A100 whitepaper), fp16 10, bf16 7, fp8
e4m3 3 (OCP 8-bit floating point specification)). Outputs and the loss may be off by
``4·eps``, a gradient by ``64·eps``: torch's own per-dtype test tolerances
(``torch/testing/_comparison.py``) are 1-11 eps per op; honest errors measured on a CPU
(torch 2.14, mlp 1024x4096x1024 and cnn, batch 32-256) were outputs ≤ 0.5 eps, loss ≤ 0.04
eps and first-layer gradients 4-30 eps (their batch sum cancels), so the margin is 8x on
outputs and at least 2x on gradients. fp32 gets floors (1e-4, gradient 1e-3): compiled fp32
differs from eager fp32 by up to 5e-7. fp8 outputs get ``2·eps`` (0.25): ``4·eps`` would pass
a product half wrong. Re-derive the factors if an honest GPU figure comes within 2x.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Mapping

#: Mantissa bits stored per precision (module docstring for the sources).
MANTISSA_BITS = {"fp32": 23, "tf32": 10, "fp16": 10, "bf16": 7, "fp8": 3}
#: Tolerance as a multiple of eps, per quantity compared.
EPS_FACTOR = {"output": 4, "loss": 4, "grad": 64}
#: fp8 (e4m3, eps 0.125) outputs: 2·eps; 4·eps = 0.5 would pass a product half wrong.
FP8_FACTOR = 2
#: fp32 floors: compiled fp32 differs from eager fp32 by up to 5e-7 (CPU, inductor).
FP32_FLOOR = {"output": 1e-4, "loss": 1e-4, "grad": 1e-3}
#: On a CPU an eager case is checked on at most this many rows of its batch: bf16/fp16 are
#: emulated on CPUs without AVX512-BF16/FP16, where one mlp 1024x4096x1024 training step at
#: batch 256 took 8-10 s; the errors measured did not depend on the batch (bf16 output 3.54e-3
#: at 32 and 256). A compiled or captured step is checked on its own full shapes.
CPU_ROWS = 32

OK, FLAGGED = "ok", "flagged"
NOT_CHECKED, NOT_APPLICABLE = "not checked", "not applicable"
#: The quality flag a case beyond tolerance carries (`benchsuite.flags` declares its meaning).
FLAG = "numerics"


def tolerance(precision: str, kind: str = "output") -> float:
    """Allowed ``‖got − ref‖ / ‖ref‖`` of ``kind`` ("output", "loss" or "grad") in ``precision``."""
    if precision not in MANTISSA_BITS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(MANTISSA_BITS)}")
    if kind not in EPS_FACTOR:
        raise ValueError(f"unknown quantity {kind!r}; allowed: {', '.join(EPS_FACTOR)}")
    eps = 2.0 ** -MANTISSA_BITS[precision]
    if precision == "fp8":
        return FP8_FACTOR * eps
    if precision == "fp32":
        return max(EPS_FACTOR[kind] * eps, FP32_FLOOR[kind])
    return EPS_FACTOR[kind] * eps


TOLERANCE = {name: {kind: tolerance(name, kind) for kind in EPS_FACTOR} for name in MANTISSA_BITS}


def rel_err(got: Any, ref: Any) -> float:
    """``‖got − ref‖₂ / ‖ref‖₂`` of two tensors, in float64; inf when ``got`` is not finite."""
    import torch

    a, b = got.detach().double().cpu(), ref.detach().double().cpu()
    if not torch.isfinite(a).all():
        return math.inf
    diff = (a - b).norm().item()
    denom = b.norm().item()
    return diff / denom if denom else diff


def result(precision: str, errors: Mapping[str, float], *, rows: int | None, seconds: float,
           reference: str = "fp32 eager, TF32 off, deep copy of the same initial model") -> dict[str, Any]:
    """The record's ``numerics`` section: status ok/flagged, each error and its tolerance."""
    tolerances = {k: TOLERANCE[precision][k] for k in errors}
    clean = {k: (None if math.isinf(v) or math.isnan(v) else v) for k, v in errors.items()}
    bad = [k for k, v in errors.items() if not v <= tolerances[k]]
    out = {"status": FLAGGED if bad else OK, "errors": clean, "tolerances": tolerances, "rows": rows,
           "seconds": seconds, "reference": reference}
    if bad:
        out["note"] = "; ".join(
            f"{k} error {'not finite' if clean[k] is None else f'{errors[k]:.3g}'} > {tolerances[k]:.3g}" for k in bad)
    return out


def not_checked(why: str, status: str = NOT_CHECKED) -> dict[str, Any]:
    """A ``numerics`` section that says why there is no check (a plugin without the hook,
    collectives: "not applicable")."""
    return {"status": status, "note": why}


def flagged(section: Mapping[str, Any] | None) -> bool:
    """Whether a record's ``numerics`` section flags the case."""
    return bool(section) and section.get("status") == FLAGGED


# ----------------------------------------------------------------------------------------
# The classifier check (mlp, cnn; `benchsuite.modeling`)

def check_classifier(parts: Any, prepared: Any, reference: Any = None, x_ref: Any = None,
                     rows: int | None = None) -> dict[str, Any]:
    """One step of a classifier case (`benchsuite.exec_modes.Parts`, prepared in its mode) against
    fp32 eager. ``reference``: the fp32 model before inference's cast (training: None, the
    fp32 master weights are copied now); ``x_ref``: the fp32 input before the cast; ``rows``:
    check only the first rows of the batch (an eager step only)."""
    import torch

    from benchsuite import exec_modes
    from benchsuite import precision as precision_mod

    t0 = time.perf_counter()
    x, y = parts.x, parts.y
    x_ref = x if x_ref is None else x_ref
    rows = None if rows is None or rows >= len(x) else rows
    if rows is not None:
        if prepared.exec_mode != "eager":
            raise ValueError(f"rows={rows}: only an eager step can be checked on part of its batch")
        x, y, x_ref = x[:rows], y[:rows], x_ref[:rows]
    if parts.mode == "train":
        reference = copy.deepcopy(getattr(parts.model, "module", parts.model))  # the weights as they are now
    got = _case_outputs(parts, prepared, x, y, rows)
    with precision_mod.numerics("fp32"):  # TF32 off for the reference
        if parts.mode == "infer":
            with torch.inference_mode():
                want = {"output": reference(x_ref).float()}
        else:
            reference.zero_grad(set_to_none=True)
            loss = parts.loss_fn(reference(x_ref), y)
            loss.backward()
            want = {"loss": loss.detach().float(), "grad": exec_modes.first_weight(reference).grad.float()}
    errors = {k: rel_err(got[k], want[k]) for k in want}  # .cpu() and .item(): the device is done
    return result(parts.precision, errors, rows=len(x), seconds=time.perf_counter() - t0)


def _case_outputs(parts: Any, prepared: Any, x: Any, y: Any, rows: int | None) -> dict[str, Any]:
    """What the case's own step gives: its output (infer) or its loss and first gradient (train)."""
    import torch

    from benchsuite import exec_modes, precision

    captured = prepared.captured
    if captured is not None:  # the graph replays the step on its static inputs
        captured.replay()
        if parts.mode == "infer":
            return {"output": captured.output.float().clone()}
        grad = exec_modes.first_weight(parts.model).grad
        return {"loss": captured.loss.detach().float().clone(), "grad": grad.float().clone()}
    fwd = prepared.fwd
    if parts.mode == "infer":
        with torch.inference_mode():
            if prepared.mark is not None:
                prepared.mark()
            return {"output": fwd(x).float().clone()}
    parts.optimizer.zero_grad(set_to_none=True)
    if prepared.mark is not None:
        prepared.mark()
    with precision.autocast(parts.precision, parts.device_type):
        loss = fwd(x, y)
    weight = exec_modes.first_weight(parts.model)
    if parts.scaler is not None:
        parts.scaler.scale(loss).backward()
        grad = weight.grad.float() / parts.scaler.get_scale()
    else:
        loss.backward()
        grad = weight.grad.float()
    out = {"loss": loss.detach().float().clone(), "grad": grad.clone()}
    parts.optimizer.zero_grad(set_to_none=True)
    return out
