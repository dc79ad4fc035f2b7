"""The `benchsuite` command: parse options, call the API, print. No measuring logic here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from benchsuite import files, metrics, signals
from benchsuite._version import __version__
from benchsuite.files import WriteError
from benchsuite.options import Number, OutPath, Threads, Threshold
from benchsuite.report import safe
from benchsuite.settings import (COOLDOWN_GPU_S, DEFAULT_CASE_TIMEOUT_S, SAMPLE_HZ, SWEEPS, TIMING_DEFAULTS,
                                 RunOptions)

# Options that run-like commands (run, claims) share.
MIN_TIME_OPTION = click.option("--min-time", type=Number(0, low_open=True), default=None,
                               help="Seconds of timed steps per case.  [default: "
                                    f"{TIMING_DEFAULTS['cpu'].min_time_s:g} on CPU, "
                                    f"{TIMING_DEFAULTS['cuda'].min_time_s:g} on GPU]")
MIN_ITERS_OPTION = click.option("--min-iters", type=click.IntRange(min=1), default=None,
                                help="Fewest timed steps per case.")
WARMUP_OPTION = click.option("--warmup", type=click.IntRange(min=0), default=None, help="Fewest warm-up steps per case.")
THREADS_OPTION = click.option("--threads", type=Threads(), default=None,
                              help="CPU threads for torch, 1 to 4 x this machine's logical CPUs (recorded).")


def sampling_options(f):
    """--sample-hz and --cooldown, the telemetry options of run-like commands."""
    f = click.option("--cooldown", type=Number(0), default=None,
                     help="Seconds to rest between cases on a GPU.  "
                          f"[default: {COOLDOWN_GPU_S:g} when energy is measured]")(f)
    return click.option("--sample-hz", type=Number(1, 1000), default=SAMPLE_HZ, show_default=True,
                        help="Telemetry samples per second (1 to 1000).")(f)
_stderr = Console(stderr=True, soft_wrap=True)  # a log line is never cut in two (grep)
FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]),
                      default="table", show_default=True, help="How to print the table.")
WIDE_OPTION = click.option("--wide", is_flag=True,
                           help="Every column, however wide the lines get.  [default: the columns that fit the "
                                "terminal, or COLUMNS; every column when the output is not a terminal]")
PRECISE_OPTION = click.option("--precise", is_flag=True,
                              help="Seven significant figures instead of three (json and csv carry every digit).")
# Where a laid-out table's lines are styled on a terminal (the text itself is plain).
_STYLES = ((r"▼ REGRESSION", "bold red"), (r"▲ improvement", "green"), (r"(?<=  )error\b", "red"),
           (r"(?<=  )oom\b", "yellow"), (r"(?<=  )skipped\b", "dim"))


def _out() -> Console:
    """stdout as rich sees it now: the terminal's width, or ``COLUMNS``; a pipe or file is not
    cut at any width (`benchsuite.report.text.width`)."""
    from benchsuite.report import text

    return Console(soft_wrap=False, width=text.width() or 100_000)


def _width(wide: bool) -> int | None:
    from benchsuite.report import text

    return text.width(wide)


def _digits(precise: bool) -> int | None:
    from benchsuite.report import format

    return None if precise else format.DIGITS


def _print_text(laid_out: str) -> None:
    """A table laid out by `benchsuite.report.text`, on stdout; styled on a terminal. Its cells
    hold text from results files and the machine: no escape sequence or control character
    reaches the terminal (`benchsuite.report.safe`), and it is never read as rich markup."""
    laid_out = safe.plain(laid_out, lines=True)
    if not sys.stdout.isatty():
        click.echo(laid_out, nl=False)
        return
    styled = Text(laid_out)
    for pattern, style in _STYLES:
        styled.highlight_regex(pattern, style)
    _out().print(styled, soft_wrap=True, end="", highlight=False)


class _Main(click.Group):
    """The command group, with the signal handling of every command: SIGTERM stops like Ctrl-C
    (`benchsuite.signals.stop_on_signals`), and an interruption no command handled itself
    (start-up included) exits 130 after Ctrl-C, 143 after SIGTERM, with a message instead of
    click's "Aborted!" and exit 1."""

    def invoke(self, ctx):
        with signals.stop_on_signals():
            try:
                return super().invoke(ctx)
            except KeyboardInterrupt as exc:
                click.echo(f"\nInterrupted by {signals.describe(exc)}.", err=True)
                ctx.exit(signals.exit_code(exc))


def _write_failed(exc: WriteError, kept: str = "") -> None:
    """A file that could not be written: one line naming it, then exit 2 (a bad path) or 3 (the
    disk failed at run time)."""
    click.echo(f"error: {safe.plain(exc)}" + (f"; {safe.plain(kept)}" if kept else ""), err=True)
    sys.exit(exc.exit_code)


def _usage(exc: BaseException) -> click.UsageError:
    """Bad input as a usage error (exit 2), its message safe to print."""
    return click.UsageError(safe.plain(exc))


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="benchsuite")
def main() -> None:
    """Measure what your CPU and GPUs really do on deep-learning work."""


@main.command()
@click.option("--workload", "-w", multiple=True,
              help="Workload names (comma list) or 'all'.  [default: the sweep's; headline: matmul, mlp, cnn]")
@click.option("--device", "-d", default="all", show_default=True, help="cpu, cuda, cuda:N or all (comma list).")
@click.option("--precision", "-p", multiple=True,
              help="fp32, tf32, fp16, bf16, fp8 or all (comma list).  [default: the sweep's; full: fp32,bf16 on "
                   "a CPU (bf16 a skipped case where it is not native), fp32,tf32,bf16,fp16 on a GPU]")
@click.option("--batch-size", "-b", multiple=True,
              help="Batch sizes (comma list), 'auto' (the largest that fits) and/or 'best' (the highest "
                   "throughput).  [default: the sweep's]")
