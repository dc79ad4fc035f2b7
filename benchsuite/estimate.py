"""How long a plan will take, before it runs: seconds per case and for the whole run.

Each case costs its set-up, its warm-up, its timed window (a latency case its latency pass
too) and the rest before it (the cool-down between cases on one GPU); the run adds start-up,
the idle-power measurement and the closing table. The per-case figures come from the settings (`case_seconds`) or, for the
cases a previous run on this host measured with the same timing settings, from how long they
took there (``ended_at - started_at``; `previous_run`). `Estimate` says which source it used
and gives the remaining time while the run goes on (`Estimate.remaining_s`).

Pure and torch-free: the session gathers the facts (devices, telemetry, host name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from benchsuite import metrics
from benchsuite.results import RESULTS_FILE, planned_id
from benchsuite.settings import RunSettings
from benchsuite.timing import TimingSettings

# Fixed costs of one run (seconds). Source: the H100 runs of 2026-11-25 (notes r1 FINDINGS Q5):
STARTUP_S = 5.0  # process start, imports, device discovery and exit: README `--quick` 130 s vs header->end 125 s
CLOSING_S = 2.0  # reading the run back and printing the closing table (not in the data: an allowance)
CUDA_INIT_S = 5.0  # before a GPU's first warm-up: CUDA context, cuDNN (6bcb: 5.6 +- 0.5 s before its first case)
# Set-up of one case: model and data on the device, FLOP count, teardown, record.
SETUP_S = {"cpu": 0.3, "cuda": 0.5}  # da35 cnn 0.37 s, 6bcb quick 0.57 s; the CPU reference about 0.3 s
SETUP_BY_WORKLOAD_S = {("matmul", "cuda"): 1.5}  # two 8192^2 random matrices made on the host: ff7d 1.46-1.55 s
# A batch search (-b auto / -b best) before its case: about a dozen probes of set-up and a few steps.
SEARCH_S = {"cpu": 5.0, "cuda": 10.0}
#: Compilation before a compiled case's warm-up (exec `compile`, `compile-max`): (expected,
#: longest) seconds by (device type, mode), never inside the timed window but inside the wall
#: time. CPU (2-core box, gcc 12.2): issue 16 measured the first compiled call at 4.6-6.4 s for
#: training and 8.5-19.7 s for inference (cnn); the review's `--quick --exec eager,compile -w mlp`
#: recorded 31.0 s (train) / 0.63 s (infer) and took 62 s against an estimate of 10 s; a
#: `--quick --exec compile -w mlp` run on that box on 2026-11-26 (load 3.7-4.6, FX-graph cache
#: warm: 2 and 1 hits) recorded 11.4 s / 0.67 s, its cases took 28 s and 4 s against "about 9 s".
#: Expected: near the cold figures; longest: the largest seen. CUDA: not measured by benchsuite
#: yet, an allowance (the GPU session's `modes` stage records compile_s; issue 16 calls
#: max-autotune "minutes").
COMPILE_S = {("cpu", "train"): (15.0, 35.0), ("cpu", "infer"): (10.0, 20.0),
             ("cuda", "train"): (30.0, 90.0), ("cuda", "infer"): (20.0, 60.0)}
#: compile-max (max-autotune) benchmarks kernel choices as it compiles: this many times `COMPILE_S`
#: (an allowance, unmeasured on either device type).
COMPILE_MAX_FACTOR = 3.0
COMPILED_EXECS = ("compile", "compile-max")
#: The sources an estimate names.
FROM_SETTINGS = "the settings"


def warmup_s(timing: TimingSettings) -> tuple[float, float]:
    """(expected, longest) warm-up seconds of one case. A fixed warm-up (``judge_steady`` off:
    the CPU, ``--quick``) lasts ``warmup_time_s``. A judged one (`benchsuite.steady`) cannot end
    before the rule has its ``steady_spans x steady_span_s`` of block times (4 s; the recorded
    H100 traces were steady at 4.0-5.0 s) and gives up at ``settle_max_s``."""
    base = timing.warmup_time_s
    if not timing.judge_steady or timing.settle_max_s <= 0:
        return base, base
    longest = max(base, timing.settle_max_s)
    return min(max(base, timing.steady_rule.judged_s), longest), longest


@dataclass(frozen=True)
class CaseEstimate:
    """One case's share of the wall time: the rest before it, then the case itself (seconds)."""

    case_id: str
    device: str
    seconds: float  # set-up + warm-up + window (+ search, first-GPU init), or as measured before
    rest_s: float = 0.0  # cool-down before it on its device
    longest_s: float = 0.0  # with every GPU warm-up running to its cap
    source: str = FROM_SETTINGS

    @property
    def total_s(self) -> float:
        return self.rest_s + self.seconds


