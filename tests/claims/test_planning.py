"""What the claims measure, which given records they reuse, and the flat records they judge
(benchsuite.claims.planning)."""

from __future__ import annotations

import pytest

from benchsuite import devices, keys, results, runner
from benchsuite.claims import planning, verdicts
from benchsuite.workload import registry


def test_plan_has_the_same_keys_on_every_device(fake_gpus):
    cases = planning.plan_cases(fake_gpus[:2], registry(), planning.ClaimsSettings())
    by_device = {d: {keys.text(c.to_dict()) for c in cases if c.device == d and not
                     c.param_dict.get("variant") == "article"} for d in ("cpu", "cuda:0")}
    assert by_device["cpu"] == by_device["cuda:0"] and len(by_device["cpu"]) == 7
    ids = [c.id for c in cases]
    assert "matmul/infer/cpu/fp32[m=2048,n=2048,k=2048]" in ids and "cnn/infer/cuda:0/fp32/bs1" in ids
    assert "cnn/train/cpu/fp32/bs4[variant=article]" in ids and all(not c.skip_reason for c in cases)


def test_article_variant_case_is_an_error_with_the_shape_message(tmp_path):
    reg = registry()
    case = next(c for c in planning.plan_cases([devices.cpu()], reg, planning.ClaimsSettings())
                if c.param_dict.get("variant") == "article")
    store = results.RunStore(tmp_path, {"test": True})
    record = runner.Runner(reg, [devices.cpu()], store).run_case(case)
    assert record["status"] == "error"
    assert verdicts.SHAPE_MESSAGE in record["reason"] and record["reason"].startswith("RuntimeError")
    row = verdicts.claim_article_network({"cases": [planning.flat_record(record, {}, "test")]})
    assert row["verdict"] == verdicts.NOT_SUPPORTED and "shape mismatch" in row["reason"]


def test_given_gpu_records_count_and_matching_cases_are_reused():
    cpu = devices.cpu()
    case = next(c for c in planning.plan_cases([cpu], registry(), planning.ClaimsSettings()) if c.workload == "mlp")
    mine = {**case.to_dict(), "key": keys.text(case.to_dict()), "device_name": cpu.name, "status": "ok"}
    assert planning.reusable(case, cpu, [mine]) is mine
    assert planning.reusable(case, cpu, [{**mine, "device_name": "another CPU"}]) is None
    assert planning.reusable(case, cpu, [{**mine, "status": "oom"}]) is None
    gpu = {**mine, "device": "cuda:0", "device_name": "NVIDIA H100", "hostname": "gpu-box"}
    other = {**mine, "key": "other"}
    assert planning.evidence_cases([mine], [mine, gpu, other], {mine["key"]}) == [mine, gpu]


def test_parse_subset():
    assert planning.parse_subset("6000/1000") == (6000, 1000)
    with pytest.raises(planning.ClaimsError, match="TRAIN/VAL"):
        planning.parse_subset("6000")


def test_reference_records_put_the_claims_run_first_and_quick_runs_last():
    records = planning.reference_records(results.reference_dir())
    order = list(dict.fromkeys(r["run_id"] for r in records))
    assert order[0] == "20261125-215901-8b88" and order[-1] == "20261125-215237-6bcb"  # claims first, --quick last
    assert all(r["source"] == f"reference {r['run_id']}" for r in records)


def test_reference_gpu_cases_stand_in_only_without_a_gpu_of_ones_own():
    settings = planning.ClaimsSettings()
    planned = {keys.text(c.to_dict()) for c in planning.plan_cases([devices.cpu()], registry(), settings)}
    reference = planning.reference_records(results.reference_dir())
    cpu = [dict(r, source="measured now") for r in reference if r["device"] == "cpu" and r["key"] in planned]
    picked = planning.reference_gpu_cases(cpu, [], reference, planned)
    assert picked and all(r["device"] == "cuda:0" and r["status"] == "ok" and r["key"] in planned for r in picked)
    # the claims run measured every planned GPU case: its records come first, so they are the ones judged
    judged = planning.evidence_cases(cpu, [], planned, picked)
    gpu = [r for r in judged if r["device"] == "cuda:0"]
    assert len(gpu) == 7 and {r["run_id"] for r in gpu} == {"20261125-215901-8b88"}
    # a GPU result of one's own (measured now or given with --run) leaves the references out
    own_gpu = [dict(picked[0], source="given")]
    assert planning.reference_gpu_cases(cpu, own_gpu, reference, planned) == []
