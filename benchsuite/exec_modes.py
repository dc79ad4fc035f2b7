"""A classifier step built in its exec mode: eager, CUDA graphs, torch.compile, max-autotune.

`prepare` turns a case's parts (model, data, optimizer; `Parts`) into the step the harness
times (`Prepared`): compiling and capturing happen here, in setup, never in the timed
window. Recipes (sources in issue 16 and its groundwork notes):

- ``eager``: infer ``model(x)`` inside ``torch.inference_mode`` entered once per block
  (`benchsuite.workload` step contract); train: zero_grad, autocast around forward and loss
  only, backward, optimizer (and GradScaler) step.
- ``graphs`` (CUDA): 3 warm-up steps on a side stream (they make the SGD momentum buffers
  and run cuDNN/cuBLAS heuristics), gradients set to None, then the whole step captured in
  one ``torch.cuda.graph`` with autocast ``cache_enabled=False`` (torch/cuda/graphs.py) and
  replayed; before that one eager step under ``set_sync_debug_mode("error")``: a step that
  synchronises with the host fails there, never inside a capture.
- ``compile``: ``torch.compile(dynamic=False, fullgraph=True)`` of the model (infer) or model +
  loss (train: backward through AOTAutograd, eager optimizer step).
- ``compile-max``: on CUDA, infer ``mode="max-autotune"`` (CUDA-graph trees,
  ``cudagraph_mark_step_begin`` each step); train bf16/fp32 ``max-autotune-no-cudagraphs`` then
  the whole step captured as for ``graphs`` (recipe b: the trees over a whole training step
  fail with "accessing tensor output of CUDAGraphs that has been overwritten", pytorch#148439);
  train fp16 ``max-autotune`` on model + loss, eager backward and GradScaler step (recipe a).
  On a CPU ``max-autotune-no-cudagraphs``.

Never an eager figure under a compiled label: ``torch._dynamo.reset()`` before each compiled
case (the recompile limit counts per code object across cases), ``suppress_errors`` off and
``fail_on_recompile_limit_hit`` on for the whole case, and after the first calls a profiled
step must reuse the compiled code (`runs_compiled`); otherwise `NotCompiled` (the case is an
error). Graphs compiled after `prepare` (recompiles inside the timed window) are counted by
`Prepared.report` and flag the case. Importing this module imports no torch.
"""

from __future__ import annotations

import contextlib
import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from benchsuite import execution
from benchsuite import precision as precision_mod

#: PyTorch CUDA-graphs docs ("whole network capture"): warm up on a side stream first (3 in the example).
GRAPH_WARMUP_STEPS = 3


class NotCompiled(RuntimeError):
    """A compiled exec mode whose step did not really run compiled (fallback to eager, graph
    breaks, the recompile limit): the case is an error, never an eager figure under its label."""


@dataclass
class Parts:
    """What a classifier step is made of: the model (cast for inference), its batches
    ``[(x, y), ...]`` on the device, and for training the optimizer, scaler and loss."""

    model: Any
    batches: list
    mode: str  # "train" or "infer"
    precision: str
    device_type: str
    optimizer: Any = None
    scaler: Any = None
    loss_fn: Any = None
    cycle: Any = None  # the eager step's batch cycle (several batches of real data)

    @property
    def x(self):
        return self.batches[0][0]

    @property
    def y(self):
        return self.batches[0][1]


@functools.lru_cache(maxsize=1)
def _with_loss_class():
    import torch.nn as nn

    class WithLoss(nn.Module):
        """model + loss in one module, so that compile fuses the loss into the forward graph."""

        def __init__(self, model, loss_fn) -> None:
            super().__init__()
            self.model, self.loss_fn = model, loss_fn

        def forward(self, x, y):
            return self.loss_fn(self.model(x), y)

    return WithLoss


def with_loss(model, loss_fn):
    """``loss_fn(model(x), y)`` as one module (what a training step compiles)."""
    return _with_loss_class()(model, loss_fn)


def first_weight(model):
    """The first parameter with two or more dimensions: the numerics check's gradient (the
    longest backward path, so the most accumulated rounding)."""
    module = getattr(model, "module", model)  # DistributedDataParallel
    return next(p for p in module.parameters() if p.dim() > 1)


