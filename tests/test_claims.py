"""The article's claims: verdicts from figures, the article's network, the training check,
rendering (markdown, HTML) and `benchsuite claims` end to end on a tiny CIFAR-10."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchsuite import claims, devices, results, runner, verdicts
from benchsuite.cli import main
from benchsuite.report import claims as render
from benchsuite.settings import RunOptions
from benchsuite.telemetry import Telemetry
from benchsuite.workload import registry
from tests.conftest import TINY
from tests.fakes import calibrations, cifar_files


# -- verdicts from figures (no torch, no measuring) --------------------------------------------
def rec(workload, mode, device, samples_per_s, batch_size=128, **extra):
    """A flat case record as `claims.flat_record` makes it."""
    params = {"m": 2048, "n": 2048, "k": 2048} if workload == "matmul" else {"variant": "fixed"}
    base = {"id": f"{workload}/{mode}/{device}/fp32/bs{batch_size}", "workload": workload, "mode": mode,
            "device": device, "device_name": "NVIDIA H100 80GB HBM3" if device.startswith("cuda") else "Some CPU",
            "precision": "fp32", "batch_size": None if workload == "matmul" else batch_size, "params": params,
            "status": "ok", "reason": None, "samples_per_s": samples_per_s, "hostname": "box",
            "step_s_median": 1 / samples_per_s, "step_s_p99": 1.2 / samples_per_s}
    base.update(extra)
    base["key"] = claims.key_of(base)
    return base


def by_id(rows):
    return {r["id"]: r for r in rows}


def test_gpu_slower_than_cpu_is_not_supported():
    evidence = {"cases": [rec("cnn", "train", "cuda:0", 50.0), rec("cnn", "train", "cpu", 100.0)]}
    row = by_id(verdicts.evaluate(evidence))["1"]
    assert row["verdict"] == verdicts.NOT_SUPPORTED
    assert "slower" in row["reason"] and "cnn train fp32 bs128" in row["reason"]
    speedup = next(f for f in row["figures"] if f["label"].endswith("speedup"))
    assert speedup["value"] == pytest.approx(0.5) and speedup["kind"] == "measured"


def test_far_faster_needs_the_geometric_mean_threshold():
    fast = [rec("matmul", "infer", "cuda:0", 400.0), rec("matmul", "infer", "cpu", 10.0),
            rec("mlp", "infer", "cuda:0", 2000.0), rec("mlp", "infer", "cpu", 100.0)]
    row = verdicts.claim_speed({"cases": fast})
    assert row["verdict"] == verdicts.SUPPORTED  # 40x and 20x: geometric mean 28.3x
    mean = next(f for f in row["figures"] if f["label"] == "geometric mean speedup")
    assert mean["value"] == pytest.approx((40 * 20) ** 0.5)
    modest = [rec("mlp", "infer", "cuda:0", 500.0), rec("mlp", "infer", "cpu", 100.0)]
    row = verdicts.claim_speed({"cases": modest})
    assert row["verdict"] == verdicts.NOT_SUPPORTED and "below 10×" in row["reason"]


def test_no_gpu_says_not_measured_and_how_to_measure():
    evidence = {"cases": [rec("mlp", "infer", "cpu", 100.0), rec("mlp", "infer", "cpu", 100.0, batch_size=1)],
                "gpu_note": "no CUDA GPU (this torch is a CPU-only build)"}
    rows = by_id(verdicts.evaluate(evidence))
    for claim_id in ("1", "2", "3"):
        assert rows[claim_id]["verdict"] == verdicts.NOT_MEASURED
        assert "no CUDA GPU" in rows[claim_id]["reason"] and "--run" in rows[claim_id]["reason"]
        assert rows[claim_id]["figures"] and all(f["device"] == "cpu Some CPU" for f in rows[claim_id]["figures"])
    assert [f["label"] for f in rows["1"]["figures"]] == ["mlp infer fp32 bs128 throughput"]
    assert [f["value"] for f in rows["3"]["figures"]] == [pytest.approx(0.01), pytest.approx(0.012)]  # p50, p99
    assert rows["2"]["figures"][0]["kind"] == "not measured"  # the CPU side's energy, without RAPL or --cpu-watts


def test_cpu_energy_without_rapl_is_not_measured_unless_watts_are_assumed():
    gpu = rec("mlp", "train", "cuda:0", 1000.0, samples_per_j=20.0, energy_method="counter")
    cpu = rec("mlp", "train", "cpu", 100.0, samples_per_j=None, telemetry_note="no RAPL on this CPU")
    row = verdicts.claim_energy({"cases": [gpu, cpu]})
    assert row["verdict"] == verdicts.NOT_MEASURED
    assert "no RAPL on this CPU" in row["reason"] and "--cpu-watts" in row["reason"]
    row = verdicts.claim_energy({"cases": [gpu, cpu], "cpu_watts": 50.0})
    assert row["verdict"] == verdicts.SUPPORTED and "assumption" in row["reason"]
    cpu_fig = next(f for f in row["figures"] if f["device"].startswith("cpu"))
    assert cpu_fig["kind"] == "assumption" and cpu_fig["value"] == pytest.approx(100.0 / 50.0)
    row = verdicts.claim_energy({"cases": [gpu, cpu], "cpu_watts": 2.0})  # 50 samples/J beats the GPU's 20
    assert row["verdict"] == verdicts.NOT_SUPPORTED


def test_latency_needs_lower_p50_and_p99():
    gpu = rec("cnn", "infer", "cuda:0", 2000.0, batch_size=1, step_s_p99=0.01)  # p50 0.5 ms, p99 10 ms
    cpu = rec("cnn", "infer", "cpu", 1000.0, batch_size=1)  # p50 1 ms, p99 1.2 ms
    row = verdicts.claim_latency({"cases": [gpu, cpu]})
    assert row["verdict"] == verdicts.NOT_SUPPORTED and "p99" in row["reason"]
    labels = [f["label"] for f in row["figures"]]
    assert "cnn infer fp32 bs1 latency p50" in labels and "cnn infer fp32 bs1 latency p99" in labels
    gpu["step_s_p99"] = 0.0006
    assert verdicts.claim_latency({"cases": [gpu, cpu]})["verdict"] == verdicts.SUPPORTED


def training(acc, subset=None, device="cpu"):
    return {"device": device, "device_name": "x", "status": "ok", "batch_size": 4, "subset": subset,
            "train_images": (subset or [50000])[0], "test_images": (subset or [0, 10000])[1],
            "accuracy_pct": acc, "cumulative_s": [10.0 * (i + 1) for i in range(len(acc))],
            "cumulative_energy_j": [None] * len(acc), "energy_note": "no RAPL on this CPU"}


def test_training_verdicts():
    row = verdicts.claim_training({"training_note": "CIFAR-10 not provided"})
    assert row["verdict"] == verdicts.NOT_MEASURED
    assert "CIFAR-10 not provided" in row["reason"] and "--data" in row["reason"]
    assert "nothing is downloaded" in row["reason"]
    ten = [40.0 + i for i in range(10)]
    row = verdicts.claim_training({"training": [training(ten)]})
    assert row["verdict"] == verdicts.NOT_SUPPORTED and "49.00 %" in row["reason"] and "92.10 %" in row["reason"]
    assert any(f["label"] == "time to 92.10 %" and f["value"] is None and f["note"] == "not reached"
               for f in row["figures"])
    row = verdicts.claim_training({"training": [training([80.0, 93.0], subset=[6000, 1000])]})
    assert row["verdict"] == verdicts.SUPPORTED
    assert next(f for f in row["figures"] if f["label"] == "time to 92.10 %")["value"] == 20.0
    row = verdicts.claim_training({"training": [training([99.0], subset=[160, 100])]})
    assert row["verdict"] == verdicts.NOT_MEASURED and "6000/1000" in row["reason"]  # not the article's data


def test_cpu_watts_gives_the_cpu_training_energy_as_an_assumption():
    cpu, gpu = training([50.0, 93.0, 60.0]), training([50.0, 60.0], device="cuda:0")
    gpu["energy_note"] = "cuda:0 could not be matched to an NVML device (no UUID match)"
    figs = verdicts.claim_training({"training": [cpu, gpu], "cpu_watts": 65.0})["figures"]
    on_cpu = {f["label"]: f for f in figs if f["device"] == "cpu x"}
    best = on_cpu["energy to best accuracy"]
    assert best["kind"] == "assumption" and best["value"] == pytest.approx(20.0 * 65.0)  # 20 s to epoch 2
    assert "assumed CPU power 65 W (--cpu-watts)" in best["note"] and "no RAPL on this CPU" in best["note"]
    assert on_cpu["energy to 92.10 %"]["kind"] == "assumption"
    assert on_cpu["energy to 92.10 %"]["value"] == pytest.approx(1300.0)
    on_gpu = {f["label"]: f for f in figs if f["device"] == "cuda:0 x"}  # --cpu-watts never stands in for a GPU
    assert on_gpu["energy to accuracy"]["kind"] == "not measured" and "NVML" in on_gpu["energy to accuracy"]["note"]
    cpu["cumulative_energy_j"] = [30.0, 60.0, 90.0]  # RAPL read: measured, no assumption
    figs = verdicts.claim_training({"training": [cpu], "cpu_watts": 65.0})["figures"]
    best = next(f for f in figs if f["label"] == "energy to best accuracy")
    assert best["kind"] == "measured" and best["value"] == 60.0
    figs = verdicts.claim_training({"training": [training([50.0])]})["figures"]  # no --cpu-watts
    assert next(f for f in figs if f["label"] == "energy to accuracy")["kind"] == "not measured"


def test_measurement_texts_say_what_the_figures_leave_out():
    rows = by_id(verdicts.evaluate({"cases": [rec("cnn", "infer", "cuda:0", 2000.0, batch_size=1),
                                              rec("cnn", "infer", "cpu", 1000.0, batch_size=1)]}))
    assert ("device time per batch-1 step, inputs already on the device; host-to-device copy not included"
            in rows["3"]["measurement"])
    gpu_p50, cpu_p50 = (f for f in rows["3"]["figures"] if f["label"].endswith("p50"))
    assert "host-to-device copy not included" in gpu_p50["note"] and cpu_p50["note"] == ""
    assert "GPU board energy" in rows["2"]["measurement"] and "CPU package energy" in rows["2"]["measurement"]
    assert "host CPU that drives the GPU is not counted" in rows["2"]["measurement"]


def test_training_figures_gpu_idle_share_and_cpu_not_applicable():
    gpu = training([50.0, 60.0], device="cuda:0")
    gpu["cumulative_energy_j"] = [100.0, 210.0]
    gpu["energy_method"] = "counter"
    gpu["idle"] = {"batch_size": 4, "idle_share_events": 0.8, "idle_share_nvml": None,
                   "idle_share_nvml_note": "GPU utilisation not measured: no NVML"}
    gpu["idle_probes"] = [{"batch_size": 128, "idle_share_events": 0.1, "idle_share_nvml": 0.2}]
    figs = {f["label"]: f for f in verdicts.claim_training({"training": [gpu, training([55.0])]})["figures"]
            if f["device"].startswith("cuda")}
    assert figs["GPU idle share of wall time at batch 4 (CUDA events)"]["value"] == pytest.approx(80.0)
    nvml4 = figs["GPU idle share of wall time at batch 4 (NVML utilisation)"]
    assert nvml4["value"] is None and nvml4["kind"] == "not measured" and "no NVML" in nvml4["note"]
    assert figs["GPU idle share of wall time at batch 128 (NVML utilisation)"]["value"] == pytest.approx(20.0)
    assert figs["energy to best accuracy"]["value"] == 210.0 and figs["energy to best accuracy"]["note"] == "counter"
    cpu = [f for f in verdicts.claim_training({"training": [training([55.0])]})["figures"]
           if f["label"] == "GPU idle share"]
    assert cpu[0]["kind"] == "not applicable"


def test_generations_from_measurements_datasheets_only_shown():
    sheet = {"model": "H100 SXM", "tflops": {"fp32": 67.0}, "mem_bandwidth_gbs": 3350, "tdp_w": 700,
             "source": "NVIDIA H100 datasheet, https://example"}
    one = [rec("matmul", "infer", "cuda:0", 100.0, compute_capability="9.0", samples_per_j=1.0)]
    row = verdicts.claim_generations({"gpu_results": one, "datasheets": [sheet]})
    assert row["verdict"] == verdicts.NOT_MEASURED and "fewer than two GPU generations" in row["reason"]
    assert [f["kind"] for f in row["figures"]] == ["datasheet", "measured"] and "67" in row["figures"][0]["value"]
    a100 = rec("matmul", "infer", "cuda:0", 40.0, compute_capability="8.0", samples_per_j=0.5,
               device_name="NVIDIA A100-SXM4-80GB")
    row = verdicts.claim_generations({"gpu_results": one + [a100]})
    assert row["verdict"] == verdicts.SUPPORTED
    v100 = rec("matmul", "infer", "cuda:1", 20.0, compute_capability="7.0", samples_per_j=0.6,
               device_name="Tesla V100-SXM2-32GB")
    row = verdicts.claim_generations({"gpu_results": one + [a100, v100]})
    assert row["verdict"] == verdicts.NOT_SUPPORTED  # V100 more efficient than A100 (0.6 vs 0.5 samples/J)
    assert row["reason"] == "NVIDIA A100-SXM4-80GB is not more efficient than Tesla V100-SXM2-32GB on matmul fp32 2048x2048x2048"
    a100["samples_per_s"] = 150.0  # the older GPU measures faster
    row = verdicts.claim_generations({"gpu_results": one + [a100]})
    assert row["verdict"] == verdicts.NOT_SUPPORTED and "not faster" in row["reason"]


def test_generations_lists_each_measured_gpu_beside_its_datasheet_with_one_generation():
    sheets = [{"model": m, "tflops": {"fp32": t}, "mem_bandwidth_gbs": 1000, "tdp_w": 400, "source": "s"}
              for m, t in (("H100 SXM", 67.0), ("A100 80GB SXM", 19.5), ("V100 SXM2", 15.7))]
    h100 = [rec("matmul", "infer", "cuda:0", 100.0, compute_capability="9.0", tflop_per_s=40.0,
                samples_per_j=1.5, energy_method="counter"),
            rec("cnn", "train", "cuda:0", 5000.0, compute_capability="9.0", samples_per_j=9.0)]
    a100 = [rec("matmul", "infer", "cuda:0", 40.0, compute_capability="8.0", tflop_per_s=16.0,
                device_name="NVIDIA A100-SXM4-80GB")]  # no energy: no samples/J figure
    h200 = [rec("mlp", "infer", "cuda:0", 100.0, compute_capability="9.0", device_name="NVIDIA H200")]
    row = verdicts.claim_generations({"gpu_results": h100 + h200, "datasheets": sheets})
    assert row["verdict"] == verdicts.NOT_MEASURED and "fewer than two GPU generations" in row["reason"]
    shown = [(f["label"], f["value"], f["device"], f["kind"]) for f in row["figures"]]
    assert shown[:3] == [
        ("H100 SXM datasheet", shown[0][1], "", "datasheet"),
        ("matmul fp32 2048x2048x2048 TFLOP/s", 40.0, "NVIDIA H100 80GB HBM3", "measured"),
        ("matmul fp32 2048x2048x2048 samples/J", 1.5, "NVIDIA H100 80GB HBM3", "measured")]
    assert [s[0] for s in shown[3:5]] == ["A100 80GB SXM datasheet", "V100 SXM2 datasheet"]
    assert shown[5:] == [("matmul TFLOP/s", None, "NVIDIA H200", "not measured")]  # no H200 datasheet given
    assert row["figures"][2]["note"] == "counter"
    md = render.markdown([row])
    assert "matmul fp32 2048x2048x2048 TFLOP/s: 40.00 TFLOP/s [NVIDIA H100 80GB HBM3] (measured)" in md

    row = verdicts.claim_generations({"gpu_results": h100 + a100, "datasheets": sheets})
    assert row["verdict"] == verdicts.NOT_MEASURED and "energy was not measured on both sides" in row["reason"]
    labels = [(f["label"], f["device"]) for f in row["figures"]]
    a100_at = labels.index(("A100 80GB SXM datasheet", ""))
    assert labels[a100_at + 1] == ("matmul fp32 2048x2048x2048 TFLOP/s", "NVIDIA A100-SXM4-80GB")
    assert labels.count(("matmul fp32 2048x2048x2048 TFLOP/s", "NVIDIA H100 80GB HBM3")) == 1  # not repeated
    assert ("matmul fp32 2048x2048x2048 samples/s", "NVIDIA A100-SXM4-80GB") in labels  # the compared case


# -- the engine -------------------------------------------------------------------------------
def test_plan_has_the_same_keys_on_every_device(fake_gpus):
    cases = claims.plan_cases(fake_gpus[:2], registry(), claims.ClaimsSettings())
    keys = {d: {claims.key_of(c.to_dict()) for c in cases if c.device == d and not
                c.param_dict.get("variant") == "article"} for d in ("cpu", "cuda:0")}
    assert keys["cpu"] == keys["cuda:0"] and len(keys["cpu"]) == 7
    ids = [c.id for c in cases]
    assert "matmul/infer/cpu/fp32[m=2048,n=2048,k=2048]" in ids and "cnn/infer/cuda:0/fp32/bs1" in ids
    assert "cnn/train/cpu/fp32/bs4[variant=article]" in ids and all(not c.skip_reason for c in cases)


def test_article_variant_case_is_an_error_with_the_shape_message(tmp_path):
    reg = registry()
    case = next(c for c in claims.plan_cases([devices.cpu()], reg, claims.ClaimsSettings())
                if c.param_dict.get("variant") == "article")
    store = results.RunStore(tmp_path, {"test": True})
    record = runner.Runner(reg, [devices.cpu()], store).run_case(case)
    assert record["status"] == "error"
    assert verdicts.SHAPE_MESSAGE in record["reason"] and record["reason"].startswith("RuntimeError")
    row = verdicts.claim_article_network({"cases": [claims.flat_record(record, {}, "test")]})
    assert row["verdict"] == verdicts.NOT_SUPPORTED and "shape mismatch" in row["reason"]


def test_training_check_learns_the_tiny_dataset_above_chance(tmp_path):
    data = cifar_files.write(tmp_path, per_batch=100)
    settings = claims.ClaimsSettings(data=str(data), epochs=2, subset=(120, 100))
    result = claims.train_check(str(data), devices.cpu(), registry(), settings)
    assert result["status"] == "ok" and result["batch_size"] == 4 and result["lr"] == 0.001
    assert result["train_images"] == 120 and result["test_images"] == 100
    assert len(result["accuracy_pct"]) == 2 and max(result["accuracy_pct"]) > 30.0  # chance is 10 %
    assert result["cumulative_s"][1] >= result["epoch_s"][0] > 0
    assert result["energy_j"] == [None, None] and result["energy_note"] == "telemetry disabled"
    assert "idle" not in result  # a GPU figure: not applicable on the CPU


@pytest.mark.gpu
def test_training_check_on_a_gpu_reports_idle_shares(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    data = cifar_files.write(tmp_path, per_batch=100)
    gpu = devices.cuda()[0]
    settings = claims.ClaimsSettings(data=str(data), epochs=1, subset=(400, 100), probe_batch_size=32)
    result = claims.train_check(str(data), gpu, registry(), settings)
    assert result["status"] == "ok" and max(result["accuracy_pct"]) > 30.0
    for probe, batch in ((result["idle"], 4), (result["idle_probes"][0], 32)):
        assert probe["batch_size"] == batch and 0.0 <= probe["idle_share_events"] <= 1.0
        assert 0 < probe["busy_s"] <= probe["wall_s"]


class RecordingTelemetry:
    """Stands in for `benchsuite.telemetry.Telemetry`: records the GPUs it is given and the ids
    windows are opened on; each window reports 5 J."""

    made: list = []
    available = False  # no NVML here

    def __init__(self, gpu_indices=(), hz=20.0, **kwargs) -> None:
        self.gpu_indices, self.windows, self.hz = list(gpu_indices), [], hz
        RecordingTelemetry.made.append(self)

    def window(self, device, case_id, align=False):
        self.windows.append(str(device))
        window = contextlib.nullcontext()
        window.summary = {"device": str(device), "energy_j": 5.0, "energy_method": "counter",
                          "util_gpu_mean_pct": 50.0}
        return window

    window_for = Telemetry.window_for  # the real choice of window, over these recorded ones

    def info(self) -> dict:
        return {"gpu_indices": self.gpu_indices}

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def renumbered_gpu(nvml_index, id="cuda:0"):
    """torch's GPU 0, which NVML numbers ``nvml_index`` (CUDA_VISIBLE_DEVICES=2 does this)."""
    return devices.Device(id=id, type="cuda", name="NVIDIA H100 80GB HBM3", index=0, nvml_index=nvml_index,
                          compute_capability=(9, 0))