@click.option("--mode", "-m", default=None, help="train, infer or both.  [default: both]")
@click.option("--exec", "exec_modes", multiple=True, metavar="MODES",
              help="Execution modes (comma list): eager, graphs, compile, compile-max or all; a sweep axis.  "
                   "[default: eager]")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="Workload parameter, repeatable: m=4096, mlp.widths=1024x4096x1024; a comma list sweeps.")
@MIN_TIME_OPTION
@MIN_ITERS_OPTION
@WARMUP_OPTION
@click.option("--settle-max", type=Number(0), default=None,
              help="Longest GPU warm-up, in seconds, waiting for a steady step time (the last 4 s of "
                   "blocks drift by at most 0.5 %); 0: a fixed warm-up instead.  "
                   f"[default: {TIMING_DEFAULTS['cuda'].settle_max_s:g}; --quick: a fixed warm-up]")
@click.option("--flush-l2", is_flag=True,
              help="GPU: write a buffer larger than L2 before every timed step (cache state 'flushed').")
@THREADS_OPTION
@click.option("--out", "out_dir", type=OutPath(), default=Path("reports"), show_default=True,
              help="Parent folder; each run goes to OUT/<run-id>/.")
@click.option("--tag", default=None, help="A label stored with the run.")
@click.option("--sweep", type=click.Choice(SWEEPS), default=None,
              help="Which defaults fill the options not given: headline (what the chip does: matmul at every "
                   "precision it has, mlp and cnn at fp32 and bf16/fp16 at one batch near the throughput "
                   "knee), full (every default precision and batch size) or quick (a smoke test).  "
                   "[default: headline; full once -w/-p/-b/-m is given]")
@click.option("--full", is_flag=True, help="The whole grid: --sweep full.")
@click.option("--quick", is_flag=True, help="Smallest sweep, short timing (smoke tests, CI): --sweep quick.")
@click.option("--dry-run", is_flag=True, help="Print the plan and its estimated wall time, measure nothing.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first case that fails (exit 1).")
@sampling_options
@click.option("--telemetry/--no-telemetry", default=True, show_default=True,
              help="Sample power, energy, memory, clocks and host load during each case.")
@click.option("--nproc", type=click.IntRange(min=1), default=None,
              help="Launch N ranks on this machine through torchrun's API (one per GPU, or N CPU processes).")
@click.option("--collective-timeout", type=Number(0, low_open=True), default=None,
              help="Under torchrun: seconds one collective may wait before its case is an error naming the rank.  "
                   f"[default: {DEFAULT_CASE_TIMEOUT_S:g}]")
@FORMAT
@WIDE_OPTION
@PRECISE_OPTION
def run(workload, device, precision, batch_size, mode, params, min_time, min_iters, warmup, settle_max, flush_l2,
        threads, out_dir, tag, sweep, full, quick, dry_run, fail_fast, sample_hz, cooldown, telemetry, nproc,
        collective_timeout, fmt, wide, precise, exec_modes=()) -> None:
    """Measure what each device does (the headline sweep), or the workloads x precisions x batch
    sizes you choose, and record every case."""
    from benchsuite import calibration_store, results, session

    if full and sweep not in (None, "full"):
        raise click.UsageError(f"--full is --sweep full; it cannot be combined with --sweep {sweep}")
    sweep = "full" if full else sweep
    quick = quick or sweep == "quick"  # --sweep quick is --quick: its short timing too
    try:
        env = session.launcher()
    except session.INPUT_ERRORS as exc:
        raise _usage(exc) from None
    if nproc is not None and dry_run and env is None:
        raise click.UsageError("--dry-run shows the plan of this process; run it without --nproc (or under torchrun)")
    if nproc is not None and env is None:
        _launch(nproc)
        return
    if nproc is not None:
        _stderr.print("benchsuite: --nproc is ignored: this process was already launched by torchrun/srun")
    try:
        options = RunOptions(quick=quick, telemetry=telemetry, sample_hz=sample_hz, cooldown_s=cooldown,
                             fail_fast=fail_fast, min_time_s=min_time, min_iters=min_iters, warmup_iters=warmup,
                             settle_max_s=settle_max, flush_l2=flush_l2, collective_timeout_s=collective_timeout,
                             threads=threads).check()
        planned = session.make_plan(workload, device, precision, batch_size, mode, params, quick=quick, sweep=sweep,
                                    launch=env, exec_modes=exec_modes)
        results.check_out_dir(out_dir, create=not dry_run)
    except session.INPUT_ERRORS as exc:
        raise _usage(exc) from None
    except WriteError as exc:
        _write_failed(exc)
    main_rank = env is None or env.rank == 0
    # the estimate reads NVML and earlier runs: only rank 0 prints it and shows the time left
    expected = session.estimate_plan(planned, options, out_dir) if main_rank else None
    if main_rank:
        _print_plan(planned, expected, options, listing=dry_run, fmt=fmt)
    if dry_run:
        return
    progress = _Progress(len(planned.cases), expected)
    ready = []

    def on_ready(started) -> None:
        ready.append(started)
        _stderr.print(f"benchsuite: {len(started.cases)} cases -> {safe.markup(started.results_path)}"
                      + (f" ({started.world_size} ranks, {started.backend})" if started.world_size else ""),
                      highlight=False)
        for problem in started.calibration_problems:
            _stderr.print(f"calibration not used: {safe.markup(problem)}", highlight=False)
        for device_id, rec in started.calibrations.items():
            _stderr.print(f"calibration for {device_id}: {safe.markup(rec['id'])} "
                          f"(copied to {safe.markup(started.calibration_copy)})", highlight=False)
        progress.start()

    interrupted = None
    try:
        done = session.run_plan(planned, options, out_dir, tag=tag, header_options=click.get_current_context().params,
                                header_settings={"quick": quick, "fail_fast": fail_fast}, on_ready=on_ready,
                                on_start=progress.on_start, on_end=progress.on_end)
    except session.RunInterrupted as stop:
        done, interrupted = stop.run, stop
    except WriteError as exc:
        progress.stop()  # before the message: the bar is drawn over the last line
        _write_failed(exc, _kept(ready[0].results_path) if ready else "nothing was measured")
    finally:
        progress.stop()
    if not done.main:  # a rank other than 0 under torchrun: silent unless it failed
        if done.status == "failed":
            _stderr.print(f"rank {done.rank}: {safe.markup(done.reason)}", highlight=False)
            sys.exit(1)
        return
    df = done.frame()
    _print_table(df, fmt, title=f"run {done.run_id} ({done.status})", wide=wide, precise=precise)
    for device_id, rec in done.calibrations.items():
        _stderr.print(f"% achievable on {device_id}: calibration {safe.markup(rec['id'])}", highlight=False)
    stale = calibration_store.stale_advice(df.to_dict("records")) if "calibration_stale" in df.columns else None
    if stale:
        _stderr.print(safe.markup(stale), highlight=False, soft_wrap=True)  # one line, whatever the terminal's width
    if fmt in ("csv", "json"):  # the table and markdown say it in their footnotes
        _print_not_measured(df)
    _stderr.print(f"Results: {safe.markup(done.results_path)}", highlight=False)
    if done.samples_path is not None:
        _stderr.print(f"Telemetry samples: {safe.markup(done.samples_path)}", highlight=False)
    _print_not_run(done)
    if done.status == "interrupted":
        cause = interrupted or KeyboardInterrupt()
        _stderr.print(f"Interrupted by {signals.describe(cause)}: the cases finished before it are kept.")
        sys.exit(signals.exit_code(cause))
    if done.status == "failed":
        _stderr.print(f"Run failed: {safe.markup(done.reason)}", highlight=False)
        sys.exit(1)