@dataclass(frozen=True)
class Estimate:
    """The wall time of a plan: per case, the fixed costs, and where the figures came from."""

    cases: tuple[CaseEstimate, ...]
    startup_s: float
    idle_s: float  # idle-power measurement before the first case
    closing_s: float
    previous_run: str | None = None  # run id whose durations some cases took
    measured_cases: int = 0  # how many cases took their figure from that run

    @property
    def total_s(self) -> float:
        """Command to closing table, seconds."""
        return self.startup_s + self.idle_s + sum(c.total_s for c in self.cases) + self.closing_s

    @property
    def longest_s(self) -> float:
        """The same with every GPU warm-up running to its cap (``--settle-max``)."""
        return self.startup_s + self.idle_s + sum(c.rest_s + c.longest_s for c in self.cases) + self.closing_s

    @property
    def source(self) -> str:
        """Which figures the estimate used, in words."""
        if not self.measured_cases:
            return FROM_SETTINGS
        n = len(self.cases)
        if self.measured_cases == n:
            return f"the durations of run {self.previous_run} on this host"
        return f"run {self.previous_run}'s durations for {self.measured_cases} of {n} cases, the settings for the rest"

    def by_device(self) -> dict[str, float]:
        """Seconds of cases (with their rests) per device, in plan order."""
        out: dict[str, float] = {}
        for c in self.cases:
            out[c.device] = out.get(c.device, 0.0) + c.total_s
        return out

    def remaining_s(self, done: int, elapsed_done_s: float = 0.0, elapsed_current_s: float = 0.0) -> float:
        """Seconds left when ``done`` cases have finished, taking ``elapsed_done_s`` (from the
        first case's start), and the current one has run ``elapsed_current_s``: the estimates of
        the cases left, scaled by how the finished ones compared with theirs (between 1/4 and 4
        times), plus the closing table."""
        done = max(0, min(done, len(self.cases)))
        planned_done = sum(c.total_s for c in self.cases[:done])
        ratio = 1.0
        if done and planned_done > 0 and elapsed_done_s > 0:
            ratio = min(4.0, max(0.25, elapsed_done_s / planned_done))
        left = ratio * sum(c.total_s for c in self.cases[done:]) - max(0.0, elapsed_current_s)
        return max(0.0, left) + self.closing_s


def compile_seconds(exec_mode: str, device_type: str, mode: str) -> tuple[float, float]:
    """(expected, longest) seconds of compilation before a case in ``exec_mode`` (`COMPILE_S`;
    0 for eager and graphs, whose capture takes well under a second)."""
    if exec_mode not in COMPILED_EXECS:
        return 0.0, 0.0
    expected, longest = COMPILE_S[(device_type, "train" if mode == "train" else "infer")]
    factor = COMPILE_MAX_FACTOR if exec_mode == "compile-max" else 1.0
    return expected * factor, longest * factor


def latency_pass_s(timing: TimingSettings) -> float:
    """Seconds of a latency case's latency pass (`benchsuite.timing.latency_steps`): about
    `metrics.LATENCY_PASS_S`, no longer than the timed window; the 100-step minimum of a slow
    step is not known before it runs."""
    return min(metrics.LATENCY_PASS_S, timing.min_time_s)


