"""One run: a plan measured into a run directory.

`run_plan` does what every measuring command needs, in one place: the telemetry (with the
GPUs of the whole node under torchrun), the header, the calibrations (header field and the
run's copy), the torch.distributed context, the results store and the runner; it returns
the `Run`. `run` is the same from user-level options (what ``benchsuite run`` takes), and
is `benchsuite.run` for Python. ``benchsuite run`` and ``benchsuite claims`` call these;
signal handlers and exit codes stay with the command line, never here.

Importing this module imports no torch: each function imports what it needs.
"""

from __future__ import annotations

import os
import shlex
import signal
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from benchsuite import distributed, files, results, signals
from benchsuite import plan as plan_mod
from benchsuite.devices import Device, DeviceError
from benchsuite.distributed import DistError, LaunchEnv
from benchsuite.plan import Case, PlanError
from benchsuite.settings import SAMPLE_HZ, RunOptions
from benchsuite.telemetry.ids import TelemetryId
from benchsuite.workload import Registry

#: What bad user input raises (before anything is measured): a command line makes these a usage error.
INPUT_ERRORS = (PlanError, DeviceError, results.ResultsError, DistError)


@dataclass(frozen=True)
class Plan:
    """What one run measures: ``cases`` on ``devices``, from the workloads of ``registry``.

    ``launch``: where this process sits in a torchrun/srun job (`benchsuite.distributed.detect`),
    None for a single process.
    """

    cases: list[Case]
    devices: list[Device]
    registry: Registry
    launch: LaunchEnv | None = None
    sweep: str | None = None  # the named sweep that filled the axes not given (`benchsuite.settings.SWEEPS`);
    #                          None for a plan made case by case (the claims)


