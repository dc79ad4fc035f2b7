"""One test per numbered problem of issue 13 (hardening), each failing at efef368 and passing now;
the docstring says what efef368 did. Problem 3 (calibration) is another branch's; problem 4 (the
CIFAR-10 unpickler) is tests/test_cifar.py; the real signals are tests/test_sigint.py, the real
full disk tests/hostile/test_disk.py. Only the command line and `benchsuite.results` are used,
so the file runs against the old code too."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchsuite import results
from benchsuite.cli import main
from tests.fakes import hostile_runs

ROOT = Path(__file__).resolve().parents[2]
TINY = ["-w", "matmul", "-p", "fp32", "--param", "m=64", "--param", "n=64", "--param", "k=64",
        "--min-time", "0.01", "--min-iters", "2", "--warmup", "1", "--no-telemetry"]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_1_an_empty_run_does_not_block_the_others(tmp_path):
    """Problem 1: a run that died before its header left an empty results.jsonl, after which
    `table reports` and `load('reports')` refused every run in the folder (efef368: exit 2,
    ResultsError)."""
    hostile_runs.doctored(tmp_path, "20261125-192644-5532")
    hostile_runs.write_run(tmp_path, "20261126-000000-0bad", text="")
    r = invoke("table", str(tmp_path), "--no-reference", "--format", "csv")
    assert r.exit_code == 0, r.output
    assert re.search(r"warning: skipped a damaged run in .*: .*empty file", r.output)
    with pytest.warns(UserWarning, match="skipped a damaged run"):
        assert len(results.load(tmp_path)) == 2


def test_1_a_bad_out_path_is_one_line_and_exit_2(tmp_path):
    """Problem 1: `--out <file>/sub` ended in a NotADirectoryError traceback at efef368."""
    (tmp_path / "f").write_text("")
    r = invoke("run", *TINY, "--out", str(tmp_path / "f" / "sub"))
    assert r.exit_code == 2 and "Traceback" not in r.output and r.exception is None or isinstance(r.exception, SystemExit)
    assert re.search(r"error: could not create folder .*f/sub: .*f is a file, not a folder", r.output), r.output


def test_2_nan_budget_is_refused_and_the_stored_calibration_kept(tmp_path, monkeypatch):
    """Problem 2: `calibrate --budget nan` exited 0 at efef368 and replaced the stored calibration."""
    monkeypatch.setenv("BENCHSUITE_CALIBRATION_DIR", str(tmp_path / "cal"))
    r = invoke("calibrate", "--device", "cpu", "--budget", "nan", "--out", str(tmp_path / "runs"))
    assert r.exit_code == 2, r.output
    assert "--budget" in r.output and "'nan' is not allowed" in r.output
    assert not (tmp_path / "cal").exists() and not (tmp_path / "runs").exists()


def test_2_nan_min_time_is_refused_before_anything_is_written(tmp_path):
    """Problem 2: `run --min-time nan` ended in "Out of range float values are not JSON compliant"
    and left an empty results file at efef368."""
    r = invoke("run", *TINY, "--min-time", "nan", "--out", str(tmp_path / "runs"))
    assert r.exit_code == 2 and "--min-time" in r.output and "'nan' is not allowed" in r.output, r.output
    assert not (tmp_path / "runs").exists()


def test_5_escape_sequences_and_markup_from_a_results_file_are_not_printed(tmp_path):
    """Problem 5: a case id holding ``ESC ] 0 ; ... BEL`` was printed raw by `table` and `compare`,
    and markdown passed ``<img onerror>`` through, at efef368."""
    def hostile(i: int, case: dict) -> None:
        case["id"] += hostile_runs.HOSTILE
        case["params"] = {"note": hostile_runs.HOSTILE}

    a = hostile_runs.doctored(tmp_path / "a", "20261126-000000-aaaa", case=hostile)
    b = hostile_runs.doctored(tmp_path / "b", "20261126-000000-bbbb", case=hostile)
    for args in (["table", str(a), "--no-reference"], ["compare", str(a), str(b)],
                 ["compare", str(a), str(b), "--format", "markdown"]):
        r = invoke(*args)
        assert r.exit_code == 0, r.output
        assert not any(c in r.output for c in hostile_runs.FORBIDDEN), (args, r.output)
        assert hostile_runs.MARKUP in r.output  # brackets shown as text, not read as markup
        if "markdown" in args:
            assert "<img" not in r.stdout and "&lt;img src=y" in r.stdout, args


def test_5_brackets_in_a_parameter_do_not_crash_the_progress_bar(tmp_path):
    """Problem 5: `--param 'data=/tmp/y[/nosuch]'` crashed the progress bar with a MarkupError
    (exit 1) at efef368; here the progress bar draws a case id holding ``[/x]``."""
    from tests.fakes import cifar_files

    data = tmp_path / "y[" / "x]"
    cifar_files.write(data, per_batch=2)
    r = invoke("run", "-w", "cnn", "-d", "cpu", "-p", "fp32", "-m", "infer", "-b", "2", "--param", f"data={data}",
               "--min-time", "0.01", "--min-iters", "2", "--warmup", "1", "--no-telemetry",
               "--out", str(tmp_path / "runs"))
    assert r.exit_code == 0, r.output
    assert "y[/x]" in r.output.replace("\n", "") and "MarkupError" not in r.output


def test_6_a_binary_samples_file_does_not_block_the_report(tmp_path):
    """Problem 6: a binary samples.csv beside a good results.jsonl refused the whole report
    (exit 2) at efef368."""
    run = hostile_runs.doctored(tmp_path, "20261125-192644-5532")
    (run / results.SAMPLES_FILE).write_bytes(bytes(range(256)) * 64)
    r = invoke("report", str(run), "-o", str(tmp_path / "r.html"))
    assert r.exit_code == 0, r.output
    assert "warning: telemetry samples not shown" in r.output and (tmp_path / "r.html").is_file()


@pytest.mark.parametrize("schema", [0, -1, "1", 1.0, None])
def test_6_a_schema_that_is_not_a_positive_integer_has_its_own_message(tmp_path, schema):
    """Problem 6: schema 0 or -1 gave ``KeyError: 0``; "1", 1.0 and null the contradictory
    "schema 1, newer than this benchsuite reads (up to 1)" at efef368."""
    run = hostile_runs.doctored(tmp_path, "20261126-000000-0bad", header=lambda h: h.update(schema=schema))
    r = invoke("table", str(run), "--no-reference")
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "a results schema version is a positive integer" in r.output and "newer" not in r.output, r.output


def test_7_compare_with_nothing_in_common_fails_the_gate(tmp_path):
    """Problem 7: two runs with no common case passed `--fail-on-regression` (exit 0, no warning)
    at efef368."""
    a = hostile_runs.doctored(tmp_path, "20261125-192644-5532")
    b = hostile_runs.renamed_cases(tmp_path, "20261126-000000-0bad", "other")
    r = invoke("compare", str(a), str(b), "--fail-on-regression")
    assert r.exit_code == 1 and "nothing compared" in r.output, r.output
    r = invoke("compare", str(tmp_path), str(tmp_path))
    assert r.exit_code == 2 and "compare takes one run per side" in r.output, r.output


def test_8_ctrl_c_at_start_up_exits_130_not_aborted(tmp_path, monkeypatch):
    """Problem 8: Ctrl-C in the first 1.5 s printed click's "Aborted!" and exited 1 at efef368
    (in-process here: the interruption arrives while the command is planning)."""
    from benchsuite import devices

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(devices, "resolve", interrupted)
    r = invoke("run", *TINY, "--out", str(tmp_path))
    assert r.exit_code == 130 and "Aborted!" not in r.output, r.output


def test_9_threads_out_of_range_is_a_usage_error(tmp_path):
    """Problem 9: `--threads 100000` ended in an ImportError traceback at efef368."""
    r = invoke("run", *TINY, "--threads", "100000", "--out", str(tmp_path))
    assert r.exit_code == 2 and "--threads" in r.output and "'100000' is not allowed" in r.output, r.output


def test_9_out_with_a_tilde_is_the_home_folder(tmp_path, monkeypatch):
    """Problem 9: `--out=~/x` created a literal ./~/x at efef368."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    r = invoke("run", *TINY, "--out=~/x")
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "~").exists() and list((tmp_path / "home" / "x").glob("*/results.jsonl"))


