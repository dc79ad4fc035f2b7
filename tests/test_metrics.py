import pytest

from benchsuite import compare, export, metrics, ranks, runner
from benchsuite.report import cases, format, summary


@pytest.mark.parametrize("m", metrics.METRICS.values(), ids=lambda m: m.name)
def test_every_metric_is_declared_completely(m):
    assert m.kind in format.KINDS and m.basis in metrics.BASES and m.better in (-1, 0, 1)
    assert m.label and m.unit and m.description
    assert m.name == m.name.lower() and " " not in m.name


def test_labels_are_unique_so_a_table_header_names_one_metric():
    labels = [m.label for m in metrics.METRICS.values()]
    assert len(labels) == len(set(labels))


def test_derive_one_measurement():
    got = metrics.derive(samples_per_step=32, step_s=0.02, flops_per_step=4e10, bytes_per_step=2e8,
                         peak_tflop_per_s=10.0, achievable_tflop_per_s=4.0, energy_j=50.0, power_mean_w=250.0,
                         samples_in_window=320, devices=2)
    assert got == pytest.approx({
        "samples_per_s": 1600.0, "samples_per_s_per_device": 800.0, "tflop_per_s": 2.0, "pct_of_peak": 20.0,
        "pct_of_achievable": 50.0, "flop_per_byte": 200.0, "samples_per_j": 6.4, "j_per_sample": 50.0 / 320,
        "samples_per_s_per_w": 6.4, "tflop_per_s_per_w": 0.008})
    assert set(got) <= set(metrics.METRICS)


def test_not_measured_is_none_never_zero():
    got = metrics.derive(samples_per_step=8, step_s=0.5, flops_per_step=None, energy_j=0.0, power_mean_w=None,
                         samples_in_window=0)
    assert got["samples_per_s"] == 16.0
    assert all(got[k] is None for k in got if k != "samples_per_s")
    assert metrics.energy(5.0, 0, None, 1.0, None)["samples_per_j"] is None  # no samples: no samples/J
    assert metrics.round_energy(0.0, 4, 8) == {"energy_per_round_j": None, "samples_per_j": None}
    assert metrics.round_energy(12.0, 4, None) == {"energy_per_round_j": 3.0, "samples_per_j": None}


def test_the_runner_the_rank_merge_and_the_export_agree_on_energy():
    times = [0.01] * 10
    window = {"energy_j": 4.0, "power_mean_w": 40.0}
    ours = runner.energy_metrics(window, 8 * len(times), 8 / 0.01, None)
    record = {"status": "ok", "device": "cpu", "hostname": "h", "workload": "mlp", "telemetry": window,
              "timing": {"times_s": times},
              "metrics": {"step_s_median": 0.01, "samples_per_step": 8, "flops_per_step": None, **ours}}
    merged = ranks.merge([record])["metrics"]
    exported = export.energy_fields(4.0, rounds=len(times), iterations=1, samples_per_call=8)
    assert merged["samples_per_j"] == pytest.approx(ours["samples_per_j"]) == pytest.approx(exported["samples_per_j"])
    assert merged["samples_per_s_per_w"] == pytest.approx(ours["samples_per_s_per_w"])


def test_compare_and_the_tables_read_the_declarations():
    assert compare.METRICS == {n: metrics.METRICS[n].better for n in metrics.COMPARED}
    assert compare.TIME_METRICS == {n for n in metrics.COMPARED if metrics.METRICS[n].basis == "time"}
    assert set(summary.SUMMARY_COLUMNS) <= set(metrics.METRICS)  # raw()'s columns are declared metrics
    assert cases.TELEMETRY_COLUMNS == {"power_mean_w", "j_per_sample", "samples_per_j", "burst_power_w",
                                      "burst_sm_clock_mhz"}


def test_calibration_stale_is_judged_on_the_sustained_pct_of_achievable_and_typed_as_a_flag():
    from benchsuite import record

    assert metrics.STALE_PCT_OF_ACHIEVABLE == 105.0
    assert metrics.calibration_stale(105.0) is False and metrics.calibration_stale(105.01) is True
    assert metrics.calibration_stale(None) is None and metrics.calibration_stale(float("nan")) is None
    assert record.METRICS["calibration_stale"].type is bool and "calibration_stale" not in metrics.METRICS
    record.validate_case({"record": "case", "id": "x", "status": "ok", "metrics": {"calibration_stale": True}})
    with pytest.raises(record.RecordError, match="calibration_stale"):
        record.validate_case({"record": "case", "id": "x", "status": "ok", "metrics": {"calibration_stale": 1.5}})
    # the rank merge judges the global figure again
    per_rank = {"step_s_median": 1.0, "samples_per_step": 1, "flops_per_step": 2e12, "achievable_tflop_per_s": 1.0,
                "calibration_stale": False}
    records = [{"status": "ok", "device": f"cpu:{i}", "hostname": "h", "workload": "matmul", "telemetry": None,
                "timing": {"times_s": [1.0]}, "metrics": dict(per_rank)} for i in range(2)]
    merged = ranks.merge(records)["metrics"]
    assert merged["pct_of_achievable"] == pytest.approx(200.0) and merged["calibration_stale"] is True


def test_samples_in_a_window_are_its_seconds_times_the_timed_rate():
    """The window's edges sit on counter updates, not on the timed steps: samples in it are
    window seconds × (steps ÷ span) × samples per step; without a span, the steps themselves."""
    assert metrics.window_samples(8, 1000, 2.0, 2.1) == pytest.approx(8 * 1000 * 2.1 / 2.0)
    assert metrics.window_samples(8, 1000, None, 2.1) == 8000
    assert metrics.window_samples(8, 0, 2.0, 2.1) is None and metrics.window_samples(None, 5, 1, 1) is None
    got = metrics.derive(samples_per_step=8, step_s=0.002, energy_j=1400.0, power_mean_w=700.0,
                         samples_in_window=metrics.window_samples(8, 1000, 2.0, 2.0))
    assert got["j_per_sample"] == pytest.approx(700.0 * 0.002 / 8)  # mean power × time per sample


def test_latency_figures_are_percentiles_of_the_single_steps():
    import numpy as np

    times = [0.003, 0.001, 0.002] + [0.0015] * 120 + [0.009]
    got = metrics.latency(times)
    assert got["latency_s_p50"] == pytest.approx(float(np.percentile(times, 50)))
    assert got["latency_s_p99"] == pytest.approx(float(np.percentile(times, 99)))  # numpy's linear rule
    assert metrics.latency(None) == metrics.latency([]) == {"latency_s_p50": None, "latency_s_p99": None}
    assert metrics.percentile([5.0], 99) == 5.0
    with pytest.raises(ValueError, match="at least one value"):
        metrics.percentile([], 50)
    assert all(metrics.METRICS[name].better == metrics.LOWER for name in metrics.LATENCY)
    assert metrics.is_latency("infer", 1) and not metrics.is_latency("train", 1) and not metrics.is_latency("infer", 2)
