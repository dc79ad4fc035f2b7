"""Case labels for tables: the key (`benchsuite.keys.label`) with only the parameters that
differ from the workload's defaults, so that ``mlp/train/fp32/bs256`` is not followed by
``[lr=0.001,momentum=0.9,widths=1024x4096x1024]`` on every row.

The defaults come from the workload registry (`benchsuite.workload.registry`), which declares
them per device type (matmul's m, n and k: 1024 on a CPU, 8192 on a GPU); importing the
built-in workloads imports no torch (``tests/test_imports.py`` holds that). A parameter is
left out of a row's label when it has the default of every device type the row ran on. Where
two rows would then read the same (a CPU matmul at 1024³ and a GPU one at 8192³ in one
hardware table), the parameters that tell them apart are written back, on every row of that
workload so that its rows read alike. A workload the
registry does not know keeps every parameter. Torch-free.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

from benchsuite import keys

#: The order precisions are listed in by the hardware table and the figures (then any other, by
#: name): fp32 first, then the reduced precisions (`benchsuite.precision.PRECISIONS`).
PRECISION_ORDER: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8")


@lru_cache(maxsize=1)
def _declared() -> dict[str, tuple[Any, ...]]:
    """workload name -> its declared `Param` objects (registry read once per process)."""
    from benchsuite.workload import registry

    reg = registry()
    return {name: tuple(reg[name].params) for name in reg.names()}


def device_type(device: Any) -> str:
    """``cuda:0`` -> ``cuda``; ``cpu`` -> ``cpu``."""
    return str(device or "").split(":", 1)[0]


def is_default(workload: str, name: str, value: Any, device_types: Iterable[str]) -> bool:
    """Whether parameter ``name`` = ``value`` (a key's normalised value) is the workload's
    default on every one of ``device_types``."""
    params = {p.name: p for p in _declared().get(workload, ())}
    param = params.get(name)
    types = list(device_types)
    if param is None or not types:
        return False
    return all(keys.norm(param.default_for(t)) == value for t in types)


def _order(workload: str, names: Iterable[str]) -> list[str]:
    """Parameter names in the workload's declared order (m, n, k), unknown ones after by name."""
    declared = [p.name for p in _declared().get(workload, ())]
    return sorted(names, key=lambda n: (declared.index(n) if n in declared else len(declared), n))


def params_text(workload: str, params: Mapping[str, Any]) -> str:
    """``params`` in the workload's declared order, neighbours that share a value joined: ``m=n=k=2048``."""
    return keys.params_text([(name, params[name]) for name in _order(workload, params)])


def labels(rows: Sequence[Mapping[str, Any]], spec: keys.KeySpec = keys.ACROSS_DEVICES) -> list[str]:
    """One label per row (results DataFrame rows or case records) of its ``spec`` key, with
    the default parameters left out and distinct keys kept distinct (module docstring)."""
    row_keys = [keys.key(r, spec) for r in rows]
    types: dict[tuple, set[str]] = {}
    for k, r in zip(row_keys, rows):
        types.setdefault(k, set()).add(device_type(r.get("device")))
    workload_at = spec.fields.index("workload") if "workload" in spec else None
    n = len(spec.fields)

    def params_of(k: tuple) -> dict[str, Any]:
        return dict(k[n]) if len(k) > n else {}

    def workload_of(k: tuple) -> str:
        return str(k[workload_at]) if workload_at is not None else ""

    shown = {k: [name for name, value in params_of(k).items()
                 if not is_default(workload_of(k), name, value, types[k])] for k in types}
    text = {k: keys.label(k, spec, _order(workload_of(k), shown[k])) for k in types}
    clashes: dict[str, list[tuple]] = {}
    for k, t in text.items():
        clashes.setdefault(t, []).append(k)
    back: dict[str, set[str]] = {}  # workload -> parameters written back on all its rows
    for group in (g for g in clashes.values() if len(g) > 1):
        names = {name for k in group for name in params_of(k)}
        differing = {name for name in names if len({params_of(k).get(name) for k in group}) > 1}
        back.setdefault(workload_of(group[0]), set()).update(differing)
    for k in types:
        extra = back.get(workload_of(k), set()) & set(params_of(k))
        if extra:
            text[k] = keys.label(k, spec, _order(workload_of(k), set(shown[k]) | extra))
    return [text[k] for k in row_keys]


def label_of(row: Mapping[str, Any], spec: keys.KeySpec = keys.ACROSS_DEVICES) -> str:
    """`labels` of one row alone."""
    return labels([row], spec)[0]
