"""The terminal tables at 80, 120 and 200 columns against golden files, on real H100 runs
(tests/fixtures/h100/): the run's closing table, `benchsuite table` and `benchsuite compare`.
No line is wider than the terminal, no number is cut, and a pipe gets one line per case."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from benchsuite import results
from benchsuite.cli import main
from benchsuite.report import summary
from tests.fakes.fixture_paths import H100
from tests.fakes.golden import check_golden

QUICK, MATMUL, CLAIMS, DEFAULT = (H100 / r for r in ("20261125-215237-6bcb", "20261125-215448-ff7d",
                                                      "20261125-215901-8b88", "20261125-220824-da35"))
WIDTHS = (80, 120, 200)
# A figure with its unit, as every table cell shows one: 86.8 k img/s, 438 µJ, 2.53%, 0.043×.
FIGURE = re.compile(r"^[\d.,]+( [kMGT])? ?(\S+/s|\S+/J|[µm]?J|%|×|W|B|[KMG]iB|[µmn]?s)[*~]?$")


def _fits(text: str, width: int) -> None:
    wide = [line for line in text.splitlines() if len(line) > width]
    assert not wide, f"lines over {width} columns: {wide}"


def _cli(width: int, *args: str):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": str(width)})


@pytest.mark.parametrize("width", WIDTHS)
def test_run_summary(width):
    df = results.load(CLAIMS)
    text = summary.text_table(df, width, title="run 20261125-215901-8b88 (completed)")
    _fits(text, width)
    check_golden(f"text/summary-{width}.txt", text)
    header = text.splitlines()[1]
    for essential in ("case", "status", "throughput", "TFLOP/s", "% peak", "W", "J/sample"):
        assert essential in header.split("  ") or f" {essential} " in f" {header} ", essential
    assert "error [c]" in text and "c RuntimeError: mat1 and mat2 shapes" in text  # a reason: one footnote


def test_the_closing_table_of_the_quick_run_fits_80_columns_with_every_essential():
    text = summary.text_table(results.load(QUICK), 80)
    _fits(text, 80)
    assert "not shown at 80 columns: samples/J, step median, IQR, p99, peak memory" in text.replace("\n", " ")
    assert "mlp/infer/bf16/bs256  ok [ab]   2.64 M sample/s     44.3   4.48%  191   75.9 µJ" in text
    assert "a noisy: step times spread: IQR over 10 % of the median" in text  # the flag, once, as a footnote


def test_a_pipe_gets_one_unwrapped_line_per_case():
    df = results.load(DEFAULT)
    text = summary.text_table(df, None)
    lines = text.splitlines()
    assert lines[0].split() == ["case", "device", "status", "throughput", "TFLOP/s", "%", "peak", "W", "J/sample",
                                "samples/J", "step", "median", "IQR", "p99", "peak", "memory"]
    for case_id in df["id"]:  # grep a case by its label (the id less its device) and its device
        parts = case_id.split("[")[0].split("/")
        label, device = "/".join(parts[:2] + parts[3:]), parts[2]
        found = [line for line in lines if line.startswith((f"{label} ", f"{label}["))]
        assert any(f"  {device}  " in line for line in found), case_id
    assert "not shown" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_table_of_the_h100_runs(width):
    done = _cli(width, "table", str(MATMUL), str(CLAIMS), str(DEFAULT), "--no-reference")
    assert done.exit_code == 0, done.output
    _fits(done.stdout, width)
    check_golden(f"text/table-{width}.txt", done.stdout)
    header = next(line for line in done.stdout.splitlines() if line.startswith("case "))
    assert header.count("NVIDIA H100 80GB HBM3") == 1  # four H100 runs, one column
    rows = [line for line in done.stdout.splitlines() if line.startswith(("cnn/", "mlp/", "matmul/"))]
    h100 = [c for line in rows for c in re.split(r"\s{2,}", line)[1].split(" · ") if c != "—"]
    assert h100 and all(FIGURE.match(c) for c in h100), [c for c in h100 if not FIGURE.match(c)]
    assert "run 20261125-220824-da35: cut short after 46 cases" in done.stdout.replace("\n  ", " ")


def test_table_merges_comparable_runs_and_keeps_a_quick_run_apart():
    done = _cli(250, "table", str(QUICK), str(MATMUL), str(DEFAULT), "--no-reference", "--baseline", "H100")
    assert done.exit_code == 0, done.output
    header = next(line for line in done.stdout.splitlines() if line.startswith("case "))
    assert "NVIDIA H100 80GB HBM3 (baseline)" in header and "NVIDIA H100 80GB HBM3 (--quick)" in header
    # quick against full timing is not a hardware ratio: the --quick column shows its figures and no
    # speedup or efficiency (it read 0.72× here), and a line says why; the Xeon keeps its ratio
    assert header.count("speedup") == 1 and "efficiency" not in header
    assert header.endswith("Intel(R) Xeon(R) Processor  speedup")
    line = next(line for line in done.stdout.splitlines() if line.startswith("cnn/train/bf16/bs128 "))
    assert "66.5 k img/s · 389 img/J* · 0.132%" in line and "0.72×" not in line and "0.067×~" in line
    assert ("No ratios for NVIDIA H100 80GB HBM3 (--quick): its timing settings are not comparable with the "
            "baseline's (--quick vs full)") in done.stdout


@pytest.mark.parametrize("width", WIDTHS)
def test_compare_of_the_h100_runs(width):
    done = _cli(width, "compare", str(QUICK), str(DEFAULT))
    assert done.exit_code == 0, done.output
    _fits(done.stdout, width)
    check_golden(f"text/compare-{width}.txt", done.stdout)
    assert "REGRESSION" not in done.stdout and "→ cpu" not in done.stdout
    assert "only in NEW, on Intel(R) Xeon(R) Processor (18)" in done.stdout
    if width == 80:  # as a gate it fails, and says why: 12 of NEW's 46 cases are too few to judge
        gate = _cli(width, "compare", str(QUICK), str(DEFAULT), "--fail-on-regression")
        assert gate.exit_code == 1 and "REGRESSION" not in gate.stdout
        assert "only 12 case(s) compared: 60% of BASE's 20 and 26% of NEW's 46" in gate.stderr


def test_burst_power_clock_and_compile_time_are_the_first_columns_to_go(tmp_path):
    """Shown in a wide table where measured; at 120 columns they go before any other figure."""
    from tests.report.test_cases import _compiled_run

    df = results.load(_compiled_run(tmp_path))
    wide = summary.text_table(df, None)
    header = wide.splitlines()[0]
    assert all(f" {h}" in header for h in ("burst", "burst power", "burst MHz", "compile"))
    assert "31.0 s" in wide and "652 W" in wide and "1,980" in wide
    narrow = summary.text_table(df, 100)  # the two burst telemetry columns go; every other figure stays
    assert "(not shown at 100 columns: burst power, burst MHz;" in narrow and "31.0 s" in narrow
    assert "1.28 ms" in narrow.split("not shown")[0]  # step median (rank 11) kept
