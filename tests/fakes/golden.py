"""Compare rendered text with a small golden file in tests/golden/. Regenerate after a
deliberate change with ``BENCHSUITE_UPDATE_GOLDEN=1 python -m pytest tests/...``."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("BENCHSUITE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file {path}"
