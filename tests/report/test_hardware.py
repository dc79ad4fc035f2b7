"""The hardware comparison (benchsuite.report.hardware) against small golden files, and
`benchsuite table`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchsuite import results
from benchsuite.report import hardware
from tests.fakes.golden import GOLDEN, check_golden
from tests.fakes.report_runs import make_run


def test_hardware_markdown_golden(runs):
    check_golden("hardware.md", hardware.render_hardware(results.load(runs), "markdown", baseline="A100"))


def test_hardware_csv_golden(runs):
    check_golden("hardware.csv", hardware.render_hardware(results.load(runs), "csv"))


def test_ratio_only_for_the_same_case_on_two_devices(runs):
    frame, devices, base = hardware.hardware(results.load(runs), baseline="A100")
    assert base == "NVIDIA A100-SXM4-80GB" and len(devices) == 3
    row = frame.set_index("case")
    speedup = row["NVIDIA H100 80GB HBM3 | speedup vs NVIDIA A100-SXM4-80GB"]
    assert speedup.notna().all()  # the two GPUs ran the same cases
    cpu = row["AMD EPYC 9654 | speedup vs NVIDIA A100-SXM4-80GB"]
    # The CPU run has one ok case (bf16 bs32): only that row gets a ratio; no CPU energy, no efficiency column.
    assert cpu.dropna().index.tolist() == ["mlp/train/bf16/bs32[widths=32x64x10]"]
    assert "AMD EPYC 9654 | efficiency vs NVIDIA A100-SXM4-80GB" not in frame.columns


def test_one_model_on_two_hosts_is_one_column_unless_their_state_differs(tmp_path):
    a = make_run(tmp_path, "a", workloads=("mlp",), batch_sizes=(32,), failures=False)
    b = make_run(tmp_path, "b", hostname="other", workloads=("mlp",), batch_sizes=(32,), failures=False)
    c = make_run(tmp_path, "c", hostname="third", driver="535.1", workloads=("mlp",), batch_sizes=(32,),
                 failures=False)
    _, devices, _ = hardware.hardware(results.load([a, b]))
    assert devices == ["NVIDIA H100 80GB HBM3"]  # comparable fingerprints and timing: one column
    _, devices, _ = hardware.hardware(results.load([a, c]))
    # another driver: a column each; the first (as many results, older) keeps the name, the other says its host
    assert devices == ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3 @third"]


def test_unknown_baseline_names_the_devices(runs):
    with pytest.raises(ValueError, match="'V100' matches no device; devices: NVIDIA H100"):
        hardware.hardware(results.load(runs), baseline="V100")


def test_cli_table_formats(runs, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "benchsuite", "table", *map(str, runs), *args],
                              capture_output=True, text=True)
    md = cli("--format", "markdown", "--baseline", "A100", "--no-reference")
    assert md.returncode == 0, md.stderr
    assert md.stdout == (GOLDEN / "hardware.md").read_text()
    out = tmp_path / "t.html"
    written = cli("--format", "html", "-o", out)
    assert written.returncode == 0 and f"Table: {out}" in written.stderr and out.read_text().startswith("<table")
    assert cli("--baseline", "V100").returncode == 2


def test_table_includes_the_shipped_reference_runs(tmp_path, monkeypatch):
    """`benchsuite table RUN` puts the reference results (reports/reference/) beside the user's run."""
    from click.testing import CliRunner

    from benchsuite import results
    from benchsuite.cli import main
    from tests.fakes import report_runs

    ref = tmp_path / "reference"
    report_runs.make_run(ref, "20261101-000000-ref0", hostname="h100-box", speed=3.0, telemetry=False)
    mine = report_runs.make_run(tmp_path / "mine", "20261125-000000-mine", hostname="laptop", telemetry=False)
    monkeypatch.setattr(results, "reference_dir", lambda: ref)
    with_ref = CliRunner().invoke(main, ["table", str(mine), "--format", "csv", "--reference"])
    without = CliRunner().invoke(main, ["table", str(mine), "--format", "csv", "--no-reference"])
    default = CliRunner().invoke(main, ["table", str(mine), "--format", "csv"])
    assert with_ref.exit_code == 0 and without.exit_code == 0 and default.exit_code == 0, with_ref.output
    # --reference includes every reference run (named on stderr); --no-reference none
    assert "20261101-000000-ref0" in with_ref.stderr and "ref0" not in without.stderr
    # by default a reference that adds no GPU model the user's runs lack is left out, and that is said
    assert "left out" in default.stderr and default.stdout == without.stdout


