"""Checks that need a CUDA GPU (skipped cleanly without one). Run: python -m pytest -m gpu"""

import pytest
import torch

from benchsuite import devices, results, runner
from benchsuite.plan import Case
from benchsuite.settings import RunSettings
from benchsuite.telemetry import Telemetry
from benchsuite.timing import TimingSettings
from benchsuite.workload import registry

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

SHORT = RunSettings(timing={"cpu": TimingSettings(min_time_s=0.2), "cuda": TimingSettings(min_time_s=0.5)})


def run_cases(tmp_path, cases, telemetry=None):
    gpu = devices.cuda()[0]
    store = results.RunStore(tmp_path, {})
    runner.Runner(registry(), [devices.cpu(), gpu], store, SHORT, telemetry=telemetry).run(cases)
    return results.load(store.path)


def test_matmul_precisions_on_the_gpu(tmp_path):
    shape = (("m", 4096), ("n", 4096), ("k", 4096))
    precs = ["fp32", "tf32", "bf16", "fp16"] + (["fp8"] if torch.cuda.get_device_capability() >= (8, 9) else [])
    df = run_cases(tmp_path, [Case("matmul", "infer", "cuda:0", p, None, shape) for p in precs])
    assert (df["status"] == "ok").all(), df[["id", "reason"]]
    by = dict(zip(df["precision"], df["tflop_per_s"]))
    assert by["bf16"] > by["fp32"] and by["tf32"] > by["fp32"]  # tensor cores, and TF32 really off for fp32
    if df["peak_tflop_per_s"].notna().all():
        assert (df["pct_of_peak"] < 100).all()


def test_training_and_oom_on_the_gpu(tmp_path):
    cases = [Case("cnn", "train", "cuda:0", "bf16", 256, (("variant", "fixed"), ("data", None), ("lr", 0.001),
                                                          ("momentum", 0.9))),
             # a 2^16 x 2^20 hidden activation (128+ GiB) cannot fit: out of memory, inputs stay small
             Case("mlp", "train", "cuda:0", "fp16", 2**16, (("widths", (16, 2**20, 16)), ("lr", 0.001),
                                                             ("momentum", 0.9))),
             Case("mlp", "infer", "cuda:0", "fp32", 64, (("widths", (64, 64, 10)), ("lr", 0.001), ("momentum", 0.9)))]
    df = run_cases(tmp_path, cases)
    assert df["status"].tolist() == ["ok", "oom", "ok"]  # the sweep goes on after an OOM
    assert df["mem_peak_bytes"][0] > 0


def test_energy_on_the_gpu(tmp_path):
    gpu = devices.cuda()[0]
    if gpu.telemetry_id is None:
        pytest.skip("GPU not matched to NVML")
    tel = Telemetry([gpu.nvml_index], hz=50)
    with tel:
        df = run_cases(tmp_path, [Case("matmul", "infer", "cuda:0", "bf16", None,
                                       (("m", 8192), ("n", 8192), ("k", 8192)))], telemetry=tel)
    row = df.iloc[0]
    assert row["energy_j"] > 0 and row["power_mean_w"] > 50
    assert row["energy_method"] in ("counter", "integrated-power")
    assert row["samples_per_j"] > 0 and "short-window" in row["quality_flags"]
