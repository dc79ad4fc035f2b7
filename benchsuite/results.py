"""The results store: one append-only ``results.jsonl`` per run, and the loader.

A file holds a header record (schema version, run id, host, devices, versions, the
command), one ``case`` record per Case written and flushed as it ends, then an ``end``
record (``completed``, ``interrupted`` or ``failed``). `read_runs` reads the records,
`load` (and `load_runs`, which also returns the problems met) makes the DataFrame that
everything downstream reads; this module never imports torch.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from benchsuite import files
from benchsuite import record as record_mod

clean_number = record_mod.clean_number  # re-exported as results.clean_number (NaN -> null); pyflakes-clean

# 2: block timing (issue 14): ``timing.block_times_s`` and ``timing.steps_per_block`` instead
# of every step's ``timing.times_s``.
SCHEMA_VERSION = 2
RESULTS_FILE = "results.jsonl"
SAMPLES_FILE = "samples.csv"
# Older schema -> function that upgrades one record to the next version.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: record_mod.migrate_1_to_2}


class ResultsError(ValueError):
    """A results file that cannot be read; the message names the file and line."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    """Sortable and unique: ``20261125-183000-4f2a``."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def check_out_dir(parent: str | Path, create: bool = True) -> Path:
    """``--out`` as a folder that exists now (created if need be, ``~`` expanded); raise
    ResultsError for an existing file, `benchsuite.files.WriteError` when it cannot be made.
    ``create`` False (``--dry-run``): only the existing-file check, nothing is made."""
    parent = files.expand(parent)
    if parent.exists() and not parent.is_dir():
        raise ResultsError(f"--out {str(parent)!r} is an existing file; give a directory (each run goes to DIR/<run-id>/)")
    return files.make_dir(parent) if create else parent


class RunStore:
    """Writes one run directory: the header at once, each case as it ends, then the end.

    Each record is one line written whole or not at all (`benchsuite.files.Appender`): a
    failed write raises `benchsuite.files.WriteError` and leaves the file loadable, ending
    with the last complete record. When the folder or the header cannot be written, nothing
    is left behind.
    """

    def __init__(self, parent: Path, header: dict[str, Any], run_id: str | None = None) -> None:
        self.run_id = run_id or new_run_id()
        self.dir = check_out_dir(parent) / self.run_id
        files.make_dir(self.dir, exist_ok=False)
        self.path = self.dir / RESULTS_FILE
        self.count = 0
        self.closed = False
        try:
            self._file = files.Appender(self.path, new=True)
            self._write({"record": "header", "schema": SCHEMA_VERSION, "run_id": self.run_id,
                         "started_at": now_iso(), **header})
        except BaseException:
            self.discard()
            raise

    @property
    def error(self) -> files.WriteError | None:
        """The first write that failed, or None."""
        return self._file.error

    def _write(self, record: dict) -> None:
        self._file.append(json.dumps(record, default=_json_default, allow_nan=False) + "\n")

    def append(self, record: dict[str, Any]) -> None:
        """Write one finished case; it is on disk when this returns."""
        self._write({"record": "case", **record})
        self.count += 1

    def close(self, status: str, **extra: Any) -> None:
        """Write the end record (``completed``, ``interrupted`` or ``failed``).

        After a failed write the end record is still tried (a short line may fit); if it
        does not, the file is closed as it is and nothing is raised: the first failure is
        the one to report. Otherwise a failed end record raises `WriteError`."""
        if self.closed:
            return
        self.closed = True
        earlier = self.error
        try:
            self._write({"record": "end", "status": status, "ended_at": now_iso(), "cases": self.count, **extra})
        except files.WriteError:
            if earlier is None:
                raise
        finally:
            self._file.close()

    def discard(self) -> None:
        """Close and remove the run directory (a run that measured nothing)."""
        self.closed = True
        if getattr(self, "_file", None) is not None:
            self._file.close()
        files.remove_tree(self.dir)