def test_table_adds_references_of_a_gpu_model_the_runs_lack(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from benchsuite.cli import main
    from tests.fakes import report_runs

    ref = tmp_path / "reference"
    report_runs.make_run(ref, "20261101-000000-ref0", hostname="h100-box", speed=3.0, telemetry=False)
    report_runs.make_run(ref, "20261101-000000-ref1", device="cpu", device_name="AMD EPYC", telemetry=False,
                         hostname="vm")
    mine = report_runs.make_run(tmp_path / "mine", "20261125-000000-mine", device="cpu", device_name="Laptop CPU",
                                telemetry=False, hostname="laptop")
    monkeypatch.setattr(results, "reference_dir", lambda: ref)
    done = CliRunner().invoke(main, ["table", str(mine), "--format", "csv"])
    assert done.exit_code == 0, done.output
    header = done.stdout.splitlines()[0]
    assert "NVIDIA H100 80GB HBM3 | samples/s" in header and "AMD EPYC" not in header  # the CPU reference adds no GPU
    assert "added for NVIDIA H100 80GB HBM3, a GPU model these runs lack" in done.stderr


def test_table_of_the_shipped_cpu_run_gets_the_shipped_h100_columns():
    """The shipped references themselves (reports/reference/): the CPU run alone gets the H100 runs
    (a GPU model it lacks) and not the H100 host's CPU; --reference adds that too. The --quick run
    is not comparable with the others (shorter windows), so it keeps a column of its own."""
    from click.testing import CliRunner

    from benchsuite.cli import main

    cpu_run = results.reference_dir() / "20261125-192644-5532"
    default = CliRunner().invoke(main, ["table", str(cpu_run), "--format", "csv"])
    assert default.exit_code == 0, default.output
    header = default.stdout.splitlines()[0]
    assert header.startswith("case,AMD EPYC | samples/s") and "Xeon" not in header
    models = [c.split(" | ")[0] for c in header.split(",")[1:] if c.endswith("| samples/s")]
    assert models == ["AMD EPYC", "NVIDIA H100 80GB HBM3 (--quick)", "NVIDIA H100 80GB HBM3"]
    assert "added for NVIDIA H100 80GB HBM3, a GPU model these runs lack" in default.stderr
    for run_id in ("20261125-215237-6bcb", "20261125-215448-ff7d", "20261125-215901-8b88", "20261125-220824-da35"):
        assert run_id in default.stderr
    everything = CliRunner().invoke(main, ["table", str(cpu_run), "--format", "csv", "--reference"])
    assert everything.exit_code == 0 and "Intel(R) Xeon(R) Processor | samples/s" in everything.stdout.splitlines()[0]
    # a speedup of the H100 over this CPU where both ran the case: cnn train fp32 bs128, 86.2 k vs 1.17 k img/s
    import csv
    import io

    rows = {r["case"]: r for r in csv.DictReader(io.StringIO(default.stdout))}
    speedup = float(rows["cnn/train/fp32/bs128"]["NVIDIA H100 80GB HBM3 | speedup vs AMD EPYC"])
    assert speedup == pytest.approx(86234.8 / 1168.2, rel=1e-3)


H100_RUNS = [results.reference_dir() / r for r in ("20261125-215237-6bcb", "20261125-215448-ff7d",
                                                   "20261125-215901-8b88", "20261125-220824-da35")]


def test_the_default_baseline_is_the_column_with_the_most_results_in_table_and_report():
    """The --quick run comes first, but the merged full-run H100 column holds the most results:
    it is the baseline of `table` and of the report alike, and both say so."""
    from click.testing import CliRunner

    from benchsuite.cli import main
    from benchsuite.report import html

    df, _ = results.load_runs(H100_RUNS)
    frame, devices, base = hardware.hardware(df)
    assert devices[0] == "NVIDIA H100 80GB HBM3 (--quick)" and base == "NVIDIA H100 80GB HBM3"
    done = CliRunner().invoke(main, ["table", *map(str, H100_RUNS), "--format", "markdown"])
    assert done.exit_code == 0, done.output
    assert "| NVIDIA H100 80GB HBM3 (baseline) |" in done.stdout
    assert "against NVIDIA H100 80GB HBM3, the column with the most results of the runs given" in done.stdout
    page = html.build(df, [])
    section = page[page.index('id="hardware"'):page.index('</section>', page.index('id="hardware"'))]
    assert "<th>NVIDIA H100 80GB HBM3 (baseline)</th>" in section
    assert "are against NVIDIA H100 80GB HBM3, the column with the most results of the runs given" in section
    _, _, asked = hardware.hardware(df, "quick")  # what html.build(df, [], baseline="quick") shows
    assert asked == "NVIDIA H100 80GB HBM3 (--quick)"
    assert "as asked (--baseline)" in " ".join(hardware.explanation(asked, True))


def test_a_column_of_shipped_references_only_is_never_the_default_baseline(tmp_path):
    """A laptop's few CPU cases beside the H100 references: the ratios stay against the user's run."""
    mine = make_run(tmp_path, "20261125-000000-mine", device="cpu", device_name="Laptop CPU", telemetry=False,
                    workloads=("mlp",), batch_sizes=(32,))
    df, note = hardware.with_references(results.load(mine), results.load_runs(H100_RUNS)[0], None)
    assert note and "added for NVIDIA H100 80GB HBM3" in note
    _, devices, base = hardware.hardware(df)
    assert base == "Laptop CPU" and len(devices) == 3


@pytest.mark.parametrize("base", ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3 (--quick)",
                                  "NVIDIA H100 80GB HBM3 (--quick) @20261125-215237-6bcb"])
