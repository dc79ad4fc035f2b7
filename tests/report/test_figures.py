"""The report's figures: facets per workload and mode, devices by colour and precisions by symbol,
small legends, integer batch ticks, efficiency once, collectives by the right bandwidth, the
timeline's power limit and temperature, CPU cases in their own panels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchsuite import results
from benchsuite.report import figures, labels, scaling
from tests.fakes.fixture_paths import OLD_RUNS
from tests.fakes.report_runs import make_run


def _legend(fig) -> list[str]:
    return [t.name for t in fig.data if t.showlegend is not False and t.name]


def _two_devices(tmp_path):
    a = make_run(tmp_path, "20261101-000000-aaaa")
    b = make_run(tmp_path, "20261102-000000-bbbb", hostname="a100-box", device_name="NVIDIA A100-SXM4-80GB",
                 speed=0.5, seed=1)
    df, _ = results.load_runs([a, b])
    return df


def test_precisions_keep_one_order_and_a_symbol_each():
    """`labels.PRECISION_ORDER`, declared once: the figures' legend and the hardware table's rows."""
    assert tuple(figures.PRECISION_SYMBOLS) == labels.PRECISION_ORDER
    assert figures._precisions(["fp8", "int4", "fp16", "bf16", "fp32", "tf32"]) == [*labels.PRECISION_ORDER, "int4"]


def test_throughput_one_panel_per_workload_and_mode_with_a_key_legend(tmp_path):
    df = _two_devices(tmp_path)
    fig = figures.throughput_vs_batch(df)
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["cnn train", "mlp train"]
    assert _legend(fig) == ["NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "fp32", "bf16"]
    drawn = [t for t in fig.data if t.x and t.x[0] is not None]
    assert {t.marker.symbol for t in drawn} == {"circle", "diamond"}  # precisions by symbol
    assert len({t.marker.color for t in drawn}) == 2  # devices by colour
    assert fig.layout.xaxis.type == "log" and list(fig.layout.xaxis.ticktext) == ["32", "128", "512"]
    assert fig.layout.yaxis.title.text == "samples/s"


def test_a_device_keeps_its_colour_in_every_figure(tmp_path):
    df = _two_devices(tmp_path)
    colours = []
    for fig in (figures.throughput_vs_batch(df), figures.energy(df), figures.pareto(df), figures.pct_of_peak(df)):
        colours.append({t.name: t.marker.color for t in fig.data if t.name in ("NVIDIA H100 80GB HBM3",)})
    assert len({c["NVIDIA H100 80GB HBM3"] for c in colours}) == 1


def test_many_runs_of_one_model_keep_the_legend_small(tmp_path):
    runs = [make_run(tmp_path, f"2026110{i}-000000-r{i:03d}", workloads=("mlp",), batch_sizes=(32, 64), seed=i)
            for i in range(10)]
    df, _ = results.load_runs(runs)
    fig = figures.throughput_vs_batch(df)
    assert len(_legend(fig)) <= figures.MAX_LEGEND
    assert _legend(fig)[0] == "NVIDIA H100 80GB HBM3"  # ten runs of one model: one colour


def test_runs_of_one_model_are_one_colour_in_separate_traces_named_in_the_hover(tmp_path):
    """Four runs of one H100 (two of them on another machine) and a CPU: two colours, one per
    device model; each run its own line of its model's colour, the run named in the hover."""
    runs = [make_run(tmp_path, f"2026110{i}-000000-r{i:03d}", workloads=("mlp",), batch_sizes=(32, 64), seed=i,
                     hostname="box" if i < 2 else "other-box") for i in range(4)]
    runs.append(make_run(tmp_path, "20261105-000000-cpu0", device="cpu", device_name="AMD EPYC 9654",
                         telemetry=False, workloads=("mlp",), batch_sizes=(32, 64)))
    df, _ = results.load_runs(runs)
    fig = figures.throughput_vs_batch(df)
    assert _legend(fig) == ["AMD EPYC 9654", "NVIDIA H100 80GB HBM3", "fp32", "bf16"]
    drawn = [t for t in fig.data if t.x and t.x[0] is not None]
    h100 = [t for t in drawn if t.name.startswith("NVIDIA H100")]
    assert len({t.marker.color for t in h100}) == 1 and len({t.marker.color for t in drawn}) == 2
    # one trace per run and precision per panel: a line never joins two runs' points
    ok = df[(df["status"] == "ok") & (df["device"] == "cuda:0")]
    assert len(h100) == len(ok.groupby(["run_id", "precision", "workload", "mode"])) > 4
    for trace in h100:
        named = {text.rsplit("(run ", 1)[1] for text in trace.text}
        assert len(named) == 1  # every point of a trace from one run, which its hover names


def test_energy_is_shown_once_as_samples_per_joule(tmp_path):
    fig = figures.energy(_two_devices(tmp_path))
    assert fig.layout.yaxis.title.text == "samples/J"
    assert all("J/sample" not in (t.name or "") for t in fig.data)


def test_pareto_labels_integer_batch_sizes(tmp_path):
    fig = figures.pareto(_two_devices(tmp_path))
    labels = [a for a in fig.layout.annotations if a.text.startswith("bs")]
    assert labels and all("." not in a.text for a in labels)
    # each label sits above its point, shifted past the marker's radius (the marker is 7-23 px wide)
    assert all(a.yanchor == "bottom" and a.yshift >= 3.5 + figures.LABEL_CLEAR_PX for a in labels)
    front = [t for t in fig.data if t.name == "Pareto front"]
    points = {(round(x, 9), round(y, 9)) for t in front for x, y in zip(np.log10(t.x), np.log10(t.y))}
    assert all((round(a.x, 9), round(a.y, 9)) in points for a in labels)  # log10 positions on log axes
    assert figures._batch_label(4096.0) == "bs4096" and figures._batch_label(float("nan")) == ""


