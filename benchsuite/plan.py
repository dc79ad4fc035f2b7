"""Cases and the sweep: CLI choices in, a validated list of Cases out.

A bad workload, precision, batch size or parameter is a `PlanError` before anything
runs; a combination a device cannot do becomes a Case already marked skipped.

Three named sweeps (`benchsuite.settings.SWEEPS`) give the defaults of each axis: ``headline``
(what a user first wants to know, the default of ``benchsuite run``), ``full`` (every default precision
and batch size of every workload) and ``quick`` (the smallest smoke test). An axis the user
gives (workloads, precisions, batch sizes, modes) replaces that sweep's default for it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Sequence

from benchsuite import execution, keys
from benchsuite import precision as precisions_mod
from benchsuite.devices import Device
from benchsuite.settings import SWEEPS, PlanError
from benchsuite.workload import MODES, Registry

DEFAULT_PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "tf32", "bf16", "fp16")}

#: The workloads of the headline and quick sweeps, in the order they run on each device:
#: matmul first (the chip's ceiling), then the two networks.
HEADLINE_WORKLOADS = ("matmul", "mlp", "cnn")
#: A network's 16-bit precision in the headline: the first of these the device has natively
#: (bf16 on Ampere and newer GPUs and on CPUs with AVX512_BF16/AMX; fp16 on Volta/Turing).
HEADLINE_LOW = ("bf16", "fp16")
#: Batch searches ``--batch-size`` takes besides integers: ``auto`` (the largest that fits)
#: and ``best`` (the highest throughput; `benchsuite.runner.Runner.find_best_batch`).
BATCH_SEARCHES = ("auto", "best")


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
    best_batch: bool = False  # -b best: the batch of highest throughput, found by probes
    skip_reason: str | None = None
    notes: tuple[str, ...] = ()
    world_size: int = 1  # ranks that run this case together (torchrun); batch_size is per rank
    shown_params: tuple[str, ...] = field(default=(), compare=False)
    exec: str = execution.DEFAULT  # execution mode (`benchsuite.execution`); eager is not shown in the id

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
        elif self.best_batch:
            parts.append("bs-best")
        if self.world_size > 1:
            parts.append(f"ws{self.world_size}")
        if self.exec != execution.DEFAULT:
            parts.append(self.exec)
        text = "/".join(parts)
        shown = [f"{k}={_fmt(v)}" for k, v in self.params if k in self.shown_params]
        return text + (f"[{','.join(shown)}]" if shown else "")

    def key(self) -> tuple:
        """The case less its device: what a cross-device comparison matches on
        (`benchsuite.keys.ACROSS_DEVICES`; the world size is part of it)."""
        return keys.key(self.to_dict(), keys.ACROSS_DEVICES)

    def with_batch(self, batch_size: int) -> "Case":
        return replace(self, batch_size=batch_size)

    @property
    def batch_search(self) -> str | None:
        """``auto`` or ``best`` when the runner searches the batch size, else None."""
        return "auto" if self.auto_batch else "best" if self.best_batch else None

    def to_dict(self) -> dict:
        """The case's identity as a record holds it (``best_batch`` only on a ``-b best`` case)."""
        return {
            "id": self.id,
            "workload": self.workload,
            "mode": self.mode,
            "device": self.device,
            "precision": self.precision,
            "batch_size": self.batch_size,
            "auto_batch": self.auto_batch,
            **({"best_batch": True} if self.best_batch else {}),
            "world_size": self.world_size,
            "exec": self.exec,
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


def parse_exec(text: str | Sequence[str] | None) -> list[str]:
    """Exec modes (`benchsuite.execution.EXEC_MODES`, or ``all``); none given: eager."""
    try:
        return execution.parse(split_list(text or []))
    except ValueError as exc:
        raise PlanError(str(exc)) from None


#: The largest batch size taken: a 32-bit count. Past it torch's own size arithmetic overflows
#: (``-b 99999999999999999999`` ended every case in an overflow TypeError), and no built-in
#: workload's default shapes fit such a batch in any device's memory.
MAX_BATCH_SIZE = 2**31 - 1


def parse_batch_sizes(text: str | Sequence[str] | None) -> list[int | str] | None:
    """Integers from 1 to `MAX_BATCH_SIZE` and/or ``auto`` / ``best`` (`BATCH_SEARCHES`); None
    means the sweep's defaults."""
    items = split_list(text or [])
    if not items:
        return None
    sizes: list[int | str] = []
    for item in items:
        if item.lower() in BATCH_SEARCHES:
            sizes.append(item.lower())
            continue
        try:
            value = int(item)
        except ValueError:
            value = 0
        if not 0 < value <= MAX_BATCH_SIZE or str(value) != item.lstrip("+"):
            raise PlanError(f"batch size {item!r} is not allowed; allowed: integers from 1 to {MAX_BATCH_SIZE:,} "
                            "or 'auto' / 'best' (searches: the largest that fits / the highest throughput)")
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


def pick_sweep(name: str | None, *, quick: bool = False, axes_given: bool = False,
               distributed: bool = False) -> str:
    """The named sweep a command line means: ``name`` when given (``--sweep``); ``quick``
    with ``--quick``; else ``full`` when the user chose workloads, precisions, batch sizes or
    modes (they keep the meaning they always had: the other axes take every default) or under
    torchrun (collectives and scale-out sweep the grid); else ``headline``."""
    if name is not None and name not in SWEEPS:
        raise PlanError(f"unknown sweep {name!r}; allowed: {', '.join(SWEEPS)}")
    if quick and name not in (None, "quick"):
        raise PlanError(f"--quick is --sweep quick; it cannot be combined with --sweep {name}")
    if quick:
        return "quick"
    if name is not None:
        return name
    return "full" if axes_given or distributed else "headline"


@dataclass(frozen=True)
class Sweep:
    """What the user asked for, already parsed. None on an axis means the named sweep's default."""

    workloads: list[str] | None
    devices: list[Device]
    precisions: list[str] | None = None  # None: device defaults
    batch_sizes: list[int | str] | None = None  # None: workload defaults
    modes: list[str] | None = None  # None: both, where the workload has them
    params: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    quick: bool = False  # the same as name="quick"
    world_size: int | None = None  # None: one process; N: launched by torchrun/srun as N ranks
    name: str = "full"  # one of SWEEPS
    exec_modes: list[str] = field(default_factory=lambda: [execution.DEFAULT])  # `execution.parse`

    @property
    def kind(self) -> str:
        """The named sweep whose defaults fill the axes the user left out."""
        return "quick" if self.quick else self.name


@dataclass(frozen=True)
class _Axes:
    """One workload's defaults on one device under a named sweep."""

    modes: tuple[str, ...]
    precisions: tuple[str, ...]
    batch_sizes: tuple[int | str, ...]


def native_precisions(device: Device, names: Iterable[str] = precisions_mod.PRECISIONS) -> list[str]:
    """Those of ``names`` that ``device`` computes natively (hardware, not a slow path)."""
    return [p for p in names if precisions_mod.support(p, device).native]


def low_precision(device: Device) -> str | None:
    """The device's native 16-bit training precision (`HEADLINE_LOW`), or None."""
    return next(iter(native_precisions(device, HEADLINE_LOW)), None)


def headline_batch(cls, device_type: str) -> int:
    """The one batch size of a network in the headline: the workload's ``headline_batch``
    (measured near its throughput knee), else the largest of its default sizes."""
    declared = getattr(cls, "headline_batch", None) or {}
    return declared.get(device_type) or max(cls.batch_sizes[device_type])


def sweep_defaults(kind: str, cls, device: Device, gpus_in_sweep: bool) -> _Axes | None:
    """The default modes, precisions and batch sizes of workload ``cls`` on ``device`` under
    the named sweep ``kind``; None when that sweep measures nothing of it there.

    - ``full``: every mode, `DEFAULT_PRECISIONS` of the device type, every default batch size.
    - ``headline``: matmul at every precision the device has natively; a network (any other
      batched workload) in both modes at fp32 and the device's `low_precision`, at one batch
      size (`headline_batch`). When GPUs are measured too, the CPU's part is small: its matmul
      and one network case (cnn train, fp32).
    - ``quick``: one precision (the `low_precision`, else fp32), both modes, the smallest
      default batch size.
    """
    sizes = tuple(cls.batch_sizes[device.type]) if cls.batched else ()
    if kind == "full":
        return _Axes(tuple(cls.modes), DEFAULT_PRECISIONS[device.type], sizes)
    low = low_precision(device)
    low = low if low in cls.precisions else None  # plan only what the workload implements
    if kind == "quick":
        return _Axes(tuple(cls.modes), (low or "fp32",), sizes[:1])
    if not cls.batched:  # matmul and its kind: the device's ceiling at each precision it has
        return _Axes(tuple(cls.modes), tuple(native_precisions(device, cls.precisions)), ())
    batch = (headline_batch(cls, device.type),)
    if device.type == "cpu" and gpus_in_sweep:
        return _Axes(("train",), ("fp32",), batch) if cls.name == "cnn" else None
    return _Axes(tuple(cls.modes), ("fp32",) + ((low,) if low else ()), batch)


def sweep_workloads(sweep: Sweep, registry: Registry) -> list[str]:
    """The workloads of a sweep: those given, else the named sweep's (``full``: every
    workload that can run in this launch; headline and quick: `HEADLINE_WORKLOADS`)."""
    if sweep.workloads is not None:
        return list(sweep.workloads)
    if sweep.kind == "full":
        return parse_workloads("all", registry, distributed=sweep.world_size is not None)
    return [n for n in HEADLINE_WORKLOADS if n in registry]


def expand(sweep: Sweep, registry: Registry) -> list[Case]:
    """Every Case of the sweep, skipped ones included, in a stable order."""
    cases: list[Case] = []
    explicit = sweep.precisions is not None
    gpus = any(d.type == "cuda" for d in sweep.devices)
    asked_modes = sweep.modes or list(MODES)
    for device in sweep.devices:
        for name in sweep_workloads(sweep, registry):
            cls = registry[name]
            axes = sweep_defaults(sweep.kind, cls, device, gpus)
            if axes is None:
                continue
            wanted = sweep.modes or list(axes.modes)
            modes = [m for m in wanted if m in cls.modes]
            if not modes:
                if sweep.workloads is None and sweep.kind != "full":
                    continue  # a workload the named sweep chose, without the asked mode: not planned
                cases.append(Case(name, asked_modes[0], device.id, (sweep.precisions or ["fp32"])[0],
                                  skip_reason=f"{name} has no {'/'.join(asked_modes)} mode (it has: {', '.join(cls.modes)})"))
                continue
            overrides = sweep.params.get(name, {})
            sizes = list(sweep.batch_sizes or axes.batch_sizes)
            for values in _param_grid(cls, device, overrides):
                shown = tuple(k for k in overrides) + cls.shown_params
                for mode in modes:
                    for prec in sweep.precisions or axes.precisions:
                        cases.extend(_cases_for(cls, device, mode, prec, values, shown, sweep, explicit, sizes))
    return with_exec(cases, sweep.exec_modes, registry, sweep.devices)


def with_exec(cases: list[Case], exec_modes: Sequence[str], registry: Registry,
              devices: Sequence[Device]) -> list[Case]:
    """Each case once per exec mode (right after it, so modes sit side by side); a mode the
    case cannot run in is a skipped case with the reason (`benchsuite.execution.skip_reason`)."""
    if list(exec_modes) == [execution.DEFAULT]:
        return cases
    types = {d.id: d.type for d in devices}
    backend = execution.compile_backend()
    compiler = execution.cpu_compiler() if any(t == "cpu" for t in types.values()) else "unused"
    out: list[Case] = []
    for case in cases:
        cls = registry[case.workload]
        for mode in exec_modes:
            reason = case.skip_reason or execution.skip_reason(
                mode, workload=case.workload, declared=tuple(cls.exec_modes),
                device_type=types.get(case.device, "cpu"), mode=case.mode, precision=case.precision,
                needs_process_group=cls.needs_process_group, world_size=case.world_size, backend=backend,
                compiler=compiler)
            out.append(replace(case, exec=mode, skip_reason=reason))
    return out


def _param_grid(cls, device: Device, overrides: dict[str, list[Any]]) -> list[tuple[tuple[str, Any], ...]]:
    names = [p.name for p in cls.params]
    choices = [overrides.get(p.name, [p.default_for(device.type)]) for p in cls.params]
    return [tuple(zip(names, combo)) for combo in itertools.product(*choices)]


def _cases_for(cls, device: Device, mode: str, prec: str, params, shown, sweep: Sweep, explicit: bool,
               sizes: list[int | str]) -> list[Case]:
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
    skipped = []
    if sweep.world_size is not None:
        for search in BATCH_SEARCHES:
            if search in sizes:
                reason = (f"batch size {search} is not available under torch.distributed (each rank would find "
                          "its own); give sizes")
                skipped.append(replace(base, notes=notes, skip_reason=reason, **_search_flag(search)))
        sizes = [bs for bs in sizes if bs not in BATCH_SEARCHES]
    return skipped + [
        replace(base, notes=notes, **_search_flag(bs)) if bs in BATCH_SEARCHES else replace(base, batch_size=bs, notes=notes)
        for bs in sizes
    ]


def _search_flag(search: str) -> dict[str, bool]:
    return {"auto_batch": True} if search == "auto" else {"best_batch": True}
