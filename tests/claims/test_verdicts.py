"""Verdicts from figures alone: no torch, no measuring (benchsuite.claims.verdicts)."""

from __future__ import annotations

import pytest

from benchsuite.claims import verdicts
from benchsuite.report import claims as render
from tests.fakes.claim_records import by_id, rec, training


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
    gpu["latency_s_p99"] = 0.0006
    assert verdicts.claim_latency({"cases": [gpu, cpu]})["verdict"] == verdicts.SUPPORTED


def test_latency_is_judged_on_the_latency_pass_not_the_block_statistics():
    """A latency case's step_s_median/p99 are of blocks now; the verdict reads the single steps of
    its latency pass (latency_s_p50/p99), which carry each step's own launch and event."""
    gpu = rec("mlp", "infer", "cuda:0", 20000.0, batch_size=1, latency_s_p50=8e-5, latency_s_p99=2e-4)
    cpu = rec("mlp", "infer", "cpu", 10000.0, batch_size=1, latency_s_p50=1e-4, latency_s_p99=1.5e-4)
    row = verdicts.claim_latency({"cases": [gpu, cpu]})  # blocks: GPU 50 µs < CPU 100 µs, p99 too
    assert row["verdict"] == verdicts.NOT_SUPPORTED and "p99" in row["reason"]  # single steps: p99 is not
    shown = {f["label"] + " " + f["device"]: f["value"] for f in row["figures"]}
    assert shown["mlp infer fp32 bs1 latency p50 cuda:0 NVIDIA H100 80GB HBM3"] == 8e-5
    assert shown["mlp infer fp32 bs1 latency p99 cpu Some CPU"] == 1.5e-4
    gpu["latency_s_p99"] = 1e-4
    assert verdicts.claim_latency({"cases": [gpu, cpu]})["verdict"] == verdicts.SUPPORTED


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
    assert "matmul fp32 2048x2048x2048 TFLOP/s: 40.0 TFLOP/s [NVIDIA H100 80GB HBM3] (measured)" in md

    row = verdicts.claim_generations({"gpu_results": h100 + a100, "datasheets": sheets})
    assert row["verdict"] == verdicts.NOT_MEASURED and "energy was not measured on both sides" in row["reason"]
    labels = [(f["label"], f["device"]) for f in row["figures"]]
    a100_at = labels.index(("A100 80GB SXM datasheet", ""))
    assert labels[a100_at + 1] == ("matmul fp32 2048x2048x2048 TFLOP/s", "NVIDIA A100-SXM4-80GB")
    assert labels.count(("matmul fp32 2048x2048x2048 TFLOP/s", "NVIDIA H100 80GB HBM3")) == 1  # not repeated
    assert ("matmul fp32 2048x2048x2048 samples/s", "NVIDIA A100-SXM4-80GB") in labels  # the compared case


def test_gpu_figures_from_the_shipped_references_say_so_with_their_run():
    ref = dict(source="reference 20261125-215901-8b88", run_id="20261125-215901-8b88")
    cases = [rec("cnn", "infer", "cuda:0", 20000.0, samples_per_j=80.0, **ref), rec("cnn", "infer", "cpu", 100.0),
             rec("cnn", "infer", "cuda:0", 2000.0, batch_size=1, **ref), rec("cnn", "infer", "cpu", 500.0, batch_size=1)]
    rows = by_id(verdicts.evaluate({"cases": cases, "gpu_results": [c for c in cases if c["device"] == "cuda:0"]}))
    for claim in ("1", "2", "3"):
        assert "shipped reference run 20261125-215901-8b88" in rows[claim]["reason"], rows[claim]["reason"]
    assert rows["1"]["verdict"] == verdicts.SUPPORTED
    speedup = rows["1"]["figures"][0]
    assert speedup["device"] == "cuda:0 NVIDIA H100 80GB HBM3 (shipped reference 20261125-215901-8b88) vs cpu Some CPU"
    assert "(shipped references only)" in rows["5"]["reason"]
    # a GPU measured here carries no such note
    mine = by_id(verdicts.evaluate({"cases": [rec("cnn", "infer", "cuda:0", 20000.0), rec("cnn", "infer", "cpu", 100.0)]}))
    assert "reference" not in mine["1"]["reason"] and "reference" not in mine["1"]["figures"][0]["device"]