def test_telemetry_follows_nvml_numbering_not_torch_numbering():
    matched, unmatched = renumbered_gpu(2), renumbered_gpu(None, id="cuda:1")
    assert devices.telemetry_gpus([devices.cpu(), matched, unmatched]) == [2]
    tel = RecordingTelemetry()
    window = tel.window_for(matched, "claims-train/cuda:0/bs4/epoch1")
    assert tel.windows == ["cuda:2"] and window.summary["energy_j"] == 5.0
    window = tel.window_for(unmatched, "claims-train/cuda:1/bs4/epoch1")
    assert tel.windows == ["cuda:2"]  # no window on a guessed GPU
    assert window.summary["energy_j"] is None and "could not be matched" in window.summary["telemetry_note"]


def test_training_check_windows_use_the_nvml_id(tmp_path):
    # A GPU description whose torch device is the CPU, so that the GPU path of the check (epoch
    # windows, then the idle probe) runs here without CUDA.
    data = cifar_files.write(tmp_path, per_batch=100)
    settings = claims.ClaimsSettings(data=str(data), epochs=2, subset=(40, 20), probe_batch_size=8)
    gpu = devices.Device(id="cpu", type="cuda", name="NVIDIA H100 80GB HBM3", index=0, nvml_index=3)
    tel = RecordingTelemetry()
    result = claims.train_check(str(data), gpu, registry(), settings, tel)
    assert tel.windows == ["cuda:3", "cuda:3", "cuda:3"]  # two epochs and the probe
    assert result["energy_j"] == [5.0, 5.0] and result["cumulative_energy_j"] == [5.0, 10.0]
    assert result["idle"]["idle_share_nvml"] == pytest.approx(0.5)
    unmatched = devices.Device(id="cpu", type="cuda", name="NVIDIA H100 80GB HBM3", index=0, nvml_index=None)
    result = claims.train_check(str(data), unmatched, registry(), settings, RecordingTelemetry())
    assert result["energy_j"] == [None, None] and "could not be matched" in result["energy_note"]
    assert "could not be matched" in result["idle"]["idle_share_nvml_note"]


