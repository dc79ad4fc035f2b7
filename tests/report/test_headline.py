"""The report's first screen: title and per-device headline blocks, on records cut from the
real H100 runs (tests/fixtures/old_runs) and on synthetic runs."""

from __future__ import annotations

import pytest

from benchsuite import results
from benchsuite.report import headline
from tests.fakes.fixture_paths import OLD_RUNS
from tests.fakes.report_runs import make_run

H100 = "NVIDIA H100 80GB HBM3"
XEON = "Intel(R) Xeon(R) Processor"


@pytest.mark.parametrize("value,sig,si", [
    (666.4, "666", "666"), (0.06782, "0.0678", "0.0678"), (2281, "2280", "2.28k"), (1314506, "1310000", "1.31M"),
    (9.996, "10.0", "10.0"), (45.86, "45.9", "45.9"), (None, "—", "—"), (float("nan"), "—", "—"), (0, "0", "0")])
def test_three_significant_figures_and_si_prefixes(value, sig, si):
    assert headline.sig(value) == sig and headline.si(value) == si


def test_title_names_the_devices_and_the_date_not_the_run():
    df, _ = results.load_runs([OLD_RUNS / "20261125-220824-da35"])
    assert headline.title(df) == f"{H100} and {XEON}, 2026-11-25"
    assert headline.devices(df) == [H100, XEON]  # GPUs first


def test_h100_headline_from_the_real_run():
    df, _ = results.load_runs([OLD_RUNS / "20261125-220824-da35"])
    h = headline.headline(df, H100)
    assert h["gpu"] and h["power_limits_w"] == [700.0] and h["datasheet"] == "H100 SXM"
    best = h["compute"][0]
    assert best["precision"] == "fp32" and headline.sig(best["tflop_per_s"]) == "50.4"
    assert round(best["pct_of_peak"]) == 75 and best["case"] == "matmul infer · m=8192, n=8192, k=8192"
    assert [(t["workload"], t["mode"], t["unit"]) for t in h["throughput"]] == [("matmul", "infer", "products")]
    sentence = headline.power_sentence(h)
    assert "692 W against a 700 W limit (the highest case at 99 %)" in sentence
    assert "1 of them throttled by sw_power_cap, for 100 % of their windows" in sentence
    block = headline.block_html(h)
    assert "power limit 700 W" in block and "50.4 TFLOP/s" in block and "45.9 products/s" in block
    assert "0.0660 products/J" in block


def test_cpu_headline_says_why_power_was_not_measured():
    df, _ = results.load_runs([OLD_RUNS / "20261125-220824-da35"])
    h = headline.headline(df, XEON)
    assert not h["gpu"] and h["power"] is None
    assert headline.power_sentence(h) == "Power: not measured (no RAPL on this CPU)."
    assert "power limit" not in headline.block_html(h) and "not measured" in headline.block_html(h)


def test_runs_of_one_model_share_a_block_whose_best_names_its_run():
    df, _ = results.load_runs([OLD_RUNS / "20261125-215237-6bcb", OLD_RUNS / "20261125-215448-ff7d"])
    assert headline.devices(df) == [H100]
    h = headline.headline(df, H100)
    assert len(h["runs"]) == 2
    assert [c["precision"] for c in h["compute"]] == ["tf32", "fp32"]  # fastest first
    assert h["compute"][0]["source"]["where"].endswith("(run 20261125-215448-ff7d)")
    assert "in 2 runs" in headline.block_html(h)


def test_section_escapes_device_names_and_marks_red_cases(tmp_path):
    run = make_run(tmp_path, "r", device_name="GPU <b>x</b>", workloads=("mlp",), batch_sizes=(32,))
    df = results.load(run)
    df["quality_flags"] = [["noisy"] if i == 0 else [] for i in range(len(df))]
    page = headline.section_html(df)
    assert "GPU &lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "1 case flagged numerics or noisy" in page


def test_flagged_energy_is_passed_over_for_the_best_samples_per_joule_and_flagged_figures_starred(tmp_path):
    run = make_run(tmp_path, "r", workloads=("mlp",), batch_sizes=(32, 128), failures=False)
    df = results.load(run)
    best = df["samples_per_j"].idxmax()
    df["quality_flags"] = [["short-window"] if i == best else [] for i in df.index]
    h = headline.headline(df, H100)
    (row,) = h["throughput"]
    assert row["samples_per_j"] < df.loc[best, "samples_per_j"] and row["frugal_source"]["flags"] == []
    df["quality_flags"] = [["short-window"]] * len(df)  # every window flagged: the best, starred
    h = headline.headline(df, H100)
    assert h["throughput"][0]["samples_per_j"] == df.loc[best, "samples_per_j"]
    block = headline.block_html(h)
    assert 'class="bs-fig bs-amber" title="mlp/train/cuda:0/' in block and "flagged short-window" in block
    assert "samples/J*</span>" in block and "samples/s*" not in block  # speed is not an energy figure


def test_matmul_is_ranked_within_one_shape():
    """A 2048³ product is 64× smaller than an 8192³ one: the headline ranks samples/s and
    samples/J only among cases of the same parameters, one row per shape (review B2)."""
    ref = results.reference_dir()
    df, _ = results.load_runs([ref / "20261125-215901-8b88", ref / "20261125-220824-da35"])
    h = headline.headline(df, H100)
    matmul = [t for t in h["throughput"] if t["workload"] == "matmul"]
    assert [t["params"] for t in matmul] == ["m=n=k=2048", "m=n=k=8192"]
    small, large = matmul
    assert small["fast_source"]["where"].startswith("matmul/infer/cuda:0/fp32[m=2048")
    assert large["fast_source"]["where"].startswith("matmul/infer/cuda:0/bf16[m=8192")
    # before, "2.94k products/s" (2048³) was the best over both shapes
    assert headline.si(small["samples_per_s"]) == "2.94k" and headline.si(large["samples_per_s"]) == "605"
    assert small["fast_case"] == "fp32"  # the row names the shape; the case need not
    assert [t["params"] for t in h["throughput"] if t["workload"] == "cnn"] == [None, None]  # one set: as before
    block = headline.block_html(h)
    assert "matmul infer · m=n=k=2048" in block and "matmul infer · m=n=k=8192" in block
