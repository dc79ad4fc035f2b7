"""Scaling efficiency and collective bandwidth frames and figures from synthetic results."""

import pandas as pd
import pytest

from benchsuite.report import scaling


def _rows():
    base = {"workload": "mlp", "mode": "train", "precision": "fp32", "batch_size": 64, "status": "ok",
            "device_name": "NVIDIA H100", "param_widths": "1024x4096x1024"}
    rows = [
        {**base, "samples_per_s": 1000.0},  # an older single-process run: no world_size column value
        {**base, "samples_per_s": 1100.0, "world_size": 1},
        {**base, "samples_per_s": 1900.0, "world_size": 2, "samples_per_s_per_device": 950.0},
        {**base, "samples_per_s": 3150.0, "world_size": 4, "samples_per_s_per_device": 787.5},
        {**base, "samples_per_s": 500.0, "world_size": 2, "status": "error"},  # failures are not figures
        {**base, "batch_size": 256, "samples_per_s": 7000.0, "world_size": 2},  # no baseline at bs256
        {**base, "device_name": "NVIDIA A100", "samples_per_s": 600.0, "world_size": 1},  # another device kind
    ]
    df = pd.DataFrame(rows)
    df.loc[0, "world_size"] = None
    return df


def test_efficiency_is_throughput_at_n_over_n_times_throughput_at_1():
    frame = scaling.scaling_frame(_rows())
    h100 = frame[(frame["device_name"] == "NVIDIA H100") & (frame["batch_size"] == 64)].set_index("world_size")
    assert list(h100.index) == [1, 2, 4]
    assert h100.loc[1, "samples_per_s"] == 1050.0 and h100.loc[1, "results"] == 2  # median of the two ws1 runs
    assert h100.loc[2, "efficiency"] == pytest.approx(1900 / (2 * 1050))
    assert h100.loc[4, "efficiency"] == pytest.approx(3150 / (4 * 1050))
    assert h100.loc[4, "speedup"] == pytest.approx(3150 / 1050)
    assert h100.loc[1, "efficiency"] == pytest.approx(1.0)
    no_base = frame[frame["batch_size"] == 256].iloc[0]
    assert pd.isna(no_base["efficiency"]) and no_base["samples_per_s_per_device"] == 3500.0
    assert (frame["note"] == "").all()
    a100 = frame[frame["device_name"] == "NVIDIA A100"]
    assert len(a100) == 1 and a100.iloc[0]["baseline_samples_per_s"] == 600.0
    assert h100.loc[2, "case"] == "mlp/train/fp32/bs64[widths=1024x4096x1024] on NVIDIA H100"


def test_bandwidth_frame_against_message_size():
    rows = [{"workload": "collective", "status": "ok", "collective_op": op, "precision": "fp32",
             "device_name": "cpu", "backend": "gloo", "world_size": 2, "message_bytes": size,
             "step_s_median": size / 1e9, "algbw_gbps": 1.0, "busbw_gbps": 1.0 * f}
            for op, f in (("all_reduce", 1.0), ("all_gather", 0.5)) for size in (65536, 1024)]
    frame = scaling.bandwidth_frame(pd.DataFrame(rows))
    assert list(frame.columns) == scaling.BANDWIDTH_COLUMNS
    assert frame["message_bytes"].tolist() == [1024, 65536, 1024, 65536]
    assert frame["op"].tolist() == ["all_gather", "all_gather", "all_reduce", "all_reduce"]
    fig = scaling.bandwidth_figure(frame)
    assert len(fig.data) == 2 and fig.layout.xaxis.type == "log"
    assert list(fig.data[0].x) == [1024, 65536] and list(fig.data[0].y) == [0.5, 0.5]
    with pytest.raises(ValueError, match="allowed: busbw_gbps, algbw_gbps"):
        scaling.bandwidth_figure(frame, "gbps")


def test_scaling_figure_has_throughput_efficiency_and_ideal_lines():
    frame = scaling.scaling_frame(_rows())
    fig = scaling.scaling_figure(frame)
    cases = frame["case"].nunique()
    assert len(fig.data) == 2 * cases + 1 and fig.data[-1].name == "ideal (efficiency 1)"


def test_empty_inputs_give_empty_frames():
    empty = pd.DataFrame({"status": ["error"], "workload": ["mlp"]})
    assert scaling.scaling_frame(empty).empty and scaling.bandwidth_frame(empty).empty


def test_a_thread_count_that_differs_from_the_baseline_is_noted():
    df = _rows()
    df["threads"] = [2, 2, 1, 1, 1, 1, 2]
    frame = scaling.scaling_frame(df).set_index(["device_name", "batch_size", "world_size"])
    assert frame.loc[("NVIDIA H100", 64, 2), "note"] == "CPU threads per rank 1 vs 2 at world size 1"
    assert frame.loc[("NVIDIA H100", 64, 1), "note"] == ""


def _scale_out_run(parent):
    """A results file with DDP cases at 1 and 2 ranks and collective cases, as rank 0 writes them."""
    from benchsuite import results

    store = results.RunStore(parent, {"tag": "scale"})
    for ws, sps in ((1, 1000.0), (2, 1800.0)):
        store.append({"id": f"mlp/train/cpu/fp32/bs64/ws{ws}", "workload": "mlp", "mode": "train", "device": "cpu",
                      "device_name": "cpu", "precision": "fp32", "batch_size": 64, "status": "ok", "reason": None,
                      "world_size": ws, "params": {"widths": [8, 8]},
                      "metrics": {"samples_per_s": sps, "samples_per_s_per_device": sps / ws, "step_s_median": 0.1}})
    for size in (1024, 1048576):
        store.append({"id": f"collective/infer/cpu/fp32/ws2[size={size}]", "workload": "collective", "mode": "infer",
                      "device": "cpu", "device_name": "cpu", "precision": "fp32", "batch_size": None, "status": "ok",
                      "reason": None, "world_size": 2, "backend": "gloo", "params": {"op": "all_reduce", "size": size},
                      "metrics": {"collective_op": "all_reduce", "message_bytes": size, "step_s_median": 1e-3,
                                  "algbw_gbps": size / 1e-3 / 1e9, "busbw_gbps": size / 1e-3 / 1e9,
                                  "samples_per_s": 1000.0}})
    store.close("completed")
    return store.dir


def test_report_and_table_show_scaling_and_bandwidth(tmp_path):
    from click.testing import CliRunner

    from benchsuite.cli import main

    run_dir = _scale_out_run(tmp_path)
    r = CliRunner().invoke(main, ["report", str(run_dir), "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    page = (tmp_path / "r.html").read_text()
    assert 'id="bs-scaling"' in page and 'id="bs-bandwidth"' in page
    assert "Scaling: throughput and efficiency against ranks" in page
    r = CliRunner().invoke(main, ["table", str(run_dir), "--no-reference", "--format", "markdown"])
    assert r.exit_code == 0, r.output
    assert "Scaling against ranks" in r.output and "Collective bandwidth" in r.output
    assert "| 2 | 1,800 | 900 | 1.80 | 0.9 |" in r.output  # efficiency 1800 / (2 x 1000)
    assert "mlp/train/fp32/bs64/ws2[widths=8x8]" in r.output  # the hardware table keeps ranks apart
