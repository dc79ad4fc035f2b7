"""The table of hostile inputs and faults (issue 13): bad numbers and paths, hand-edited and
damaged results files, text that attacks the terminal, disks that fail, comparisons of
nothing. One collected test per row, run in-process through click's CliRunner; each asserts
the exit code, a message naming the problem, no traceback, nothing dangerous printed, and
that every run finished before (in the output folder and the folder of good runs) still loads.

Rerun: ``PYTHONPATH=$PWD python -m pytest -q tests/hostile``; ``-k <row id>`` for one row.
The rows, their outcomes and the commands are also in the closing note of issue 13.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from benchsuite import calibrate, results, session, signals
from benchsuite.cli import main
from tests.fakes import cifar_files, hostile_runs
from tests.fakes.faulty_disk import FaultyDisk
from tests.fakes.hostile_runs import FORBIDDEN, HOSTILE, IMG, MARKUP

TIMING = ["--min-time", "0.01", "--min-iters", "2", "--warmup", "1"]
MATMUL = ["-w", "matmul", "-p", "fp32", "--param", "m=64", "--param", "n=64", "--param", "k=64"]


class World:
    """A scratch area: ``good/`` holds two finished runs (folder arguments), ``out/`` is the
    ``--out`` of run-like commands and already holds one finished run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.good = root / "good"
        self.out = root / "out"
        for parent, run_id in ((self.good, "20261125-192644-5532"), (self.good, "20261125-192645-aaaa"),
                               (self.out, "20261125-192644-5532")):
            hostile_runs.doctored(parent, run_id)
        self.file = root / "a-file"
        self.file.write_text("not a folder\n")
        self.before = self.snapshot()

    def snapshot(self) -> dict[Path, int]:
        """Every run directory under good/ and out/ with its count of cases."""
        return {p.parent: len(results.read_run(p).cases) for folder in (self.good, self.out)
                for p in folder.glob(f"*/{results.RESULTS_FILE}")}

    def cases_now(self) -> dict[Path, int]:
        """The runs finished before the command, read again (with pandas too)."""
        return {run_dir: len(results.load(run_dir)) for run_dir in self.before}

    def new_runs(self) -> list[Path]:
        """Run directories the command made in out/ (each must load)."""
        return [p for p in self.out.iterdir() if p.is_dir() and p not in self.before]

    def run(self, *extra: str) -> list[str]:
        """A tiny matmul run into out/ (about a second)."""
        return ["run", *MATMUL, *TIMING, "--no-telemetry", "--out", str(self.out), *extra]

    def runs(self, name: str = "runs") -> Path:
        return self.root / name

    @property
    def a(self) -> Path:
        return self.good / "20261125-192644-5532"

    @property
    def b(self) -> Path:
        return self.good / "20261125-192645-aaaa"


@dataclass(frozen=True)
class Hostile:
    """One row: the command line (from the world), the exit code, a regex the output must hold;
    ``setup`` makes files or faults first (world, monkeypatch), ``check`` asserts more after."""

    id: str
    args: Callable[[World], list[str]]
    code: int
    message: str
    setup: Callable[[World, pytest.MonkeyPatch], None] | None = None
    check: Callable[[World, object], None] | None = None
    new_runs: int = 0  # run directories the command may leave in out/ (each must load)


def _put(folder: str, run_id: str = "20261126-000000-0bad", **kw) -> Callable[[World, pytest.MonkeyPatch], None]:
    """setup: a doctored copy of the CPU run in ``world/<folder>/<run_id>``."""
    def setup(w: World, mp) -> None:
        hostile_runs.doctored(w.root / folder, run_id, **kw)
    return setup


def _raw(folder: str, text: str | bytes, run_id: str = "20261126-000000-0bad"):
    def setup(w: World, mp) -> None:
        hostile_runs.write_run(w.root / folder, run_id, text=text)
    return setup


def _both(*setups):
    def setup(w: World, mp) -> None:
        for s in setups:
            s(w, mp)
    return setup


