import json

import pytest

from benchsuite import results
from tests.fakes.fixture_paths import CPU_5532, DA35


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


# -- a run cut short: planned minus written ---------------------------------------------------


def planned_run(tmp_path, planned, written, end):
    store = results.RunStore(tmp_path, {"tag": None, "planned": planned})
    for case_id, extra in written:
        store.append({"id": case_id, "status": "ok", "reason": None, **extra})
    if end:
        store.close(end)
    return results.read_run(store.path)


def test_a_run_without_end_record_or_planned_list_is_cut_short_after_its_cases():
    run = results.read_run(DA35)  # the H100 default run stopped at 46 of its 70 cases
    assert run.end is None and run.not_run is None
    assert run.cut_short == "cut short after 46 cases; the planned list was not recorded"
    df = results.load(DA35)
    assert df.attrs["runs"][0]["cut_short"] == run.cut_short and df.attrs["runs"][0]["not_run"] is None


def test_planned_minus_written_names_the_cases_that_never_ran(tmp_path):
    planned = ["matmul/infer/cpu/fp32", "mlp/train/cpu/fp32/bs256", "cnn/train/cpu/fp32/bs32"]
    run = planned_run(tmp_path, planned, [(planned[0], {})], end="interrupted")
    assert run.not_run == planned[1:]
    assert run.cut_short == "interrupted after 1 of 3 planned cases: 2 never ran"
    killed = planned_run(tmp_path, planned, [(planned[0], {})], end=None)
    assert killed.cut_short == "cut short after 1 of 3 planned cases: 2 never ran"
    done = planned_run(tmp_path, planned, [(p, {}) for p in planned], end="completed")
    assert done.not_run == [] and done.cut_short is None


def test_a_searched_batch_matches_its_planned_id(tmp_path):
    planned = ["cnn/train/cpu/fp32/bs-best", "cnn/train/cpu/fp32/bs-auto[variant=fixed]", "mlp/infer/cpu/fp32/bs8"]
    written = [("cnn/train/cpu/fp32/bs256", {"best_batch": True}),
               ("cnn/train/cpu/fp32/bs1024[variant=fixed]", {"auto_batch": True})]
    run = planned_run(tmp_path, planned, written, end="failed")
    assert run.not_run == ["mlp/infer/cpu/fp32/bs8"]
    assert run.cut_short == "failed after 2 of 3 planned cases: 1 never ran"


def test_an_old_completed_run_is_not_cut_short():
    run = results.read_run(CPU_5532)
    assert run.status == "completed" and run.cut_short is None and run.not_run is None
