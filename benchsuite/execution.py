"""Execution modes: their names, what each means, and which cases cannot run in one.

A case runs its step in one exec mode (``--exec``, a sweep axis; default ``eager``):

- ``eager``: the step as written, per-block contexts (`benchsuite.workload`).
- ``graphs``: the whole step captured once in a CUDA graph and replayed (static inputs; the
  optimizer's state made by warm-up steps on a side stream before the capture).
- ``compile``: ``torch.compile`` in its default mode (``dynamic=False``, ``fullgraph=True``).
- ``compile-max``: ``torch.compile(mode="max-autotune")``, with CUDA graphs where training
  allows (`benchsuite.exec_modes` names the recipe each case used).

Whether a case can run in a mode is decided here, from the plan alone and before anything
is tried (`skip_reason`): a capture that fails can leave the CUDA stream unusable for the
cases after it, so it is never attempted to find out. Torch-free: the planner and
``benchsuite list`` read it.
"""

from __future__ import annotations

import os
import shutil

EXEC_MODES = ("eager", "graphs", "compile", "compile-max")
DEFAULT = "eager"
MEANING = {
    "eager": "the step as written (PyTorch eager)",
    "graphs": "the whole step captured once in a CUDA graph and replayed (CUDA only)",
    "compile": "torch.compile, default mode (dynamic=False, fullgraph=True); compile time recorded apart",
    "compile-max": "torch.compile mode max-autotune; with CUDA graphs where training allows",
}
#: The hidden test knob: ``BENCHSUITE_COMPILE_BACKEND=eager`` compiles with dynamo's ``eager``
#: backend (graphs traced, no inductor code generated: seconds instead of minutes on a CPU).
#: Every case records the backend it used (``compile.backend``).
BACKEND_ENV = "BENCHSUITE_COMPILE_BACKEND"
#: C++ compilers inductor can use on a CPU (torch._inductor.cpp_builder; ``CXX`` overrides).
CPU_COMPILERS = ("g++", "c++", "clang++")


def compile_backend() -> str | None:
    """The torch.compile backend the test knob asks for (`BACKEND_ENV`), or None (inductor)."""
    return os.environ.get(BACKEND_ENV) or None


def cpu_compiler() -> str | None:
    """The C++ compiler inductor would find on this machine, or None."""
    given = os.environ.get("CXX")
    if given:
        return shutil.which(given)
    return next((found for found in map(shutil.which, CPU_COMPILERS) if found), None)


def parse(text: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """``--exec`` values (comma lists) -> exec modes; ValueError naming a bad one and the allowed."""
    items = [text] if isinstance(text, str) else list(text or [])
    names = [part.strip() for item in items for part in str(item).split(",") if part.strip()]
    if "all" in names:
        return list(EXEC_MODES)
    for name in names:
        if name not in EXEC_MODES:
            raise ValueError(f"unknown exec mode {name!r}; allowed: {', '.join(EXEC_MODES)}, all")
    return list(dict.fromkeys(names)) or [DEFAULT]


def check(exec_mode: str) -> str:
    """``exec_mode`` if it is one of `EXEC_MODES`; a ValueError naming the allowed ones otherwise."""
    if exec_mode not in EXEC_MODES:
        raise ValueError(f"unknown exec mode {exec_mode!r}; allowed: {', '.join(EXEC_MODES)}")
    return exec_mode


def skip_reason(exec_mode: str, *, workload: str, declared: tuple[str, ...], device_type: str, mode: str,
                precision: str, needs_process_group: bool = False, world_size: int = 1,
                backend: str | None = None, compiler: str | None = "unknown") -> str | None:
    """Why a case cannot run in ``exec_mode`` (None: it can), from the plan alone.

    ``declared``: the workload's ``exec_modes``; ``backend``: the torch.compile backend
    (None: inductor); ``compiler``: the C++ compiler found (`cpu_compiler`; None: none)."""
    check(exec_mode)
    if exec_mode == DEFAULT:
        return None
    if needs_process_group:
        return (f"{exec_mode}: collectives are neither captured nor compiled here (NCCL inside a CUDA graph needs "
                "a graph-safe communicator and every rank capturing alike)")
    if exec_mode not in declared:
        return f"{workload} does not implement exec mode {exec_mode} (it has: {', '.join(declared)})"
    if world_size > 1:
        return (f"{exec_mode} is not measured under torch.distributed: DistributedDataParallel's gradient "
                "all-reduce inside a compiled or captured step is untested here")
    if exec_mode == "graphs" and device_type != "cuda":
        return "graphs: CUDA graph capture needs a CUDA device"
    if exec_mode == "graphs" and mode == "train" and precision == "fp16":
        return ("graphs: fp16 training uses a GradScaler, whose step reads found_inf on the host "
                "(GradScaler._maybe_opt_step: found_inf.item()), a synchronisation stream capture forbids")
    if exec_mode.startswith("compile") and device_type == "cpu" and backend in (None, "inductor") \
            and compiler is None:
        return (f"{exec_mode} on a CPU needs a C++ compiler for inductor's generated code "
                f"(none of {', '.join(CPU_COMPILERS)} on PATH, and no CXX)")
    return None
