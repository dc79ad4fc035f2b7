"""The CLI end to end with click's CliRunner: a tiny sweep, list, info, and bad input."""

import json

import pytest
from click.testing import CliRunner

from benchsuite import results
from benchsuite.cli import main
from tests.conftest import SMALL, TINY


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_tiny_sweep_end_to_end(tmp_path):
    out = tmp_path / "runs"
    r = invoke("run", "--workload", "matmul,mlp", "--batch-size", "4", "--out", str(out), "--tag", "e2e",
               "--threads", "1", *TINY, *SMALL)
    assert r.exit_code == 0, r.output
    assert "Results:" in r.output and "matmul/infer/cpu/fp32" in r.output
    df = results.load(results.newest_run(out))
    assert set(df["status"]) <= {"ok", "skipped"}
    ok = df[df["status"] == "ok"]
    assert (ok["samples_per_s"] > 0).all() and (ok["tflop_per_s"] > 0).all()
    assert (ok["threads"] == 1).all()
    header = df.attrs["runs"][0]["header"]
    assert header["tag"] == "e2e" and header["threads"] == 1 and header["command"]
    assert header["options"]["workload"] == ["matmul,mlp"] and header["options"]["tag"] == "e2e"
    assert header["devices"][0]["id"] == "cpu" and header["host"]["torch"]


def test_fp16_on_cpu_is_measured_and_labelled_slow_when_not_native(tmp_path):
    r = invoke("run", "--workload", "cnn", "--precision", "fp16", "--device", "cpu", "--batch-size", "2",
               "--out", str(tmp_path), *TINY)
    assert r.exit_code == 0, r.output
    df = results.load(results.newest_run(tmp_path))
    assert (df["status"] == "ok").all() and len(df) == 2
    from benchsuite import devices

    if "fp16" not in devices.cpu().native_precisions:
        assert all("slow path" in n[0] for n in df["notes"])
        assert "slow path" in r.output


def test_third_party_workload_runs(tmp_path, third_party):
    r = invoke("run", "--workload", "tiny", "--out", str(tmp_path), "--param", "size=8", "--min-time", "0.01")
    assert r.exit_code == 0, r.output
    df = results.load(results.newest_run(tmp_path))
    assert df["id"].tolist()[0] == "tiny/infer/cpu/fp32/bs4[size=8]" and df["status"][0] == "ok"
    assert (df["status"][1:] == "skipped").all()  # the CPU's other default precision: tiny has only fp32


def test_formats_for_scripts(tmp_path):
    r = invoke("run", "-w", "matmul", "-p", "fp32", "--out", str(tmp_path), "--format", "json", "--param", "m=64", *TINY)
    rows = json.loads(r.stdout)
    assert rows[0]["id"].startswith("matmul/infer/cpu/fp32") and rows[0]["samples_per_s"] > 0
    r = invoke("run", "-w", "matmul", "-p", "fp32", "--out", str(tmp_path), "--format", "markdown", "--param", "m=64", *TINY)
    assert r.stdout.startswith("| case | status |")


def test_list_shows_modes_params_units_and_precisions():
    r = invoke("list")
    assert r.exit_code == 0
    for text in ("matmul", "no batch axis", "widths", "1024x4096x1024", "features", "fp8", "TF32 off"):
        assert text in r.output
    data = json.loads(invoke("list", "--format", "json").output)
    assert {w["name"] for w in data["workloads"]} >= {"matmul", "mlp", "cnn"}


def test_info_shows_machine():
    r = invoke("info")
    assert r.exit_code == 0 and "CPU" in r.output and "NVML" in r.output and "torch" in r.output
    data = json.loads(invoke("info", "--format", "json").output)
    assert data["devices"][0]["type"] == "cpu" and "nvml" in data["host"]


@pytest.mark.parametrize("args,message", [
    (["--workload", "resnet"], "unknown workload 'resnet'"),
    (["--precision", "fp64"], "unknown precision 'fp64'"),
    (["--batch-size", "0"], "batch size '0' is not allowed"),
    (["--batch-size", "-1"], "batch size '-1' is not allowed"),
    (["--batch-size", "abc"], "batch size 'abc' is not allowed"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--param", "zzz=1"], "unknown parameter 'zzz'"),
    (["--param", "m=abc"], "expected a positive integer"),
    (["--param", "cnn.data=/nowhere"], "no CIFAR-10 in"),
    (["--mode", "eval"], "unknown mode 'eval'"),
    (["--threads", "0"], "--threads"),
])
def test_bad_input_is_a_usage_error(tmp_path, args, message):
    r = CliRunner().invoke(main, ["run", "--out", str(tmp_path), *args])
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert not list(tmp_path.iterdir())  # nothing started


def test_cuda_on_a_machine_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = CliRunner().invoke(main, ["run", "--device", "cuda", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no CUDA GPU is visible" in r.output


def test_missing_gpu_index(tmp_path, monkeypatch, fake_gpus):
    from benchsuite import devices

    monkeypatch.setattr(devices, "available", lambda: fake_gpus)
    r = CliRunner().invoke(main, ["run", "--device", "cuda:7", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "'cuda:7' does not exist: this machine has 2 GPU(s)" in r.output


def test_out_is_an_existing_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    r = CliRunner().invoke(main, ["run", "--out", str(f)])
    assert r.exit_code == 2 and "is an existing file" in r.output