def _kept(path) -> str:
    """What a run that stopped on a failed write kept: its finished cases, still loadable."""
    from benchsuite import results

    try:
        count = len(results.read_run(path).cases)
    except results.ResultsError:
        return f"see {path}"
    return f"the {count} case(s) finished before are kept in {path}"


def _launch(nproc: int) -> None:
    """`--nproc N`: the same command in N ranks through torchrun's API; exit 1 naming failed ranks."""
    from benchsuite import session

    try:
        session.launch(nproc, sys.argv[1:],
                       on_launch=lambda command: _stderr.print(f"benchsuite: launching {nproc} ranks: "
                                                               f"{safe.markup(command)}", highlight=False))
    except KeyboardInterrupt as exc:  # the launcher stopped the ranks; each kept what it finished
        _stderr.print(f"Interrupted by {signals.describe(exc)}: the ranks stopped; rank 0 kept the cases "
                      "finished before it in its run directory.")
        sys.exit(signals.exit_code(exc))
    except session.LaunchFailed as exc:
        for rank, why in exc.failures:
            _stderr.print(f"rank {rank} failed: {safe.markup(why)}", highlight=False)
        sys.exit(1)


class _Progress:
    """A rich progress bar on stderr over a run's cases, with one line per finished case and the
    time left (`benchsuite.estimate.Estimate.remaining_s`, ticking down within a case)."""

    def __init__(self, total: int, expected=None) -> None:
        import time

        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                                   TimeElapsedColumn)

        outer = self

        class Left(ProgressColumn):
            def render(self, task) -> Text:
                return Text(outer.left_text(), style="progress.remaining")

        self.clock = time.monotonic
        self.expected = expected
        self.done, self.first_start, self.case_start = 0, None, None
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            Left(), console=_stderr, transient=True)
        self.task = self.bar.add_task("starting", total=total)
        self.started = False

    def left_text(self) -> str:
        """``about 1:35 left`` from the estimate and the cases finished so far ('' without one)."""
        if self.expected is None:
            return ""
        from benchsuite.estimate import clock_text

        now = self.clock()
        done_s = (self.case_start - self.first_start) if self.first_start is not None else 0.0
        current_s = (now - self.case_start) if self.case_start is not None else 0.0
        return f"about {clock_text(self.expected.remaining_s(self.done, done_s, current_s))} left"

    def start(self) -> None:
        self.bar.start()
        self.started = True

    def stop(self) -> None:
        """Stop the bar once (rich prints a blank line for each stop, started or not)."""
        if self.started:
            self.bar.stop()
            self.started = False

    def on_start(self, i: int, n: int, case) -> None:
        self.case_start = self.clock()
        if self.first_start is None:
            self.first_start = self.case_start
        self.done = i
        self.bar.update(self.task, description=f"{safe.markup(case.id)} ({n - i} left)")  # read as markup

    def on_end(self, i: int, n: int, record: dict) -> None:
        self.done = i + 1
        self.bar.advance(self.task)
        self.bar.console.print(_case_line(record), highlight=False)


def _print_plan(planned, expected, options, *, listing: bool, fmt: str) -> None:
    """The plan before measuring: cases per device and the estimated wall time (stderr); with
    ``listing`` (--dry-run) every case and its estimate too (stdout; --format json as JSON)."""
    from benchsuite import estimate

    if listing and fmt == "json":
        click.echo(json.dumps(estimate.plan_json(planned.cases, expected, planned.sweep), indent=2))
        return
    skipped = sum(1 for c in planned.cases if c.skip_reason)
    kind = f"{planned.sweep} sweep" if planned.sweep else "plan"
    total = f"about {estimate.duration_text(expected.total_s)}"
    if expected.longest_s > expected.total_s + 1:
        total += (f" (at most {estimate.duration_text(expected.longest_s)} if every GPU warm-up runs to its cap, "
                  f"--settle-max)")
    _stderr.print(f"benchsuite: {kind}: {len(planned.cases) - skipped} cases"
                  + (f" and {skipped} skipped" if skipped else "") + f", {total}; estimate from {expected.source}",
                  highlight=False, soft_wrap=True)
    seconds = expected.by_device()
    names = {d.id: d.name for d in planned.devices}
    for entry in estimate.summarize(planned.cases):
        parts = []
        for workload, axes in entry.workloads.items():
            text = " ".join(", ".join(map(str, axes[k])) for k in ("modes", "precisions") if axes[k])
            if axes["batches"]:
                text += " bs " + ", ".join(map(str, axes["batches"]))
            parts.append(safe.markup(f"{workload} {text}"))
        _stderr.print(f"  {safe.markup(entry.device)} ({safe.markup(names.get(entry.device, '?'))}): {entry.measured} cases, "
                      f"about {estimate.duration_text(seconds.get(entry.device, 0.0))}: " + "; ".join(parts),
                      highlight=False, soft_wrap=True)
    if planned.sweep == "headline":
        _stderr.print("  the whole grid of every default precision and batch size: --full", highlight=False)
    if listing:
        for row in expected.cases:
            mark = "skipped" if row.source == "skipped" else f"~{row.total_s:.0f} s"
            click.echo(f"{row.case_id}\t{mark}")


