import json
import math

import pandas as pd
import pytest

from benchsuite import keys, plan, results

RECORD = {"id": "mlp/train/cuda:0/fp32/bs32", "workload": "mlp", "mode": "train", "device": "cuda:0",
          "device_name": "NVIDIA H100 80GB HBM3", "precision": "fp32", "batch_size": 32, "world_size": 1,
          "params": {"widths": [32, 64, 10], "data": None}, "status": "ok"}


def _row(record: dict) -> dict:
    """The record as a results DataFrame row (param_* columns), through the real flattening."""
    run = results.Run(path=None, header={"run_id": "r"}, cases=[record], end=None)
    df = pd.DataFrame(results.flatten(run))
    df["param_other"] = math.nan  # another workload's parameter column: NaN here
    df["batch_size"] = df["batch_size"].astype(float)  # pandas upcasts a column with a gap
    return df.to_dict("records")[0]


@pytest.mark.parametrize("spec", list(keys.specs()))
def test_a_record_and_its_dataframe_row_have_the_same_key(spec):
    assert keys.key(RECORD, spec) == keys.key(_row(RECORD), spec)


def test_the_variants_differ_where_they_say():
    other_device = {**RECORD, "device": "cuda:1"}
    other_model = {**RECORD, "device_name": "NVIDIA A100"}
    two_ranks = {**RECORD, "world_size": 2}
    assert keys.key(RECORD, keys.CASE) != keys.key(other_device, keys.CASE)
    assert keys.key(RECORD) == keys.key(other_device) == keys.key(other_model)  # ACROSS_DEVICES
    assert keys.key(RECORD) != keys.key(two_ranks)
    assert keys.key(RECORD, keys.SAME_DEVICE_MODEL) != keys.key(other_model, keys.SAME_DEVICE_MODEL)
    assert keys.key(RECORD, keys.ACROSS_WORLD_SIZES) == keys.key(two_ranks, keys.ACROSS_WORLD_SIZES)
    assert keys.key(RECORD, keys.ACROSS_WORLD_SIZES) != keys.key(other_model, keys.ACROSS_WORLD_SIZES)


def test_missing_fields_mean_their_defaults():
    old = {k: v for k, v in RECORD.items() if k != "world_size"}
    assert keys.key(old) == keys.key({**RECORD, "exec": "eager"})
    assert keys.key({**RECORD, "exec": "compile"}) != keys.key(RECORD)


def test_labels():
    assert keys.label_of(RECORD) == "mlp/train/fp32/bs32[widths=32x64x10]"
    assert keys.label_of({**RECORD, "world_size": 2, "exec": "compile"}) == \
        "mlp/train/fp32/bs32/ws2/compile[widths=32x64x10]"
    assert keys.label_of(RECORD, keys.ACROSS_WORLD_SIZES) == \
        "mlp/train/fp32/bs32[widths=32x64x10] on NVIDIA H100 80GB HBM3"
    assert keys.label_of({**RECORD, "batch_size": None, "params": {}}) == "mlp/train/fp32"
    assert keys.prose_label(RECORD) == "mlp train fp32 bs32"
    assert keys.prose_label({"workload": "matmul", "precision": "bf16", "params": {"m": 8, "n": 4, "k": 2}}) == \
        "matmul bf16 8x4x2"


def test_text_is_the_claims_form_and_stays_as_it_was_for_one_process():
    assert json.loads(keys.text(RECORD)) == ["mlp", "train", "fp32", 32, [["data", None], ["widths", [32, 64, 10]]]]
    assert json.loads(keys.text({**RECORD, "world_size": 2}))[-1] == {"world_size": 2}
    case = plan.Case("mlp", "train", "cpu", "fp32", 32, (("widths", (32, 64, 10)), ("data", None)))
    assert keys.text(case.to_dict()) == keys.text(RECORD)


def test_case_key_is_the_across_devices_key():
    case = plan.Case("mlp", "train", "cpu", "fp32", 32, (("widths", (32, 64, 10)), ("data", None)))
    assert case.key() == keys.key(RECORD, keys.ACROSS_DEVICES)