def test_9_one_mlp_width_is_refused_at_parse_time(tmp_path):
    """Problem 9: `--param widths=1024` was accepted and failed at run time at efef368."""
    r = invoke("run", "-w", "mlp", "--param", "widths=1024", "--out", str(tmp_path / "runs"))
    assert r.exit_code == 2 and "at least an input and an output width" in r.output, r.output
    assert not (tmp_path / "runs").exists()


def test_9_list_says_m_n_k_are_multiples_of_16():
    """Problem 9: `list` said m, n, k accept "a positive integer" but m=100 was refused as "not a
    multiple of 16" at efef368."""
    r = invoke("list", "--format", "json")
    matmul = next(w for w in json.loads(r.stdout)["workloads"] if w["name"] == "matmul")
    assert {p["name"]: "multiple of 16" in p["type"] for p in matmul["params"]} == {"m": True, "n": True, "k": True}


def test_9_a_busy_host_flags_the_cpu_window():
    """Problem 9: two CPU runs at once slowed each other about 7x with no flag on either at
    efef368: a CPU window where other processes used more than the threshold is 'host-busy'."""
    from benchsuite.telemetry import window

    rows = [{"t_s": k / 10, "cpu_util_pct": 90.0, "others_cpu_pct": 45.0, "rss_bytes": 1, "cpu_energy_j": None}
            for k in range(30)]
    summary = window.summarize_host(rows, device="cpu", case_id="c", t_open=0.0, t_close=2.9, open_row=rows[0],
                                    close_row=rows[-1])
    assert "host-busy" in summary["quality_flags"] and summary["others_cpu_mean_pct"] == 45.0
    quiet = [{**r, "others_cpu_pct": 2.0} for r in rows]
    summary = window.summarize_host(quiet, device="cpu", case_id="c", t_open=0.0, t_close=2.9, open_row=quiet[0],
                                    close_row=quiet[-1])
    assert "host-busy" not in summary["quality_flags"]


def test_10_the_readme_gives_the_cpu_only_install_before_the_package():
    """Problem 10: the set-up section did not say how to get the CPU-only torch (5.7 GB with the
    CUDA build) at efef368; only a CI snippet did."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text[text.index("## Set up"):text.index("## Usage")]
    cpu = setup.index("pip install torch torchvision --index-url https://download.pytorch.org/whl/cpu")
    assert cpu < setup.index("pip install -e .", cpu)  # the CPU build first, then the package
    assert "3.2 GB" in setup and "could not be tried" in setup