def _inference_mode():
    import torch

    return torch.inference_mode()


def eager_step(p: Parts, fwd: Callable) -> tuple[Callable[[], Any], Callable[[], contextlib.AbstractContextManager]]:
    """(step, block_context) of the per-block contract: inference steps are ``fwd(x)`` alone
    (block context ``inference_mode``); a training step carries its own autocast."""
    batches = p.batches
    if p.mode == "infer":
        if len(batches) == 1:
            x = batches[0][0]
            return (lambda: fwd(x)), _inference_mode
        cycle = p.cycle = _cycler(batches)
        return (lambda: fwd(cycle()[0])), _inference_mode
    opt, scaler, precision, device_type = p.optimizer, p.scaler, p.precision, p.device_type
    cycle = p.cycle = _cycler(batches)

    def train_step() -> None:
        x, y = cycle()
        opt.zero_grad(set_to_none=True)
        with precision_mod.autocast(precision, device_type):
            loss = fwd(x, y)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()

    return train_step, contextlib.nullcontext


class _Cycle:
    """The next batch on each call; ``i`` counts the calls."""

    def __init__(self, batches: list) -> None:
        self.batches, self.i = batches, 0

    def __call__(self):
        batch = self.batches[self.i % len(self.batches)]
        self.i += 1
        return batch


def _cycler(batches: list) -> Callable[[], Any]:
    """The next batch on each call (one batch: always it, with no counting)."""
    if len(batches) == 1:
        only = batches[0]
        return lambda: only
    return _Cycle(batches)


# ----------------------------------------------------------------------------------------
# Is it really compiled?

def _dynamo_guards() -> dict[str, Any]:
    """Dynamo settings that fail loudly instead of running eager: ``suppress_errors`` off, and
    the recompile limit (``recompile_limit``, 8 per code object; ``cache_size_limit`` before
    torch 2.6) raising when hit (``fail_on_recompile_limit_hit``, ``fail_on_cache_limit_hit``
    on older torch)."""
    import torch

    cfg = torch._dynamo.config
    patch: dict[str, Any] = {"suppress_errors": False}
    for flag in ("fail_on_recompile_limit_hit", "fail_on_cache_limit_hit"):
        if hasattr(cfg, flag):
            patch[flag] = True
            break
    return patch


@dataclass
class DynamoReport:
    """torch._dynamo's counters over a span: what was compiled and what fell back."""

    graphs: int = 0  # unique FX graphs handed to the backend (each compile and recompile)
    graph_breaks: int = 0
    break_reasons: list[str] = field(default_factory=list)
    unimplemented: list[str] = field(default_factory=list)  # e.g. "Dynamo recompile limit exceeded"
    cache: dict[str, int] = field(default_factory=dict)  # inductor FX-graph / AOTAutograd cache hits and misses

    @property
    def limit_hit(self) -> bool:
        return any("recompile limit" in u.lower() or "cache_size_limit" in u.lower() for u in self.unimplemented)


#: The compile caches whose hits and misses a case records: (counter group, key) -> record name.
CACHE_COUNTERS = {("inductor", "fxgraph_cache_hit"): "fxgraph_cache_hits",
                  ("inductor", "fxgraph_cache_miss"): "fxgraph_cache_misses",
                  ("aot_autograd", "autograd_cache_hit"): "autograd_cache_hits",
                  ("aot_autograd", "autograd_cache_miss"): "autograd_cache_misses"}


class DynamoWatch:
    """A snapshot of ``torch._dynamo.utils.counters``; `report` gives the change since."""

    def __init__(self) -> None:
        from torch._dynamo.utils import counters

        self._counters = counters
        self._before = self._snap()

    def _snap(self) -> dict[str, dict[str, int]]:
        return {k: dict(v) for k, v in self._counters.items()}

    def report(self) -> DynamoReport:
        now, before = self._snap(), self._before

        def delta(group: str) -> dict[str, int]:
            old = before.get(group, {})
            return {k: v - old.get(k, 0) for k, v in now.get(group, {}).items() if v - old.get(k, 0)}

        breaks = delta("graph_break")
        cache = {name: delta(group).get(key, 0) for (group, key), name in CACHE_COUNTERS.items()}
        return DynamoReport(graphs=delta("stats").get("unique_graphs", 0),
                            graph_breaks=sum(breaks.values()), break_reasons=[str(k).splitlines()[0] for k in breaks],
                            unimplemented=[str(k).splitlines()[0] for k in delta("unimplemented")], cache=cache)


