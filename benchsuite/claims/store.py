"""The files of a claims run, beside its ``results.jsonl`` (torch-free).

``claims.json`` holds the claim rows and the evidence they were judged from; ``claims.md``
and ``claims.html`` are the rows rendered by `benchsuite.report.claims`.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchsuite import files, results
from benchsuite.report import claims as render

CLAIMS_FILE = "claims.json"
CLAIMS_MARKDOWN = "claims.md"
CLAIMS_HTML = "claims.html"
SCHEMA = 1  # claims.json's own version


def write(run_dir: Path, run_id: str, claims: list[dict], evidence: dict) -> dict[str, Path]:
    """Write the three files into ``run_dir`` (each whole or not at all, strict JSON); returns their
    paths by kind (claims, markdown, html). Raises `benchsuite.files.WriteError`."""
    paths = {"claims": run_dir / CLAIMS_FILE, "markdown": run_dir / CLAIMS_MARKDOWN, "html": run_dir / CLAIMS_HTML}
    files.write_json(paths["claims"], {"schema": SCHEMA, "run_id": run_id, "claims": claims, "evidence": evidence},
                     default=str)
    files.write_text(paths["markdown"], render.markdown(claims))
    files.write_text(paths["html"], render.page_html(claims))
    return paths


def read_claims(path: str | Path) -> dict:
    """A ``claims.json`` (or the run directory holding it): ``{"claims": [rows], "evidence": {...}}``."""
    path = results.in_run(path, CLAIMS_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no {CLAIMS_FILE} here (run `benchsuite claims` first)")
    return json.loads(path.read_text(encoding="utf-8"))