@dataclass
class Run:
    """A run as the session made it: where it went, what it used and how it ended.

    Before measuring (``on_ready``) ``status`` is None and ``records`` empty. On a rank other
    than 0 under torchrun nothing is written: ``dir`` is None.
    """

    run_id: str
    dir: Path | None
    cases: list[Case]
    header: dict[str, Any] = field(default_factory=dict)
    calibrations: dict[str, dict] = field(default_factory=dict)  # device id -> calibration used
    calibration_problems: list[str] = field(default_factory=list)  # calibrations found but not used, and why
    calibration_copy: Path | None = None  # the run's copy of the calibrations (calibration.json)
    samples_path: Path | None = None  # samples.csv, when telemetry is on
    world_size: int | None = None  # under torchrun
    backend: str | None = None  # the collectives' backend under torchrun (nccl, gloo)
    rank: int = 0
    status: str | None = None  # completed, interrupted or failed
    reason: str | None = None  # why it failed
    records: list[dict] = field(default_factory=list)  # the case records written

    @property
    def results_path(self) -> Path | None:
        return self.dir / results.RESULTS_FILE if self.dir is not None else None

    @property
    def main(self) -> bool:
        """Whether this process wrote the run (rank 0, or the only process)."""
        return self.rank == 0

    def frame(self):
        """The cases as a pandas DataFrame (`benchsuite.results.load`)."""
        if self.results_path is None:
            raise results.ResultsError(f"rank {self.rank} wrote no results: rank 0 holds the run")
        return results.load(self.results_path)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, `benchsuite.signals.SigTerm`) stopped the run; ``run`` holds what was
    finished (its end record says interrupted, and why); ``cause`` is the interruption."""

    def __init__(self, run: Run, cause: BaseException | None = None) -> None:
        super().__init__(f"run {run.run_id} interrupted; finished cases are in {run.results_path}")
        self.run = run
        self.cause = cause


class LaunchFailed(RuntimeError):
    """Ranks started by `launch` failed; ``failures`` holds (rank, why) for each."""

    def __init__(self, failures: list[tuple[int, str]]) -> None:
        super().__init__("; ".join(f"rank {rank} failed: {why}" for rank, why in failures))
        self.failures = failures


# -- from user options to a plan -------------------------------------------------------------
def launcher() -> LaunchEnv | None:
    """This process's place in a torchrun/srun job, None when run as one process; raises
    `benchsuite.distributed.DistError` for a launcher environment that cannot be used."""
    return distributed.detect()


def make_plan(workloads: Any = None, devices: Any = "all", precisions: Any = None, batch_sizes: Any = None,
              modes: Any = None, params: Any = None, *, quick: bool = False, sweep: str | None = None,
              launch: LaunchEnv | None = None, registry: Registry | None = None,
              exec_modes: Any = None) -> Plan:
    """The cases of a sweep from user-level options, as ``benchsuite run`` takes them.

    Each option is a comma list or a list of them (``"mlp,cnn"``, ``["mlp", "cnn"]``,
    ``[8, 32]``, ``"auto"``); None takes the default. ``params`` is ``{"m": 4096,
    "mlp.widths": "32x64x10"}`` or ``["m=4096", ...]``; a list value sweeps. ``sweep`` names
    the sweep whose defaults fill the axes not given (`benchsuite.settings.SWEEPS`; None: as
    `benchsuite.plan.pick_sweep` decides: the headline when no workload, precision, batch
    size or mode is given); ``exec_modes``: eager when None. Raises `PlanError` or
    `DeviceError` naming a bad value and what is allowed.
    """
    from benchsuite import devices as devices_mod
    from benchsuite.workload import registry as load_registry

    reg = registry if registry is not None else load_registry()
    axes_given = any(_items(v) for v in (workloads, precisions, batch_sizes, modes))
    kind = plan_mod.pick_sweep(sweep, quick=quick, axes_given=axes_given, distributed=launch is not None)
    spec = ",".join(_items(devices)) or "all"
    if launch is None:
        chosen = devices_mod.resolve(spec)
    else:
        chosen = [distributed.pick_device(spec, launch.local_rank, devices_mod.available())]
    names = (plan_mod.parse_workloads(_items(workloads), reg, distributed=launch is not None)
             if _items(workloads) else None)
    the_sweep = plan_mod.Sweep(
        workloads=names,
        devices=chosen,
        precisions=plan_mod.parse_precisions(_items(precisions)),
        batch_sizes=plan_mod.parse_batch_sizes(_items(batch_sizes)),
        modes=plan_mod.parse_modes(_items(modes)) if _items(modes) else None,
        world_size=launch.world_size if launch is not None else None,
        name=kind,
        exec_modes=plan_mod.parse_exec(_items(exec_modes)),
    )
    the_sweep = replace(the_sweep, params=plan_mod.parse_params(_param_items(params),
                                                                plan_mod.sweep_workloads(the_sweep, reg), reg))
    return Plan(plan_mod.expand(the_sweep, reg), chosen, reg, launch, sweep=kind)


def _items(value: Any) -> tuple[str, ...]:
    """An option as click gives it: a tuple of strings (None -> empty)."""
    if value is None:
        return ()
    if isinstance(value, (str, int)):
        return (str(value),)
    return tuple(str(v) for v in value)


def _param_items(params: Mapping[str, Any] | Iterable[str] | str | None) -> tuple[str, ...]:
    """``{key: value}`` (a list value sweeps) or ``key=value`` strings -> ``key=value`` strings."""
    if params is None:
        return ()
    if isinstance(params, str):
        return (params,)
    if isinstance(params, Mapping):
        return tuple(f"{k}={','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
                     for k, v in params.items())
    return tuple(params)


def estimate_plan(plan: Plan, options: RunOptions, out: str | Path = "reports", *, nvml: bool | None = None,
                  rapl: bool | None = None, hostname: str | None = None):
    """The wall time ``plan`` will take under ``options`` (`benchsuite.estimate.Estimate`), from
    the settings and from the newest run under ``out`` made on this host with the same timing
    settings. ``nvml`` / ``rapl``: whether GPU / CPU energy is measured (None: ask NVML and
    RAPL), which decides the cool-down and the idle-power measurement."""
    import platform

    from benchsuite import estimate
    from benchsuite.telemetry import host as host_mod
    from benchsuite.telemetry import nvml as nvml_mod

    gpus = any(d.type == "cuda" for d in plan.devices)
    if nvml is None:
        nvml = gpus and options.telemetry and nvml_mod.status()[0]
    if rapl is None:
        rapl = options.telemetry and host_mod.rapl_available()[0]
    gpu_energy = bool(options.telemetry and gpus and nvml)
    settings = options.run_settings(gpu_energy=gpu_energy)
    energy = [d.id for d in plan.devices if (d.type == "cuda" and gpu_energy) or (d.type == "cpu" and rapl
                                                                                 and options.telemetry)]
    previous = estimate.previous_run(out, hostname or platform.node(), estimate.timing_key(settings))
    return estimate.estimate(plan.cases, {d.id: d.type for d in plan.devices}, settings,
                             energy_devices=energy, previous=previous)


# -- one run -------------------------------------------------------------------------------------
def run(workloads: Any = None, devices: Any = "all", precisions: Any = None, batch_sizes: Any = None,
        modes: Any = None, params: Any = None, *, sweep: str | None = None, min_time: float | None = None, min_iters: int | None = None,
        warmup: int | None = None, settle_max: float | None = None, flush_l2: bool = False,
        threads: int | None = None, out: str | Path = "reports", tag: str | None = None, quick: bool = False,
        fail_fast: bool = False, telemetry: bool = True, sample_hz: float = SAMPLE_HZ,
        cooldown: float | None = None, collective_timeout: float | None = None, exec_modes: Any = None,
        on_ready: Callable[[Run], None] | None = None, on_start: Callable[[int, int, Case], None] | None = None,
        on_end: Callable[[int, int, dict], None] | None = None) -> Run:
    """Measure a sweep, as ``benchsuite run`` does, and return the `Run`.

    The options are those of ``benchsuite run`` (seconds for ``min_time``, ``settle_max``,
    ``cooldown`` and ``collective_timeout``; ``sweep`` is ``--sweep``: with no workloads,
    precisions, batch sizes or modes given it is the headline); each run goes to ``out/<run-id>/``. Bad input
    raises one of `INPUT_ERRORS` before anything is measured. Ctrl-C raises `RunInterrupted`
    (a KeyboardInterrupt) carrying the run, whose finished cases are kept. Under torchrun
    every rank calls it and rank 0 writes the run.
    """
    given = {"workloads": workloads, "devices": devices, "precisions": precisions, "batch_sizes": batch_sizes,
             "modes": modes, "params": params, "sweep": sweep, "min_time": min_time, "min_iters": min_iters, "warmup": warmup,
             "settle_max": settle_max, "flush_l2": flush_l2, "threads": threads, "out": out, "tag": tag,
             "quick": quick, "fail_fast": fail_fast, "telemetry": telemetry, "sample_hz": sample_hz,
             "cooldown": cooldown, "collective_timeout": collective_timeout, "exec_modes": exec_modes}
    options = RunOptions(quick=quick, telemetry=telemetry, sample_hz=sample_hz, cooldown_s=cooldown,
                         fail_fast=fail_fast, min_time_s=min_time, min_iters=min_iters, warmup_iters=warmup,
                         settle_max_s=settle_max, flush_l2=flush_l2, collective_timeout_s=collective_timeout,
                         threads=threads).check()
    the_plan = make_plan(workloads, devices, precisions, batch_sizes, modes, params, quick=quick, sweep=sweep,
                         launch=launcher(),
                         exec_modes=exec_modes)
    if the_plan.sweep == "quick" and not quick:  # --sweep quick is --quick: quick timing too
        options = replace(options, quick=True)
    results.check_out_dir(Path(out))
    return run_plan(the_plan, options, out, tag=tag, header_options={k: _plain(v) for k, v in given.items()},
                    header_settings={"quick": options.quick, "fail_fast": fail_fast},
                    on_ready=on_ready, on_start=on_start, on_end=on_end)


def _plain(value: Any) -> Any:
    """An option as JSON holds it."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def run_plan(plan: Plan, options: RunOptions, out: str | Path = "reports", *, tag: str | None = None,
             header_options: dict[str, Any] | None = None, header_settings: dict[str, Any] | None = None,
             on_ready: Callable[[Run], None] | None = None,
             on_start: Callable[[int, int, Case], None] | None = None,
             on_end: Callable[[int, int, dict], None] | None = None,
             then: Callable[[Any], None] | None = None) -> Run:
    """Measure ``plan`` into ``out/<run-id>/`` and return the finished `Run`.

    ``header_options`` (the user's options) and ``header_settings`` (extra settings) go into
    the header. ``on_ready(run)`` is called once the run directory exists, before anything is
    measured; ``on_start(i, n, case)`` and ``on_end(i, n, record)`` around each case (rank 0
    only). ``then(telemetry)`` runs after the cases while telemetry still samples (the
    telemetry, or None when it is off), on rank 0.

    Ctrl-C raises `RunInterrupted`; under torchrun a failed rank ends the run with status
    "failed" (the end record says why); any other error propagates after the end record is
    written. A file that cannot be written raises `benchsuite.files.WriteError`: before
    anything is measured the run directory is removed again; later the cases finished before
    stay in a results file that still loads.
    """
    from benchsuite import calibration_store, runner
    from benchsuite import devices as devices_mod
    from benchsuite.telemetry import Telemetry

    out = files.expand(out)
    env, chosen = plan.launch, plan.devices
    threads_before = _set_threads(options.check().threads)
    try:
        run_id = results.new_run_id()
        host = devices_mod.host_info()
        calibrations, problems = calibration_store.load_for(chosen, host["hostname"], host["driver"])
        ctx, node_devices = None, ()
        if env is not None:
            ctx = distributed.Context(env, chosen[0], case_timeout_s=options.case_timeout_s)
            ctx.start({"hostname": host["hostname"], "device": devices_mod.record(chosen[0]), "host": host,
                       "pid": os.getpid()})
            node_devices = _node_devices(ctx, chosen[0])
        main = ctx is None or ctx.is_main
        sampling = options.telemetry and (ctx is None or env.local_rank == 0)  # a node's local rank 0 samples it
        gpus = devices_mod.telemetry_gpus(chosen)
        gpus += [t.index for t in node_devices if t.is_gpu and t.index not in gpus]
        node_pids = [p["pid"] for p in (ctx.peers if ctx is not None else ()) if p["hostname"] == host["hostname"]]
        tel = Telemetry(gpus, hz=options.sample_hz, enabled=sampling, run_pids=node_pids,
                        samples_path=out / run_id / results.SAMPLES_FILE if main else None)
        settings = options.run_settings(gpu_energy=tel.available, calibrations=calibrations)
        extra = {**(header_settings or {}), **({"sweep": plan.sweep} if plan.sweep else {})}
        header = runner.run_header(chosen, settings, tel, tag=tag, options=header_options or {}, host=host,
                                   extra_settings=extra)
        header["calibrations"] = {d: rec["id"] for d, rec in calibrations.items()}
        header["planned"] = [case.id for case in plan.cases]  # what never ran, if the run is cut short
        if ctx is not None:
            header.update(_distributed_header(ctx, env))
        the_run = Run(run_id, None, list(plan.cases), header=header, calibrations=calibrations,
                      calibration_problems=problems, world_size=env.world_size if env is not None else None,
                      backend=ctx.backend if ctx is not None else None, rank=ctx.rank if ctx is not None else 0)
        if not main:
            return _run_rank(runner.Runner(plan.registry, chosen, None, settings, telemetry=tel if sampling else None,
                                           dist=ctx, node_devices=node_devices), the_run, tel, ctx)
        # The run directory, its header, the calibrations' copy and samples.csv exist before
        # anything is measured; when one cannot be written the directory goes again.
        store = results.RunStore(out, header, run_id=run_id)
        the_run.dir = store.dir
        the_run.samples_path = store.dir / results.SAMPLES_FILE if options.telemetry else None
        try:
            the_run.calibration_copy = calibration_store.write_run_copy(store.dir, calibrations.values())
            tel.start()
        except BaseException:
            tel.stop()
            store.discard()
            raise
        the_runner = runner.Runner(plan.registry, chosen, store, settings, telemetry=tel if sampling else None,
                                   on_start=on_start, on_end=on_end, dist=ctx, node_devices=node_devices)
        interruption: BaseException | None = None
        try:
            with tel:
                if on_ready is not None:
                    on_ready(the_run)
                status = the_runner.run(the_run.cases)
                if then is not None:
                    then(tel if sampling else None)
        except KeyboardInterrupt as exc:
            status, interruption = "interrupted", exc
            store.close("interrupted", reason=signals.reason(exc))  # Ctrl-C before the runner began
        except (Exception, distributed.Terminated):
            if ctx is None:
                raise
            status = "failed"  # a rank died: the runner's end record names it
        finally:
            if ctx is not None and store.closed:
                ctx.close()
        written = results.read_run(store.path)
        the_run.status, the_run.header, the_run.records = status, written.header, written.cases
        the_run.reason = (written.end or {}).get("reason")
        if status == "interrupted":
            raise RunInterrupted(the_run, interruption)
        return the_run
    finally:
        _set_threads(threads_before)