def test_the_title_fits_two_lines_at_80_columns(base):
    from benchsuite.report import text

    assert len(text.wrap(hardware.title(base), 80)) <= 2
    said = " ".join(hardware.explanation(base, False))
    assert hardware.RULE in said and "one per device model" in said and base in said  # nothing lost


def test_timing_difference_names_what_differs():
    full = {"settings": {"quick": False, "timing": {"cuda": {"min_time_s": 2.0, "warmup_iters": 10}}}}
    quick = {"settings": {"quick": True, "timing": {"cuda": {"min_time_s": 0.5, "warmup_iters": 3}}}}
    longer = {"settings": {"quick": False, "timing": {"cuda": {"min_time_s": 5.0, "warmup_iters": 10}}}}
    assert hardware.timing_difference(full, full, "cuda") is None
    assert hardware.timing_difference(quick, full, "cuda") == "--quick vs full"
    assert hardware.timing_difference(full, longer, "cuda") == "min_time_s 2.0 vs 5.0"
    # across device types each has its own defaults: only --quick tells
    assert hardware.timing_difference(full, longer, "cpu", "cuda") is None
    assert hardware.timing_difference(quick, longer, "cpu", "cuda") == "--quick vs full"
    assert not hardware.comparable(quick, full, "cuda") and hardware.comparable(full, full, "cuda")


def test_a_quick_column_gets_no_ratios_against_a_full_baseline():
    """The shipped --quick H100 run beside the full ones: its figures are shown, its speedup and
    efficiency are not (quick against full measures the settings), and the table says why."""
    df, _ = results.load_runs(H100_RUNS)
    frame, devices, base = hardware.hardware(df)
    quick = "NVIDIA H100 80GB HBM3 (--quick)"
    assert quick in devices and base == "NVIDIA H100 80GB HBM3"
    assert f"{quick} | samples/s" in frame.columns
    assert not [c for c in frame.columns if c.startswith(f"{quick} | ") and " vs " in c]
    assert "Intel(R) Xeon(R) Processor | speedup vs NVIDIA H100 80GB HBM3" in frame.columns  # full vs full
    assert frame.attrs[hardware.NOT_COMPARABLE] == {quick: "--quick vs full"}
    md = hardware.render_hardware(df, "markdown")
    assert f"speedup {quick}" not in md and f"No ratios for {quick}" in md and "(--quick vs full)" in md


def test_table_stderr_notes_wrap_to_columns_and_no_energy_footnote_without_a_marked_cell():
    """`table` at COLUMNS=80: its stderr notes fit like the table (the "left out" line was 101
    characters); a CPU run without an energy counter has no ``*`` cell, so no energy footnote
    (review C8)."""
    from click.testing import CliRunner

    from benchsuite.cli import main

    ref = results.reference_dir()
    left_out = CliRunner().invoke(main, ["table", str(ref / "20261125-215448-ff7d")], env={"COLUMNS": "80"})
    assert left_out.exit_code == 0, left_out.output
    assert "shipped reference results left out" in left_out.stderr
    assert max(len(line) for line in left_out.stderr.splitlines()) <= 80
    cpu = CliRunner().invoke(main, ["table", str(ref / "20261126-032208-fef1"), "--reference"], env={"COLUMNS": "80"})
    assert cpu.exit_code == 0 and max(len(line) for line in cpu.stderr.splitlines()) <= 80



def test_no_energy_footnote_without_a_marked_cell(tmp_path):
    """A CPU case whose window is flagged host-busy but has no energy (no RAPL): no samples/J
    cell, so no ``*`` and no "energy in doubt" footnote (review C8)."""
    from tests.fakes import report_runs

    store = results.RunStore(tmp_path, report_runs.header(device="cpu", device_name="AMD EPYC", telemetry=False),
                             run_id="20261126-000000-cpu0")
    store.append({"id": "mlp/train/cpu/fp32/bs32", "workload": "mlp", "mode": "train", "device": "cpu",
                  "device_name": "AMD EPYC", "precision": "fp32", "batch_size": 32, "params": {}, "notes": [],
                  "status": "ok", "reason": None, "metrics": {"samples_per_s": 5000.0, "sample_unit": "sample"},
                  "telemetry": {"device": "cpu", "quality_flags": ["host-busy"], "power_mean_w": None}})
    store.close("completed")
    df = results.load(store.dir)
    frame, devices, _ = hardware.hardware(df)
    assert frame["AMD EPYC | energy flags"].tolist() == ["host-busy"]  # flagged, and no energy measured
    shown = hardware.text_table(df, 80)
    assert "*" not in shown and "energy in doubt" not in shown
