"""Where the recorded runs under tests/fixtures/ lie (each folder's README says what it holds)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: Traces and four H100 runs of 2026-11-25 whole, step times cut to 21 quantiles (h100/README.md).
H100 = FIXTURES / "h100"
#: Results files written before the typed record: a header and a case or two of each (old_runs/README.md).
OLD_RUNS = FIXTURES / "old_runs"
#: The H100 default run of 2026-11-25, stopped after 46 of its 70 cases: no end record, no planned list.
DA35 = H100 / "20261125-220824-da35"
#: The shipped CPU reference run, as recorded before the typed record.
CPU_5532 = OLD_RUNS / "20261125-192644-5532"
