"""Cases and the sweep: CLI choices in, a validated list of Cases out.

A bad workload, precision, batch size or parameter is a `PlanError` before anything
runs; a combination a device cannot do becomes a Case already marked skipped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from benchsuite import keys
from benchsuite import precision as precisions_mod
from benchsuite.devices import Device
from benchsuite.workload import MODES, Registry

DEFAULT_PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "tf32", "bf16", "fp16")}


class PlanError(ValueError):
    """A sweep option with a value that is not allowed; the message names both."""


@dataclass(frozen=True)
class Case:
    """One measurement to make. Everything but ``device`` joins results across devices."""

    workload: str
    mode: str
    device: str
    precision: str
    batch_size: int | None = None  # None: the workload has no batch axis, or auto not yet found
    params: tuple[tuple[str, Any], ...] = ()
    auto_batch: bool = False
    skip_reason: str | None = None
    notes: tuple[str, ...] = ()
    world_size: int = 1  # ranks that run this case together (torchrun); batch_size is per rank
    shown_params: tuple[str, ...] = field(default=(), compare=False)

    @property
    def param_dict(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def id(self) -> str:
        """Short printable id, e.g. ``cnn/train/cuda:0/fp16/bs128``."""
        parts = [self.workload, self.mode, self.device, self.precision]
        if self.batch_size is not None:
            parts.append(f"bs{self.batch_size}")
        elif self.auto_batch:
            parts.append("bs-auto")
        if self.world_size > 1:
            parts.append(f"ws{self.world_size}")
        text = "/".join(parts)
        shown = [f"{k}={_fmt(v)}" for k, v in self.params if k in self.shown_params]
        return text + (f"[{','.join(shown)}]" if shown else "")

    def key(self) -> tuple:
        """The case less its device: what a cross-device comparison matches on
        (`benchsuite.keys.ACROSS_DEVICES`; the world size is part of it)."""
        return keys.key(self.to_dict(), keys.ACROSS_DEVICES)

    def with_batch(self, batch_size: int) -> "Case":
        return replace(self, batch_size=batch_size)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "workload": self.workload,
            "mode": self.mode,
            "device": self.device,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "auto_batch": self.auto_batch,
            "world_size": self.world_size,
            "params": {k: _plain(v) for k, v in self.params},
            "notes": list(self.notes),
        }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _fmt(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def split_list(text: str | Sequence[str]) -> list[str]:
    """Comma lists, from one string or from a repeated option."""
    items = [text] if isinstance(text, str) else list(text)
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


def parse_workloads(text: str | Sequence[str], registry: Registry, distributed: bool = False) -> list[str]:
    """Workload names; ``all`` (the default) is every registered workload that can run in
    this launch: those needing a process group (``collective``) only under torchrun."""
    names = split_list(text) or ["all"]
    allowed = ", ".join(registry.names() + ["all"])
    if "all" in names:
        return [n for n in registry.names() if distributed or not registry[n].needs_process_group]
    for name in names:
        if name not in registry:
            broken = f" (it failed to load: {registry.errors[name]})" if name in registry.errors else ""
            raise PlanError(f"unknown workload {name!r}{broken}; allowed: {allowed}")
    return list(dict.fromkeys(names))


def parse_precisions(text: str | Sequence[str] | None) -> list[str] | None:
    """Precision names, or None for "the defaults of each device"."""
    names = split_list(text or [])
    if not names:
        return None
    if "all" in names:
        return list(precisions_mod.PRECISIONS)
    for name in names:
        if name not in precisions_mod.PRECISIONS:
            raise PlanError(f"unknown precision {name!r}; allowed: {', '.join(precisions_mod.PRECISIONS)}, all")
    return list(dict.fromkeys(names))


def parse_modes(text: str | Sequence[str] | None) -> list[str]:
    names = split_list(text or []) or ["both"]
    if "both" in names:
        return list(MODES)
    for name in names:
        if name not in MODES:
            raise PlanError(f"unknown mode {name!r}; allowed: train, infer, both")
    return list(dict.fromkeys(names))


def parse_batch_sizes(text: str | Sequence[str] | None) -> list[int | str] | None:
    """Positive integers and/or ``auto``; None means each workload's defaults."""
    items = split_list(text or [])
    if not items:
        return None
    sizes: list[int | str] = []
    for item in items:
        if item.lower() == "auto":
            sizes.append("auto")
            continue
        try:
            value = int(item)
        except ValueError:
            value = 0
        if value <= 0 or str(value) != item.lstrip("+"):
            raise PlanError(f"batch size {item!r} is not allowed; allowed: positive integers or 'auto'")
        sizes.append(value)
    return list(dict.fromkeys(sizes))