def _set_threads(threads: int | None) -> int | None:
    """Set torch's CPU threads (None: leave them); return the count before, to restore."""
    if threads is None:
        return None
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    return before


def _run_rank(the_runner: Any, the_run: Run, tel: Any, ctx: Any) -> Run:
    """A rank other than 0: the same cases in lock-step, silently; a failure is status "failed"."""
    try:
        with tel:
            the_run.status = the_runner.run(the_run.cases)
    except (Exception, distributed.Terminated) as exc:
        the_run.status, the_run.reason = "failed", f"{type(exc).__name__}: {exc}"
        return the_run
    ctx.close()
    return the_run


def _node_devices(ctx: Any, device: Device) -> tuple[TelemetryId, ...]:
    """On a node's local rank 0: telemetry ids of the other local ranks' devices (it samples them)."""
    from benchsuite.devices import telemetry_id

    if ctx.env.local_rank != 0:
        return ()
    here = [p for p in ctx.peers if p["hostname"] == ctx.peers[ctx.rank]["hostname"] and p["rank"] != ctx.rank]
    ids: list[TelemetryId] = []
    for peer in here:
        d = peer["device"]
        tid = telemetry_id(d["type"], d.get("nvml_index"))
        if tid is not None and tid != device.telemetry_id and tid not in ids:
            ids.append(tid)
    return tuple(ids)


