"""The built wheel holds every package folder and the shipped reference results (offline build),
and leaves the git-only reference files out."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "setup.py", "README.md", "benchsuite", "workloads", "reports/reference"]
#: reports/reference files kept in git only (pyproject.toml's package-data leaves them out): the
#: telemetry samples, read only by the HTML report's timelines, and the HTML reports themselves.
GIT_ONLY = ("samples.csv", ".html")
#: The installed size of the wheel's reference data stays under this (README, "Reference results").
REFERENCE_BUDGET_BYTES = 2_000_000


def test_the_wheel_holds_every_package_and_the_reference_results(tmp_path):
    src = tmp_path / "src"  # a copy: a build writes build/ and *.egg-info beside its sources
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, src / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "--disable-pip-version-check", "-q", "-w", str(tmp_path / "dist"),
                           str(src)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("benchsuite-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(p.parent.relative_to(ROOT).as_posix() for top in ("benchsuite", "workloads")
                      for p in (ROOT / top).rglob("__init__.py") if "__pycache__" not in p.parts)
    assert "benchsuite/telemetry" in packages and "workloads" in packages
    missing = [p for p in packages if f"{p}/__init__.py" not in names]
    assert missing == [], f"package folders left out of the wheel: {missing}"
    modules = [p.relative_to(ROOT).as_posix() for top in ("benchsuite", "workloads")
               for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts]
    assert [m for m in modules if m not in names] == []
    reference = [p.relative_to(ROOT / "reports" / "reference").as_posix()
                 for p in (ROOT / "reports" / "reference").rglob("*") if p.is_file()]
    shipped = [r for r in reference if not r.endswith(GIT_ONLY)]
    assert shipped and [r for r in shipped if f"benchsuite/reference/{r}" not in names] == []
    assert [n for n in names if n.startswith("benchsuite/reference/") and n.endswith(GIT_ONLY)] == []
    assert any(r.endswith("/results.jsonl") and "H100" in (ROOT / "reports" / "reference" / r).read_text()[:20000]
               for r in shipped)
    data = sum(i.file_size for i in zipfile.ZipFile(wheel).infolist() if i.filename.startswith("benchsuite/reference/"))
    assert data < REFERENCE_BUDGET_BYTES, f"the wheel's reference data is {data:,} bytes"
