"""How the package's modules import each other, read from their source (ast): the command line
reaches no engine module, nothing imports the package root, no private name crosses a module,
and importing any module stays free of torch, psutil and pynvml."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "benchsuite"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def source(name: str) -> tuple[str, bool]:
    path = MODULES[name]
    return path.read_text(encoding="utf-8"), path.name == "__init__.py"


def imports(name: str, text: str, is_package: bool = False) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """(module, [(name, alias)]) of every import in module ``name``'s ``text``, at any depth;
    relative imports resolved. ``import a.b as c`` is ("a.b", [("", "c")])."""
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [("", alias.asname)]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [(alias.name, alias.asname) for alias in node.names]))
    return found


def reached_modules(name: str, text: str, is_package: bool = False) -> set[str]:
    """The benchsuite modules ``name`` imports (``from benchsuite import x`` counts as benchsuite.x)."""
    out = set()
    for module, names in imports(name, text, is_package):
        out.add(module)
        out.update(f"{module}.{n}" for n, _ in names if f"{module}.{n}" in MODULES)
    return {m for m in out if m == "benchsuite" or m.startswith("benchsuite.")}


def private_reaches(name: str, text: str, is_package: bool = False) -> list[str]:
    """``from benchsuite.x import _name``, and ``x._name`` where x names an imported benchsuite module."""
    found, aliases = [], {}
    for module, names in imports(name, text, is_package):
        if not module.startswith("benchsuite") or module == name:
            continue
        for imported, alias in names:
            full = f"{module}.{imported}" if imported else module
            if full in MODULES:
                aliases[alias or imported or module] = full
            elif imported.startswith("_") and not imported.startswith("__"):
                found.append(f"{name} imports {module}.{imported}")
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")
                and aliases[node.value.id] != name):
            found.append(f"{name} reaches {aliases[node.value.id]}.{node.attr}")
    return found


def test_cli_reaches_no_engine_module_and_builds_no_store():
    text, _ = source("benchsuite.cli")
    engine = {m for m in reached_modules("benchsuite.cli", text)
              if m.split(".")[1:2] in (["telemetry"], ["runner"], ["distributed"])}
    assert not engine, f"cli.py imports {sorted(engine)}: go through benchsuite.session"
    tree = ast.parse(text)
    named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
            {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not named & {"RunStore", "Runner", "Telemetry", "Context"}


def test_nothing_imports_the_package_root():
    offenders = []
    for name in MODULES:
        for module, names in imports(name, *source(name)):
            for imported, _ in names:
                if module == "benchsuite" and (not imported or f"benchsuite.{imported}" not in MODULES):
                    offenders.append(f"{name}: {imported or 'import benchsuite'}")
    assert offenders == []


KNOWN_REACHES: set[str] = set()


def test_no_private_name_crosses_a_module():
    found = [f for name in MODULES for f in private_reaches(name, *source(name))]
    assert set(found) <= KNOWN_REACHES, sorted(set(found) - KNOWN_REACHES)


def test_the_walkers_see_what_they_look_for():
    probe = ("from benchsuite import runner\nfrom benchsuite.results import _json_default\n"
             "import benchsuite.telemetry.nvml as nv\nfrom . import plan\n"
             "def f():\n    from benchsuite.telemetry import Telemetry\n    return runner._cudnn_benchmark, nv._lock\n")
    name = "benchsuite.probe"
    assert reached_modules(name, probe) >= {"benchsuite.runner", "benchsuite.results", "benchsuite.plan",
                                            "benchsuite.telemetry", "benchsuite.telemetry.nvml"}
    assert private_reaches(name, probe) == ["benchsuite.probe imports benchsuite.results._json_default",
                                            "benchsuite.probe reaches benchsuite.runner._cudnn_benchmark",
                                            "benchsuite.probe reaches benchsuite.telemetry.nvml._lock"]
    assert reached_modules("benchsuite.telemetry", *source("benchsuite.telemetry")) >= {
        "benchsuite.telemetry.nvml", "benchsuite.telemetry.ids"}


def test_importing_any_module_stays_free_of_torch_psutil_and_pynvml():
    code = ("import importlib, json, sys\n"
            "for name in json.loads(sys.argv[1]):\n"
            "    importlib.import_module(name)\n"
            "    pulled = [m for m in ('torch', 'psutil', 'pynvml') if m in sys.modules]\n"
            "    if pulled:\n"
            "        sys.exit(f'importing {name} imports {pulled}')\n")
    names = [*MODULES, "workloads"]
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(names)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