def _print_not_run(done) -> None:
    """After a run that stopped early: which planned cases never ran."""
    from benchsuite import results

    missing = results.not_run(done.header, done.records)
    if not missing:
        return
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    _stderr.print(f"Never ran: {len(missing)} of {len(done.header['planned'])} planned cases: {safe.markup(shown)}",
                  highlight=False, soft_wrap=True)


def _case_line(record: dict) -> str:
    """One line per finished case: its figures next to its timing, '—' where not measured."""
    if record["status"] != "ok":
        return f"{_status_markup(record['status'])} {safe.markup(record['id'])}: {safe.markup(record['reason'])}"
    from benchsuite import flags
    from benchsuite.report.format import figure, quantity

    m = record["metrics"]
    telemetry = record.get("telemetry") or {}
    unit = m.get("sample_unit")
    found = flags.of({**m, "quality_flags": telemetry.get("quality_flags"), "status": "ok",
                      "warmup_settled": (record.get("timing") or {}).get("warmup_settled")})
    energy = "".join(f", {safe.markup(text)}" for text in (quantity(telemetry.get("power_mean_w"), "W"),
                                                            figure(m.get("j_per_sample"), "j_per_sample", unit),
                                                            figure(m.get("samples_per_j"), "samples_per_j", unit))
                     if text != "—")
    return (f"{_status_markup('ok')} {safe.markup(record['id'])}: "
            f"{safe.markup(figure(m['samples_per_s'], 'samples_per_s', unit))}, "
            f"median {quantity(m['step_s_median'], 's')} (IQR {quantity(m['step_s_iqr'], 's')}){energy}"
            + (f" [{safe.markup(', '.join(found))}]" if found else ""))


def _print_not_measured(df) -> None:
    """Say once per device why energy or power could not be measured (csv/json on stdout carry no
    footnotes; the table and markdown say it in theirs)."""
    if "telemetry_note" not in df.columns:
        return
    notes = df[df["telemetry_note"].notna()].groupby("device")["telemetry_note"].first()
    for device, note in notes.items():
        _stderr.print(f"not measured on {safe.markup(device)}: {safe.markup(note)}", highlight=False)


def _print_table(df, fmt: str, title: str, wide: bool = False, precise: bool = False) -> None:
    from benchsuite.report import summary

    if fmt != "table":
        click.echo(safe.plain(summary.render(df, fmt), lines=True), nl=False)
        return
    _print_text(summary.text_table(df, _width(wide), _digits(precise), title=title))


def _status_markup(status: str) -> str:
    return {"ok": "[green]ok[/]", "skipped": "[dim]skipped[/]", "oom": "[yellow]oom[/]",
            "error": "[red]error[/]"}.get(status) or safe.markup(status)


