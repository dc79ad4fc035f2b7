"""Per-machine calibration files: where they live, keys, round trip, refusal of newer versions, run copies,
and refusal under another torch or (on a CPU) another thread count."""

import json

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
