"""Exec modes as a sweep axis (issue 16 item 2), torch-free: parsing, the planning-time skip
rules, case ids, keys and labels, ``list``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from benchsuite import devices, execution, keys, plan
from benchsuite.cli import main
from benchsuite.workload import registry

REG = registry()


def sweep(devs, workloads=("mlp",), exec_modes=("eager", "graphs", "compile", "compile-max"), **kw):
    return plan.Sweep(workloads=list(workloads), devices=devs, precisions=kw.pop("precisions", ["fp32"]),
                      batch_sizes=[4], modes=kw.pop("modes", ["infer"]), exec_modes=list(exec_modes), **kw)


def test_parse_names_the_allowed_modes():
    assert plan.parse_exec(None) == ["eager"] and plan.parse_exec(["compile,eager", "compile"]) == ["compile", "eager"]
    assert plan.parse_exec("all") == list(execution.EXEC_MODES)
    with pytest.raises(plan.PlanError,
                       match="unknown exec mode 'inductor'; allowed: eager, graphs, compile, compile-max"):
        plan.parse_exec("inductor")


def test_each_case_once_per_mode_side_by_side_with_skips_decided_up_front(monkeypatch):
    monkeypatch.setattr(execution, "cpu_compiler", lambda: "/usr/bin/g++")
    cases = plan.expand(sweep([devices.cpu()], workloads=("mlp", "matmul")), REG)
    got = [(c.id, c.skip_reason) for c in cases]
    assert [i for i, _ in got[:4]] == ["mlp/infer/cpu/fp32/bs4", "mlp/infer/cpu/fp32/bs4/graphs",
                                       "mlp/infer/cpu/fp32/bs4/compile", "mlp/infer/cpu/fp32/bs4/compile-max"]
    reasons = dict(got)
    assert reasons["mlp/infer/cpu/fp32/bs4"] is None and reasons["mlp/infer/cpu/fp32/bs4/compile"] is None
    assert "needs a CUDA device" in reasons["mlp/infer/cpu/fp32/bs4/graphs"]
    matmul = [c for c in cases if c.workload == "matmul"]
    assert matmul[0].skip_reason is None  # eager
    assert all("matmul does not implement exec mode" in c.skip_reason for c in matmul[1:])
    assert cases[2].to_dict()["exec"] == "compile" and cases[0].to_dict()["exec"] == "eager"


def test_the_default_is_eager_and_changes_nothing():
    one = plan.expand(plan.Sweep(workloads=["mlp"], devices=[devices.cpu()], batch_sizes=[4]), REG)
    assert all(c.exec == "eager" and not c.id.endswith("eager") for c in one)


def test_gpu_rules_fp16_training_is_not_captured(fake_gpus):
    cases = plan.expand(sweep(fake_gpus[1:2], precisions=["fp16", "bf16"], modes=["train"]), REG)
    reason = {(c.precision, c.exec): c.skip_reason for c in cases}
    assert "GradScaler" in reason[("fp16", "graphs")] and "found_inf.item()" in reason[("fp16", "graphs")]
    assert reason[("bf16", "graphs")] is None and reason[("fp16", "compile-max")] is None  # recipe a
    assert reason[("fp16", "compile")] is None


def test_collectives_and_torch_distributed_are_eager_only(fake_gpus):
    why = execution.skip_reason("graphs", workload="collective", declared=("eager",), device_type="cuda",
                                mode="infer", precision="fp32", needs_process_group=True)
    assert "collectives are neither captured nor compiled" in why
    why = execution.skip_reason("compile", workload="mlp", declared=execution.EXEC_MODES, device_type="cuda",
                                mode="train", precision="bf16", world_size=2)
    assert "torch.distributed" in why


def test_compile_on_a_cpu_without_a_compiler_is_skipped_unless_the_backend_needs_none(monkeypatch):
    monkeypatch.setattr(execution, "cpu_compiler", lambda: None)
    cases = plan.expand(sweep([devices.cpu()], exec_modes=("compile",)), REG)
    assert "needs a C++ compiler" in cases[0].skip_reason
    monkeypatch.setenv(execution.BACKEND_ENV, "eager")
    assert plan.expand(sweep([devices.cpu()], exec_modes=("compile",)), REG)[0].skip_reason is None


def test_exec_is_part_of_the_key_and_the_label_and_missing_means_eager():
    record = {"workload": "cnn", "mode": "train", "precision": "bf16", "batch_size": 4096, "params": {}}
    compiled = {**record, "exec": "compile-max"}
    assert keys.key(record) == keys.key({**record, "exec": "eager"}) != keys.key(compiled)
    assert keys.label_of(compiled) == "cnn/train/bf16/bs4096/compile-max"
    assert keys.label_of(record) == "cnn/train/bf16/bs4096"
    row = {"workload": "cnn", "mode": "train", "precision": "bf16", "batch_size": 4096.0, "exec": float("nan")}
    assert keys.key(row) == keys.key(record)  # a DataFrame row of an old run: NaN -> eager


def test_list_shows_the_exec_modes():
    r = CliRunner().invoke(main, ["list"])
    assert r.exit_code == 0 and "exec modes (--exec)" in r.output and "compile-max" in r.output
    assert "exec: eager, graphs, compile, compile-max" in r.output  # mlp and cnn
    data = json.loads(CliRunner().invoke(main, ["list", "--format", "json"]).output)
    assert data["exec_modes"].keys() == set(execution.EXEC_MODES)
    assert {w["name"]: w["exec_modes"] for w in data["workloads"]}["matmul"] == ["eager"]


def test_a_bad_exec_mode_is_a_usage_error(tmp_path):
    r = CliRunner().invoke(main, ["run", "--exec", "jit", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "unknown exec mode 'jit'" in r.output


def test_cnn_memory_format_auto_joins_records_written_before_it_existed():
    before = {"workload": "cnn", "mode": "train", "precision": "bf16", "batch_size": 4096,
              "params": {"variant": "fixed", "data": None, "lr": 0.001, "momentum": 0.9}}
    now = {**before, "params": {**before["params"], "memory_format": "auto"}}
    assert keys.key(now) == keys.key(before) and keys.text(now) == keys.text(before)
    nhwc = {**before, "params": {**before["params"], "memory_format": "channels_last"}}
    assert keys.key(nhwc) != keys.key(before)
    row = {"workload": "cnn", "mode": "train", "precision": "bf16", "batch_size": 4096.0,
           "param_variant": "fixed", "param_lr": 0.001, "param_momentum": 0.9, "param_memory_format": "auto"}
    assert keys.key(row) == keys.key(before)