def _distributed_header(ctx: Any, env: LaunchEnv) -> dict:
    """Every node and device of the job, gathered from all ranks, for rank 0's header."""
    nodes: dict[str, dict] = {}
    for peer in ctx.peers:
        node = nodes.setdefault(peer["hostname"], {"hostname": peer["hostname"], "ranks": [], "devices": [],
                                                   "host": peer["host"]})
        node["ranks"].append(peer["rank"])
        node["devices"].append({**peer["device"], "rank": peer["rank"], "local_rank": peer["local_rank"]})
    return {
        "devices": [{**p["device"], "rank": p["rank"], "local_rank": p["local_rank"], "hostname": p["hostname"]}
                    for p in ctx.peers],
        "distributed": {
            "world_size": env.world_size, "launcher": env.launcher, "backend": ctx.backend,
            "control_backend": "gloo", "case_timeout_s": ctx.case_timeout_s,
            "control_timeout_s": ctx.control_timeout_s,
            "throughput": "global samples_per_s = sum of samples per step over ranks / slowest rank's median step",
            "nodes": list(nodes.values()),
            "ranks": [{"rank": p["rank"], "local_rank": p["local_rank"], "hostname": p["hostname"],
                       "device": p["device"]["id"], "pid": p["pid"]} for p in ctx.peers],
        },
    }


