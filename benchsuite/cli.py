"""The `benchsuite` command: parse options, call the API, print. No measuring logic here."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from benchsuite import __version__

EXIT_INTERRUPTED = 130
_stdout = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200)
_stderr = Console(stderr=True)
FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]),
                      default="table", show_default=True, help="How to print the table.")


def _usage(message: str) -> click.UsageError:
    return click.UsageError(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="benchsuite")
def main() -> None:
    """Measure what your CPU and GPUs really do on deep-learning work."""


@main.command()
@click.option("--workload", "-w", multiple=True, help="Workload names (comma list) or 'all'.  [default: all]")
@click.option("--device", "-d", default="all", show_default=True, help="cpu, cuda, cuda:N or all (comma list).")
@click.option("--precision", "-p", multiple=True,
              help="fp32, tf32, fp16, bf16, fp8 or all (comma list).  [default: fp32,bf16 on a CPU with native "
                   "bf16; fp32,tf32,bf16,fp16 on a GPU]")
@click.option("--batch-size", "-b", multiple=True, help="Batch sizes (comma list) and/or 'auto'.  [default: per workload]")
@click.option("--mode", "-m", default="both", show_default=True, help="train, infer or both.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Workload parameter, repeatable: m=4096, mlp.widths=1024x4096x1024; a comma list sweeps.")
@click.option("--min-time", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds of timed steps per case.  [default: 1 on CPU, 5 on GPU]")
@click.option("--min-iters", type=click.IntRange(min=1), default=None, help="Fewest timed steps per case.")
@click.option("--warmup", type=click.IntRange(min=0), default=None, help="Fewest warm-up steps per case.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for torch (recorded).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True,
              help="Parent folder; each run goes to OUT/<run-id>/.")
@click.option("--tag", default=None, help="A label stored with the run.")
@click.option("--quick", is_flag=True, help="Smallest sweep: one batch size, short timing (smoke tests, CI).")
@click.option("--fail-fast", is_flag=True, help="Stop at the first case that fails (exit 1).")
@click.option("--sample-hz", type=click.FloatRange(1, 1000), default=20.0, show_default=True,
              help="Telemetry samples per second (1 to 1000).")
@click.option("--cooldown", type=click.FloatRange(min=0), default=None,
              help="Seconds to rest between cases on a GPU.  [default: 3 when energy is measured]")
@click.option("--telemetry/--no-telemetry", default=True, show_default=True,
              help="Sample power, energy, memory, clocks and host load during each case.")
@click.option("--nproc", type=click.IntRange(min=1), default=None,
              help="Launch N ranks on this machine through torchrun's API (one per GPU, or N CPU processes).")
@click.option("--collective-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Under torchrun: seconds one collective may wait before its case is an error naming the rank.  "
                   "[default: 300]")
@FORMAT
def run(workload, device, precision, batch_size, mode, params, min_time, min_iters, warmup, threads,
        out_dir, tag, quick, fail_fast, sample_hz, cooldown, telemetry, nproc, collective_timeout, fmt) -> None:
    """Sweep workloads x devices x precisions x batch sizes and record every case."""
    from benchsuite import distributed

    try:
        env = distributed.detect()
    except distributed.DistError as exc:
        raise _usage(str(exc)) from None
    if nproc is not None and env is None:
        _launch(nproc)
        return
    if nproc is not None:
        _stderr.print("benchsuite: --nproc is ignored: this process was already launched by torchrun/srun")
    import torch

    from benchsuite import devices as devices_mod
    from benchsuite import plan, results, runner
    from benchsuite.telemetry import Telemetry
    from benchsuite.workload import registry as load_registry

    reg = load_registry()
    try:
        if threads:
            torch.set_num_threads(threads)
        if env is None:
            chosen = devices_mod.resolve(device)
        else:
            chosen = [distributed.pick_device(device, env.local_rank, devices_mod.available())]
        names = plan.parse_workloads(workload, reg)
        sweep = plan.Sweep(
            workloads=names,
            devices=chosen,
            precisions=plan.parse_precisions(precision),
            batch_sizes=plan.parse_batch_sizes(batch_size),
            modes=plan.parse_modes(mode),
            params=plan.parse_params(params, names, reg),
            quick=quick,
            world_size=env.world_size if env is not None else None,
        )
        results.check_out_dir(out_dir)
    except (plan.PlanError, devices_mod.DeviceError, results.ResultsError) as exc:
        raise _usage(str(exc)) from None
    cases = plan.expand(sweep, reg)
    run_id = results.new_run_id()
    ctx, node_devices = None, ()
    if env is not None:
        ctx = distributed.Context(env, chosen[0], case_timeout_s=collective_timeout or distributed.DEFAULT_CASE_TIMEOUT_S)
        ctx.start({"hostname": devices_mod.host_info()["hostname"], "device": _device_record(chosen[0]),
                   "host": devices_mod.host_info(), "pid": os.getpid()})
        node_devices = _node_devices(ctx, chosen[0])
    main_rank = ctx is None or ctx.is_main
    sampling = telemetry and (ctx is None or env.local_rank == 0)  # a node's local rank 0 samples its devices
    gpus = [d.nvml_index for d in chosen if d.type == "cuda" and d.nvml_index is not None]
    gpus += [int(d.split(":")[1]) for d in node_devices if d.startswith("cuda:") and int(d.split(":")[1]) not in gpus]
    tel = Telemetry(gpus, hz=sample_hz, samples_path=out_dir / run_id / results.SAMPLES_FILE if main_rank else None,
                    enabled=sampling)
    gpu_cooldown = cooldown if cooldown is not None else (runner.COOLDOWN_GPU_S if tel.available else 0.0)
    overrides = {"min_time_s": min_time, "min_iters": min_iters, "warmup_iters": warmup}
    settings = runner.RunSettings(
        timing={t: runner.timing_settings(t, quick, **overrides) for t in ("cpu", "cuda")},
        fail_fast=fail_fast,
        cooldown_s={"cpu": cooldown or 0.0, "cuda": gpu_cooldown},
        idle_s=(1.0 if quick else runner.IDLE_S) if telemetry else 0.0,
    )
    header = {
        "benchsuite": __version__,
        "tag": tag,
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "options": {k: (list(v) if isinstance(v, tuple) else str(v) if isinstance(v, Path) else v)
                    for k, v in click.get_current_context().params.items()},
        "host": devices_mod.host_info(),
        "devices": [_device_record(d) for d in chosen],
        "threads": torch.get_num_threads(),
        "settings": {"quick": quick, "fail_fast": fail_fast, "sample_hz": sample_hz,
                     "cooldown_s": settings.cooldown_s, "idle_s": settings.idle_s,
                     "timing": {t: vars(s) for t, s in settings.timing.items()}},
        "telemetry": tel.info(),
    }
    if ctx is not None:
        header.update(_distributed_header(ctx, env))
    if not main_rank:
        _run_rank(runner.Runner(reg, chosen, None, settings, telemetry=tel if sampling else None, dist=ctx,
                                node_devices=node_devices), cases, tel, ctx)
        return
    store = results.RunStore(out_dir, header, run_id=run_id)
    _stderr.print(f"benchsuite: {len(cases)} cases -> {store.path}"
                  + (f" ({env.world_size} ranks, {ctx.backend})" if ctx is not None else ""))
    the_runner = runner.Runner(reg, chosen, store, settings, telemetry=tel if sampling else None, dist=ctx,
                               node_devices=node_devices)
    try:
        with tel:
            status = _run_with_progress(the_runner, cases, failures=ctx is not None)
    finally:
        if ctx is not None and store.closed:
            ctx.close()
    df = results.load(store.path)
    _print_table(df, fmt, title=f"run {store.run_id} ({status})")
    _print_not_measured(df)
    _stderr.print(f"Results: {store.path}")
    if telemetry:
        _stderr.print(f"Telemetry samples: {store.dir / results.SAMPLES_FILE}")
    if status == "interrupted":
        _stderr.print("Interrupted: the cases finished before Ctrl-C are kept.")
        sys.exit(EXIT_INTERRUPTED)
    if status == "failed":
        end = results.read_run(store.path).end or {}
        _stderr.print(f"Run failed: {escape(str(end.get('reason')))}", highlight=False)
        sys.exit(1)


def _launch(nproc: int) -> None:
    """`--nproc N`: the same command in N ranks through torchrun's API; exit 1 naming failed ranks."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    from benchsuite import distributed

    argv = distributed.strip_nproc(sys.argv[1:])
    _stderr.print(f"benchsuite: launching {nproc} ranks: torchrun --nproc-per-node {nproc} -m benchsuite "
                  f"{shlex.join(argv)}")
    try:
        distributed.launch(nproc, argv)
    except ChildFailedError as exc:
        for rank, failure in sorted(exc.failures.items()):
            has_file = bool(failure.error_file) and os.path.isfile(failure.error_file)
            why = failure.message if failure.exitcode < 0 or has_file else f"exit code {failure.exitcode}"
            _stderr.print(f"rank {rank} failed: {escape(str(why))}", highlight=False)
        sys.exit(1)


