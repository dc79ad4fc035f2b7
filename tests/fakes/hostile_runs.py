"""Hostile and damaged run directories for the hardening tests (tests/hostile/): copies of a
real results file (the shipped CPU reference run in tests/fixtures/old_runs), edited record
by record, and the text that attacks a terminal or a markdown renderer."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable

from benchsuite.results import RESULTS_FILE
from tests.fakes.fixture_paths import CPU_5532

#: The shipped CPU reference run: a header, two ok cases (cnn and mlp train on the CPU), an end.
CPU_RUN = CPU_5532

# What a results file copied from another machine may hold in any text field.
OSC_TITLE = "\x1b]0;pwned\x07"  # sets the terminal's window title
CLEAR = "\x1b[2J"  # clears the screen
HYPERLINK = "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
C1_CSI = "\x9b31m"  # 8-bit CSI
MARKUP = "[bold red]boom[/][/x]"  # rich markup, with a closing tag that opens nothing
IMG = "<img src=y onerror=alert(1)>"
HOSTILE = OSC_TITLE + CLEAR + HYPERLINK + C1_CSI + MARKUP + IMG
#: What must never reach the terminal (ESC, BEL, 8-bit CSI and OSC).
FORBIDDEN = ("\x1b", "\x07", "\x9b", "\x9d")

Record = dict[str, Any]


def records(run: str | Path = CPU_RUN) -> list[Record]:
    """The records of a run's results file, in order."""
    text = (Path(run) / RESULTS_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_run(parent: str | Path, run_id: str, recs: list[Record] | None = None, *, text: str | bytes | None = None,
              ) -> Path:
    """A run directory ``parent/run_id`` holding ``recs`` as results.jsonl (or the raw ``text``)."""
    out = Path(parent) / run_id
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_FILE
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in recs or []), encoding="utf-8")
    return out


def doctored(parent: str | Path, run_id: str, *, header: Callable[[Record], None] | None = None,
             case: Callable[[int, Record], None] | None = None, source: str | Path = CPU_RUN) -> Path:
    """A copy of ``source`` as ``parent/run_id`` with ``header(h)`` and ``case(i, c)`` applied in place
    (the run id in the header follows the folder)."""
    recs = copy.deepcopy(records(source))
    recs[0]["run_id"] = run_id
    if header is not None:
        header(recs[0])
    if case is not None:
        for i, rec in enumerate(r for r in recs if r.get("record") == "case"):
            case(i, rec)
    return write_run(parent, run_id, recs)


def renamed_cases(parent: str | Path, run_id: str, suffix: str, *, keep: int | None = None) -> Path:
    """A copy whose case parameters differ (``variant=<suffix>``): no case matches the original's."""
    def rename(i: int, rec: Record) -> None:
        rec["params"] = {**(rec.get("params") or {}), "variant": suffix}
        rec["id"] = f"{rec['id']}[variant={suffix}]"

    out = doctored(parent, run_id, case=rename)
    if keep is not None:
        recs = records(out)
        cases = [r for r in recs if r.get("record") == "case"]
        write_run(parent, run_id, [recs[0], *cases[:keep], *[r for r in recs if r.get("record") == "end"]])
    return out