@main.command(name="list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def list_(fmt: str) -> None:
    """Show the workloads (modes, parameters, batch sizes), the precisions and the exec modes."""
    from benchsuite import execution, precision
    from benchsuite.workload import registry as load_registry

    reg = load_registry()
    described = [reg[name].describe() for name in reg.names()]
    if fmt == "json":
        click.echo(json.dumps({"workloads": described, "precisions": precision.MEANING,
                               "exec_modes": execution.MEANING, "broken": reg.errors}, indent=2))
        return
    m = safe.markup  # a workload is a plug-in: its names and texts are someone else's
    for info in described:
        _out().print(f"[bold]{m(info['name'])}[/]: {m(info['summary'])}", highlight=False)
        batches = ("no batch axis: --batch-size does not apply" if not info["batched"] else
                   "batch sizes " + "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in info["batch_sizes"].items()))
        _out().print(m(f"  modes: {', '.join(info['modes'])}   precisions: {', '.join(info['precisions'])}   "
                       f"exec: {', '.join(info['exec_modes'])}   {batches}   "
                       f"throughput unit: {info['sample_unit']}/s"), highlight=False)
        table = Table(show_header=True, box=None, padding=(0, 2))
        for col in ("parameter", "default", "unit", "type", "meaning"):
            table.add_column(col, overflow="fold")
        for p in info["params"]:
            default = p["default"] if isinstance(p["default"], str) else ", ".join(f"{k}: {v}" for k, v in p["default"].items())
            table.add_row(*(safe.cell(v) for v in (p["name"], default, p["unit"], p["type"], p["help"])))
        _out().print(table)
        _out().print()
    for title, meanings in (("precisions", precision.MEANING), ("exec modes (--exec)", execution.MEANING)):
        table = Table(title=title, box=None, padding=(0, 2))
        table.add_column("name")
        table.add_column("meaning")
        for name, meaning in meanings.items():
            table.add_row(name, meaning)
        _out().print(table)
    for name, error in reg.errors.items():
        _stderr.print(f"[red]workload {m(name)} failed to load[/]: {m(error)}", highlight=False)


@main.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def info(fmt: str) -> None:
    """Show this machine: CPU, GPUs, versions, NVML, and datasheet peaks."""
    from benchsuite import devices as devices_mod

    from benchsuite import calibration_store

    host = devices_mod.host_info()
    present = devices_mod.available()
    found = [devices_mod.record(d) for d in present]
    calibrations, problems = calibration_store.load_for(present, host["hostname"], host["driver"])
    for d in found:
        d["calibration"] = calibrations.get(d["id"])
    if fmt == "json":
        click.echo(files.json_text({"host": host, "devices": found, "calibration_problems": problems}, indent=2))
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
        table.add_row(*(safe.cell(v) for v in row))
    _out().print(table)
    gpus = [d for d in found if d["type"] == "cuda"]
    if not gpus:
        _out().print("GPUs: none visible to torch")
    m = safe.markup  # the machine's names, driver strings and the calibration files are not ours
    for d in gpus:
        mem = f"{d['memory_bytes'] / 2**30:.1f} GiB" if d["memory_bytes"] else "—"
        _out().print(f"[bold]{m(d['id'])}[/]: {m(d['name'])}, {mem}, compute capability "
                     f"{m(d['compute_capability'])}, {d['multiprocessors']} SMs", highlight=False)
        sheet = d["datasheet"]
        if not sheet:
            _out().print("  datasheet: no figures known for this GPU")
            continue
        peaks = ", ".join(f"{p} {v:g}" for p, v in sheet["tflops"].items())
        _out().print(f"  datasheet ({sheet['model']}): dense TFLOP/s {peaks}; memory {sheet['mem_bandwidth_gbs']:g} GB/s; "
                      f"board power {sheet['tdp_w']:g} W")
        _out().print(f"  source: {m(sheet['source'])}")
    _out().print("CPU datasheet peaks: none (no comparable vendor figure; benchsuite invents none)")
    for d in found:
        _out().print(f"[bold]{m(d['id'])}[/] achievable: {m(_achievable_line(d['calibration']))}", highlight=False)
    for problem in problems:
        _stderr.print(f"calibration not used: {m(problem)}", highlight=False)


def _achievable_line(record: dict | None) -> str:
    """One line of a device's calibration: TFLOP/s per precision and GB/s, with its id."""
    if not record:
        return "not calibrated (run `benchsuite calibrate`)"
    flops = ", ".join(f"{p} {e['tflop_per_s']:.4g}" for p, e in (record.get("matmul") or {}).items()
                      if e.get("tflop_per_s"))
    gbs = ", ".join(f"{k} {e['gb_per_s']:.4g}" for k, e in (record.get("bandwidth") or {}).items())
    return f"TFLOP/s {flops or '—'}; GB/s {gbs or '—'} (calibration {record['id']})"


@main.command()
@click.argument("names", nargs=-1, metavar="[FLAG]...")
def explain(names) -> None:
    """What a quality flag in a table means (every flag when none is named)."""
    from benchsuite import flags
    from benchsuite.report import text

    unknown = [n for n in names if n not in flags.FLAGS]
    if unknown:
        raise click.UsageError(f"no flag {', '.join(map(repr, unknown))}; flags: {', '.join(flags.FLAGS)}")
    limit = _width(False)
    for name in names or flags.FLAGS:
        known = flags.FLAGS[name]
        what = {"energy": "the energy figures", "time": "the timed figures", "both": "every figure"}[known.doubts]
        click.echo(f"{name}: puts {what} in doubt")
        for line in (known.meaning[:1].upper() + known.meaning[1:] + ".", f"Set by: {known.source}."):
            click.echo("\n".join("  " + part for part in (text.wrap(line, limit - 2) if limit else [line])))
        click.echo()


@main.command()
@click.option("--device", "-d", default="all", show_default=True, help="cpu, cuda, cuda:N or all (comma list).")
@click.option("--precision", "-p", multiple=True,
              help="fp32, tf32, fp16, bf16, fp8 or all (comma list).  [default: fp32,tf32,bf16,fp16 and fp8 "
                   "where supported on a GPU; fp32,bf16 where native on a CPU]")
@click.option("--budget", type=Number(0, low_open=True), default=None,
              help="Seconds per device for the search and the bandwidth measurements.  [default: 120 on a GPU, "
                   "20 on a CPU]")
@click.option("--out", "out_dir", type=OutPath(), default=Path("reports"), show_default=True,
              help="Parent folder; the calibration is also copied to OUT/<run-id>/calibration.json.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--force", is_flag=True, default=False,
              help="Replace the stored calibration even where it is better (default: keep the better figure of "
                   "each ceiling).")
@WIDE_OPTION
@PRECISE_OPTION
def calibrate(device, precision, budget, out_dir, fmt, force, wide, precise) -> None:
    """Measure each device's achievable matmul TFLOP/s and memory bandwidth, and store them.

    Stored only when complete; a stored ceiling is only lowered with --force. Exit 1 when a
    device's calibration was incomplete (not stored)."""
    from benchsuite import calibrate as calibrate_mod
    from benchsuite import calibration_store
    from benchsuite import devices as devices_mod
    from benchsuite import plan, results
    from benchsuite.report import calibration

    try:
        chosen = devices_mod.resolve(device)
        requested = plan.parse_precisions(precision)
        results.check_out_dir(out_dir)
    except (plan.PlanError, devices_mod.DeviceError, results.ResultsError) as exc:
        raise _usage(exc) from None
    except WriteError as exc:
        _write_failed(exc)
    host = devices_mod.host_info()

    def on_trial(device_id, name, trial):
        m, n, k = trial.shape
        _stderr.print(f"  {device_id} {name} {trial.phase} {m}x{n}x{k}: {trial.tflop_per_s:.3g} TFLOP/s",
                      highlight=False)

    _stderr.print(f"benchsuite calibrate: {', '.join(d.id for d in chosen)}")
    try:
        made = calibrate_mod.run(chosen, requested, budget, out_dir, hostname=host["hostname"],
                                 driver=host["driver"], force=force, on_trial=on_trial)
    except calibrate_mod.CalibrationInterrupted as stop:
        _stderr.print(f"Interrupted by {signals.describe(stop)}: " + _calibration_kept(stop.made), highlight=False)
        sys.exit(signals.exit_code(stop))
    except WriteError as exc:
        _write_failed(exc)
    if fmt == "json":
        click.echo(files.json_text(made.records, indent=2))  # strict: no NaN or Infinity
    else:
        _print_text(calibration.text_table(made.records, _width(wide), _digits(precise)))
    m = safe.markup
    for device_id, skipped in made.skipped.items():
        for name, why in skipped.items():
            _stderr.print(f"skipped {m(device_id)} {m(name)}: {m(why)}", highlight=False)
    for rec, outcome in zip(made.records, made.outcomes):
        for message in outcome.messages:  # soft_wrap: ids and paths are never broken across lines
            _stderr.print(f"{m(rec['device']['id'])}: {m(message)}", highlight=False, soft_wrap=True)
        where = {"stored": "stored in", "replaced": "stored in", "improved": "merged into",
                 "kept": "not stored, the stored one kept in", "refused": "not stored"}[outcome.action]
        _stderr.print(f"Calibration {m(rec['id'])}: {where}" + (f" {m(outcome.path)}" if outcome.path and
                                                                outcome.action != "refused" else ""),
                      highlight=False, soft_wrap=True)
    _stderr.print(f"Run copy: {m(made.run_file)}  (per-machine files: {m(calibration_store.calibration_dir())})",
                  highlight=False)
    if made.refused:
        sys.exit(1)


def _calibration_kept(made) -> str:
    """What an interrupted calibration really stored (`benchsuite.calibrate.CalibrationRun`)."""
    if not made.files:
        return "no device had finished, nothing was stored."
    stored = ", ".join(safe.markup(f) for f in made.files)
    return f"the {len(made.files)} device(s) finished before it are stored: {stored} (run copy {safe.markup(made.run_file)})."


@main.command(name="export")
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["pytest-benchmark", "csv", "parquet", "times-csv", "times-parquet"]),
              required=True, help="pytest-benchmark JSON (for pytest-benchmark compare); the case table (statistics, "
                                  "one row per case) as csv/parquet; or the raw step times, one row per step, as "
                                  "times-csv/times-parquet.")
