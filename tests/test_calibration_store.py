"""Per-machine calibration files: where they live, keys, round trip, refusal of newer versions, run copies,
and refusal under another torch or (on a CPU) another thread count."""

import json
import math

import pytest
import torch

from benchsuite import calibration_store as store
from benchsuite.devices import Device


def record(key="box_cuda0_h100_550", device_id="cuda:0", **extra):
    return {"kind": store.KIND, "version": store.CALIBRATION_VERSION, "id": f"{key}@t", "machine_key": key,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": {"id": device_id, "type": "cuda", "name": "NVIDIA H100 80GB HBM3"},
            "matmul": {"bf16": {"tflop_per_s": 780.0}}, "bandwidth": {"d2d": {"gb_per_s": 2900.0}}, **extra}


def test_directory_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(store.ENV_DIR, str(tmp_path / "x"))
    assert store.calibration_dir() == tmp_path / "x"
    monkeypatch.delenv(store.ENV_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert store.calibration_dir() == tmp_path / "cache" / "benchsuite" / "calibration"


def test_machine_key_is_file_safe_and_changes_with_driver():
    gpu = Device(id="cuda:1", type="cuda", name="NVIDIA H100 80GB HBM3", index=1)
    cpu = Device(id="cpu", type="cpu", name="AMD EPYC 9654 96-Core Processor")
    a = store.device_key("node-7.lab", gpu, "550.54.15")
    assert a == "node-7.lab_cuda1_nvidia-h100-80gb-hbm3_550.54.15"
    assert store.device_key("node-7.lab", gpu, "560.1") != a
    assert store.device_key("h", cpu, "550") == store.device_key("h", cpu, "560")  # the GPU driver is not a CPU's


def test_round_trip_and_lookup_by_device(monkeypatch, tmp_path):
    monkeypatch.setenv(store.ENV_DIR, str(tmp_path))
    gpu = Device(id="cuda:0", type="cuda", name="NVIDIA H100 80GB HBM3", index=0)
    key = store.device_key("box", gpu, "550")
    path = store.save(record(key))
    assert path == tmp_path / f"{key}.json" and not list(tmp_path.glob("*.tmp"))
    found, problems = store.load_for([gpu, Device(id="cpu", type="cpu", name="x")], "box", "550")
    assert list(found) == ["cuda:0"] and problems == []
    assert store.achievable_tflops(found["cuda:0"], "bf16") == 780.0
    assert store.achievable_tflops(found["cuda:0"], "fp8") is None and store.achievable_gbs(None) is None
    assert found["cuda:0"]["file"] == str(path)
    assert store.load_for([gpu], "box", "560")[0] == {}  # a new driver: not applied


def test_newer_or_foreign_files_are_refused_with_the_reason(tmp_path):
    gpu = Device(id="cuda:0", type="cuda", name="G", index=0)
    key = store.device_key("box", gpu, None)
    (tmp_path / f"{key}.json").write_text(json.dumps(record(key) | {"version": store.CALIBRATION_VERSION + 1}))
    found, problems = store.load_for([gpu], "box", None, tmp_path)
    assert found == {} and "upgrade benchsuite" in problems[0]
    (tmp_path / f"{key}.json").write_text("{not json")
    with pytest.raises(store.CalibrationError, match="cannot read"):
        store.load(key, tmp_path)
    with pytest.raises(store.CalibrationError, match="not a benchsuite calibration"):
        store.check({"kind": "other"})


def test_run_copy(tmp_path):
    assert store.write_run_copy(tmp_path, []) is None and store.read_run_copy(tmp_path) == []
    path = store.write_run_copy(tmp_path / "run", [record()])
    assert path.name == store.RUN_FILE and store.read_run_copy(tmp_path / "run")[0]["id"] == "box_cuda0_h100_550@t"


def test_another_torch_refuses_the_calibration_on_any_device(tmp_path):
    gpu = Device(id="cuda:0", type="cuda", name="NVIDIA H100 80GB HBM3", index=0)
    key = store.device_key("box", gpu, "550")
    store.save(record(key, torch="2.11.0+cu128", threads=8), tmp_path)
    found, problems = store.load_for([gpu], "box", "550", tmp_path, torch_version="2.12.0+cu128", threads=8)
    assert found == {}
    assert problems == [f"calibration {key}@t of cuda:0: calibrated with torch 2.11.0+cu128, this is 2.12.0+cu128; "
                        "run `benchsuite calibrate -d cuda:0` again"]
    found, problems = store.load_for([gpu], "box", "550", tmp_path, torch_version="2.11.0+cu128", threads=1)
    assert list(found) == ["cuda:0"] and problems == []  # a GPU's figures do not depend on CPU threads


def test_a_cpu_calibration_needs_the_same_thread_count(tmp_path):
    cpu = Device(id="cpu", type="cpu", name="AMD EPYC 9654 96-Core Processor")
    key = store.device_key("box", cpu, None)
    cpu_record = record(key, device_id="cpu", torch="2.11.0", threads=8)
    cpu_record["device"] = {"id": "cpu", "type": "cpu", "name": cpu.name}
    store.save(cpu_record, tmp_path)
    found, problems = store.load_for([cpu], "box", None, tmp_path, torch_version="2.11.0", threads=4)
    assert found == {} and len(problems) == 1
    assert "calibrated with 8 threads, this run uses 4" in problems[0] and "--threads 8" in problems[0]
    found, problems = store.load_for([cpu], "box", None, tmp_path, torch_version="2.11.0", threads=8)
    assert found["cpu"]["id"] == f"{key}@t" and problems == []
    del cpu_record["threads"]  # made before benchsuite recorded threads: cannot be checked, so not applied
    store.save(cpu_record, tmp_path)
    found, problems = store.load_for([cpu], "box", None, tmp_path, torch_version="2.11.0", threads=8)
    assert found == {} and "does not record its thread count (this run uses 8)" in problems[0]


def test_load_for_checks_against_this_process_by_default(monkeypatch, tmp_path):
    cpu = Device(id="cpu", type="cpu", name="x")
    key = store.device_key("box", cpu, None)
    cpu_record = record(key, device_id="cpu")
    cpu_record["device"] = {"id": "cpu", "type": "cpu", "name": "x"}
    store.save(cpu_record, tmp_path)
    assert store.runtime() == (torch.__version__, torch.get_num_threads())
    assert list(store.load_for([cpu], "box", None, tmp_path)[0]) == ["cpu"]
    monkeypatch.setattr(store, "runtime", lambda: (torch.__version__, torch.get_num_threads() + 1))
    found, problems = store.load_for([cpu], "box", None, tmp_path)
    assert found == {} and f"this run uses {torch.get_num_threads() + 1}" in problems[0]


# ---------------------------------------------------------------- what is stored when


def v2(key="box_cuda0_h100_550", cid="new", bf16=700.0, fp8=1250.0, d2d=2600.0, **extra):
    """A complete version-2 record of an H100 (figures in TFLOP/s and GB/s; None: not calibrated)."""
    matmul = {}
    for name, fig in (("bf16", bf16), ("fp8", fp8)):
        if fig is not False:
            matmul[name] = {"tflop_per_s": fig, "shape": [2048, 2048, 13312],
                            "note": None if fig else "no re-timed finalist passed the spread rule (...)"}
    return record(key, **{"id": cid, "matmul": matmul, "bandwidth": {"d2d": {"gb_per_s": d2d}}, "skipped": {},
                          **extra})


def test_an_incomplete_calibration_is_refused_and_the_stored_one_stays(tmp_path):
    assert store.store(v2(cid="old"), tmp_path).action == "stored"
    before = store.path_for("box_cuda0_h100_550", tmp_path).read_text()
    got = store.store(v2(cid="new", bf16=None), tmp_path)
    assert got.action == "refused" and not got.written and got.record["id"] == "old"
    assert got.messages == ["not stored: bf16 not calibrated (no re-timed finalist passed the "
                            "spread rule (...))", "the stored calibration old stays in use"]
    assert store.path_for("box_cuda0_h100_550", tmp_path).read_text() == before
    assert store.incomplete(v2(bandwidth={})) == ["device memory bandwidth (d2d) not measured"]
    assert store.incomplete(v2(bf16=False, fp8=False)) == ["no precision was calibrated"]
    assert store.incomplete(v2(bf16=False, fp8=False, skipped={"fp8": "needs a GPU"})) == []  # skipped is fine
    first = store.store(v2(cid="x", fp8=None), tmp_path / "empty")
    assert first.action == "refused" and first.path is None and not (tmp_path / "empty").exists()


def test_a_better_stored_ceiling_is_kept_and_the_message_says_what_the_new_search_found(tmp_path):
    store.store(v2(cid="X", bf16=686.7, fp8=1262.0), tmp_path)
    got = store.store(v2(cid="Y", bf16=512.3, fp8=1200.0, d2d=2000.0), tmp_path)
    assert got.action == "kept" and not got.written and got.record["id"] == "X"
    assert got.messages == [
        "kept the stored bf16 686.7 TFLOP/s (calibration X), the new search found 512.3; use --force to replace",
        "kept the stored fp8 1262 TFLOP/s (calibration X), the new search found 1200; use --force to replace",
        "kept the stored d2d bandwidth 2600 GB/s (calibration X), the new measurement found 2000; use --force to "
        "replace",
        "nothing improved: calibration X stays"]
    assert store.load("box_cuda0_h100_550", tmp_path)["id"] == "X"


def test_a_partial_improvement_is_merged_ceiling_by_ceiling_with_its_provenance(tmp_path):
    store.store(v2(cid="X", bf16=686.7, fp8=1262.0), tmp_path)
    got = store.store(v2(cid="Y", bf16=717.7, fp8=1200.0), tmp_path)
    assert got.action == "improved" and got.written
    assert got.messages == [
        "bf16: 717.7 TFLOP/s replaces 686.7 (calibration X)",
        "kept the stored fp8 1262 TFLOP/s (calibration X), the new search found 1200; use --force to replace",
        "kept the stored d2d bandwidth 2600 GB/s (calibration X), the new measurement found 2600; use --force to "
        "replace"]
    held = store.load("box_cuda0_h100_550", tmp_path)
    assert held["id"] == "Y" and held["sources"] == ["X", "Y"]
    assert store.achievable_tflops(held, "bf16") == 717.7 and held["matmul"]["bf16"]["source"] == "Y"
    assert store.achievable_tflops(held, "fp8") == 1262.0 and held["matmul"]["fp8"]["source"] == "X"
    # a precision not asked for this time stays as it was
    got = store.store(v2(cid="Z", bf16=720.0, fp8=False, d2d=2700.0), tmp_path)
    held = store.load("box_cuda0_h100_550", tmp_path)
    assert got.action == "improved" and held["matmul"]["fp8"]["source"] == "X"
    assert held["matmul"]["bf16"]["source"] == "Z" and held["bandwidth"]["d2d"]["source"] == "Z"


def test_force_replaces_a_better_calibration_and_says_what_it_lowered(tmp_path):
    store.store(v2(cid="X", bf16=686.7), tmp_path)
    got = store.store(v2(cid="Y", bf16=512.3), tmp_path, force=True)
    assert got.action == "replaced" and got.written
    assert got.messages == ["replaced calibration X (--force)", "bf16: 512.3 TFLOP/s replaces the stored 686.7"]
    assert store.achievable_tflops(store.load("box_cuda0_h100_550", tmp_path), "bf16") == 512.3


@pytest.mark.parametrize("old, why", [
    ({"version": 1}, "it was made by an older benchsuite (calibration version 1), whose figures were not re-timed "
                     "and judged by their spread"),
    ({"torch": "2.11.0+cu128"}, f"it was made under torch 2.11.0+cu128, this one under {torch.__version__}"),
])
def test_a_stored_calibration_that_is_not_comparable_is_replaced(tmp_path, old, why):
    store.save(v2(cid="X", bf16=900.0) | old, tmp_path)
    got = store.store(v2(cid="Y", bf16=700.0), tmp_path)
    assert got.action == "replaced" and got.messages[0] == f"replaced calibration X ({why})"
    assert store.achievable_tflops(store.load("box_cuda0_h100_550", tmp_path), "bf16") == 700.0


def test_a_cpu_calibration_of_another_thread_count_is_replaced(tmp_path):
    cpu = {"device": {"id": "cpu", "type": "cpu", "name": "x"}}
    store.save(v2(key="box_cpu_x_none", cid="X", threads=8) | cpu, tmp_path)
    got = store.store(v2(key="box_cpu_x_none", cid="Y", threads=2, bf16=1.0) | cpu, tmp_path)
    assert got.action == "replaced" and "it was made with 8 threads, this one with 2" in got.messages[0]


def test_stored_json_is_strict_and_old_non_finite_files_still_load(tmp_path):
    bad = v2(cid="X", budget_s=math.inf)
    with pytest.raises(store.CalibrationError, match="field budget_s is not a finite number"):
        store.save(bad, tmp_path)
    with pytest.raises(store.CalibrationError, match=r"field matmul.bf16.times_s\[1\] is not a finite number"):
        store.store(v2(cid="X") | {"matmul": {"bf16": {"tflop_per_s": 1.0, "times_s": [1.0, math.nan]}}}, tmp_path)
    assert not list(tmp_path.glob("*"))  # nothing written, not even a temporary file
    with pytest.raises(store.CalibrationError, match="not a finite number"):
        store.write_run_copy(tmp_path / "run", [bad])
    # a file an older benchsuite wrote with Infinity/NaN: read, the bad numbers as null
    path = store.path_for("box_cuda0_h100_550", tmp_path)
    path.write_text(json.dumps(v2(cid="old"), allow_nan=True).replace('"gb_per_s": 2600.0', '"gb_per_s": NaN')
                    .replace('"version": 2', '"version": 1, "budget_s": Infinity'))
    old = store.load("box_cuda0_h100_550", tmp_path)
    assert old["budget_s"] is None and store.achievable_gbs(old) is None and old["id"] == "old"
    assert store.store(v2(cid="new"), tmp_path).action == "replaced"
    json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(f"{name} in a stored file"))


def test_stale_advice_is_one_line_naming_the_devices_and_the_command():
    assert store.stale_advice([{"calibration_stale": False}, {"calibration_stale": None}, {}]) is None
    line = store.stale_advice([
        {"device": "cpu", "calibration": "box_cpu@t", "pct_of_achievable": 121.4, "calibration_stale": True},
        {"device": "cpu", "calibration": "box_cpu@t", "pct_of_achievable": 231.0, "calibration_stale": True},
        {"device": "cpu", "calibration": "box_cpu@t", "pct_of_achievable": 99.0, "calibration_stale": False}])
    assert line == ("calibration stale: 2 cases reached more than 105% of the achievable figure (up to 231% on cpu; "
                    "calibration box_cpu@t): recalibrate with `benchsuite calibrate -d cpu --force`")
