import json

import pandas as pd
import pytest

from benchsuite import results


def write_run(tmp_path, cases=2, end="completed"):
    store = results.RunStore(tmp_path, {"tag": "t", "host": {"hostname": "h"}})
    for i in range(cases):
        store.append({"id": f"mlp/train/cpu/fp32/bs{i}", "workload": "mlp", "mode": "train", "device": "cpu",
                      "precision": "fp32", "batch_size": i + 1, "status": "ok", "reason": None,
                      "params": {"widths": [4, 2]}, "metrics": {"samples_per_s": 10.0 * (i + 1)},
                      "timing": {"method": "perf_counter", "times_s": [0.1, 0.2]}})
    if end:
        store.close(end)
    return store


def test_header_cases_end_and_flat_dataframe(tmp_path):
    store = write_run(tmp_path)
    lines = [json.loads(l) for l in store.path.read_text().splitlines()]
    assert [l["record"] for l in lines] == ["header", "case", "case", "end"]
    assert lines[0]["schema"] == results.SCHEMA_VERSION and lines[0]["run_id"] == store.run_id
    df = results.load(store.dir)
    assert [c for c in df.columns if c in results.FLAT_FIRST] == [c for c in results.FLAT_FIRST if c != "device_name"]
    assert df["param_widths"].tolist() == ["4x2", "4x2"]
    assert df["samples_per_s"].tolist() == [10.0, 20.0]
    assert results.times(store.dir)["time_s"].tolist()[:2] == [0.1, 0.2] and "step_times_s" not in df.columns
    assert df.attrs["runs"][0]["status"] == "completed"


def test_each_case_is_on_disk_when_append_returns(tmp_path):
    store = write_run(tmp_path, cases=1, end=None)
    run = results.read_run(store.path)
    assert len(run.cases) == 1 and run.status == "unfinished"


def test_out_pointing_at_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(results.ResultsError, match="is an existing file"):
        results.check_out_dir(f)


def test_truncated_last_line_is_reported_and_the_rest_used(tmp_path):
    store = write_run(tmp_path, end=None)
    with store.path.open("a") as fh:
        fh.write('{"record": "case", "id": "half')
    with pytest.warns(UserWarning, match=r"results.jsonl:4: truncated last line"):
        df = results.load(store.path)
    assert len(df) == 2


@pytest.mark.parametrize("content,message", [
    ("", "empty file"),
    ("hello\n", ":1: not a benchsuite results file"),
    ('{"record": "case"}\n', ":1: not a benchsuite results file"),
    ('{"record": "header", "schema": 99}\n', "schema 99, newer than this benchsuite reads"),
    ('{"record": "header", "schema": 1}\nnot json\n{"record": "end"}\n', ":2: not valid JSON"),
])
def test_bad_files_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "results.jsonl"
    path.write_text(content)
    with pytest.raises(results.ResultsError, match=message):
        results.load(path)


def test_folder_of_runs_newest_and_reference(tmp_path):
    a = write_run(tmp_path)
    b = write_run(tmp_path)
    assert len(results.load(tmp_path)) == 4
    assert results.newest_run(tmp_path) == max(a.dir, b.dir, key=lambda p: p.name)
    with pytest.raises(results.ResultsError, match="no runs found"):
        results.newest_run(tmp_path / "empty")
    assert results.reference_dir().name == "reference"


def test_nan_is_stored_as_null():
    assert results.clean_number(float("nan")) is None and results.clean_number(1.5) == 1.5


def test_telemetry_never_overwrites_the_case_device(tmp_path):
    """A GPU that NVML numbers differently (CUDA_VISIBLE_DEVICES) keeps its torch id."""
    store = results.RunStore(tmp_path, {})
    store.append({"id": "matmul/infer/cuda:0/bf16", "workload": "matmul", "mode": "infer", "device": "cuda:0",
                  "precision": "bf16", "status": "ok", "reason": None, "metrics": {"samples_per_s": 1.0},
                  "telemetry": {"device": "cuda:3", "case_id": "matmul/infer/cuda:0/bf16", "energy_j": 5.0}})
    store.close("completed")
    row = results.load(store.path).iloc[0]
    assert row["device"] == "cuda:0" and row["telemetry_device"] == "cuda:3" and row["energy_j"] == 5.0