@click.option("--output", "-o", "output", type=OutPath(dir_okay=False), required=True, help="File to write.")
def export_(run_dir: Path, fmt: str, output: Path) -> None:
    """Write a run (a run directory or its results.jsonl) in another tool's format."""
    from benchsuite import export, results

    try:
        done = export.export(run_dir, fmt, output)
    except (export.ExportError, results.ResultsError) as exc:
        raise _usage(exc) from None
    except WriteError as exc:
        _write_failed(exc)
    for case_id, why in done["left_out"]:
        _stderr.print(f"[dim]left out[/] {safe.markup(case_id)}: {safe.markup(why)}", highlight=False)
    what = {"pytest-benchmark": "benchmarks", "times-csv": "step times", "times-parquet": "step times"}.get(fmt, "cases")
    _stderr.print(f"Wrote {done['written']} {what} ({fmt}) to {safe.markup(done['path'])} "
                  f"({Path(done['path']).stat().st_size / 1e3:,.0f} kB)", highlight=False)


@main.command()
@click.option("--run", "runs", multiple=True, type=click.Path(path_type=Path),
              help="Runs to reuse (run directories, results files or folders of runs), repeatable: their cases "
                   "are not measured again, and a GPU run counts on a CPU-only machine.")
@click.option("--data", default=None, metavar="CIFAR10_DIR",
              help="Real CIFAR-10 for the training check: cifar-10-batches-py/ or its parent (torchvision's "
                   "python layout; nothing is downloaded). Same as the cnn workload's data=.")
@click.option("--device", "-d", default="all", show_default=True, help="cpu, cuda, cuda:N or all (comma list).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True,
              help="Training-check epochs (the article: 10).")
@click.option("--subset", default=None, metavar="TRAIN/VAL",
              help="Train on the first TRAIN images, test on the first VAL test images (the article: 6000/1000). "
                   " [default: the full sets]")
@click.option("--cpu-watts", type=Number(0, low_open=True), default=None,
              help="Assumed CPU power in W where RAPL cannot be read; labelled as an assumption.")
@click.option("--matmul-size", type=click.IntRange(min=16), default=2048, show_default=True,
              help="M = N = K of the matmul case (a multiple of 16).")
@click.option("--batch-size", "-b", type=click.IntRange(min=1), default=128, show_default=True,
              help="The common batch size of the MLP and CNN throughput cases.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader worker processes of the training check.")
@MIN_TIME_OPTION
@MIN_ITERS_OPTION
@WARMUP_OPTION
@THREADS_OPTION
@click.option("--out", "out_dir", type=OutPath(), default=Path("reports"), show_default=True,
              help="Parent folder; the claims run goes to OUT/<run-id>/.")
@click.option("--quick", is_flag=True, help="Short timing (smoke tests, CI).")
@sampling_options
@click.option("--telemetry/--no-telemetry", default=True, show_default=True,
              help="Sample power, energy and utilisation during each case and training epoch.")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table",
              show_default=True, help="How to print the claims table.")