def case_seconds(workload: str, device_type: str, timing: TimingSettings, *,
                 search: bool = False, exec_mode: str = "eager", mode: str = "infer",
                 latency: bool = False) -> tuple[float, float]:
    """(expected, longest) seconds of one measured case from the settings: set-up, a batch
    search when there is one, compilation for a compiled exec mode (`compile_seconds`), the
    burst (its idle and blocks, `benchsuite.timing.measure_burst`), warm-up (`warmup_s`), the
    timed window (``min_time_s``) and, for a latency case, its latency pass (`latency_pass_s`)."""
    setup = SETUP_BY_WORKLOAD_S.get((workload, device_type), SETUP_S[device_type])
    if search:
        setup += SEARCH_S[device_type]
    compiled, compiled_most = compile_seconds(exec_mode, device_type, mode)
    if timing.burst_blocks:
        setup += timing.burst_idle_s + timing.burst_blocks * timing.burst_block_s
    timed = timing.min_time_s + (latency_pass_s(timing) if latency else 0.0)
    warm, warm_most = warmup_s(timing)
    return (setup + compiled + warm + timed,
            setup + compiled_most + warm_most + timed)


def estimate(cases: Sequence[Any], device_types: Mapping[str, str], settings: RunSettings, *,
             energy_devices: Iterable[str] = (),
             previous: tuple[str, Mapping[str, float]] | None = None) -> Estimate:
    """The wall time of ``cases`` (`benchsuite.plan.Case`) under ``settings``.

    ``device_types``: device id -> "cpu"/"cuda"; ``energy_devices``: the device ids whose idle
    power is measured before the sweep (``settings.idle_s`` each); ``previous``: (run id,
    {planned case id: seconds}) from `previous_run`, taken for the cases it has. A skipped case
    costs nothing.
    """
    run_id, measured = previous if previous is not None else (None, {})
    rows: list[CaseEstimate] = []
    started: set[str] = set()
    used = 0
    for case in cases:
        if case.skip_reason:
            rows.append(CaseEstimate(case.id, case.device, 0.0, source="skipped"))
            continue
        kind = device_types[case.device]
        rest = settings.cooldown_s.get(kind, 0.0) if case.device in started else 0.0
        expected, longest = case_seconds(case.workload, kind, settings.timing[kind],
                                         search=case.batch_search is not None,
                                         exec_mode=getattr(case, "exec", "eager"), mode=case.mode,
                                         latency=metrics.is_latency(case.mode, case.batch_size))
        if kind == "cuda" and case.device not in started:
            expected, longest = expected + CUDA_INIT_S, longest + CUDA_INIT_S
        started.add(case.device)
        if case.id in measured:
            seconds = measured[case.id]
            rows.append(CaseEstimate(case.id, case.device, seconds, rest, seconds + longest - expected, f"run {run_id}"))
            used += 1
        else:
            rows.append(CaseEstimate(case.id, case.device, expected, rest, longest))
    idle = settings.idle_s * len([d for d in dict.fromkeys(energy_devices) if d in started])
    return Estimate(tuple(rows), STARTUP_S, idle, CLOSING_S, run_id if used else None, used)


# -- the last run on this host ----------------------------------------------------------------
def _seconds(start: str | None, end: str | None) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except (TypeError, ValueError):
        return None


def _plain(value: Any) -> Any:
    """Settings as their JSON form (tuples as lists), to compare with a header's."""
    return json.loads(json.dumps(value, default=list))


def timing_key(settings: RunSettings) -> dict[str, dict]:
    """The timing settings per device type as a run header stores them."""
    return _plain({t: vars(s) for t, s in settings.timing.items()})


def previous_run(parent: str | Path, hostname: str, timing: Mapping[str, Mapping], *,
                 limit: int = 50) -> tuple[str, dict[str, float]] | None:
    """The newest run under ``parent`` made on ``hostname`` with the same ``timing`` settings
    (`timing_key`), as (run id, {planned case id: seconds from ``started_at`` to ``ended_at``})
    for its measured cases; None when there is none. Looks at the newest ``limit`` runs; a file
    that cannot be read is passed over."""
    parent = Path(parent)
    if not parent.is_dir():
        return None
    runs = sorted((p for p in parent.glob(f"*/{RESULTS_FILE}")), key=lambda p: p.parent.name, reverse=True)
    for path in runs[:limit]:
        found = _durations(path, hostname, timing)
        if found:
            return found
    return None