def test_batch_ticks_are_integers_and_few():
    vals, text = figures.batch_ticks([2**i for i in range(25)])
    assert len(vals) <= figures.MAX_TICKS and all(isinstance(v, int) for v in vals)
    assert text[0] == "1" and "." not in "".join(text) and text[-1] == "2<sup>24</sup>"
    assert figures.batch_ticks([32.0, 128.0]) == ([32, 128], ["32", "128"])


def test_log_ticks_never_label_every_digit():
    assert figures.log_ticks([100, 300]) == {"nticks": 5}  # plotly's few round values
    assert figures.log_ticks([40, 700]) == {"tickvals": [50.0, 100.0, 200.0, 500.0],
                                            "ticktext": ["50", "100", "200", "500"]}
    wide = figures.log_ticks([1e-2, 1e4])
    assert wide["ticktext"] == ["0.01", "0.1", "1", "10", "100", "1k", "10k"]  # powers of ten past 3 decades
    joules = figures.log_ticks([4e-4, 2e-2], "J", small_si=True)
    assert joules["ticktext"] == ["500µJ", "1mJ", "2mJ", "5mJ", "10mJ", "20mJ"]  # every label with its unit
    assert figures.log_ticks([]) == {}


def test_pct_of_peak_is_one_dot_per_workload_precision_and_device(tmp_path):
    fig = figures.pct_of_peak(_two_devices(tmp_path))
    points = [(t.name, y) for t in fig.data if t.y and t.y[0] is not None for y in t.y]
    assert len(points) == len(set(points))
    assert fig.layout.xaxis.type == "log" and "%" in fig.layout.xaxis.ticktext[0]


def test_single_rank_collectives_show_algorithm_bandwidth():
    df, _ = results.load_runs([OLD_RUNS / "20261125-220110-a88d"])
    frame = scaling.bandwidth_frame(df)
    fig = scaling.bandwidth_figure(frame)
    assert "algorithm bandwidth" in fig.layout.title.text
    assert list(fig.data[0].y) == frame["algbw_gbps"].tolist() and frame["busbw_gbps"].tolist() == [0.0]
    two = pd.concat([frame, frame.assign(world_size=2, busbw_gbps=5.0)])
    fig = scaling.bandwidth_figure(two)
    assert [a.text for a in fig.layout.annotations] == ["bus bandwidth, several ranks", "algorithm bandwidth, one rank"]
    assert {tuple(t.y) for t in fig.data} == {(5.0,), tuple(frame["algbw_gbps"])}


def test_timeline_of_a_real_case_has_the_power_limit_and_temperature():
    run = OLD_RUNS / "20261125-215237-6bcb"
    df, _ = results.load_runs([run])
    entries = figures.timeline_data([("20261125-215237-6bcb", figures.read_samples(run))], df)
    case = entries[-1]
    assert case["label"].endswith("matmul/infer/cuda:0/fp32[m=8192,n=8192,k=8192]") and case["gpu"]
    assert case["series"]["power_limit_w"]["y"] == [700.0, 700.0]  # the header's enforced limit
    assert max(case["series"]["power_w"]["y"]) > 700  # at the cap, flagged throttled
    assert min(case["series"]["temp_c"]["y"]) >= 50
    fig = figures.timeline(entries)
    assert [a.text for a in fig.layout.annotations] == figures.TIMELINE_ROWS
    limit = next(t for t in fig.data if t.name == "power limit (W)")  # drawn with the first (whole-run) entry
    assert limit.line.dash == "dash" and list(limit.y) == [700.0, 700.0]


def test_utilisation_panels_have_a_fixed_0_to_100_percent_scale():
    rows = [{"t_s": t, "device": "host", "case_id": "c", "cpu_util_pct": 100.0, "rss_bytes": 2**30}
            for t in (0.0, 0.5, 1.0)]
    host = figures.timeline(figures.timeline_data([("r", pd.DataFrame(rows))], pd.DataFrame()), gpu=False)
    assert tuple(host.layout.yaxis.range) == figures.UTILISATION_RANGE and host.layout.yaxis.autorange is False
    assert host.layout.yaxis2.range is None  # memory keeps its own scale
    gpu = figures.timeline([{"label": "x", "gpu": True, "times": [[0.0, 1.0]],
                             "series": {"util_gpu_pct": {"ti": 0, "y": [100.0, 100.0]}}}])
    assert tuple(gpu.layout.yaxis2.range) == figures.UTILISATION_RANGE  # the second panel: utilisation
    assert gpu.layout.yaxis.range is None


def test_cpu_cases_get_the_host_panels_only():
    rows = [{"t_s": t, "device": "host", "case_id": "c", "cpu_util_pct": 90.0, "rss_bytes": 2**30}
            for t in (0.0, 0.5, 1.0)]
    entries = figures.timeline_data([("r", pd.DataFrame(rows))], pd.DataFrame())
    assert entries and not any(e["gpu"] for e in entries)
    fig = figures.timeline(entries, gpu=False)
    assert [a.text for a in fig.layout.annotations] == figures.HOST_ROWS
    assert [t.name for t in fig.data] == ["CPU utilisation (%)", "process RSS (GiB)"]