def _json_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@dataclass
class Run:
    """One results file, read back."""

    path: Path
    header: dict
    cases: list[dict]
    end: dict | None
    problems: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``completed``/``interrupted``/``failed`` from the end record, or ``unfinished``."""
        return self.end["status"] if self.end else "unfinished"

    @property
    def not_run(self) -> list[str] | None:
        """The planned case ids that have no record (`not_run`); None when the header has no
        ``planned`` list (runs written before it)."""
        return not_run(self.header, self.cases)

    @property
    def cut_short(self) -> str | None:
        """Why this run holds fewer cases than it meant to, in words (`cut_short`); None when it
        ran its whole plan."""
        return cut_short(self.header, self.cases, self.end)


_SEARCHED_BATCH = re.compile(r"/bs\d+(?=/|\[|$)")


def planned_id(case: dict) -> str:
    """The id a case had in the plan: a batch found by ``-b auto`` or ``-b best`` was
    ``bs-auto`` / ``bs-best`` there (``cnn/train/cpu/fp32/bs256`` -> ``.../bs-best``)."""
    search = "auto" if case.get("auto_batch") else "best" if case.get("best_batch") else None
    if search is None:
        return case["id"]
    return _SEARCHED_BATCH.sub(f"/bs-{search}", case["id"], count=1)


def not_run(header: dict, cases: list[dict]) -> list[str] | None:
    """Planned case ids (header ``planned``, in order) with no case record; None when the
    header has no planned list."""
    planned = header.get("planned")
    if planned is None:
        return None
    written = Counter(planned_id(c) for c in cases)
    missing = []
    for case_id in planned:
        if written[case_id] > 0:
            written[case_id] -= 1
        else:
            missing.append(case_id)
    return missing


def cut_short(header: dict, cases: list[dict], end: dict | None) -> str | None:
    """A run that stopped before its plan was done, in words, else None.

    With no end record the run was killed (a time limit, SIGKILL, a crash): it is cut short
    even when it has no planned list ("cut short after 46 cases; the planned list was not
    recorded"). An ``interrupted`` or ``failed`` end says so; a ``completed`` one ran everything.
    """
    status = (end or {}).get("status")
    if status == "completed":
        return None
    missing = not_run(header, cases)
    if end is not None and missing == []:
        return None  # ended early, but after its last planned case
    what = "cut short" if end is None else str(status)
    n = len(cases)
    if missing is None:
        return f"{what} after {n} case{'s' if n != 1 else ''}; the planned list was not recorded"
    planned = len(header["planned"])
    return f"{what} after {n} of {planned} planned cases: {len(missing)} never ran"


def in_run(path: str | Path, name: str) -> Path:
    """A run directory -> its file ``name``; a file's path as given."""
    path = Path(path)
    return path / name if path.is_dir() else path


def results_path(path: str | Path) -> Path:
    """A run directory or its results.jsonl -> the results.jsonl."""
    path = in_run(path, RESULTS_FILE)
    if not path.is_file():
        raise ResultsError(f"{path}: no such results file (give a run directory or its {RESULTS_FILE})")
    return path


def read_run(path: str | Path) -> Run:
    """Read and check one results file. A truncated last line is reported and skipped."""
    path = results_path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        raise ResultsError(f"{path}: empty file, not a benchsuite results file")
    lines = text.split("\n")
    ends_cleanly = text.endswith("\n")
    records, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            if number == len(lines) and not ends_cleanly and records:
                problems.append(f"{path}:{number}: truncated last line (a crash mid-write?) was skipped")
                warnings.warn(problems[-1])
                continue
            if number == 1:
                raise ResultsError(f"{path}:1: not a benchsuite results file (not JSON: {exc.msg})") from None
            raise ResultsError(f"{path}:{number}: not valid JSON ({exc.msg}); the file is damaged") from None
    number, header = records[0]
    if not isinstance(header, dict) or header.get("record") != "header" or "schema" not in header:
        raise ResultsError(f"{path}:1: not a benchsuite results file (no header record)")
    schema = header["schema"]
    problem = record_mod.schema_problem(schema, SCHEMA_VERSION)
    if problem:
        raise ResultsError(f"{path}:1: {problem}")
    with _located(path, 1, "header"):
        header = _migrate(header, schema)
        record_mod.validate_header(header)
    cases, end = [], None
    for number, record in records[1:]:
        kind = record.get("record") if isinstance(record, dict) else None
        if kind == "case":
            with _located(path, number, "case"):
                case = _migrate(record, schema)
                record_mod.validate_case(case)
            cases.append(case)
        elif kind == "end":
            with _located(path, number, "end"):
                record_mod.validate_end(record)
            end = record
        else:
            raise ResultsError(f"{path}:{number}: unknown record {kind!r} (expected case or end)")
    return Run(path, header, cases, end, problems)


@contextlib.contextmanager
def _located(path: Path, number: int, kind: str):
    """A `RecordError` as a ResultsError naming the file, the line and the field."""
    try:
        yield
    except record_mod.RecordError as exc:
        raise ResultsError(f"{path}:{number}: {kind} record: {exc}") from None


def _migrate(record: dict, schema: int) -> dict:
    while schema < SCHEMA_VERSION:
        record = MIGRATIONS[schema](record)
        schema += 1
    return record


def run_paths(path: str | Path) -> list[Path]:
    """Results files under ``path``: itself, a run directory, or a folder of run directories."""
    path = Path(path)
    if path.is_file() or (path / RESULTS_FILE).is_file():
        return [results_path(path)]
    if path.is_dir():
        found = sorted(p for p in path.glob(f"*/{RESULTS_FILE}"))
        if found:
            return found
    raise ResultsError(f"{path}: no benchsuite results here (expected a run directory, its {RESULTS_FILE}, "
                       "or a folder of run directories)")


def newest_run(parent: str | Path = "reports", problems: list[str] | None = None) -> Path:
    """The most recent readable run directory under ``parent`` (run ids sort by time).

    A newer run that cannot be read (empty, damaged) is passed over; with ``problems`` (a
    list) each one is named there."""
    parent = Path(parent)
    runs = sorted((p.parent for p in parent.glob(f"*/{RESULTS_FILE}")), key=lambda p: p.name, reverse=True)
    if not runs:
        raise ResultsError(f"{parent}: no runs found (run `benchsuite run` first)")
    skipped = []
    for run in runs:
        try:
            read_run(run)
        except ResultsError as exc:
            skipped.append(f"skipped a damaged run in {parent}: {exc}")
            continue
        if problems is not None:
            problems.extend(skipped)
        return run
    raise ResultsError(f"{parent}: none of its {len(runs)} run(s) can be read; the newest: "
                       + skipped[0].split(": ", 1)[1])


FLAT_FIRST = ["run_id", "id", "workload", "mode", "device", "device_name", "precision", "batch_size",
              "status", "reason"]


def flatten(run: Run) -> list[dict]:
    """One flat row per case: key, status, parameters (``param_*``) and every metric
    (`benchsuite.record.flatten`)."""
    return [record_mod.flatten(case, run.header) for case in run.cases]


def read_runs(paths: str | Path | Iterable[str | Path]) -> list[Run]:
    """Every run under ``paths`` (run directories, results files or folders of runs), read.

    A run that cannot be read inside a folder of runs is skipped with a warning; a run
    named on its own, or a folder where no run can be read, raises ResultsError."""
    runs, skipped = _read_all(paths)
    for problem in skipped:
        warnings.warn(problem)
    return runs


def _is_folder_of_runs(path: str | Path) -> bool:
    path = Path(path)
    return path.is_dir() and not (path / RESULTS_FILE).exists()


def _read_all(paths: str | Path | Iterable[str | Path]) -> tuple[list[Run], list[str]]:
    """The runs under ``paths`` and the damaged runs skipped inside folders (`read_runs`)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    runs: list[Run] = []
    skipped: list[str] = []
    for given in paths:
        found = run_paths(given)
        if not _is_folder_of_runs(given):
            runs.extend(read_run(p) for p in found)
            continue
        here, why = [], []
        for p in found:
            try:
                here.append(read_run(p))
            except ResultsError as exc:
                why.append(str(exc))
                skipped.append(f"skipped a damaged run in {given}: {exc}")
        if not here:
            raise ResultsError(f"{given}: none of its {len(found)} run(s) can be read; " + "; ".join(why[:3])
                               + ("; ..." if len(why) > 3 else ""))
        runs.extend(here)
    return runs, skipped


def load(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """Results as a DataFrame, one row per case, from run directories or results files.

    ``df.attrs["runs"]`` holds each run's path, header, end status and problems, and for a run
    that stopped before its plan was done the planned ids that never ran (``not_run``; None
    without a planned list) and why, in words (``cut_short``; None for a run that ran its plan);
    ``df.attrs["skipped"]`` the damaged runs passed over inside folders of runs (also warned).
    """
    runs, skipped = _read_all(paths)
    for problem in skipped:
        warnings.warn(problem)
    rows = [row for run in runs for row in flatten(run)]
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=FLAT_FIRST)
    ordered = [c for c in FLAT_FIRST if c in df.columns]
    df = df[ordered + [c for c in df.columns if c not in ordered]]
    df.attrs["runs"] = [{"path": str(r.path), "header": r.header, "status": r.status, "problems": r.problems,
                         "not_run": r.not_run, "cut_short": r.cut_short} for r in runs]
    df.attrs["skipped"] = skipped
    return df


TIMES_COLUMNS = ["run_id", "id", "device", "index", "steps", "time_s"]


def times(paths: str | Path | Iterable[str | Path]) -> pd.DataFrame:
    """The recorded step times in long form, one row per timed step (or block of steps):
    ``run_id``, case ``id``, ``device``, ``index`` (0, 1, ... in time order), ``steps`` (the
    steps it holds: 1 where every step was timed on its own) and ``time_s`` (its seconds ÷
    its steps). The case table (`load`) carries their statistics instead; this is what
    ``benchsuite export --format times-csv`` writes."""
    rows = []
    for run in read_runs(paths):
        for case in run.cases:
            values, per = record_mod.blocks_of(case.get("timing") or {})
            for i, t in enumerate(values):
                rows.append((run.header.get("run_id"), case.get("id"), case.get("device"), i, per, t / per))
    return pd.DataFrame(rows, columns=TIMES_COLUMNS)


def load_runs(paths: str | Path | Iterable[str | Path]) -> tuple[pd.DataFrame, list[str]]:
    """`load`, with the problems met (damaged runs skipped in folders, truncated last lines)
    returned instead of warned: what ``benchsuite report``, ``compare`` and ``table`` print.
    Raises ResultsError (naming the file and line) for input that cannot be read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load(paths)
    return df, [*df.attrs["skipped"], *(p for run in df.attrs["runs"] for p in run["problems"])]


def reference_dir() -> Path:
    """Shipped reference results: ``benchsuite/reference`` in an installed wheel,
    ``reports/reference`` in a clone or an editable install."""
    package = Path(__file__).resolve().parent
    installed = package / "reference"
    return installed if installed.is_dir() else package.parent / "reports" / "reference"
