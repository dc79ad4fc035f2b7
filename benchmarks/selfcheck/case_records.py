"""The case records of every ``results.jsonl`` under some folders, read leniently for self-checks.

Plain JSON lines, no validation: a run by older code (any schema) reads too, and a line cut by
a killed run is passed over. Torch-free.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Iterator


def case_records(folders: Iterable[str | Path]) -> Iterator[tuple[Path, dict]]:
    """(results file, case record) for every case line under ``folders`` (any depth), in file order."""
    for folder in folders:
        if not folder or not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).rglob("results.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a killed run
                if isinstance(rec, dict) and rec.get("record") == "case":
                    yield path, rec