@WIDE_OPTION
def claims(runs, data, device, epochs, subset, cpu_watts, matmul_size, batch_size, workers, min_time, min_iters,
           warmup, threads, out_dir, quick, sample_hz, cooldown, telemetry, fmt, wide) -> None:
    """Measure the article's claims on this machine (reusing --run results) and judge each one."""
    from benchsuite import cifar
    from benchsuite import devices as devices_mod
    from benchsuite import plan, results
    from benchsuite.claims import planning
    from benchsuite.claims.measure import measure as measure_claims
    from benchsuite.report import claims as render
    from benchsuite.workload import registry as load_registry

    reg = load_registry()
    try:
        options = RunOptions(quick=quick, telemetry=telemetry, sample_hz=sample_hz, cooldown_s=cooldown,
                             min_time_s=min_time, min_iters=min_iters, warmup_iters=warmup, threads=threads).check()
        chosen = devices_mod.resolve(device)
        if data:
            cifar.check(data)
        if matmul_size % 16:
            raise plan.PlanError(f"--matmul-size {matmul_size}: must be a multiple of 16")
        settings = planning.ClaimsSettings(matmul_size=matmul_size, batch_size=batch_size, data=data,
                                           epochs=epochs, subset=planning.parse_subset(subset),
                                           workers=workers, cpu_watts=cpu_watts)
        given = planning.read_records(list(runs), "--run")
        results.check_out_dir(out_dir)
    except (plan.PlanError, devices_mod.DeviceError, results.ResultsError, planning.ClaimsError,
            ValueError) as exc:
        raise _usage(exc) from None
    except WriteError as exc:
        _write_failed(exc)
    ready = []

    def on_stage(text: str) -> None:
        if "->" in text and not ready:
            ready.append(text)
        click.echo(f"benchsuite claims: {safe.plain(text)}", err=True)

    def on_epoch(n, figures):
        _stderr.print(f"  epoch {n}: test accuracy {figures['accuracy_pct']:.2f} %, {figures['wall_s']:.1f} s",
                      highlight=False)

    def on_end(i, n, record):
        _stderr.print(_case_line(record), highlight=False)

    try:
        done = measure_claims(chosen, reg, settings, out_dir, options, given=given, given_runs=list(runs),
                              header_options=click.get_current_context().params,
                              on_end=on_end, on_epoch=on_epoch, on_stage=on_stage)
    except KeyboardInterrupt as exc:
        where = getattr(getattr(exc, "run", None), "results_path", None)
        _stderr.print(f"Interrupted by {signals.describe(exc)}: the cases finished before it are kept"
                      + (f" in {safe.markup(where)}" if where else "") + ".", highlight=False)
        sys.exit(signals.exit_code(exc))
    except WriteError as exc:
        _write_failed(exc, "the cases finished before it are kept in the run directory" if ready
                      else "nothing was measured")
    if fmt == "table":
        _print_text(render.text_table(done.claims, _width(wide), title=f"the article's claims (run {done.dir.name})"))
    else:
        click.echo(safe.plain(render.render(done.claims, fmt), lines=True), nl=False)
    click.echo(f"Measured {done.measured} case(s), reused {done.reused} from --run.", err=True)
    for what, path in done.files.items():  # one unwrapped line each: scripts read these
        click.echo(f"{what}: {safe.plain(path)}", err=True)



# ------------------------------------------------------------------------------ reports
# Everything below works from results files alone and never imports torch.

EXIT_UNREADABLE = 2


def _load_or_exit(paths):
    """Load runs for report/compare/table; unreadable input is a clean message and exit 2."""
    from benchsuite import results

    try:
        df, problems = results.load_runs(paths)
    except results.ResultsError as exc:
        click.echo(f"error: {safe.plain(exc)}", err=True)
        sys.exit(EXIT_UNREADABLE)
    for problem in problems:
        click.echo(f"warning: {safe.plain(problem)}", err=True)
    return df


def _warn_fingerprints(runs: list[dict], gpus_paired: bool, references=(), limit: int | None = None) -> None:
    """Warn where the user's runs differ in fingerprint; say once where the shipped
    ``references`` (run ids) were measured instead of warning about each (that note wrapped
    to ``limit`` columns where one is given)."""
    from benchsuite import fingerprint
    from benchsuite.report import text

    for line in fingerprint.warning_lines(runs, gpus_paired=gpus_paired, references=references):
        click.echo(f"warning: {safe.plain(line)}", err=True)
    note = fingerprint.reference_note(runs, references)
    if note:
        click.echo("\n".join(text.wrap(safe.plain(note), limit, "  ") if limit else [safe.plain(note)]), err=True)


def _default_report_path(runs: list[Path]) -> Path:
    from benchsuite import results

    if len(runs) == 1:
        path = Path(runs[0])
        return (path.parent if path.name == results.RESULTS_FILE else path) / "report.html"
    return Path("reports") / f"report-{len(runs)}-runs.html"


@main.command()
@click.argument("runs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=OutPath(dir_okay=False), default=None,
              help="HTML file to write.  [default: RUN/report.html for one run, reports/report-N-runs.html for several]")
@click.option("--baseline", default=None, help="Device model for the hardware comparison's ratios (several runs).  "
              "[default: the column with the most results, as in `benchsuite table`]")
def report(runs, output, baseline) -> None:
    """Write one self-contained HTML report of RUN(s) (run directories or results.jsonl files).

    With no RUN, reports the newest run in reports/.
    """
    from benchsuite import results
    from benchsuite.report import html

    if not runs:
        skipped: list[str] = []
        try:
            runs = (results.newest_run("reports", skipped),)
        except results.ResultsError as exc:
            raise _usage(exc) from None
        for problem in skipped:
            click.echo(f"warning: {safe.plain(problem)}", err=True)
    df = _load_or_exit(runs)  # unreadable input: a clean message and exit 2 before anything is written
    out = output or _default_report_path(list(runs))
    met: list[str] = []
    try:
        path = html.write_frame(df, out, met, baseline=baseline)
    except WriteError as exc:
        _write_failed(exc)
    except ValueError as exc:  # a --baseline that matches no device
        raise _usage(exc) from None
    for problem in met:
        click.echo(f"warning: {safe.plain(problem)}", err=True)
    click.echo(f"Report: {safe.plain(path)} ({path.stat().st_size / 2**20:.1f} MiB)", err=True)


@main.command()
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("new", type=click.Path(path_type=Path))
@click.option("--metric", type=click.Choice(list(metrics.directions())),
              default="samples_per_s", show_default=True, help="What to compare.")