def parse_params(items: Iterable[str], workloads: list[str], registry: Registry) -> dict[str, dict[str, list[Any]]]:
    """``key=value`` or ``workload.key=value`` (a comma list sweeps) -> {workload: {key: values}}."""
    result: dict[str, dict[str, list[Any]]] = {name: {} for name in workloads}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise PlanError(f"--param {item!r}: expected key=value, e.g. m=4096 or mlp.widths=1024x4096x1024")
        scope, _, bare = key.rpartition(".")
        targets = [scope] if scope else workloads
        if scope and scope not in workloads:
            raise PlanError(f"--param {item!r}: workload {scope!r} is not in this sweep ({', '.join(workloads)})")
        applied = False
        for name in targets:
            spec = registry[name].param(bare)
            if spec is None:
                continue
            try:
                result[name][bare] = [spec.parse(v) for v in split_list(text)] or [spec.parse(text)]
            except ValueError as exc:
                raise PlanError(f"--param {item!r} for {name}: {exc}") from None
            applied = True
        if not applied:
            known = {n: [p.name for p in registry[n].params] for n in targets}
            allowed = "; ".join(f"{n}: {', '.join(ps) or '(none)'}" for n, ps in known.items())
            raise PlanError(f"--param {item!r}: unknown parameter {bare!r}; allowed: {allowed}")
    return result


@dataclass(frozen=True)
class Sweep:
    """What the user asked for, already parsed."""

    workloads: list[str]
    devices: list[Device]
    precisions: list[str] | None = None  # None: device defaults
    batch_sizes: list[int | str] | None = None  # None: workload defaults
    modes: list[str] = field(default_factory=lambda: list(MODES))
    params: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    quick: bool = False
    world_size: int | None = None  # None: one process; N: launched by torchrun/srun as N ranks


def expand(sweep: Sweep, registry: Registry) -> list[Case]:
    """Every Case of the sweep, skipped ones included, in a stable order."""
    cases: list[Case] = []
    explicit = sweep.precisions is not None
    for device in sweep.devices:
        for name in sweep.workloads:
            cls = registry[name]
            modes = [m for m in sweep.modes if m in cls.modes]
            if not modes:
                cases.append(Case(name, sweep.modes[0], device.id, (sweep.precisions or ["fp32"])[0],
                                  skip_reason=f"{name} has no {'/'.join(sweep.modes)} mode (it has: {', '.join(cls.modes)})"))
                continue
            overrides = sweep.params.get(name, {})
            for values in _param_grid(cls, device, overrides):
                shown = tuple(k for k in overrides) + cls.shown_params
                for mode in modes:
                    for prec in sweep.precisions or DEFAULT_PRECISIONS[device.type]:
                        cases.extend(_cases_for(cls, device, mode, prec, values, shown, sweep, explicit))
    return cases


def _param_grid(cls, device: Device, overrides: dict[str, list[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    names = [p.name for p in cls.params]
    choices = [overrides.get(p.name, [p.default_for(device.type)]) for p in cls.params]
    return [tuple(zip(names, combo)) for combo in itertools.product(*choices)]


def _cases_for(cls, device: Device, mode: str, prec: str, params, shown, sweep: Sweep, explicit: bool) -> list[Case]:
    base = Case(cls.name, mode, device.id, prec, params=params, shown_params=shown, world_size=sweep.world_size or 1)
    if cls.needs_process_group and sweep.world_size is None:
        return [replace(base, skip_reason=f"{cls.name} needs several processes: launch with `benchsuite run --nproc N` "
                                          "or `torchrun --nproc-per-node N -m benchsuite run` (N ≥ 2)")]
    if prec not in cls.precisions:
        return [replace(base, skip_reason=f"{cls.name} does not implement {prec} (it has: {', '.join(cls.precisions)})")]
    support = precisions_mod.support(prec, device)
    if not support.runs:
        return [replace(base, skip_reason=support.reason)]
    notes: tuple[str, ...] = ()
    if not support.native:
        if not explicit:
            return [replace(base, skip_reason=f"{support.reason}; not in the default sweep (ask with --precision {prec} to measure it)")]
        notes = (support.reason,)
    if not cls.batched:
        return [replace(base, notes=notes)]
    sizes = sweep.batch_sizes or (cls.batch_sizes[device.type][:1] if sweep.quick else cls.batch_sizes[device.type])
    if sweep.world_size is not None and "auto" in sizes:
        reason = "batch size auto is not available under torch.distributed (each rank would find its own); give sizes"
        sizes = [bs for bs in sizes if bs != "auto"]
        skipped = [replace(base, auto_batch=True, notes=notes, skip_reason=reason)]
    else:
        skipped = []
    return skipped + [
        replace(base, auto_batch=True, notes=notes) if bs == "auto" else replace(base, batch_size=bs, notes=notes)
        for bs in sizes
    ]