# -- several ranks on this machine ------------------------------------------------------------
def launch(nproc: int, argv: Sequence[str], on_launch: Callable[[str], None] | None = None) -> None:
    """Run ``python -m benchsuite <argv>`` (less ``--nproc``) in ``nproc`` ranks on this machine
    through torchrun's API; ``on_launch`` gets the equivalent torchrun command first. Raises
    `LaunchFailed` naming each failed rank; a KeyboardInterrupt (`benchsuite.signals.SigTerm`
    for SIGTERM) when the launcher was stopped by a signal (the ranks keep what they finished)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    argv = distributed.strip_nproc(argv)
    if on_launch is not None:
        on_launch(f"torchrun --nproc-per-node {nproc} -m benchsuite {shlex.join(argv)}")
    try:
        distributed.launch(nproc, argv)
    except ChildFailedError as exc:
        failures = []
        for rank, failure in sorted(exc.failures.items()):
            has_file = bool(failure.error_file) and os.path.isfile(failure.error_file)
            why = failure.message if failure.exitcode < 0 or has_file else f"exit code {failure.exitcode}"
            failures.append((rank, str(why)))
        raise LaunchFailed(failures) from None
    except SignalException as exc:  # torchrun's agent stopped the ranks on Ctrl-C or SIGTERM: say which
        raise (signals.SigTerm() if exc.sigval == signal.SIGTERM else KeyboardInterrupt()) from None