def _durations(path: Path, hostname: str, timing: Mapping[str, Mapping]) -> tuple[str, dict[str, float]] | None:
    """(run id, {planned id: seconds}) of one results file when its header matches, else None."""
    try:
        with path.open(encoding="utf-8") as f:
            header = json.loads(f.readline())
            if not isinstance(header, dict) or header.get("record") != "header":
                return None
            if (header.get("host") or {}).get("hostname") != hostname:
                return None
            theirs = (header.get("settings") or {}).get("timing") or {}
            if any(theirs.get(t) != _plain(dict(v)) for t, v in timing.items()):
                return None
            durations: dict[str, float] = {}
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a truncated last line
                if not isinstance(record, dict) or record.get("record") != "case" or record.get("status") == "skipped":
                    continue
                seconds = _seconds(record.get("started_at"), record.get("ended_at"))
                if seconds is not None and seconds >= 0 and isinstance(record.get("id"), str):
                    durations[planned_id(record)] = seconds
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return (str(header.get("run_id") or path.parent.name), durations) if durations else None


@dataclass(frozen=True)
class DeviceSummary:
    """What a plan measures on one device: counts, and per workload its modes, precisions, batches."""

    device: str
    measured: int = 0
    skipped: int = 0
    workloads: dict[str, dict[str, list]] = field(default_factory=dict)


def summarize(cases: Sequence[Any]) -> list[DeviceSummary]:
    """Per device, in plan order: how many cases are measured and skipped, and for each
    workload the modes, precisions and batch labels (``8192``, ``auto``, ``best``) it measures."""
    out: dict[str, DeviceSummary] = {}
    for case in cases:
        entry = out.setdefault(case.device, DeviceSummary(case.device))
        if case.skip_reason:
            out[case.device] = DeviceSummary(entry.device, entry.measured, entry.skipped + 1, entry.workloads)
            continue
        out[case.device] = DeviceSummary(entry.device, entry.measured + 1, entry.skipped, entry.workloads)
        axes = entry.workloads.setdefault(case.workload, {"modes": [], "precisions": [], "batches": []})
        batch = case.batch_size if case.batch_size is not None else case.batch_search
        for name, value in (("modes", case.mode), ("precisions", case.precision), ("batches", batch)):
            if value is not None and value not in axes[name]:
                axes[name].append(value)
    return list(out.values())


# -- in words ---------------------------------------------------------------------------------
def duration_text(seconds: float) -> str:
    """An estimate for people: ``95 s`` under two minutes (to 5 s above a minute), then
    ``3 min 10 s``, ``1 h 05 min``."""
    seconds = max(0.0, float(seconds))

    def to(step: int) -> int:  # round half up, to a multiple of step
        return int(seconds / step + 0.5) * step

    if seconds < 60:
        return f"{to(1)} s"
    if seconds < 120:
        return f"{to(5)} s"
    if seconds < 3600:
        minutes, rest = divmod(to(10), 60)
        return f"{minutes} min" + (f" {rest:02d} s" if rest else "")
    hours, rest = divmod(to(60) // 60, 60)
    return f"{hours} h {rest:02d} min"


def clock_text(seconds: float) -> str:
    """Time left as a clock: ``1:05``, ``12:40``, ``1:02:03``."""
    total = int(round(max(0.0, seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def plan_json(cases: Sequence[Any], expected: Estimate, sweep: str | None) -> dict[str, Any]:
    """A plan and its estimate as plain data (``benchsuite run --dry-run --format json``)."""
    by_id = {c.case_id: c for c in expected.cases}
    return {
        "sweep": sweep,
        "estimate_s": round(expected.total_s, 1),
        "longest_s": round(expected.longest_s, 1),
        "source": expected.source,
        "fixed_s": {"startup": expected.startup_s, "idle_power": expected.idle_s, "closing": expected.closing_s},
        "devices": [{"device": d.device, "measured": d.measured, "skipped": d.skipped, "workloads": d.workloads}
                    for d in summarize(cases)],
        "cases": [{"id": c.id, "device": c.device, "skip_reason": c.skip_reason,
                   "estimate_s": round(by_id[c.id].total_s, 1) if c.id in by_id else None,
                   "source": by_id[c.id].source if c.id in by_id else None} for c in cases],
    }
