"""Fingerprint warnings (benchsuite.fingerprint): the user's runs are compared among themselves;
shipped references added on purpose get one sentence saying where they were measured."""

from __future__ import annotations

from benchsuite import fingerprint
from tests.fakes.report_runs import header


def _run(run_id: str, **head) -> dict:
    return {"header": {**header(**head), "run_id": run_id}}


def test_references_are_not_compared_with_the_users_runs_but_named_once():
    mine = [_run("mine-a"), _run("mine-b", driver="535.1")]
    refs = [_run("ref-1", hostname="vm", driver="580.159.04"), _run("ref-2", hostname="vm", driver="580.159.04"),
            _run("ref-3", hostname="cpu-vm", device="cpu", device_name="AMD EPYC")]
    runs = mine + refs
    lines = fingerprint.warning_lines(runs, gpus_paired=False, references=["ref-1", "ref-2", "ref-3"])
    assert len(lines) == 1 and lines[0].startswith("runs mine-a and mine-b differ in driver")
    assert not any("ref-" in line for line in lines)
    note = fingerprint.reference_note(runs, ["ref-1", "ref-2", "ref-3"])
    assert note.startswith("the shipped references were measured on 2 other machines")
    assert "vm: AMD EPYC 9654, NVIDIA H100 80GB HBM3, torch 2.14.1+cu130, driver 580.159.04 (runs ref-1, ref-2)" in note
    assert "cpu-vm: AMD EPYC 9654, torch 2.14.1+cu130 (runs ref-3)" in note
    assert fingerprint.reference_note(mine, ["ref-1"]) is None
    # without references every run is compared with the first, as before
    assert len(fingerprint.warning_lines(runs, gpus_paired=False)) == 3


def test_table_of_the_shipped_cpu_run_warns_about_no_reference_run():
    """`benchsuite table` of the shipped CPU run adds the four H100 references: no "differ in"
    warning per reference run (they differ on purpose), one sentence naming their machine."""
    from click.testing import CliRunner

    from benchsuite import results
    from benchsuite.cli import main

    done = CliRunner().invoke(main, ["table", str(results.reference_dir() / "20261125-192644-5532"),
                                     "--format", "csv"])
    assert done.exit_code == 0, done.output
    assert "differ in" not in done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("the shipped references were measured")]
    assert len(said) == 1 and "vm: Intel(R) Xeon(R) Processor, NVIDIA H100 80GB HBM3, torch 2.11.0+cu130" in said[0]