@click.option("--threshold", type=Threshold(), default="5%", show_default=True,
              help="Smallest change called a regression (5% or 0.05).")
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when any case got worse past the threshold and noise.")
@FORMAT
@WIDE_OPTION
@PRECISE_OPTION
def compare(base, new, metric, threshold, fail_on_regression, fmt, wide, precise) -> None:
    """Compare NEW against BASE case by case, on the same device model: ratios NEW/BASE,
    regressions marked."""
    from benchsuite import compare as compare_mod
    from benchsuite.report import comparison, markup
    from benchsuite.report import runs as runs_view

    limit = threshold  # a fraction: benchsuite.options.Threshold parsed it
    base_df, new_df = _load_or_exit([base]), _load_or_exit([new])
    try:
        compare_mod.check_one_run(base_df, "BASE", base)
        compare_mod.check_one_run(new_df, "NEW", new)
    except compare_mod.CompareError as exc:
        raise _usage(exc) from None
    _warn_fingerprints(base_df.attrs["runs"] + new_df.attrs["runs"], gpus_paired=True)
    result = compare_mod.compare(base_df, new_df, metric, limit)
    counts = result.rows["verdict"].value_counts().to_dict()
    stopped = runs_view.frame_lines(base_df) + runs_view.frame_lines(new_df)
    if fmt == "json":
        click.echo(json.dumps({"metric": metric, "threshold": limit, "counts": counts,
                               "rows": json.loads(result.rows.to_json(orient="records"))}, indent=2))
    elif fmt == "csv":
        click.echo(safe.plain(result.rows.to_csv(index=False), lines=True), nl=False)
    elif fmt == "markdown":
        click.echo(safe.plain(markup.markdown(compare_mod.display(result, _digits(precise))), lines=True), nl=False)
    else:
        ids = [(df.attrs["runs"] or [{}])[0].get("header", {}).get("run_id") for df in (base_df, new_df)]
        _print_text(comparison.text_table(result, _width(wide), _digits(precise), *ids, after=stopped))
        stopped = []
    for line in stopped:
        click.echo(safe.plain(line), err=True)
    summary = ", ".join(f"{n} {v}" for v, n in counts.items()) or "no cases"
    click.echo(f"{summary} (metric {metric}, threshold {limit:.1%}); nothing written", err=True)
    for line in compare_mod.timing_lines(result):
        click.echo(f"warning: {safe.plain(line)}", err=True)
    too_little = compare_mod.coverage_problem(result)
    if too_little and fail_on_regression:
        click.echo(f"error: {too_little}: --fail-on-regression does not pass a comparison of too little", err=True)
        sys.exit(1)
    if too_little:
        click.echo(f"warning: {too_little}", err=True)
    unjudged = compare_mod.gate_problem(result)
    if unjudged and fail_on_regression:  # a gate that could judge nothing must not pass
        click.echo(f"error: {safe.plain(unjudged)}: --fail-on-regression does not pass a comparison it cannot judge",
                   err=True)
        sys.exit(1)
    judged, not_judged = compare_mod.gated_regressions(result)
    if fail_on_regression and not_judged:
        click.echo(f"{not_judged} regression(s) not judged by --fail-on-regression: timing settings differ", err=True)
    if fail_on_regression and judged:
        sys.exit(1)


@main.command(name="table")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "html"]), default="table",
              show_default=True, help="How to print the table.")
@click.option("--baseline", default=None, help="Device model the speedup and efficiency ratios are against "
                                                "(a column's name or a unique part of one).  "
                                                "[default: the column with the most results of the RUNs given]")
@click.option("--reference/--no-reference", default=None,
              help="Include every shipped reference result (reports/reference/), or none.  [default: only those "
                   "of GPU models the given runs do not have]")
@click.option("--output", "-o", type=OutPath(dir_okay=False), default=None,
              help="Write to this file instead of standard output (--format table writes markdown).")
@WIDE_OPTION
@PRECISE_OPTION
def table_(runs, fmt, baseline, reference, output, wide, precise) -> None:
    """Hardware comparison: rows are cases less the device, columns are device models."""
    from benchsuite import results
    from benchsuite.report import hardware, scaling, text
    from benchsuite.report import runs as runs_view

    df = _load_or_exit(list(runs))
    ref = results.reference_dir()
    limit = text.width(wide, stream=sys.stderr)  # stderr's notes wrap as the table does
    if reference is not False and any(ref.glob(f"*/{results.RESULTS_FILE}")):
        df, note = hardware.with_references(df, _load_or_exit([ref]), reference)
        if note:
            click.echo("\n".join(text.wrap(safe.plain(note), limit, "  ") if limit else [safe.plain(note)]),
                       err=True)
    _warn_fingerprints(df.attrs["runs"], gpus_paired=False, references=df.attrs.get(hardware.REFERENCE_RUNS),
                       limit=limit)
    try:
        hardware.hardware(df, baseline)
    except ValueError as exc:
        raise click.BadParameter(safe.plain(exc), param_hint="--baseline") from None
    stopped = runs_view.frame_lines(df)
    if fmt == "table" and output is None:
        _print_text(hardware.text_table(df, _width(wide), _digits(precise), baseline, after=stopped))
        click.echo(safe.plain(scaling.render_scale_out(df, "markdown"), lines=True), nl=False)
        return
    for line in stopped:
        click.echo(line, err=True)
    text_ = hardware.render_hardware(df, "markdown" if fmt == "table" else fmt, baseline, _digits(precise))
    if fmt in ("table", "markdown", "html"):
        text_ += scaling.render_scale_out(df, "html" if fmt == "html" else "markdown")
    if output is None:
        click.echo(safe.plain(text_, lines=True), nl=False)
        return
    try:
        files.write_text(output, text_)  # whole or not at all
    except WriteError as exc:
        _write_failed(exc)
    click.echo(f"Table: {safe.plain(output)}", err=True)


if __name__ == "__main__":  # pragma: no cover
    main()
