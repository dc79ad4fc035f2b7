"""The case key (what joins results across runs) and its named variants, in one place.

A key is made from a case record (``params`` nested, as in ``results.jsonl`` or
`benchsuite.plan.Case.to_dict`) or from a results DataFrame row (``param_*`` columns, as
`benchsuite.results.flatten` makes them); both give the same tuple for the same case.
Torch- and pandas-free.

The variants differ on purpose, and each says why:

* `ACROSS_DEVICES` -- the case less its device: a cross-device comparison (hardware table,
  ``compare``, the claims) pairs results on it. World size stays in: two ranks are a
  different measurement from one.
* `SAME_DEVICE_MODEL` -- that plus the device model: a comparison that must not pair an
  H100 result with an A100 one (``compare`` between two runs of one machine type).
* `ACROSS_WORLD_SIZES` -- less the device *and* the world size, plus the device model: a
  scaling curve joins one case at 1, 2, 4 ... ranks of the same kind of device.

A field missing from a record means its `DEFAULTS` value (an old file has no ``exec``: it
ran eagerly). `Case.id <benchsuite.plan.Case.id>` is not a key label: it names one case
of one run (with its device, ``bs-auto`` and only the parameters the user swept).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

PARAM_PREFIX = "param_"  # a parameter's column in a results DataFrame
#: What a field missing from a record means (files written before the field existed).
DEFAULTS: dict[str, Any] = {"world_size": 1, "exec": "eager"}
#: Workload parameters added after records were written, with the value that measures what
#: those records measured: a parameter at this value is left out of a key, so a record written
#: before it existed and one written after join (cnn's ``memory_format=auto`` is the layout cnn
#: always had, contiguous, in eager; issue 16).
ADDED_PARAMS: dict[str, Any] = {"memory_format": "auto"}
#: The fields that name a device model. The name is enough today; where two models share a
#: name (one GPU sold with two memory sizes), the field that tells them apart goes here.
DEVICE_MODEL: tuple[str, ...] = ("device_name",)
#: The case's measurement, less where it ran.
_MEASUREMENT = ("workload", "mode", "precision", "batch_size", "world_size", "exec")


@dataclass(frozen=True)
class KeySpec:
    """A named key variant: the record fields it is made of, in order (parameters always follow)."""

    name: str
    fields: tuple[str, ...]

    def __contains__(self, field: str) -> bool:
        return field in self.fields


CASE = KeySpec("case", (*_MEASUREMENT, "device"))
ACROSS_DEVICES = KeySpec("across devices", _MEASUREMENT)
SAME_DEVICE_MODEL = KeySpec("same device model", (*_MEASUREMENT, *DEVICE_MODEL))
ACROSS_WORLD_SIZES = KeySpec("across world sizes",
                             (*(f for f in _MEASUREMENT if f != "world_size"), *DEVICE_MODEL))


def norm(value: Any) -> Any:
    """A hashable, NaN-free key part: None/NaN -> '' (not given), 32.0 -> 32, [4, 2] -> '4x2'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    return value


def field(item: Mapping[str, Any], name: str) -> Any:
    """One key field of a record or row, normalised; a missing one is its `DEFAULTS` value."""
    value = norm(item.get(name))
    return DEFAULTS.get(name, "") if value == "" else value


