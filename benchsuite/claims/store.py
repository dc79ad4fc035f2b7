"""The files of a claims run, beside its ``results.jsonl`` (torch-free).

``claims.json`` holds the claim rows and the evidence they were judged from; ``claims.md``
and ``claims.html`` are the rows rendered by `benchsuite.report.claims`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchsuite import results
from benchsuite.report import claims as render

CLAIMS_FILE = "claims.json"
CLAIMS_MARKDOWN = "claims.md"
CLAIMS_HTML = "claims.html"
SCHEMA = 1  # claims.json's own version


def write(run_dir: Path, run_id: str, claims: list[dict], evidence: dict) -> dict[str, Path]:
    """Write the three files into ``run_dir``; returns their paths by kind (claims, markdown, html)."""
    files = {"claims": run_dir / CLAIMS_FILE, "markdown": run_dir / CLAIMS_MARKDOWN, "html": run_dir / CLAIMS_HTML}
    files["claims"].write_text(json.dumps(_finite({"schema": SCHEMA, "run_id": run_id, "claims": claims,
                                                   "evidence": evidence}), indent=2, default=str) + "\n",
                               encoding="utf-8")
    files["markdown"].write_text(render.markdown(claims), encoding="utf-8")
    files["html"].write_text(render.page_html(claims), encoding="utf-8")
    return files


def read_claims(path: str | Path) -> dict:
    """A ``claims.json`` (or the run directory holding it): ``{"claims": [rows], "evidence": {...}}``."""
    path = results.in_run(path, CLAIMS_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {CLAIMS_FILE} here (run `benchsuite claims` first)")
    return json.loads(path.read_text(encoding="utf-8"))


def _finite(value: Any) -> Any:
    """NaN and infinity are not JSON: null (not measured), all the way down."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return results.clean_number(value)