def test_measure_gives_telemetry_the_nvml_indices(tmp_path, monkeypatch):
    import benchsuite.telemetry

    def no_cases(self, cases):  # nothing is measured: only what telemetry was built with matters here
        self.store.close("completed")
        return "completed"

    RecordingTelemetry.made.clear()
    monkeypatch.setattr(benchsuite.telemetry, "Telemetry", RecordingTelemetry)
    monkeypatch.setattr(runner.Runner, "run", no_cases)
    gpus = [renumbered_gpu(2), renumbered_gpu(None, id="cuda:1")]
    done = claims.measure([devices.cpu(), *gpus], registry(), claims.ClaimsSettings(), tmp_path,
                          RunOptions(), use_reference=False)
    assert [t.gpu_indices for t in RecordingTelemetry.made] == [[2]]
    assert done.evidence["gpu_note"] is None and len(done.claims) == 6


def test_a_claims_run_carries_pct_of_achievable_when_a_calibration_exists(tmp_path, monkeypatch):
    from benchsuite import calibration_store

    calibration_id = calibrations.save_cpu(tflop_per_s=0.25)
    quick = RunOptions(quick=True, telemetry=False, min_time_s=0.01, min_iters=2, warmup_iters=1)
    planned = claims.plan_cases  # only the matmul case is needed here: the others take seconds on a CPU
    monkeypatch.setattr(claims, "plan_cases", lambda *a: [c for c in planned(*a) if c.workload == "matmul"])
    done = claims.measure([devices.cpu()], registry(), claims.ClaimsSettings(matmul_size=64, batch_size=8), tmp_path, quick,
                          use_reference=False)
    run = results.read_run(done.results_path)
    assert run.header["calibrations"] == {"cpu": calibration_id}
    assert calibration_store.read_run_copy(done.dir)[0]["id"] == calibration_id
    matmul = next(c for c in run.cases if c["workload"] == "matmul")
    m = matmul["metrics"]
    assert matmul["status"] == "ok" and m["calibration"] == calibration_id and m["achievable_tflop_per_s"] == 0.25
    assert m["pct_of_achievable"] == pytest.approx(100 * m["tflop_per_s"] / 0.25)