def _node_devices(ctx, device) -> tuple[str, ...]:
    """On a node's local rank 0: telemetry ids of the other local ranks' devices (it samples them)."""
    if ctx.env.local_rank != 0:
        return ()
    here = [p for p in ctx.peers if p["hostname"] == ctx.peers[ctx.rank]["hostname"] and p["rank"] != ctx.rank]
    ids = []
    for peer in here:
        d = peer["device"]
        tid = "cpu" if d["type"] == "cpu" else (f"cuda:{d['nvml_index']}" if d.get("nvml_index") is not None else None)
        if tid is not None and tid != device.telemetry_id and tid not in ids:
            ids.append(tid)
    return tuple(ids)


def _distributed_header(ctx, env) -> dict:
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


def _run_rank(the_runner, cases, tel, ctx) -> None:
    """A rank other than 0: the same cases in lock-step, silently; exit 1 if the run fails."""
    from benchsuite import distributed

    try:
        with tel:
            the_runner.run(cases)
    except (Exception, distributed.Terminated) as exc:
        _stderr.print(f"rank {ctx.rank}: {type(exc).__name__}: {escape(str(exc))}", highlight=False)
        sys.exit(1)
    ctx.close()


def _device_record(device) -> dict:
    from benchsuite import peaks

    data = device.to_dict()
    sheet = peaks.lookup(device.name) if device.type == "cuda" else None
    data["datasheet"] = sheet.to_dict() if sheet else None
    return data


