"""The package's import graph: no cycle, and no private name reached from another module.

Every import counts, at module level or inside a function (a lazy import still closes a
cycle the moment it runs), read with ast from the source of ``benchsuite`` and ``workloads``.
A package's ``__init__`` that runs before its submodules is Python's doing, not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("benchsuite", "workloads")
#: (importing module, module, private name) reached today and on their way out, each with the
#: change that removes it: delete the entry once that change is in.
ALLOWED_PRIVATE: dict[tuple[str, str, str], str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _scan(name: str, text: str, is_package: bool, modules: set[str]) -> tuple[set[str], list[tuple[str, str, str]]]:
    """(the package modules module ``name`` imports, [(name, source, private name) it reaches])."""
    tree = ast.parse(text)
    package = name.split(".") if is_package else name.split(".")[:-1]
    edges: set[str] = set()
    private: list[tuple[str, str, str]] = []
    bound: dict[str, str] = {}  # a local name -> the package module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    edges.add(alias.name)
                    if alias.asname:
                        bound[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source not in modules:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in modules:
                    edges.add(sub)
                    bound[alias.asname or alias.name] = sub
                else:
                    edges.add(source)
                    if _private(alias.name) and source != name:
                        private.append((name, source, alias.name))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                and _private(node.attr) and bound[node.value.id] != name):
            private.append((name, bound[node.value.id], node.attr))
    edges.discard(name)
    return edges, private


def _graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """(module -> the package modules it imports, [(module, source, private name) reached])."""
    modules = _modules()
    edges: dict[str, set[str]] = {}
    private: list[tuple[str, str, str]] = []
    for name, path in modules.items():
        edges[name], reached = _scan(name, path.read_text(encoding="utf-8"), path.name == "__init__.py", set(modules))
        private.extend(reached)
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
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


def test_the_walk_sees_lazy_imports():
    edges, _ = _graph()
    assert "benchsuite.session" in edges["benchsuite.cli"]  # imported inside a function
    assert "benchsuite.telemetry.nvml" in edges["benchsuite.telemetry"]  # a relative import


def test_no_import_cycle():
    edges, _ = _graph()
    assert _cycles(edges) == [], "import cycle(s) in the package"


def test_the_cycle_finder_finds_one():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_private_name_is_reached_from_another_module():
    _, private = _graph()
    new = sorted({p for p in private if p not in ALLOWED_PRIVATE})
    assert new == [], "a private name reached across modules: make it public or move the code"


def test_the_walk_sees_private_reaches():
    probe = ("from benchsuite import runner\nfrom benchsuite.results import _json_default\n"
             "import benchsuite.telemetry.nvml as nv\n"
             "def f():\n    from . import plan\n    return runner._cudnn_benchmark, nv._lock, plan.__name__\n")
    edges, private = _scan("benchsuite.probe", probe, False, set(_modules()))
    assert edges == {"benchsuite.runner", "benchsuite.results", "benchsuite.telemetry.nvml", "benchsuite.plan"}
    assert sorted(private) == [("benchsuite.probe", "benchsuite.results", "_json_default"),
                               ("benchsuite.probe", "benchsuite.runner", "_cudnn_benchmark"),
                               ("benchsuite.probe", "benchsuite.telemetry.nvml", "_lock")]
