"""How the package's modules import each other, read from their source (ast), and what importing
them pulls in.

Every import counts, at module level or inside a function (a lazy import still closes a cycle
the moment it runs), in ``benchsuite`` and ``workloads``; relative imports are resolved. A
package's ``__init__`` that runs before its submodules is Python's doing, not an edge. The
rules: no import cycle; no private name reached from another module; nothing imports the
package root; the command line reaches no engine module and builds no store; importing any
module, and reporting from results files, stays free of torch, psutil and pynvml.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.fakes.report_runs import make_run

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchsuite", "workloads")
#: What neither importing a module nor reporting may load: the heavy and hardware libraries.
HEAVY = ("torch", "psutil", "pynvml")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))}


class Import(NamedTuple):
    """One imported name: ``source`` the module it comes from (relative imports resolved), ``name``
    the name taken from it ("" for ``import source``), ``bound`` the local name it is bound to."""

    source: str
    name: str
    bound: str


def imports(name: str, text: str, is_package: bool = False) -> list[Import]:
    """Every import in module ``name``'s source ``text``, at any depth."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found += [Import(a.name, "", a.asname or a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                source = ".".join(package[:len(package) - node.level + 1] + ([source] if source else []))
            found += [Import(source, a.name, a.asname or a.name) for a in node.names]
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def scan(name: str, text: str, is_package: bool = False) -> tuple[set[str], list[tuple[str, str, str]]]:
    """(the package modules module ``name`` imports, [(name, module, private name) it reaches]).

    ``from benchsuite import x`` is an edge to ``benchsuite.x`` where that is a module, else to
    ``benchsuite``; ``x._y`` counts where ``x`` is bound to another package module."""
    edges: set[str] = set()
    private: list[tuple[str, str, str]] = []
    bound: dict[str, str] = {}  # a local name -> the package module it is bound to
    for imp in imports(name, text, is_package):
        sub = f"{imp.source}.{imp.name}"
        if not imp.name:  # import a.b [as c]
            if imp.source in MODULES:
                edges.add(imp.source)
                if imp.bound != imp.source.split(".")[0]:
                    bound[imp.bound] = imp.source
        elif sub in MODULES:
            edges.add(sub)
            bound[imp.bound] = sub
        elif imp.source in MODULES:
            edges.add(imp.source)
            if _private(imp.name) and imp.source != name:
                private.append((name, imp.source, imp.name))
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and _private(node.attr) and bound[node.value.id] != name):
            private.append((name, bound[node.value.id], node.attr))
    edges.discard(name)
    return edges, private


def root_imports(name: str, text: str, is_package: bool = False) -> list[str]:
    """``import benchsuite`` and ``from benchsuite import <not a module>`` in module ``name``."""
    return [f"{name}: {imp.name or 'import benchsuite'}" for imp in imports(name, text, is_package)
            if imp.source == "benchsuite" and (not imp.name or f"benchsuite.{imp.name}" not in MODULES)]


def _read(name: str) -> tuple[str, str, bool]:
    return name, MODULES[name].read_text(encoding="utf-8"), MODULES[name].name == "__init__.py"


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """(module -> the package modules it imports, [(module, module, private name) reached])."""
    edges, private = {}, []
    for name in MODULES:
        edges[name], reached = scan(*_read(name))
        private += reached
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


# -- the walkers see what they look for ------------------------------------------------------
def test_the_walk_sees_lazy_relative_and_aliased_imports_and_private_reaches():
    probe = ("from benchsuite import runner\nfrom benchsuite.results import _json_default\n"
             "import benchsuite.telemetry.nvml as nv\n"
             "def f():\n    from . import plan\n    from benchsuite.telemetry import Telemetry\n"
             "    return runner._cudnn_benchmark, nv._lock, plan.__name__, Telemetry\n")
    edges, private = scan("benchsuite.probe", probe)
    assert edges == {"benchsuite.runner", "benchsuite.results", "benchsuite.telemetry.nvml", "benchsuite.plan",
                     "benchsuite.telemetry"}
    assert sorted(private) == [("benchsuite.probe", "benchsuite.results", "_json_default"),
                               ("benchsuite.probe", "benchsuite.runner", "_cudnn_benchmark"),
                               ("benchsuite.probe", "benchsuite.telemetry.nvml", "_lock")]
    assert root_imports("benchsuite.probe", "import benchsuite\nfrom benchsuite import run, results\n") == [
        "benchsuite.probe: import benchsuite", "benchsuite.probe: run"]
    edges, _ = graph()
    assert "benchsuite.session" in edges["benchsuite.cli"]  # imported inside a function
    assert {"benchsuite.telemetry.nvml", "benchsuite.telemetry.ids"} <= edges["benchsuite.telemetry"]  # relative


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# -- the rules -------------------------------------------------------------------------------
def test_no_import_cycle():
    edges, _ = graph()
    assert cycles(edges) == [], "import cycle(s) in the package"


def test_no_private_name_is_reached_from_another_module():
    _, private = graph()
    assert sorted(set(private)) == [], "a private name reached across modules: make it public or move the code"


def test_nothing_imports_the_package_root():
    assert [found for name in MODULES for found in root_imports(*_read(name))] == []


def test_cli_reaches_no_engine_module_and_builds_no_store():
    edges, _ = graph()
    engine = {m for m in edges["benchsuite.cli"] if m.split(".")[1:2] in (["telemetry"], ["runner"], ["distributed"])}
    assert not engine, f"cli.py imports {sorted(engine)}: go through benchsuite.session"
    tree = ast.parse(MODULES["benchsuite.cli"].read_text(encoding="utf-8"))
    named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} | \
            {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not named & {"RunStore", "Runner", "Telemetry", "Context"}


# -- what importing and reporting load -------------------------------------------------------
#: Runs in a fresh interpreter: each step imports a module or runs a command (``benchsuite.cli.main``
#: with its arguments); after each, none of `HEAVY` may be loaded. Last, NVML must be untouched.
STEPS_SCRIPT = """
import importlib, json, sys
heavy, steps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for kind, what in steps:
    if kind == "import":
        importlib.import_module(what)
    else:
        from benchsuite.cli import main
        try:
            main(what)
        except SystemExit as exc:
            if exc.code not in (0, None):
                sys.exit(f"benchsuite {' '.join(what)} exited {exc.code}")
    pulled = [m for m in heavy if m in sys.modules]
    if pulled:
        sys.exit(f"{kind} {what} loads {pulled}")
from benchsuite.telemetry import nvml
if nvml._module is not None or nvml._tried:
    sys.exit("importing touched NVML")
"""


def _every_module(tmp_path: Path) -> list:
    return [["import", name] for name in MODULES if name.startswith("benchsuite")] + [["import", "workloads"]]


def _report_compare_table(tmp_path: Path) -> list:
    small = dict(workloads=("mlp",), batch_sizes=(32, 128))
    a, b = str(make_run(tmp_path, "a", **small)), str(make_run(tmp_path, "b", speed=0.9, seed=3, **small))
    return [["cli", ["report", a, b, "-o", str(tmp_path / "r.html")]],
            ["cli", ["compare", a, b, "--format", "json"]],
            ["cli", ["table", a, b, "--format", "csv"]]]


@pytest.mark.parametrize("steps", [_every_module, _report_compare_table], ids=["import every module",
                                                                              "report, compare, table"])
def test_stays_free_of_torch_psutil_and_pynvml(steps, tmp_path):
    proc = subprocess.run([sys.executable, "-c", STEPS_SCRIPT, json.dumps(HEAVY), json.dumps(steps(tmp_path))],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