def _run_with_progress(the_runner, cases, failures: bool = False) -> str:
    """Run with a rich progress bar on stderr; Ctrl-C ends the run cleanly. With ``failures``
    (torch.distributed), a failed run (a rank died) returns "failed": its end record says why."""
    from benchsuite import distributed

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        console=_stderr, transient=True)
    task = progress.add_task("starting", total=len(cases))

    def on_start(i, n, case):
        progress.update(task, description=f"{case.id} ({n - i} left)")

    def on_end(i, n, record):
        progress.advance(task)
        progress.console.print(_case_line(record), highlight=False)

    the_runner.on_start, the_runner.on_end = on_start, on_end
    try:
        with progress:
            return the_runner.run(cases)
    except KeyboardInterrupt:
        return "interrupted"
    except (Exception, distributed.Terminated):
        if not failures:
            raise
        return "failed"


def _case_line(record: dict) -> str:
    """One line per finished case: its figures next to its timing, '—' where not measured."""
    if record["status"] != "ok":
        return f"{_status_markup(record['status'])} {escape(record['id'])}: {escape(str(record['reason']))}"
    from benchsuite.report.tables import fmt_value

    m = record["metrics"]
    return (f"{_status_markup('ok')} {escape(record['id'])}: {fmt_value(m['samples_per_s'], 'num')} {m['sample_unit']}/s, "
            f"median {fmt_value(m['step_s_median'], 'ms')} ms (IQR {fmt_value(m['step_s_iqr'], 'ms')}), "
            f"{fmt_value((record.get('telemetry') or {}).get('power_mean_w'), 'num')} W, "
            f"{fmt_value(m.get('j_per_sample'), 'num')} J/{m['sample_unit']}, "
            f"{fmt_value(m.get('samples_per_j'), 'num')} {m['sample_unit']}/J")


def _print_not_measured(df) -> None:
    """Say once per device why energy or power could not be measured."""
    if "telemetry_note" not in df.columns:
        return
    notes = df[df["telemetry_note"].notna()].groupby("device")["telemetry_note"].first()
    for device, note in notes.items():
        _stderr.print(f"not measured on {device}: {escape(str(note))}", highlight=False)


def _print_table(df, fmt: str, title: str) -> None:
    from benchsuite.report import tables

    if fmt != "table":
        click.echo(tables.render(df, fmt), nl=False)
        return
    frame = tables.summary(df)
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        numeric = column not in ("case", "status", "notes")
        table.add_column(column, justify="right" if numeric else "left", overflow="fold",
                         no_wrap=column == "case")
    for row in frame.itertuples(index=False):
        table.add_row(*[_status_markup(v) if c == "status" else escape(str(v)) for c, v in zip(frame.columns, row)])
    _stdout.print(table)


