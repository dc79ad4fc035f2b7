"""The Workload protocol and the entry-point registry.

A workload knows its model and data, nothing about timing or telemetry. Built-in and
third-party workloads register the same way, in the ``benchsuite.workloads`` entry-point
group::

    [project.entry-points."benchsuite.workloads"]
    mywork = "mypackage.module:MyWorkload"

**The step contract.** By default (``block_steps = False``, every plugin written before
issue 16) ``step()`` is self-contained: it enters whatever contexts it needs
(``torch.inference_mode``, autocast) itself, and the harness enters nothing. A workload
that sets ``block_steps = True`` opts in to *per-block contexts*: the harness enters
``block_context()`` once around each run of consecutive steps (a chunk of timed blocks in
warm-up and measurement, where only the timer's marks run between steps; the FLOP count, the
numerics check and the batch search through `Workload.run_steps`), and ``step()`` may assume
it runs inside it and must assume nothing else between steps.
Entering ``inference_mode`` costs about 3-5 µs and autocast about 5-8 µs, which a 50 µs
launch-bound step cannot hide (issue 16). Training steps keep autocast inside the step,
around the forward and the loss only, as the autocast documentation asks.

**Exec modes and numerics (optional).** ``exec_modes`` lists the execution modes the
workload builds its step in (`benchsuite.execution`; ``setup`` reads ``case.exec``);
``numerics()`` checks one step against fp32 eager (`benchsuite.numerics`); ``exec_report()``
says what compiling or capturing did. The defaults: eager only, "not checked", nothing.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

ENTRY_POINT_GROUP = "benchsuite.workloads"
MODES = ("train", "infer")


class Unsupported(RuntimeError):
    """Raised by a workload's setup when its backend or device cannot do the case: the case
    is recorded as skipped with this message as the reason (found only by trying, e.g. an
    operation a process-group backend lacks)."""


@dataclass(frozen=True)
class Param:
    """A workload parameter: its type, default (optionally per device type), unit and help.

    ``kind`` is one of ``int``, ``float``, ``str``, ``choice``, ``ints`` (a list written
    with ``x``: ``1024x4096x1024``) or ``path``. ``check`` (optional) refuses a parsed value
    with a ValueError; ``rule`` then says in words what it allows (`benchsuite list` shows it,
    e.g. "a positive multiple of 16").
    """

    name: str
    kind: str
    default: Any
    unit: str = ""
    help: str = ""
    choices: tuple[str, ...] = ()
    check: Callable[[Any], None] | None = field(default=None, compare=False, repr=False)
    rule: str | None = None

    def parse(self, text: str) -> Any:
        """Turn the text after ``key=`` into a value, or raise ValueError saying what is allowed."""
        text = text.strip()
        try:
            if self.kind == "int":
                value: Any = int(text)
                if value <= 0:
                    raise ValueError
            elif self.kind == "float":
                value = float(text)
                if not math.isfinite(value):
                    raise ValueError
            elif self.kind == "ints":
                value = tuple(int(v) for v in text.lower().split("x"))
                if not value or min(value) <= 0:
                    raise ValueError
            elif self.kind == "bytes":
                value = parse_bytes(text)
            elif self.kind == "choice":
                if text not in self.choices:
                    raise ValueError
                value = text
            elif self.kind == "path":
                value = str(Path(text).expanduser())
            else:
                value = text
        except ValueError:
            raise ValueError(f"parameter {self.name}={text!r}: expected {self.expects()}") from None
        if self.check is not None:
            self.check(value)
        return value

    def expects(self) -> str:
        """What a valid value looks like, for error messages and `benchsuite list`."""
        if self.rule:
            return self.rule
        return {
            "int": "a positive integer",
            "float": "a finite number",
            "ints": "positive integers joined by 'x', e.g. 1024x4096x1024",
            "choice": "one of " + ", ".join(self.choices),
            "path": "a directory path",
            "bytes": "a byte count, optionally with K, M or G (powers of 1024), e.g. 4096, 64K, 16MB",
        }.get(self.kind, "a string")

    def default_for(self, device_type: str) -> Any:
        """The default value on a device type ("cpu" or "cuda")."""
        if isinstance(self.default, Mapping):
            return self.default.get(device_type, self.default.get("cpu"))
        return self.default

    def format(self, value: Any) -> str:
        """A value written the way `--param` takes it."""
        if value is None:
            return "none"
        if isinstance(value, (tuple, list)):
            return "x".join(str(v) for v in value)
        if self.kind == "bytes":
            return format_bytes(value)
        return str(value)


_BYTE_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20, "MIB": 2**20,
               "G": 2**30, "GB": 2**30, "GIB": 2**30}


def parse_bytes(text: str) -> int:
    """``4096``, ``64K``, ``16MB``, ``1GiB`` -> bytes; K/M/G are powers of 1024 (as nccl-tests' -b/-e)."""
    text = text.strip().upper()
    number = text.rstrip("KMGIB")
    unit = text[len(number):]
    if not number.isdigit() or unit not in _BYTE_UNITS or int(number) <= 0:
        raise ValueError(f"{text!r} is not a byte count")
    return int(number) * _BYTE_UNITS[unit]


def format_bytes(value: int) -> str:
    """Bytes written the way ``parse_bytes`` reads them, in the largest exact unit: ``64K``, ``16M``."""
    for unit, size in (("G", 2**30), ("M", 2**20), ("K", 2**10)):
        if value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


class Workload:
    """Base class of every workload. Subclasses set the class attributes and implement
    ``setup`` and ``step``; ``flops_per_step`` defaults to counting one step with
    ``torch.utils.flop_counter.FlopCounterMode``."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    modes: ClassVar[tuple[str, ...]] = MODES
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "tf32", "fp16", "bf16")
    batched: ClassVar[bool] = True
    #: batch sizes swept by default, per device type; ``--quick`` takes the first.
    batch_sizes: ClassVar[Mapping[str, tuple[int, ...]]] = {"cpu": (32, 128), "cuda": (256, 2048)}
    #: the one batch size the headline sweep measures, per device type: near the throughput
    #: knee (`benchsuite.plan.headline_batch`; missing: the largest of ``batch_sizes``)
    headline_batch: ClassVar[Mapping[str, int]] = {}
    params: ClassVar[tuple[Param, ...]] = ()
    #: parameters always written into case ids (others only when set with --param)
    shown_params: ClassVar[tuple[str, ...]] = ()
    #: what one "sample" is, for samples/s (an image, a matrix product, ...)
    sample_unit: ClassVar[str] = "sample"
    #: True when the workload only means something across ranks (collectives): a
    #: single-process run skips it with the reason
    needs_process_group: ClassVar[bool] = False
    #: set by the runner before setup under torch.distributed: the case's process group,
    #: rank and world size (`benchsuite.distributed.Comm`); None in a single-process run
    comm: Any = None
    #: True: ``step()`` runs inside ``block_context()``, entered once per block of steps by the
    #: harness (module docstring). False: ``step()`` enters its own contexts (the default).
    block_steps: ClassVar[bool] = False
    #: execution modes ``setup`` can build the step in (`benchsuite.execution.EXEC_MODES`);
    #: a mode not listed is a skipped case with the reason
    exec_modes: ClassVar[tuple[str, ...]] = ("eager",)

    def __init__(self, **params: Any) -> None:
        self.p = params
        self.samples_per_step = 1

    def setup(self, case) -> None:
        """Build the model and data on ``case.device`` in ``case.precision``."""
        raise NotImplementedError

    def step(self) -> None:
        """One iteration: a forward pass, or forward + backward + optimizer step. With
        ``block_steps`` it runs inside ``block_context()``; call it through `run_steps`."""
        raise NotImplementedError

    def block_context(self) -> contextlib.AbstractContextManager:
        """The contexts every step of a block needs (e.g. ``torch.inference_mode()``), entered
        once per block when ``block_steps`` is True; a fresh context manager on each call."""
        return contextlib.nullcontext()

    def steps_context(self) -> contextlib.AbstractContextManager:
        """What the harness enters around a block of steps: ``block_context()`` when the
        workload opts in (``block_steps``), else nothing."""
        return self.block_context() if self.block_steps else contextlib.nullcontext()

    def run_steps(self, n: int = 1) -> None:
        """Run ``n`` steps as one block, as the harness does (inside `steps_context`)."""
        step = self.step
        with self.steps_context():
            for _ in range(n):
                step()

    def flops_per_step(self) -> float | None:
        """Floating-point operations of one step (counts one step, which also warms up)."""
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter:
            self.run_steps(1)
        return float(counter.get_total_flops()) or None

    def numerics(self) -> dict[str, Any] | None:
        """Check one step of the case against fp32 eager (`benchsuite.numerics.check`): a
        `benchsuite.numerics` result dict, or None for "not checked" (the default)."""
        return None

    def exec_report(self) -> dict[str, Any] | None:
        """After the timed steps: what preparing the step in its exec mode did (compile and
        capture seconds, dynamo's counts, recompiles since; `benchsuite.exec_modes`), or None."""
        return None

    def bytes_per_step(self) -> float | None:
        """Fewest bytes one step must move through device memory, where known."""
        return None

    def extra_metrics(self, step_s: float) -> dict[str, Any]:
        """Workload-specific figures from the median step time ``step_s`` (e.g. bandwidth)."""
        return {}

    def teardown(self) -> None:
        """Drop everything setup made, so the device memory can be freed."""
        keep = {"p": self.p, "samples_per_step": self.samples_per_step}
        self.__dict__.clear()
        self.__dict__.update(keep)

    @classmethod
    def param(cls, name: str) -> Param | None:
        """The declared parameter called ``name``."""
        return next((p for p in cls.params if p.name == name), None)

    @classmethod
    def describe(cls) -> dict:
        """What `benchsuite list` shows of this workload."""
        return {
            "name": cls.name,
            "summary": cls.summary,
            "modes": list(cls.modes),
            "precisions": list(cls.precisions),
            "batched": cls.batched,
            "exec_modes": list(cls.exec_modes),
            "batch_sizes": {k: list(v) for k, v in cls.batch_sizes.items()} if cls.batched else None,
            "sample_unit": cls.sample_unit,
            "params": [
                {
                    "name": p.name,
                    "type": p.expects(),
                    "default": {k: p.format(v) for k, v in p.default.items()} if isinstance(p.default, Mapping) else p.format(p.default),
                    "unit": p.unit,
                    "help": p.help,
                }
                for p in cls.params
            ],
        }


@dataclass
class Registry:
    """Workload classes by name, and the entry points that failed to load."""

    workloads: dict[str, type[Workload]]
    errors: dict[str, str]

    def __getitem__(self, name: str) -> type[Workload]:
        return self.workloads[name]

    def __contains__(self, name: str) -> bool:
        return name in self.workloads

    def names(self) -> list[str]:
        return sorted(self.workloads)


def registry(group: str = ENTRY_POINT_GROUP) -> Registry:
    """Load every workload registered in the entry-point group (read anew on each call)."""
    found: dict[str, type[Workload]] = {}
    errors: dict[str, str] = {}
    for ep in metadata.entry_points(group=group):
        if ep.name in found or ep.name in errors:
            warnings.warn(f"workload {ep.name!r} is registered twice; keeping the first ({ep.value})")
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plugin must not break the tool
            errors[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
            continue
        if not (isinstance(cls, type) and issubclass(cls, Workload)):
            errors[ep.name] = f"{ep.value} is not a benchsuite.workload.Workload subclass"
            continue
        if cls.name and cls.name != ep.name:
            errors[ep.name] = f"{ep.value} calls itself {cls.name!r} but is registered as {ep.name!r}"
            continue
        if not cls.name:
            cls.name = ep.name
        found[ep.name] = cls
    return Registry(found, errors)
