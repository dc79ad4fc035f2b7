"""Merging every rank's record of a case (torch-free): global throughput, bandwidth, failures."""

import pytest

from benchsuite import bandwidth, ranks


def _record(rank, median, status="ok", reason=None, host="n0", **metrics):
    rec = {"id": "mlp/train/cpu/fp32/bs8/ws2", "workload": "mlp", "device": "cpu", "device_name": "CPU",
           "status": status, "reason": reason, "rank": rank, "hostname": host, "telemetry_device": "cpu",
           "world_size": 2}
    if status == "ok":
        rec["metrics"] = {"step_s_median": median, "samples_per_step": 8, "samples_per_s": 8 / median,
                          "flops_per_step": 1e9, "peak_tflop_per_s": None, **metrics}
        rec["timing"] = {"times_s": [median] * 5}
        rec["telemetry"] = {"energy_j": 10.0, "power_mean_w": 50.0} if rank == 0 else None
    return rec


def test_global_throughput_uses_the_slowest_rank():
    merged = ranks.merge([_record(0, 0.010), _record(1, 0.020)])
    m = merged["metrics"]
    assert merged["status"] == "ok" and merged["world_size"] == 2 and m["slowest_rank"] == 1
    assert m["samples_per_s"] == pytest.approx(16 / 0.020)
    assert m["samples_per_s_per_device"] == pytest.approx(8 / 0.020)
    assert m["tflop_per_s"] == pytest.approx(2e9 / 0.020 / 1e12)
    assert [r["samples_per_s"] for r in merged["ranks"]] == pytest.approx([800, 400])
    # one CPU shared by both ranks, sampled once by local rank 0: its energy counts once
    assert m["energy_j_global"] == 10.0 and m["j_per_sample"] == pytest.approx(10.0 / 80)
    assert merged["ranks"][1]["telemetry"] == merged["ranks"][0]["telemetry"]  # the same CPU, one window
    assert "node_telemetry" not in merged


def test_node_local_rank_zero_telemetry_goes_to_each_rank():
    a, b = _record(0, 0.01), _record(1, 0.01)
    a["telemetry_device"], b["telemetry_device"] = "cuda:0", "cuda:1"
    a["node_telemetry"] = {"cuda:1": {"energy_j": 30.0, "power_mean_w": 150.0}}
    merged = ranks.merge([a, b])
    assert merged["ranks"][1]["telemetry"] == {"energy_j": 30.0, "power_mean_w": 150.0}
    assert merged["metrics"]["energy_j_global"] == 40.0 and merged["metrics"]["power_mean_w_global"] == 200.0


def test_collective_bandwidth_from_the_slowest_median():
    size = 4 * 2**20
    recs = [_record(r, med, collective_op="all_reduce", bytes_per_step=float(size)) for r, med in ((0, 1e-3), (1, 2e-3))]
    m = ranks.merge(recs)["metrics"]
    assert m["algbw_gbps"] == pytest.approx(size / 2e-3 / 1e9)
    assert m["busbw_gbps"] == pytest.approx(m["algbw_gbps"] * 2 * (2 - 1) / 2)


def test_a_collective_counts_once_per_step_not_once_per_rank():
    size = 4 * 2**20
    recs = [_record(r, med, collective_op="all_reduce", bytes_per_step=float(size), samples_per_step=1,
                    flops_per_step=None) for r, med in ((0, 1e-3), (1, 2e-3))]
    for rec in recs:
        rec["workload"] = "collective"
    m = ranks.merge(recs)["metrics"]
    assert m["samples_per_s"] == pytest.approx(1 / 2e-3)  # one all-reduce done jointly, not 2 × 1/t
    assert m["samples_per_s_per_device"] is None and m["samples_per_step_global"] == 1
    assert m["j_per_sample"] == pytest.approx(10.0 / 5)  # 5 timed collectives, not 10
    # a record without the metric name but with the workload name counts as a collective too
    assert ranks.is_collective({"workload": "collective", "metrics": {}})
    assert not ranks.is_collective(_record(0, 0.01))


def test_pct_of_achievable_and_of_peak_are_against_every_rank():
    # each rank's own figures: rank 0 does 0.1 TFLOP/s, 20 % of its 0.5 achievable, 10 % of its 1.0 peak
    recs = [_record(r, med, peak_tflop_per_s=1.0, achievable_tflop_per_s=0.5, pct_of_achievable=20.0,
                    pct_of_peak=10.0) for r, med in ((0, 0.010), (1, 0.020))]
    m = ranks.merge(recs)["metrics"]
    assert m["tflop_per_s"] == pytest.approx(2e9 / 0.020 / 1e12)  # 0.1 TFLOP/s for both, paced by rank 1
    assert m["pct_of_achievable"] == pytest.approx(100.0 * 0.1 / (2 * 0.5))  # 10 %, not rank 0's 20 %
    assert m["pct_of_peak"] == pytest.approx(100.0 * 0.1 / (2 * 1.0))
    recs[1]["metrics"]["achievable_tflop_per_s"] = None  # rank 1's device was never calibrated
    assert ranks.merge(recs)["metrics"]["pct_of_achievable"] is None


def test_a_failed_rank_makes_the_case_an_error_naming_it():
    merged = ranks.merge([_record(0, 0.01), _record(1, None, "error", "RuntimeError: timed out")])
    assert merged["status"] == "error" and "metrics" not in merged
    assert merged["reason"] == "rank 1: RuntimeError: timed out (rank 0 completed the case)"
    skipped = ranks.merge([_record(0, None, "skipped", "no bf16"), _record(1, None, "skipped", "no bf16")])
    assert skipped["status"] == "skipped" and skipped["reason"] == "no bf16"


def test_nccl_tests_bus_factors():
    assert bandwidth.bus_factor("all_reduce", 8) == pytest.approx(2 * 7 / 8)
    assert bandwidth.bus_factor("all_gather", 8) == bandwidth.bus_factor("reduce_scatter", 8) == pytest.approx(7 / 8)
    assert bandwidth.bus_factor("all_reduce", 1) == 0.0
    assert bandwidth.busbw_gbps("all_gather", 1e9, 0.5, 4) == pytest.approx(2.0 * 3 / 4)
    with pytest.raises(ValueError, match="allowed: all_reduce, all_gather, reduce_scatter"):
        bandwidth.bus_factor("broadcast", 2)


def test_samples_in_the_window_follow_the_timed_rate_when_the_span_is_known():
    """Schema 2: a window on counter updates is not the timed steps; each rank's samples in it
    are its window seconds × its steps ÷ its timed span (`metrics.window_samples`)."""
    recs = [_record(r, 0.01) for r in (0, 1)]
    for rec in recs:
        rec["timing"] = {"block_times_s": [0.05] * 4, "steps_per_block": 5, "span_s": 0.2}
    recs[0]["telemetry"] = {"energy_j": 10.0, "power_mean_w": 50.0, "window_s": 0.3}
    m = ranks.merge(recs)["metrics"]
    # 20 steps in 0.2 s, a 0.3 s window: 30 steps of 8 samples on each rank (one shared CPU window)
    assert m["j_per_sample"] == pytest.approx(10.0 / (2 * 8 * 30))