def _status_markup(status: str) -> str:
    return {"ok": "[green]ok[/]", "skipped": "[dim]skipped[/]", "oom": "[yellow]oom[/]",
            "error": "[red]error[/]"}.get(status, status)


@main.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_(fmt: str) -> None:
    """Show the workloads (modes, parameters, batch sizes) and the precisions."""
    from benchsuite import precision
    from benchsuite.workload import registry as load_registry

    reg = load_registry()
    described = [reg[name].describe() for name in reg.names()]
    if fmt == "json":
        click.echo(json.dumps({"workloads": described, "precisions": precision.MEANING,
                               "broken": reg.errors}, indent=2))
        return
    for info in described:
        _stdout.print(f"[bold]{info['name']}[/]: {info['summary']}")
        batches = ("no batch axis: --batch-size does not apply" if not info["batched"] else
                   "batch sizes " + "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in info["batch_sizes"].items()))
        _stdout.print(f"  modes: {', '.join(info['modes'])}   precisions: {', '.join(info['precisions'])}   "
                      f"{batches}   throughput unit: {info['sample_unit']}/s")
        table = Table(show_header=True, box=None, padding=(0, 2))
        for col in ("parameter", "default", "unit", "type", "meaning"):
            table.add_column(col, overflow="fold")
        for p in info["params"]:
            default = p["default"] if isinstance(p["default"], str) else ", ".join(f"{k}: {v}" for k, v in p["default"].items())
            table.add_row(p["name"], default, p["unit"], p["type"], p["help"])
        _stdout.print(table)
        _stdout.print()
    table = Table(title="precisions", box=None, padding=(0, 2))
    table.add_column("name")
    table.add_column("meaning")
    for name, meaning in precision.MEANING.items():
        table.add_row(name, meaning)
    _stdout.print(table)
    for name, error in reg.errors.items():
        _stderr.print(f"[red]workload {name} failed to load[/]: {error}")


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def info(fmt: str) -> None:
    """Show this machine: CPU, GPUs, versions, NVML, and datasheet peaks."""
    from benchsuite import devices as devices_mod

    host = devices_mod.host_info()
    found = [_device_record(d) for d in devices_mod.available()]
    if fmt == "json":
        click.echo(json.dumps({"host": host, "devices": found}, indent=2))
        return
    table = Table(title="machine", show_header=False, box=None, padding=(0, 2))
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    nvml = "reachable" if host["nvml"] else f"not reachable ({host['nvml_reason']})"
    rows = [
        ("host", f"{host['hostname']} ({host['os']})"),
        ("CPU", f"{host['cpu_model']}: {host['cpu_cores_physical']} cores, {host['cpu_cores_logical']} threads; "
                f"torch uses {host['torch_threads']} threads"),
        ("CPU native low precision", ", ".join(host["cpu_native_precisions"]) or "none (bf16/fp16 run emulated)"),
        ("python / torch", f"{host['python']} / {host['torch']}"),
        ("CUDA runtime (torch)", host["cuda_runtime"] or "none (CPU-only torch build)"),
        ("NVIDIA driver / CUDA driver", f"{host['driver'] or '—'} / {host['cuda_driver'] or '—'}"),
        ("NVML", nvml),
    ]
    for row in rows:
        table.add_row(*row)
    _stdout.print(table)
    gpus = [d for d in found if d["type"] == "cuda"]
    if not gpus:
        _stdout.print("GPUs: none visible to torch")
    for d in gpus:
        mem = f"{d['memory_bytes'] / 2**30:.1f} GiB" if d["memory_bytes"] else "—"
        _stdout.print(f"[bold]{d['id']}[/]: {d['name']}, {mem}, compute capability {d['compute_capability']}, "
                      f"{d['multiprocessors']} SMs")
        sheet = d["datasheet"]
        if not sheet:
            _stdout.print("  datasheet: no figures known for this GPU")
            continue
        peaks = ", ".join(f"{p} {v:g}" for p, v in sheet["tflops"].items())
        _stdout.print(f"  datasheet ({sheet['model']}): dense TFLOP/s {peaks}; memory {sheet['mem_bandwidth_gbs']:g} GB/s; "
                      f"board power {sheet['tdp_w']:g} W")
        _stdout.print(f"  source: {sheet['source']}")
    _stdout.print("CPU datasheet peaks: none (no comparable vendor figure; benchsuite invents none)")


if __name__ == "__main__":  # pragma: no cover
    main()
