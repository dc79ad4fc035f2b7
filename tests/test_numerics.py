"""The numerics check (issue 16 item 3): tolerances and the error measure, honest bf16/fp16/fp32
cases pass, a deliberately wrong op (in the model or in the compiled code) is flagged, and what
a workload without a check or a collective records."""

from __future__ import annotations

import math

import pytest
import torch

from benchsuite import devices, execution, numerics, results, runner
from benchsuite.plan import Case
from benchsuite.workload import Registry, registry
from tests.fakes.runner_workloads import FAST, Add
from tests.fakes.wrong_numerics import WrongMLP, register_wrong_backend

REG = registry()
PARAMS = (("widths", (32, 64, 10)), ("lr", 0.001), ("momentum", 0.9))


def test_tolerances_are_multiples_of_each_precisions_eps():
    assert numerics.TOLERANCE["bf16"] == {"output": 4 * 2**-7, "loss": 4 * 2**-7, "grad": 64 * 2**-7}
    assert numerics.TOLERANCE["fp16"]["output"] == numerics.TOLERANCE["tf32"]["output"] == 4 * 2**-10
    assert numerics.TOLERANCE["fp32"] == {"output": 1e-4, "loss": 1e-4, "grad": 1e-3}  # floors
    assert numerics.TOLERANCE["fp8"]["output"] == 0.25
    with pytest.raises(ValueError, match="unknown precision 'int8'; allowed: fp32, tf32, fp16, bf16, fp8"):
        numerics.tolerance("int8")


def test_the_error_is_normwise_and_not_finite_is_infinite():
    ref = torch.tensor([3.0, 4.0])
    assert numerics.rel_err(ref, ref) == 0.0
    assert numerics.rel_err(torch.tensor([3.0, 4.5]), ref) == pytest.approx(0.1)
    assert numerics.rel_err(torch.tensor([float("nan"), 4.0]), ref) == math.inf
    got = numerics.result("bf16", {"output": math.inf}, rows=4, seconds=0.1)
    assert got["status"] == "flagged" and got["errors"] == {"output": None} and "not finite" in got["note"]


def run(tmp_path, cases, reg=REG):
    store = results.RunStore(tmp_path, {})
    runner.Runner(reg, [devices.cpu()], store, FAST).run(cases)
    return results.read_run(store.path).cases


@pytest.mark.parametrize("mode", ["infer", "train"])
def test_honest_cases_pass_in_every_cpu_precision(tmp_path, mode):
    recs = run(tmp_path, [Case("mlp", mode, "cpu", p, 8, PARAMS) for p in ("fp32", "bf16", "fp16")]
               + [Case("cnn", mode, "cpu", "bf16", 4, (("variant", "fixed"), ("data", None),
                                                         ("memory_format", "auto"), ("lr", 0.001),
                                                         ("momentum", 0.9)))])
    for rec in recs:
        checked = rec["numerics"]
        assert rec["status"] == "ok" and checked["status"] == "ok", (rec["id"], checked)
        assert "numerics" not in (rec.get("telemetry") or {}).get("quality_flags", [])
        assert all(e <= checked["tolerances"][k] / 2 for k, e in checked["errors"].items())  # with a margin
    assert recs[0]["numerics"]["errors"] == ({"output": 0.0} if mode == "infer" else {"loss": 0.0, "grad": 0.0})
    assert 1e-4 < recs[1]["numerics"]["errors"][("output" if mode == "infer" else "grad")]  # bf16 is not exact


@pytest.mark.parametrize("mode", ["infer", "train"])
def test_a_wrong_op_is_flagged(tmp_path, mode):
    reg = Registry({"wrongmlp": WrongMLP}, {})
    recs = run(tmp_path, [Case("wrongmlp", mode, "cpu", p, 8, PARAMS) for p in ("fp32", "bf16")], reg)
    fp32, bf16 = recs
    assert fp32["numerics"]["status"] == "ok"  # the op is right in fp32
    assert bf16["status"] == "ok" and bf16["numerics"]["status"] == "flagged"  # measured, and flagged
    assert "numerics" in bf16["telemetry"]["quality_flags"] and ">" in bf16["numerics"]["note"]
    worst = max(e / bf16["numerics"]["tolerances"][k] for k, e in bf16["numerics"]["errors"].items())
    assert worst > 1.5


def test_fast_but_wrong_compiled_code_is_flagged(tmp_path, monkeypatch):
    monkeypatch.setenv(execution.BACKEND_ENV, register_wrong_backend())
    recs = run(tmp_path, [Case("mlp", "infer", "cpu", "fp32", 8, PARAMS, exec=e) for e in ("eager", "compile")])
    assert [r["numerics"]["status"] for r in recs] == ["ok", "flagged"]
    assert recs[1]["numerics"]["errors"]["output"] == pytest.approx(0.1, rel=1e-3)


def test_matmul_is_checked_against_an_fp32_product(tmp_path):
    recs = run(tmp_path, [Case("matmul", "infer", "cpu", p, None, (("m", 64), ("n", 32), ("k", 128)))
                          for p in ("fp32", "bf16")])
    assert [r["numerics"]["status"] for r in recs] == ["ok", "ok"]
    assert recs[0]["numerics"]["errors"]["output"] < 1e-6 < recs[1]["numerics"]["errors"]["output"] < 0.01


class Collective(Add):
    name = "coll"
    needs_process_group = True


class Fails(Add):
    name = "fails"

    def numerics(self):
        raise ValueError("reference did not fit")


def test_collectives_are_not_applicable_and_a_failed_check_is_said():
    c = Case("coll", "infer", "cpu", "fp32", 4)
    assert runner.check_numerics(Collective(), c)["status"] == "not applicable"
    assert runner.check_numerics(Add(), c) == {"status": "not checked",
                                               "note": "coll has no numerics check (Workload.numerics)"}
    got = runner.check_numerics(Fails(), c)
    assert got == {"status": "error", "note": "ValueError: reference did not fit"}


def test_the_check_on_a_cpu_eager_case_uses_at_most_32_rows():
    w = REG["mlp"](widths=(16, 32, 8), lr=0.001, momentum=0.9)
    w.setup(Case("mlp", "train", "cpu", "bf16", 64, exec="eager"))
    got = w.numerics()
    assert got["rows"] == numerics.CPU_ROWS and got["status"] == "ok"