def runs_compiled(step: Callable[[], Any], block_context: Callable[[], Any] = contextlib.nullcontext) -> str | None:
    """Run one more step under ``torch.compiler.set_stance("fail_on_recompile")``: a step whose
    compiled code cannot be used (a guard that fails on every call) raises there instead of
    compiling again or running eager. Returns why it did not run compiled, or None. (The
    profiler's "Torch-Compiled Region" events say the same, but kineto writes to stderr.)"""
    import torch

    stance = getattr(torch.compiler, "set_stance", None)  # torch 2.6+
    try:
        with stance("fail_on_recompile") if stance is not None else contextlib.nullcontext(), block_context():
            step()
    except RuntimeError as exc:
        if "recompile" not in str(exc).lower():
            raise
        return f"its compiled code was not reused on a later call: {str(exc).splitlines()[0]}"
    return None


def fallback(report: DynamoReport) -> str | None:
    """Why a compiled step is not really compiled (None: it is)."""
    if report.limit_hit:
        return "dynamo hit its recompile limit and ran the frame eager"
    if report.graphs == 0:
        return "nothing ran compiled: the step ran eager (torch.compile fell back)"
    if report.graph_breaks:
        return f"{report.graph_breaks} graph break(s), part of the step ran eager: {'; '.join(report.break_reasons)}"
    return None


# ----------------------------------------------------------------------------------------
# CUDA graphs

def safe_to_capture(step: Callable[[], Any], cuda: Any = None) -> str | None:
    """Run one eager step with CUDA sync debug mode "error": a step that synchronises with the
    host (``.item()``, a device-to-host copy) raises here, on the ordinary stream, instead of
    breaking a capture. Returns why it cannot be captured, or None."""
    if cuda is None:
        import torch

        cuda = torch.cuda
    previous = cuda.get_sync_debug_mode()
    cuda.set_sync_debug_mode("error")
    try:
        step()
    except RuntimeError as exc:
        return f"the step synchronises with the host, so it cannot be captured: {str(exc).splitlines()[0]}"
    finally:
        cuda.set_sync_debug_mode(previous)
    return None


@dataclass
class Captured:
    """A whole step captured in a CUDA graph: ``replay`` runs it; its outputs stay in the
    graph's pool (``output`` for inference, ``loss`` for training; the gradients are the
    parameters' ``.grad``, refilled in place by each replay)."""

    replay: Callable[[], Any]
    graph: Any
    output: Any = None
    loss: Any = None


def capture_whole_step(p: Parts, fwd: Callable, cuda: Any = None) -> Captured:
    """Warm up on a side stream, then capture the whole step in one CUDA graph (module
    docstring). ``cuda``: ``torch.cuda`` (a fake in tests). Only the arguments torch 2.11 has
    are used (``torch.cuda.graph(g)``)."""
    import torch

    cuda = torch.cuda if cuda is None else cuda
    graph = cuda.CUDAGraph()
    side = cuda.Stream()
    side.wait_stream(cuda.current_stream())
    x, y = p.x, p.y
    if p.mode == "infer":
        with cuda.stream(side), torch.inference_mode():
            for _ in range(GRAPH_WARMUP_STEPS):
                fwd(x)
        cuda.current_stream().wait_stream(side)
        with torch.inference_mode(), cuda.graph(graph):
            out = fwd(x)
        return Captured(graph.replay, graph, output=out)
    opt = p.optimizer

    def body():
        with precision_mod.autocast(p.precision, p.device_type, cache_enabled=False):
            loss = fwd(x, y)
        loss.backward()
        opt.step()
        return loss

    with cuda.stream(side):
        for _ in range(GRAPH_WARMUP_STEPS):
            opt.zero_grad(set_to_none=True)
            body()
    cuda.current_stream().wait_stream(side)
    # Gradients None before capture: backward allocates them from the graph's pool and each
    # replay writes them afresh (no zero_grad inside the graph; pytorch PR #55562).
    opt.zero_grad(set_to_none=True)
    with cuda.graph(graph):
        loss = body()
    return Captured(graph.replay, graph, loss=loss)