def _set(path: str, value):
    """header(h): h[path...] = value (dotted path)."""
    def edit(h: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            h = h[key]
        h[last] = value
    return edit


def _case_field(path: str, value, only: int | None = None):
    def edit(i: int, c: dict) -> None:
        if only is None or i == only:
            _set(path, value)(c)
    return edit


def _hostile_text(i: int, c: dict) -> None:
    """Every printed field of a case holds escape sequences, markup and HTML."""
    c["id"] = f"{c['id']}{HOSTILE}"
    c["params"] = {"note": HOSTILE}
    c["device_name"] = f"CPU{HOSTILE}"
    if i == 1:
        c["status"], c["reason"] = "error", f"RuntimeError: {HOSTILE}"
        c["metrics"], c["timing"] = None, None
    c.setdefault("telemetry", {})["telemetry_note"] = f"note {HOSTILE}"


def _hostile_header(h: dict) -> None:
    h["tag"] = HOSTILE
    h["host"]["hostname"] = f"box{HOSTILE}"
    h["host"]["torch"] = f"2.0{HOSTILE}"


def _no_file_named(pattern: str):
    def check(w: World, r) -> None:
        left = [p for p in w.root.rglob("*") if re.search(pattern, p.name)]
        assert not left, f"partial or temporary files left: {left}"
    return check


def _literal(*texts: str):
    def check(w: World, r) -> None:
        for text in texts:
            assert text in r.output or text in r.output.replace("\n", ""), f"{text!r} not shown literally"
    return check


def _new_run(status: str, cases: int):
    """check: the run the command left in out/ loads, with ``cases`` cases and end ``status``."""
    def check(w: World, r) -> None:
        new = [p for p in w.out.glob(f"*/{results.RESULTS_FILE}") if p.parent not in w.before]
        assert len(new) == 1, new
        run = results.read_run(new[0])
        assert run.status == status and len(run.cases) == cases, (run.status, len(run.cases))
        assert len(results.load(new[0])) == cases
    return check


def _malicious_cifar(w: World, mp) -> None:
    folder = cifar_files.write(w.root / "cifar", per_batch=2)
    marker = w.root / "ran"
    (folder / "data_batch_2").write_bytes(f"cos\nsystem\n(Vtouch {marker}\ntR.".encode())


def _unpickling_error(w: World, mp) -> None:
    folder = cifar_files.write(w.root / "cifar", per_batch=2)
    (folder / "test_batch").write_bytes(b"\x80\x02}q\x00(U\x04data")  # cut short mid-pickle


def _nothing_ran(w: World, r) -> None:
    assert not (w.root / "ran").exists(), "a pickle ran a command"


def _empty(folder: Path) -> None:
    assert not folder.exists() or not any(folder.iterdir()), f"{folder} is not empty"


def _both_checks(*checks):
    def check(w: World, r) -> None:
        for c in checks:
            c(w, r)
    return check


def _samples_whole(w: World, r) -> None:
    """samples.csv ends with its last complete row (a full disk cut it there)."""
    import pandas as pd

    (path,) = [p / results.SAMPLES_FILE for p in w.new_runs()]
    data = path.read_bytes()
    assert data.endswith(b"\n") and len(pd.read_csv(path)) >= 1


def _raiser(exc_type):
    def raise_(*a, **k):
        raise exc_type()
    return raise_


def _one_of_three(w: World) -> None:
    recs = hostile_runs.records()
    header, cases, end = recs[0], [r for r in recs if r.get("record") == "case"], recs[-1]
    other = [json.loads(json.dumps(c)) for c in cases]
    for i, c in enumerate(other):
        c["params"] = {"variant": f"v{i}"}
        c["id"] += f"[variant=v{i}]"
    hostile_runs.write_run(w.root / "bad", "20261126-000000-0bad", [header, cases[0], *other, end])


def _failing_matmul(mp) -> None:
    """The matmul workload fails with an error message that attacks the terminal."""
    from workloads.matmul import Matmul

    def setup(self, case):
        raise RuntimeError(HOSTILE)

    mp.setattr(Matmul, "setup", setup)


def _hostile_machine(mp) -> None:
    """`benchsuite info` on a machine whose host name, OS, CPU model and torch version attack."""
    from benchsuite import devices

    real = devices.host_info

    def host_info():
        host = dict(real())
        for key in ("hostname", "os", "cpu_model", "torch"):
            host[key] = f"{key}-box{HOSTILE}"
        return host

    mp.setattr(devices, "host_info", host_info)


def _cifar_dir(w: World) -> Path:
    """A CIFAR-10 folder whose name holds HTML and an unbalanced markup tag (the case id shows it)."""
    return w.root / f"{IMG}[" / "x]"


def _no_img(r) -> None:
    """The markdown on standard output escapes HTML (the terminal lines on stderr need not)."""
    assert IMG not in r.stdout and "<img" not in r.stdout, "raw HTML in markdown output"


def _html_escaped(page: Path) -> None:
    assert IMG not in page.read_text(encoding="utf-8")  # escaped: &lt;img ...


def _tilde(w: World) -> None:
    assert not Path("~").exists() and list((w.root / "home" / "tilde").glob(f"*/{results.RESULTS_FILE}"))


ROWS = [
    # -- numbers: nan, inf and out of range (item 2, item 9) ----------------------------------
    Hostile("run-min-time-nan", lambda w: w.run("--min-time", "nan"), 2, r"--min-time.*'nan' is not allowed; allowed: a finite number, x>0"),
    Hostile("run-min-time-inf", lambda w: w.run("--min-time", "inf"), 2, r"--min-time.*'inf' is not allowed"),
    Hostile("run-min-time-negative", lambda w: w.run("--min-time", "-1"), 2, r"--min-time.*'-1' is not allowed.*x>0"),
    Hostile("run-sample-hz-nan", lambda w: w.run("--sample-hz", "nan"), 2, r"--sample-hz.*'nan' is not allowed.*1<=x<=1000"),
    Hostile("run-sample-hz-huge", lambda w: w.run("--sample-hz", "1e9"), 2, r"--sample-hz.*'1e9'.*1<=x<=1000"),
    Hostile("run-cooldown-nan", lambda w: w.run("--cooldown", "nan"), 2, r"--cooldown.*'nan'"),
    Hostile("run-cooldown-minus-inf", lambda w: w.run("--cooldown", "-inf"), 2, r"--cooldown.*'-inf'"),
    Hostile("run-settle-max-nan", lambda w: w.run("--settle-max", "nan"), 2, r"--settle-max.*'nan'"),
    Hostile("run-collective-timeout-inf", lambda w: w.run("--collective-timeout", "inf"), 2,
            r"--collective-timeout.*'inf'"),
    Hostile("run-min-time-word", lambda w: w.run("--min-time", "soon"), 2, r"--min-time.*'soon' is not a number"),
    Hostile("run-threads-100000", lambda w: w.run("--threads", "100000"), 2,
            r"--threads.*'100000' is not allowed; allowed: an integer, 1<=x<=\d+ \(4 x the \d+ logical CPUs"),
    Hostile("run-threads-0", lambda w: w.run("--threads", "0"), 2, r"--threads.*'0' is not allowed"),
    Hostile("run-min-iters-0", lambda w: w.run("--min-iters", "0"), 2, r"--min-iters"),
    Hostile("run-warmup-negative", lambda w: w.run("--warmup", "-1"), 2, r"--warmup"),
    Hostile("claims-cpu-watts-nan", lambda w: ["claims", "--cpu-watts", "nan", "--out", str(w.out)], 2,
            r"--cpu-watts.*'nan'"),
    Hostile("claims-min-time-inf", lambda w: ["claims", "--min-time", "inf", "--out", str(w.out)], 2,
            r"--min-time.*'inf'"),
    Hostile("calibrate-budget-nan", lambda w: ["calibrate", "--budget", "nan", "--out", str(w.out)], 2,
            r"--budget.*'nan'"),
    Hostile("calibrate-budget-inf", lambda w: ["calibrate", "--budget", "inf", "--out", str(w.out)], 2,
            r"--budget.*'inf'"),
    Hostile("calibrate-budget-0", lambda w: ["calibrate", "--budget", "0", "--out", str(w.out)], 2,
            r"--budget.*'0' is not allowed.*x>0"),
    Hostile("compare-threshold-nan", lambda w: ["compare", str(w.a), str(w.b), "--threshold", "nan"], 2,
            r"--threshold.*not a finite number"),
    Hostile("compare-threshold-inf-pct", lambda w: ["compare", str(w.a), str(w.b), "--threshold", "inf%"], 2,
            r"--threshold.*not a finite number"),
    Hostile("compare-threshold-negative", lambda w: ["compare", str(w.a), str(w.b), "--threshold", "-5%"], 2,
            r"--threshold.*out of range"),
    # -- parameters and choices (item 9) -------------------------------------------------------
    Hostile("run-mlp-one-width", lambda w: ["run", "-w", "mlp", "--param", "widths=1024", "--out", str(w.out)], 2,
            r"widths=1024.*at least an input and an output width"),
    Hostile("run-matmul-m-100", lambda w: w.run("--param", "m=100"), 2, r"m=100.*multiple of 16"),
    Hostile("run-param-unknown", lambda w: w.run("--param", "nosuch=1"), 2, r"unknown parameter 'nosuch'"),
    Hostile("run-param-escape-sequence", lambda w: w.run("--param", f"m=1{hostile_runs.CLEAR}"), 2,
            r"expected a positive integer"),
    Hostile("run-param-brackets-no-such-data", lambda w: ["run", "-w", "cnn", "-d", "cpu", "--param",
                                                          f"data={w.root}/y[/nosuch]", "--out", str(w.out)], 2,
            r"y\[/nosuch\]", check=_literal("[/nosuch]")),
    Hostile("run-batch-size-0", lambda w: w.run("-b", "0"), 2, r"batch"),
    Hostile("run-batch-size-past-int64", lambda w: w.run("-b", "99999999999999999999"), 2,
            r"batch size .* integers from 1 to"),
    Hostile("run-precision-fp64", lambda w: w.run("-p", "fp64"), 2, r"fp64"),
    Hostile("run-device-cuda-99", lambda w: w.run("-d", "cuda:99"), 2, r"cuda:99"),
    Hostile("run-workload-unknown", lambda w: ["run", "-w", "nosuch", "--out", str(w.out)], 2, r"nosuch"),
    Hostile("claims-matmul-size-100", lambda w: ["claims", "--matmul-size", "100", "--out", str(w.out)], 2,
            r"multiple of 16"),
    Hostile("claims-data-malicious-pickle", lambda w: ["claims", "--data", str(w.root / "cifar"), "-d", "cpu",
                                                       "--out", str(w.out)], 2,
            r"data_batch_2: refused to load the global 'os.system'|data_batch_2: refused to load the global",
            setup=_malicious_cifar, check=_nothing_ran),
    Hostile("run-data-unpickling-error-names-file", lambda w: ["run", "-w", "cnn", "-d", "cpu", "--param",
                                                               f"data={w.root / 'cifar'}", "--out", str(w.out)], 2,
            r"test_batch: not a CIFAR-10 python batch", setup=_unpickling_error),
    # -- output paths (item 1, item 9) -----------------------------------------------------------
    Hostile("run-out-proc", lambda w: w.run("--out", "/proc/forbidden"), 2,
            r"could not create folder /proc/forbidden: No such file or directory"),
    Hostile("run-out-under-a-file", lambda w: w.run("--out", f"{w.file}/sub"), 2,
            r"could not create folder .*a-file/sub: .*a-file is a file, not a folder"),
    Hostile("run-out-is-a-file", lambda w: w.run("--out", str(w.file)), 2, r"is an existing file; give a directory"),
    Hostile("calibrate-out-proc", lambda w: ["calibrate", "--out", "/proc/forbidden"], 2, r"could not create folder"),
    Hostile("report-o-proc", lambda w: ["report", str(w.a), "-o", "/proc/forbidden/r.html"], 2,
            r"could not create folder /proc/forbidden", check=_no_file_named(r"r\.html")),
    Hostile("report-o-under-a-file", lambda w: ["report", str(w.a), "-o", f"{w.file}/r.html"], 2,
            r"a-file is a file, not a folder"),
    Hostile("report-o-is-a-folder", lambda w: ["report", str(w.a), "-o", str(w.good)], 2, r"is a directory"),
    Hostile("table-o-proc", lambda w: ["table", str(w.a), "--no-reference", "-o", "/proc/forbidden/t.md"], 2,
            r"could not create folder /proc/forbidden"),
    Hostile("export-o-proc", lambda w: ["export", str(w.a), "--format", "csv", "-o", "/proc/forbidden/x.csv"], 2,
            r"could not create folder /proc/forbidden"),
    Hostile("export-o-is-a-folder", lambda w: ["export", str(w.a), "--format", "csv", "-o", str(w.good)], 2,
            r"is a directory"),
    # -- disks that fail at run time (item 1): a fake writer raising ENOSPC / EROFS ------------
    Hostile("run-read-only-disk", lambda w: w.run("--out", str(w.runs())), 3,
            r"could not create folder .*runs: Read-only file system",
            setup=lambda w, mp: FaultyDisk(mp, read_only=True, match="runs"),
            check=lambda w, r: _empty(w.runs())),
    Hostile("run-disk-full-at-header", lambda w: w.run(), 3,
            r"results.jsonl: No space left on device; nothing was measured",
            setup=lambda w, mp: FaultyDisk(mp, room=200, match="results.jsonl")),
    Hostile("run-disk-full-mid-run", lambda w: w.run("--param", "m=64,128"), 3,
            r"No space left on device; the 1 case\(s\) finished before are kept in",
            setup=lambda w, mp: FaultyDisk(mp, writes=2, match="results.jsonl"),
            check=_new_run("unfinished", 1), new_runs=1),
    Hostile("run-disk-full-at-end-record", lambda w: w.run(), 3,
            r"results.jsonl: No space left on device; the 1 case\(s\) finished before are kept",
            setup=lambda w, mp: FaultyDisk(mp, writes=2, match="results.jsonl"),
            check=_new_run("unfinished", 1), new_runs=1),
    Hostile("run-samples-disk-full-goes-on", lambda w: ["run", *MATMUL, *TIMING, "--telemetry", "--out", str(w.out)],
            0, r"Telemetry samples:", setup=lambda w, mp: FaultyDisk(mp, writes=2, match="samples.csv"),
            check=_both_checks(_new_run("completed", 1), _samples_whole), new_runs=1),
    Hostile("report-o-disk-full", lambda w: ["report", str(w.a), "-o", str(w.root / "r.html")], 3,
            r"could not write .*r\.html: No space left on device",
            setup=lambda w, mp: FaultyDisk(mp, room=4096, match="r.html"), check=_no_file_named(r"r\.html")),
    Hostile("report-o-read-only", lambda w: ["report", str(w.a), "-o", str(w.root / "r.html")], 3,
            r"could not write .*r\.html: Read-only file system",
            setup=lambda w, mp: FaultyDisk(mp, read_only=True, match="r.html"), check=_no_file_named(r"r\.html")),
    Hostile("table-o-disk-full", lambda w: ["table", str(w.a), "--no-reference", "-o", str(w.root / "t.md")], 3,
            r"could not write .*t\.md: No space left on device",
            setup=lambda w, mp: FaultyDisk(mp, room=100, match="t.md"), check=_no_file_named(r"t\.md")),
    Hostile("export-o-disk-full", lambda w: ["export", str(w.a), "--format", "csv", "-o", str(w.root / "x.csv")], 3,
            r"could not write .*x\.csv: No space left on device",
            setup=lambda w, mp: FaultyDisk(mp, room=100, match="x.csv"), check=_no_file_named(r"x\.csv")),
    Hostile("export-pytest-benchmark-read-only", lambda w: ["export", str(w.a), "--format", "pytest-benchmark",
                                                            "-o", str(w.root / "x.json")], 3,
            r"could not write .*x\.json: Read-only file system",
            setup=lambda w, mp: FaultyDisk(mp, read_only=True, match="x.json"), check=_no_file_named(r"x\.json")),
    # -- hand-edited or damaged results (item 6) --------------------------------------------------
    Hostile("schema-0", lambda w: ["report", str(w.root / "bad")], 2,
            r"results.jsonl:1: header field 'schema' is int 0; a results schema version is a positive integer",
            setup=_put("bad", header=_set("schema", 0))),
    Hostile("schema-minus-1", lambda w: ["table", str(w.root / "bad"), "--no-reference"], 2,
            r"'schema' is int -1; a results schema version is a positive integer", setup=_put("bad", header=_set("schema", -1))),
    Hostile("schema-string", lambda w: ["compare", str(w.a), str(w.root / "bad")], 2,
            r"'schema' is str '1'; a results schema version", setup=_put("bad", header=_set("schema", "1"))),
    Hostile("schema-float", lambda w: ["report", str(w.root / "bad")], 2, r"'schema' is float 1.0; a results schema",
            setup=_put("bad", header=_set("schema", 1.0))),
    Hostile("schema-null", lambda w: ["report", str(w.root / "bad")], 2, r"'schema' is NoneType None",
            setup=_put("bad", header=_set("schema", None))),
    Hostile("schema-too-new", lambda w: ["report", str(w.root / "bad")], 2, r"results schema 99, newer than",
            setup=_put("bad", header=_set("schema", 99))),
    Hostile("header-host-string", lambda w: ["table", str(w.root / "bad"), "--no-reference"], 2,
            r"results.jsonl:1: header record: field 'host' is str", setup=_put("bad", header=_set("host", "box"))),
    Hostile("case-params-list", lambda w: ["compare", str(w.a), str(w.root / "bad")], 2,
            r"results.jsonl:2: case record: field 'params' is list", setup=_put("bad", case=_case_field("params", [1]))),
    Hostile("case-metrics-strings", lambda w: ["report", str(w.root / "bad")], 2,
            r"results.jsonl:2: case record: field 'metrics.samples_per_s' is str",
            setup=_put("bad", case=_case_field("metrics.samples_per_s", "fast"))),
    Hostile("case-step-times-strings", lambda w: ["export", str(w.root / "bad" / "20261126-000000-0bad"),
                                                  "--format", "csv", "-o",
                                                  str(w.root / "x.csv")], 2,
            r"field 'timing.times_s\[0\]' is str", setup=_put("bad", case=_case_field("timing.times_s", ["1"]))),
    Hostile("record-a-json-list", lambda w: ["report", str(w.root / "bad")], 2,
            r"results.jsonl:2: unknown record None",
            setup=_raw("bad", "".join(json.dumps(r) + "\n" for r in [hostile_runs.records()[0], [1, 2]]))),
    Hostile("results-binary", lambda w: ["report", str(w.root / "bad")], 2, r"not a benchsuite results file",
            setup=_raw("bad", bytes(range(256)) * 4)),
    Hostile("results-empty-named", lambda w: ["report", str(w.root / "bad" / "20261126-000000-0bad")], 2,
            r"empty file, not a benchsuite results file", setup=_raw("bad", "")),
    Hostile("results-is-a-folder", lambda w: ["report", str(w.root / "bad" / "20261126-000000-0bad")], 2,
            r"no benchsuite results here",
            setup=lambda w, mp: (w.root / "bad" / "20261126-000000-0bad" / "results.jsonl").mkdir(parents=True)),
    Hostile("results-truncated-last-line", lambda w: ["report", str(w.root / "bad"), "-o", str(w.root / "r.html")],
            0, r"truncated last line.*was skipped",
            setup=_raw("bad", "".join(json.dumps(r) + "\n" for r in hostile_runs.records()) + '{"record": "ca')),
    Hostile("empty-run-in-folder-report", lambda w: ["report", str(w.good), "-o", str(w.root / "r.html")], 0,
            r"warning: skipped a damaged run in .*good: .*empty file", setup=_raw("good", "")),
    Hostile("empty-run-in-folder-table", lambda w: ["table", str(w.good), "--no-reference", "--format", "csv"], 0,
            r"warning: skipped a damaged run in .*good: .*empty file", setup=_raw("good", "")),
    Hostile("damaged-run-in-folder-table", lambda w: ["table", str(w.good), "--no-reference"], 0,
            r"warning: skipped a damaged run .*'host' is str", setup=_put("good", header=_set("host", "box"))),
    Hostile("every-run-in-folder-damaged", lambda w: ["table", str(w.root / "bad"), "--no-reference"], 2,
            r"error: .*bad: none of its 1 run\(s\) can be read; .*results.jsonl: empty file", setup=_raw("bad", "")),
    Hostile("report-newest-run-empty", lambda w: ["report"], 0,
            r"warning: skipped a damaged run in reports: .*empty file",
            setup=lambda w, mp: (shutil.copytree(w.a, w.root / "reports" / w.a.name),
                                 hostile_runs.write_run(w.root / "reports", "20991231-000000-0bad", text=""),
                                 mp.chdir(w.root))),
    Hostile("samples-binary", lambda w: ["report", str(w.a), "-o", str(w.root / "r.html")], 0,
            r"warning: telemetry samples not shown: .*samples.csv",
            setup=lambda w, mp: (w.a / "samples.csv").write_bytes(bytes(range(256)) * 64)),
    Hostile("samples-garbage-columns", lambda w: ["report", str(w.a), "-o", str(w.root / "r.html")], 0,
            r"Report: ", setup=lambda w, mp: (w.a / "samples.csv").write_text("t_s,device,power_w\nx,[bold],y\n")),
    Hostile("claims-json-damaged", lambda w: ["report", str(w.a), "-o", str(w.root / "r.html")], 0,
            r"warning: claims not shown: ", setup=lambda w, mp: (w.a / "claims.json").write_text("{not json")),
    Hostile("calibration-json-damaged", lambda w: ["report", str(w.a), "-o", str(w.root / "r.html")], 0,
            r"warning: calibration not shown: ",
            setup=lambda w, mp: (w.a / "calibration.json").write_text('{"calibrations": [{"kind": 1}]}')),
    # -- text that attacks the terminal or a markdown renderer (item 5) ---------------------------
    Hostile("hostile-text-table", lambda w: ["table", str(w.root / "bad"), "--no-reference"], 0, r"boom",
            setup=_put("bad", header=_hostile_header, case=_hostile_text), check=_literal(MARKUP)),
    Hostile("hostile-text-table-markdown", lambda w: ["table", str(w.root / "bad"), "--no-reference", "--format",
                                                      "markdown"], 0, r"&lt;img src=y onerror=alert\(1\)&gt;",
            setup=_put("bad", header=_hostile_header, case=_hostile_text), check=lambda w, r: _no_img(r)),
    Hostile("hostile-text-compare", lambda w: ["compare", str(w.root / "bad"), str(w.root / "bad2")], 0,
            r"\[bold red\]boom",
            setup=_both(_put("bad", header=_hostile_header, case=_hostile_text),
                        _put("bad2", header=_hostile_header, case=_hostile_text)),
            check=_literal(MARKUP)),
    Hostile("hostile-text-compare-markdown", lambda w: ["compare", str(w.root / "bad"), str(w.root / "bad2"),
                                                        "--format", "markdown"], 0, r"&lt;img src=y",
            setup=_both(_put("bad", header=_hostile_header, case=_hostile_text),
                        _put("bad2", header=_hostile_header, case=_hostile_text)),
            check=lambda w, r: _no_img(r)),
    Hostile("hostile-text-compare-csv", lambda w: ["compare", str(w.root / "bad"), str(w.root / "bad2"),
                                                   "--format", "csv"], 0, r"boom",
            setup=_both(_put("bad", header=_hostile_header, case=_hostile_text),
                        _put("bad2", header=_hostile_header, case=_hostile_text))),
    Hostile("hostile-torch-version-fingerprint", lambda w: ["compare", str(w.a), str(w.root / "bad")], 0,
            r"warning: .*torch .*2\.0",
            setup=_put("bad", header=_set("host.torch", f"2.0{HOSTILE}"))),
    Hostile("hostile-text-export-left-out", lambda w: ["export", str(w.root / "bad" / "20261126-000000-0bad"),
                                                       "--format", "pytest-benchmark",
                                                       "-o", str(w.root / "x.json")], 0, r"left out .*\[bold red\]boom",
            setup=_put("bad", header=_hostile_header, case=_hostile_text), check=_literal(MARKUP)),
    Hostile("hostile-text-report", lambda w: ["report", str(w.root / "bad"), "-o", str(w.root / "r.html")], 0,
            r"Report: ", setup=_put("bad", header=_hostile_header, case=_hostile_text),
            check=lambda w, r: _html_escaped(w.root / "r.html")),
    Hostile("run-tag-and-out-with-markup", lambda w: w.run("--tag", HOSTILE, "--out", str(w.root / "o[/x]")), 0,
            r"Results: .*o\[/x\]", new_runs=0),
    Hostile("run-data-path-with-markup-and-html", lambda w: ["run", "-w", "cnn", "-d", "cpu", "-p", "fp32", "-m",
                                                             "infer", "-b", "2", "--param", f"data={_cifar_dir(w)}",
                                                             *TIMING, "--no-telemetry", "--format", "markdown",
                                                             "--out", str(w.out)], 0,
            r"\| cnn/infer/fp32/bs2 \[data=.*&lt;img src=y onerror=alert\(1\)&gt;\[/x\]\] \| ok",
            setup=lambda w, mp: cifar_files.write(_cifar_dir(w), per_batch=2),
            check=_both_checks(_new_run("completed", 1), lambda w, r: _no_img(r)), new_runs=1),
    Hostile("run-error-reason-hostile", lambda w: w.run(), 0, r"error .*matmul/infer/cpu/fp32.*RuntimeError: .*boom",
            setup=lambda w, mp: _failing_matmul(mp), check=_both_checks(_literal(MARKUP), _new_run("completed", 1)),
            new_runs=1),
    Hostile("info-hostile-machine-strings", lambda w: ["info"], 0, r"box.*\[bold red\]boom",
            setup=lambda w, mp: _hostile_machine(mp), check=_literal(MARKUP)),
    # -- compare refuses to pass on nothing (item 7) -----------------------------------------------
    Hostile("compare-nothing-in-common-gate", lambda w: ["compare", str(w.a), str(w.root / "bad"),
                                                         "--fail-on-regression"], 1,
            r"error: nothing compared: none of BASE's 2 case\(s\) matches one of NEW's 2",
            setup=lambda w, mp: hostile_runs.renamed_cases(w.root / "bad", "20261126-000000-0bad", "other")),
    Hostile("compare-nothing-in-common-warns", lambda w: ["compare", str(w.a), str(w.root / "bad")], 0,
            r"warning: nothing compared",
            setup=lambda w, mp: hostile_runs.renamed_cases(w.root / "bad", "20261126-000000-0bad", "other")),
    Hostile("compare-too-little-in-common-gate", lambda w: ["compare", str(w.a), str(w.root / "bad"),
                                                            "--fail-on-regression"], 1,
            r"only 1 case\(s\) compared: 50% of BASE's 2 and 33% of NEW's 3",
            setup=lambda w, mp: _one_of_three(w)),
    Hostile("compare-empty-run-gate", lambda w: ["compare", str(w.a), str(w.root / "bad"), "--fail-on-regression"], 1,
            r"nothing compared: none of BASE's 2 case\(s\) matches one of NEW's 0",
            setup=lambda w, mp: hostile_runs.write_run(w.root / "bad", "20261126-000000-0bad",
                                                       hostile_runs.records()[:1])),
    Hostile("compare-folder-of-runs", lambda w: ["compare", str(w.good), str(w.good)], 2,
            r"BASE .*good holds 2 runs; compare takes one run per side"),
    # -- signals in-process (item 8; the real signals are in tests/test_sigint.py) ------------------
    Hostile("run-ctrl-c-at-start-up", lambda w: w.run(), 130, r"Interrupted by Ctrl-C",
            setup=lambda w, mp: mp.setattr(session, "make_plan", _raiser(KeyboardInterrupt))),
    Hostile("run-sigterm-at-start-up", lambda w: w.run(), 143, r"Interrupted by SIGTERM",
            setup=lambda w, mp: mp.setattr(session, "make_plan", _raiser(signals.SigTerm))),
    Hostile("calibrate-ctrl-c-stores-nothing", lambda w: ["calibrate", "-d", "cpu", "--out", str(w.out)], 130,
            r"Interrupted by Ctrl-C: no device had finished, nothing was stored",
            setup=lambda w, mp: mp.setattr(calibrate, "calibrate_device", _raiser(KeyboardInterrupt))),
    # -- --out=~/x (item 9) ------------------------------------------------------------------------
    Hostile("run-out-tilde", lambda w: w.run("--out=~/tilde"), 0, r"Results: .*/home/tilde/",
            setup=lambda w, mp: mp.setenv("HOME", str(w.root / "home")),
            check=lambda w, r: _tilde(w)),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_hostile(row: Hostile, tmp_path, monkeypatch):
    w = World(tmp_path)
    if row.setup is not None:
        row.setup(w, monkeypatch)
    r = CliRunner().invoke(main, row.args(w))
    assert r.exit_code == row.code, f"exit {r.exit_code}, expected {row.code}:\n{r.output}"
    unwrapped = r.output.replace("\n", "")  # rich folds long paths on stderr at 80 columns
    assert re.search(row.message, r.output, re.S) or re.search(row.message, unwrapped), \
        f"no /{row.message}/ in:\n{r.output}"
    assert "Traceback" not in r.output and not isinstance(r.exception, Exception), r.output
    for bad in FORBIDDEN:
        assert bad not in r.output, f"{bad!r} reached the terminal:\n{r.output!r}"
    monkeypatch.undo()  # the fault is gone: what follows reads the real disk
    if row.check is not None:
        row.check(w, r)
    assert w.cases_now() == w.before, "a run finished before lost cases"
    made = w.new_runs()
    assert len(made) <= row.new_runs, f"run directories left behind: {made}"
    for run_dir in made:
        results.read_run(run_dir)  # loadable, never empty


def test_the_table_is_long_enough():
    assert len(ROWS) >= 60 and len({r.id for r in ROWS}) == len(ROWS)