def params(item: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The given parameters, sorted by name: a record's ``params`` dict or a row's ``param_*``
    columns (a parameter that is None/NaN -- another workload's column -- is left out, and one at
    its `ADDED_PARAMS` value)."""
    nested = item.get("params")
    if isinstance(nested, Mapping):
        pairs = nested.items()
    else:
        pairs = ((k[len(PARAM_PREFIX):], v) for k, v in item.items() if k.startswith(PARAM_PREFIX))
    return tuple(sorted((k, v) for k, v in ((k, norm(v)) for k, v in pairs)
                        if v != "" and not _added_default(k, v)))


def _added_default(name: str, value: Any) -> bool:
    return name in ADDED_PARAMS and value == ADDED_PARAMS[name]


def key(item: Mapping[str, Any], spec: KeySpec = ACROSS_DEVICES) -> tuple:
    """The key of a record or row: its ``spec`` fields, then a tuple of its parameters."""
    return (*(field(item, f) for f in spec.fields), params(item))


def frame_keys(df, spec: KeySpec = ACROSS_DEVICES) -> list[tuple]:
    """One key per row of a results DataFrame."""
    return [key(row, spec) for row in df.to_dict("records")]


def label(key_: tuple, spec: KeySpec = ACROSS_DEVICES, shown: Sequence[str] | None = None) -> str:
    """A key for people: ``mlp/train/fp32/bs32/ws2[widths=32x64x10]``; a world size of 1 and
    eager execution are not shown; a device model is appended, `` on NVIDIA H100``.
    ``shown``: the parameters to write, in that order (None: every one, by name;
    `benchsuite.report.labels` leaves out a workload's defaults)."""
    parts = dict(zip(spec.fields, key_))
    text = "/".join(str(parts.get(f, "")) for f in ("workload", "mode", "precision"))
    if parts.get("batch_size", "") != "":
        text += f"/bs{parts['batch_size']}"
    if parts.get("world_size", DEFAULTS["world_size"]) not in ("", DEFAULTS["world_size"]):
        text += f"/ws{parts['world_size']}"
    if parts.get("exec", DEFAULTS["exec"]) not in ("", DEFAULTS["exec"]):
        text += f"/{parts['exec']}"
    given = dict(key_[len(spec.fields)]) if len(key_) > len(spec.fields) else {}
    names = list(given) if shown is None else [n for n in shown if n in given]
    if names:
        text += f"[{params_text([(k, given[k]) for k in names])}]"
    model = " ".join(str(parts[f]) for f in DEVICE_MODEL if parts.get(f, "") != "")
    if "device" in parts:
        text += f" on {parts['device']}"
    elif model:
        text += f" on {model}"
    return text


def params_text(pairs: list[tuple[str, Any]]) -> str:
    """``m=n=k=2048`` where neighbouring parameters share a value, else ``k=v,k=v``."""
    groups: list[tuple[list[str], Any]] = []
    for name, value in pairs:
        if groups and groups[-1][1] == value:
            groups[-1][0].append(name)
        else:
            groups.append(([name], value))
    return ",".join("=".join(names) + f"={value}" for names, value in groups)


def label_of(item: Mapping[str, Any], spec: KeySpec = ACROSS_DEVICES) -> str:
    """`label` of a record's or row's key."""
    return label(key(item, spec), spec)


def text(record: Mapping[str, Any]) -> str:
    """The `ACROSS_DEVICES` key of a record (nested ``params``) as JSON text, the form the
    claims store in ``claims.json``: ``[workload, mode, precision, batch_size, [[param, value],
    ...]]``; parameters as recorded (a null stays; one at its `ADDED_PARAMS` value left out), a
    world size other than 1 and an ``exec`` other than eager appended as ``{"world_size": 2}``."""
    params_ = sorted((k, list(v) if isinstance(v, (list, tuple)) else v)
                     for k, v in (record.get("params") or {}).items() if not _added_default(k, v))
    parts: list[Any] = [record.get("workload"), record.get("mode"), record.get("precision"),
                        record.get("batch_size"), params_]
    extra = {f: field(record, f) for f in DEFAULTS if field(record, f) != DEFAULTS[f]}
    return json.dumps(parts + [extra] if extra else parts)


def prose_label(record: Mapping[str, Any]) -> str:
    """The label the claims write in sentences: ``cnn train fp32 bs128``, a matmul by its
    shape (``matmul fp32 2048x2048x2048``). Shorter than `label` on purpose: the claims compare
    single-process cases of the article's shapes, so world size and parameters stay out."""
    given = record.get("params") or {}
    parts = [record.get("workload", "?")]
    if record.get("workload") == "matmul":
        parts.append(record.get("precision", ""))
        parts.append("x".join(str(given.get(k)) for k in ("m", "n", "k")))
    else:
        parts += [record.get("mode", ""), record.get("precision", ""), f"bs{record.get('batch_size')}"]
    return " ".join(p for p in parts if p)


def specs() -> Iterable[KeySpec]:
    """Every named variant (for tests and docs)."""
    return (CASE, ACROSS_DEVICES, SAME_DEVICE_MODEL, ACROSS_WORLD_SIZES)