# ----------------------------------------------------------------------------------------
# Building the step

@dataclass
class Prepared:
    """A step in one exec mode, ready to time: compiling and capturing already done.

    ``fwd``: what the step calls (the model, model + loss, or their compiled form), for the
    numerics check; ``mark``: ``cudagraph_mark_step_begin`` where CUDA-graph trees run.
    """

    step: Callable[[], Any]
    block_context: Callable[[], contextlib.AbstractContextManager]
    exec_mode: str
    fwd: Callable
    recipe: str
    backend: str | None = None
    compile_mode: str | None = None
    compile_s: float | None = None  # the first (compiling) call, s
    capture_s: float | None = None  # side-stream warm-up + capture, s
    dynamo: DynamoReport | None = None
    captured: Captured | None = None
    mark: Callable[[], None] | None = None
    _watch: DynamoWatch | None = field(default=None, repr=False)
    _restore: dict[str, Any] = field(default_factory=dict, repr=False)

    def recompiles(self) -> int:
        """Graphs dynamo compiled since `prepare` returned (after the timed window: must be 0)."""
        return self._watch.report().graphs if self._watch is not None else 0

    def report(self) -> dict[str, Any]:
        """The record's ``compile`` section: recipe, backend, seconds, dynamo's counts, the
        cache hits that explain a short compile, recompiles since `prepare`."""
        out: dict[str, Any] = {"recipe": self.recipe, "backend": self.backend, "mode": self.compile_mode,
                               "compile_s": self.compile_s, "capture_s": self.capture_s}
        if self.dynamo is not None:
            out.update({"graphs": self.dynamo.graphs, "graph_breaks": self.dynamo.graph_breaks,
                        **self.dynamo.cache, "recompiles": self.recompiles()})
        return out

    def close(self) -> None:
        """Put back the dynamo settings the case changed."""
        if self._restore:
            import torch

            for name, value in self._restore.items():
                setattr(torch._dynamo.config, name, value)
            self._restore = {}


def _sync(device_type: str) -> None:
    if device_type == "cuda":
        import torch

        torch.cuda.synchronize()


def compile_options(exec_mode: str, p: Parts, backend: str | None) -> tuple[dict[str, Any], str, bool]:
    """(torch.compile keyword arguments, recipe, whether the whole step is then captured)."""
    options: dict[str, Any] = {"dynamic": False, "fullgraph": True}
    if backend is not None:
        options["backend"] = backend
    inductor = backend in (None, "inductor")
    if exec_mode == "compile" or not inductor:
        return options, "torch.compile default mode" + ("" if inductor else f" (backend {backend})"), False
    cuda = p.device_type == "cuda"
    if not cuda:
        return {**options, "mode": "max-autotune-no-cudagraphs"}, "max-autotune-no-cudagraphs (CPU)", False
    if p.mode == "infer":
        return ({**options, "mode": "max-autotune"},
                "max-autotune with CUDA-graph trees, cudagraph_mark_step_begin each step", False)
    if p.precision == "fp16":
        return ({**options, "mode": "max-autotune"},
                "recipe a: model+loss max-autotune (CUDA-graph trees), eager backward and GradScaler step", False)
    return ({**options, "mode": "max-autotune-no-cudagraphs"},
            "recipe b: max-autotune-no-cudagraphs, then the whole step captured in a CUDA graph", True)


def prepare(p: Parts, exec_mode: str, *, backend: str | None = None) -> Prepared:
    """``p``'s step in ``exec_mode`` (module docstring). Compiles and captures here, outside any
    timed window. ``backend``: torch.compile's (None: inductor; the test knob
    `benchsuite.execution.BACKEND_ENV` gives "eager"). Raises `NotCompiled`, or RuntimeError
    for a step that cannot be captured (found before any capture is attempted)."""
    execution.check(exec_mode)
    fwd: Callable = p.model if p.mode == "infer" else with_loss(p.model, p.loss_fn)
    if exec_mode == "eager":
        step, ctx = eager_step(p, fwd)
        return Prepared(step, ctx, exec_mode, fwd, "eager")
    if exec_mode == "graphs":
        return _graphs(p, fwd)
    return _compiled(p, fwd, exec_mode, backend)