def test_subset_larger_than_the_data_is_refused(tmp_path):
    data = cifar_files.write(tmp_path, per_batch=10)
    with pytest.raises(claims.ClaimsError, match="holds only 50 training"):
        claims.train_check(str(data), devices.cpu(), registry(), claims.ClaimsSettings(subset=(6000, 1000)))
    assert claims.parse_subset("6000/1000") == (6000, 1000)
    with pytest.raises(claims.ClaimsError, match="TRAIN/VAL"):
        claims.parse_subset("6000")


def test_given_gpu_records_count_and_matching_cases_are_reused():
    cpu = devices.cpu()
    case = next(c for c in claims.plan_cases([cpu], registry(), claims.ClaimsSettings()) if c.workload == "mlp")
    mine = {**case.to_dict(), "key": claims.key_of(case.to_dict()), "device_name": cpu.name, "status": "ok"}
    assert claims.reusable(case, cpu, [mine]) is mine
    assert claims.reusable(case, cpu, [{**mine, "device_name": "another CPU"}]) is None
    assert claims.reusable(case, cpu, [{**mine, "status": "oom"}]) is None
    gpu = {**mine, "device": "cuda:0", "device_name": "NVIDIA H100", "hostname": "gpu-box"}
    other = {**mine, "key": "other"}
    assert claims.evidence_cases([mine], [mine, gpu, other], {mine["key"]}) == [mine, gpu]


