"""The files of a claims run: written, then read back (benchsuite.claims.store)."""

from __future__ import annotations

import json
import math

import pytest

from benchsuite.claims import store
from tests.fakes.claim_records import sample_claims


def test_written_files_read_back_with_nan_as_null(tmp_path):
    claims = sample_claims()
    files = store.write(tmp_path, "20261125-000000-c1a1", claims, {"cases": [{"samples_per_s": math.nan}]})
    assert list(files) == ["claims", "markdown", "html"] and all(p.parent == tmp_path for p in files.values())
    saved = store.read_claims(tmp_path)
    assert saved["schema"] == store.SCHEMA and saved["run_id"] == "20261125-000000-c1a1"
    assert saved["claims"] == json.loads(json.dumps(claims)) and saved["evidence"]["cases"] == [{"samples_per_s": None}]
    assert store.read_claims(files["claims"]) == saved
    assert files["markdown"].read_text().startswith("| claim |")
    assert files["html"].read_text().startswith("<!doctype html>")


def test_a_run_without_claims_says_how_to_make_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="no claims.json here .run `benchsuite claims` first."):
        store.read_claims(tmp_path)