def _single_batch(p: Parts, exec_mode: str) -> None:
    if len(p.batches) != 1:
        from benchsuite.workload import Unsupported

        raise Unsupported(f"{exec_mode}: a captured step replays one static input; this case cycles over "
                          f"{len(p.batches)} batches of real data (measure it eager or compile)")


def _graphs(p: Parts, fwd: Callable) -> Prepared:
    if p.device_type != "cuda":
        raise RuntimeError("graphs: CUDA graph capture needs a CUDA device")  # the planner skips it first
    _single_batch(p, "graphs")
    t0 = time.perf_counter()
    step, ctx = eager_step(p, fwd)
    with ctx():
        why = safe_to_capture(step)
    if why:
        raise RuntimeError(f"graphs: {why}")
    captured = capture_whole_step(p, fwd)
    _sync("cuda")
    return Prepared(captured.replay, contextlib.nullcontext, "graphs", fwd,
                    "torch.cuda.graph of the whole step after 3 side-stream warm-up steps",
                    capture_s=time.perf_counter() - t0, captured=captured)


def _compiled(p: Parts, fwd_eager: Callable, exec_mode: str, backend: str | None) -> Prepared:
    import torch

    options, recipe, capture = compile_options(exec_mode, p, backend)
    if capture:
        _single_batch(p, exec_mode)
    torch._dynamo.reset()  # fresh caches: the recompile limit counts per code object across cases
    guards = _dynamo_guards()
    restore = {k: getattr(torch._dynamo.config, k) for k in guards}
    for name, value in guards.items():  # for the whole case: put back by Prepared.close (teardown)
        setattr(torch._dynamo.config, name, value)
    prepared = Prepared(lambda: None, contextlib.nullcontext, exec_mode, fwd_eager, recipe,
                        backend=options.get("backend", "inductor"), compile_mode=options.get("mode", "default"),
                        _restore=restore)
    try:
        compiled = torch.compile(fwd_eager, **options)
        step, ctx = eager_step(p, compiled)
        mark = torch.compiler.cudagraph_mark_step_begin \
            if p.device_type == "cuda" and options.get("mode") == "max-autotune" else None
        if mark is not None:
            inner = step

            def step() -> Any:  # a new iteration for the CUDA-graph trees
                mark()
                return inner()

        watch = DynamoWatch()
        t0 = time.perf_counter()
        try:
            with ctx():
                step()  # compiles the forward (and, training, the backward in loss.backward())
            _sync(p.device_type)
            prepared.compile_s = time.perf_counter() - t0
            again = DynamoWatch()
            with ctx():
                step()  # a second call must not compile again
            _sync(p.device_type)
        except (torch._dynamo.exc.TorchDynamoException, RuntimeError) as exc:
            # a graph break under fullgraph, the recompile limit, dynamo disabled ("found no compiled frames")
            text = str(exc).strip()
            if not isinstance(exc, torch._dynamo.exc.TorchDynamoException) and "compile" not in text.lower():
                raise  # the step's own error (a shape mismatch): as in eager
            raise NotCompiled(f"{exec_mode}: torch.compile failed: {type(exc).__name__}: "
                              f"{text.splitlines()[0] if text else ''}") from exc
        prepared.dynamo = report = watch.report()
        recompiled = again.report().graphs
        why = fallback(report)
        if why is None and recompiled:
            why = f"the second call compiled again ({recompiled} graph(s)): its guards fail on every call"
        if why is None:
            why = runs_compiled(step, ctx)  # before any capture: what a capture would record
        if why is not None:
            raise NotCompiled(f"{exec_mode}: {why}")
        prepared.fwd, prepared.mark = compiled, mark
        if capture:
            t1 = time.perf_counter()
            with ctx():
                why = safe_to_capture(step)
            if why:
                raise RuntimeError(f"{exec_mode}: {why}")
            prepared.captured = capture_whole_step(p, compiled)
            step, ctx = prepared.captured.replay, contextlib.nullcontext
            _sync("cuda")
            prepared.capture_s = time.perf_counter() - t1
        prepared.step, prepared.block_context = step, ctx
        prepared._watch = DynamoWatch()  # graphs compiled from here on are recompiles
        return prepared
    except BaseException:
        prepared.close()
        raise