# -- rendering --------------------------------------------------------------------------------
def sample_claims():
    return verdicts.evaluate({
        "cases": [rec("cnn", "train", "cuda:0", 50.0), rec("cnn", "train", "cpu", 100.0)],
        "training_note": "CIFAR-10 not provided",
    })


def test_markdown_table():
    text = render.markdown(sample_claims())
    lines = text.splitlines()
    assert lines[0] == "| claim | measurement | measured | verdict |" and lines[1] == "|---|---|---|---|"
    assert len(lines) == 2 + 6
    assert lines[2].startswith("| 1. GPUs run deep-learning matrix work far faster than CPUs. |")
    assert "cnn train fp32 bs128 speedup: 0.5× [cuda:0 NVIDIA H100 80GB HBM3 vs cpu Some CPU] (measured)" in lines[2]
    assert "**not supported**: the GPU is slower" in lines[2]
    assert "92.10 %" in lines[6] and "**not measured here**: CIFAR-10 not provided" in lines[6]
    weird = [{**sample_claims()[0], "reason": "a | b"}]
    assert "a \\| b" in render.markdown(weird)


def golden_evidence():
    """Fixed figures covering every verdict kind, for the golden markdown file."""
    gpu = dict(device_name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
    article = rec("cnn", "train", "cpu", 1.0, batch_size=4, status="error",
                  reason="RuntimeError: mat1 and mat2 shapes cannot be multiplied (4096x16 and 2304x128)")
    article.update(params={"variant": "article"}, id="cnn/train/cpu/fp32/bs4[variant=article]")
    cases = [rec("matmul", "infer", "cuda:0", 400.0, samples_per_j=2.0, sample_unit="product", tflop_per_s=6.87,
                 energy_method="counter", **gpu),
             rec("matmul", "infer", "cpu", 2.0, sample_unit="product"),
             rec("cnn", "infer", "cuda:0", 20000.0, samples_per_j=80.0, sample_unit="image", **gpu),
             rec("cnn", "infer", "cpu", 1000.0, sample_unit="image"),
             rec("cnn", "infer", "cuda:0", 2000.0, batch_size=1, sample_unit="image", step_s_p99=0.004, **gpu),
             rec("cnn", "infer", "cpu", 1000.0, batch_size=1, sample_unit="image"),
             article]
    return {
        "cases": cases,
        "gpu_results": [c for c in cases if c["device"].startswith("cuda")],
        "cpu_watts": 100.0,
        "training": [training([40.0 + 2 * i for i in range(10)])],
        "datasheets": [{"model": "H100 SXM", "tflops": {"fp32": 67.0, "bf16": 989.5}, "mem_bandwidth_gbs": 3350,
                        "tdp_w": 700, "source": "NVIDIA H100 Tensor Core GPU datasheet (2023), https://example"}],
    }


def test_markdown_matches_the_golden_file():
    golden = Path(__file__).parent / "golden" / "claims.md"
    text = render.markdown(verdicts.evaluate(golden_evidence()))
    assert text == golden.read_text(encoding="utf-8")


def test_html_section_escapes_every_string():
    rows = sample_claims()
    rows[0]["reason"] = "<script>alert(1)</script>"
    rows[0]["figures"][0]["device"] = "cuda:0 <b>GPU</b>"
    section = render.claims_section_html(rows)
    assert section.startswith('<section class="claims" id="claims">') and "<script>" not in section
    assert "&lt;script&gt;" in section and "&lt;b&gt;GPU&lt;/b&gt;" in section
    assert section.count("<tr id=\"claim-") == 6 and 'class="verdict not-supported"' in section
    assert render.page_html(rows).startswith("<!doctype html>")


def test_renderer_and_verdicts_do_not_import_torch():
    code = ("import sys, benchsuite.report.claims, benchsuite.verdicts; "
            "sys.exit(1 if 'torch' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- the command ------------------------------------------------------------------------------
def test_claims_command_end_to_end_then_reuse(tmp_path):
    data = cifar_files.write(tmp_path / "data", per_batch=100)
    out = tmp_path / "runs"
    small = ["--matmul-size", "64", "--batch-size", "8", "--quick", *TINY, "--threads", "1"]
    proc = subprocess.run([sys.executable, "-m", "benchsuite", "claims", "--data", str(data), "--epochs", "1",
                           "--subset", "160/100", "--device", "cpu", "--out", str(out), "--format", "json", *small],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    rows = by_id(json.loads(proc.stdout))
    assert list(rows) == ["1", "2", "3", "4a", "4b", "5"]
    assert rows["1"]["verdict"] == verdicts.NOT_MEASURED and "no CUDA GPU" in rows["1"]["reason"]
    assert rows["4a"]["verdict"] == verdicts.NOT_SUPPORTED and verdicts.SHAPE_MESSAGE in rows["4a"]["reason"]
    accuracy = next(f for f in rows["4b"]["figures"] if f["label"] == "test accuracy by epoch")
    assert float(accuracy["value"]) > 30.0 and "160 train / 100 test images" in accuracy["note"]
    assert rows["5"]["figures"] and all(f["kind"] == "datasheet" for f in rows["5"]["figures"])
    run_dir = results.newest_run(out)
    assert f"claims: {run_dir / 'claims.json'}" in proc.stderr and "Measured 8 case(s)" in proc.stderr
    saved = render.read_claims(run_dir)
    assert saved["claims"] == list(rows.values()) and saved["evidence"]["training"][0]["subset"] == [160, 100]
    assert (run_dir / "claims.md").read_text().startswith("| claim |")
    df = results.load(run_dir)
    assert len(df) == 8 and set(df["status"]) == {"ok", "error"}

    again = CliRunner().invoke(main, ["claims", "--run", str(run_dir), "--device", "cpu", "--out", str(out),
                                      "--format", "markdown", *small], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert "Measured 0 case(s), reused 8 from --run." in again.stderr
    assert again.stdout.startswith("| claim |") and "CIFAR-10 not provided" in again.stdout

    # A GPU run passed with --run counts on this CPU-only machine: here a made-up "GPU" at half the
    # CPU's speed on every case, so claim 1 must come out not supported, from the figures alone.
    gpu_dir = tmp_path / "gpu-run"
    gpu_dir.mkdir()
    lines = []
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        record = json.loads(line)
        for d in record.get("devices") or []:
            d.update(id="cuda:0", name="NVIDIA H100 80GB HBM3", compute_capability="9.0")
        if record["record"] == "case":
            record.update(device="cuda:0", device_name="NVIDIA H100 80GB HBM3")
            if record["status"] == "ok":
                record["metrics"]["samples_per_s"] /= 2
                record["metrics"]["step_s_median"] *= 2
                record["metrics"]["step_s_p99"] *= 2
        lines.append(json.dumps(record))
    (gpu_dir / "results.jsonl").write_text("\n".join(lines) + "\n")
    mixed = CliRunner().invoke(main, ["claims", "--run", str(run_dir), "--run", str(gpu_dir), "--device", "cpu",
                                      "--out", str(out), "--format", "json", *small], catch_exceptions=False)
    assert mixed.exit_code == 0, mixed.output
    rows = by_id(json.loads(mixed.stdout))
    assert rows["1"]["verdict"] == verdicts.NOT_SUPPORTED and "slower" in rows["1"]["reason"]
    speedups = [f["value"] for f in rows["1"]["figures"] if f["label"].endswith(" speedup")
                and f["label"] != "geometric mean speedup"]
    assert len(speedups) == 5 and all(v == pytest.approx(0.5) for v in speedups)
    assert rows["3"]["verdict"] == verdicts.NOT_SUPPORTED and "p50 and p99" in rows["3"]["reason"]
    assert rows["2"]["verdict"] == verdicts.NOT_MEASURED  # no energy on either side here


def test_claims_command_refuses_bad_input(tmp_path):
    r = CliRunner().invoke(main, ["claims", "--data", str(tmp_path), "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no CIFAR-10" in r.output
    r = CliRunner().invoke(main, ["claims", "--subset", "6000", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "TRAIN/VAL" in r.output
    r = CliRunner().invoke(main, ["claims", "--run", str(tmp_path / "nothing"), "--out", str(tmp_path)])
    assert r.exit_code == 2 and "no benchsuite results" in r.output


def test_report_of_a_claims_run_has_the_claims_section(tmp_path):
    """`benchsuite report` on a claims run directory shows the claims table."""
    from benchsuite.report import claims as claims_report
    from benchsuite.report import html as report_html
    from tests.fakes import report_runs

    run_dir = report_runs.make_run(tmp_path, "20261125-000000-c1a1")
    rows = [{"id": "4a", "claim": "The printed CNN <b>runs</b>", "verdict": "not supported",
             "measurement": "m", "figures": [], "reason": None}]
    (run_dir / claims_report.CLAIMS_FILE).write_text(__import__("json").dumps({"claims": rows, "evidence": {}}))
    out, _ = report_html.write([run_dir], tmp_path / "r.html")
    page = out.read_text()
    assert "The article&#x27;s claims" in page or "The article's claims" in page
    assert "The printed CNN &lt;b&gt;runs&lt;/b&gt;" in page
