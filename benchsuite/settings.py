"""How a run measures: the defaults, and the user's options turned into the runner's settings.

Torch-free, so that the command line can build its help texts from these constants.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from typing import Any

from benchsuite import metrics
from benchsuite.timing import TimingSettings

class PlanError(ValueError):
    """A sweep option with a value that is not allowed; the message names both. (Raised and
    caught as `benchsuite.plan.PlanError`; declared here, where the options are checked, so
    that this module needs nothing of the planner.)"""


#: The named sweeps (`benchsuite.plan` gives each its axes; `plan.pick_sweep` says which one a
#: command line means). Here so that the command line offers them without loading the planner.
SWEEPS = ("headline", "full", "quick")

# Default timing per device type (issue 14, from the H100 runs of 2026-11-25):
# - GPU: warm up until steady (`benchsuite.steady`: judged on the last 4 s of block times;
#   4.0-5.0 s on every recorded H100 trace), then time 2 s: two periods of the ~1 Hz
#   oscillation at the power cap; with the window's edges on energy-counter updates, J/step
#   of 2 s windows stayed within 0.44 % of 5 s windows for every 8192^3 matmul.
# - CPU: a fixed warm-up of 0.25 s of the timed pattern (not judged: a 4 s judgement per
#   case would spend the CPU part of a sweep on warm-up) and 1 s timed, so that a default
#   sweep finishes in about a minute on two cores.
# Every case also measures its burst first (`benchsuite.timing.measure_burst`, definitions in
# `benchsuite.metrics`): the device idles 0.25 s, then 1 untimed step and 5 blocks of 10 ms.
BURST = {"burst_blocks": metrics.BURST_BLOCKS, "burst_block_s": metrics.BURST_BLOCK_S,
         "burst_idle_s": metrics.BURST_IDLE_S}
TIMING_DEFAULTS = {
    "cpu": TimingSettings(min_time_s=1.0, min_iters=3, warmup_iters=2, warmup_time_s=0.25,
                          judge_steady=False, fixed_warmup_why="CPU", **BURST),
    "cuda": TimingSettings(min_time_s=2.0, min_iters=10, warmup_iters=10, warmup_time_s=1.0, judge_steady=True,
                           **BURST),
}
# --quick: no rule can judge steady state in under 1 s (0.25 s spans of the H100 matmuls
# differ by up to 4.2 %), so warm-up is fixed and recorded as "not judged (--quick)"; 1 s on a
# GPU covers the first second's load step (the SM clock falls within it at the power cap).
TIMING_QUICK = {
    "cpu": TimingSettings(min_time_s=0.2, min_iters=2, warmup_iters=1, warmup_time_s=0.05,
                          judge_steady=False, fixed_warmup_why="--quick", **BURST),
    "cuda": TimingSettings(min_time_s=0.5, min_iters=5, warmup_iters=3, warmup_time_s=1.0,
                           judge_steady=False, fixed_warmup_why="--quick", **BURST),
}
IDLE_S = 3.0  # idle power is measured for this long per device before the sweep
IDLE_QUICK_S = 1.0  # ... and for this long with --quick
# No rest between GPU cases by default: the H100 runs show no effect of the 3 s rest (cases
# below the power cap ran at the top clock at 39-71 °C; 1-2 s of load undo most of the
# cooling), and no run compared 0 s with 3 s (owed on a GPU). Each case records its
# temperature as warm-up starts (timing.warmup_temp_start_c) and at the window's edges.
COOLDOWN_GPU_S = 0.0
SAMPLE_HZ = 20.0  # telemetry samples per second
# `--collective-timeout`: how long one case's collectives may wait, per operation, under torchrun.
DEFAULT_CASE_TIMEOUT_S = 300.0


@dataclass
class RunSettings:
    """How each case is measured."""

    timing: dict[str, TimingSettings] = field(default_factory=lambda: dict(TIMING_DEFAULTS))
    fail_fast: bool = False
    cooldown_s: dict[str, float] = field(default_factory=lambda: {"cpu": 0.0, "cuda": 0.0})
    idle_s: float = IDLE_S
    calibrations: dict[str, dict] = field(default_factory=dict)  # device id -> calibration record


def run_settings(quick: bool, *, cooldown: float | None, telemetry: bool, gpu_energy: bool,
                 fail_fast: bool = False, calibrations: dict | None = None, **timing: Any) -> RunSettings:
    """Settings of a sweep from the user's options (None = default): timing per device type,
    a rest between GPU cases (default `COOLDOWN_GPU_S` when GPU energy is measured) and the
    idle-power measurement (`IDLE_QUICK_S` with ``quick``, none without telemetry)."""
    return RunSettings(
        timing={t: timing_settings(t, quick, **timing) for t in ("cpu", "cuda")},
        fail_fast=fail_fast,
        cooldown_s={"cpu": cooldown or 0.0,
                    "cuda": cooldown if cooldown is not None else (COOLDOWN_GPU_S if gpu_energy else 0.0)},
        idle_s=(IDLE_QUICK_S if quick else IDLE_S) if telemetry else 0.0,
        calibrations=calibrations or {},
    )


def timing_settings(device_type: str, quick: bool = False, **overrides: Any) -> TimingSettings:
    """Default timing for a device type, with the user's overrides (None = keep default)."""
    base = (TIMING_QUICK if quick else TIMING_DEFAULTS)[device_type]
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


#: ``--threads`` goes up to this many times the logical CPUs: enough to measure oversubscription,
#: far below the counts that fail inside the OpenMP runtime (``--threads 100000`` ends in an
#: ImportError while torch starts its threads).
THREADS_PER_CPU_MAX = 4


def max_threads() -> int:
    """The most torch CPU threads a run takes (`THREADS_PER_CPU_MAX` x the logical CPUs)."""
    return THREADS_PER_CPU_MAX * (os.cpu_count() or 1)


@dataclass(frozen=True)
class RunOptions:
    """How a run measures, as the user gave it; None means the default of each device type.

    Seconds for every ``*_s`` field; ``sample_hz`` in samples per second.
    """

    quick: bool = False
    telemetry: bool = True
    sample_hz: float = SAMPLE_HZ
    cooldown_s: float | None = None  # rest between cases on a GPU; default COOLDOWN_GPU_S with energy
    fail_fast: bool = False
    min_time_s: float | None = None
    min_iters: int | None = None
    warmup_iters: int | None = None
    settle_max_s: float | None = None
    flush_l2: bool = False
    collective_timeout_s: float | None = None  # under torchrun; default DEFAULT_CASE_TIMEOUT_S
    threads: int | None = None  # torch's CPU threads for the run (None: leave them as they are)

    def check(self) -> "RunOptions":
        """Return self, or raise `PlanError` naming a value out of its range."""
        from benchsuite.telemetry.sampler import HZ_MAX, HZ_MIN

        def number(name: str, value: Any, low: float, *, above: bool = False, integer: bool = False,
                   high: float = math.inf) -> None:
            kind = int if integer else (int, float)
            ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value) \
                and (value > low if above else value >= low) and value <= high
            if not ok:
                allowed = (f"{'an integer' if integer else 'a number'} {'above' if above else 'from'} {low:g}"
                           + (f" to {high:g}" if high != math.inf else ""))
                raise PlanError(f"{name}={value!r} is not allowed; allowed: {allowed}")

        number("sample_hz", self.sample_hz, HZ_MIN, high=HZ_MAX)
        for name in ("cooldown_s", "settle_max_s"):
            if getattr(self, name) is not None:
                number(name, getattr(self, name), 0.0)
        for name in ("min_time_s", "collective_timeout_s"):
            if getattr(self, name) is not None:
                number(name, getattr(self, name), 0.0, above=True)
        if self.min_iters is not None:
            number("min_iters", self.min_iters, 1, integer=True)
        if self.warmup_iters is not None:
            number("warmup_iters", self.warmup_iters, 0, integer=True)
        if self.threads is not None:
            number("threads", self.threads, 1, integer=True, high=max_threads())
        return self

    def run_settings(self, *, gpu_energy: bool, calibrations: dict | None = None) -> RunSettings:
        """The runner's settings; ``gpu_energy``: whether GPU energy is measured (the cool-down
        default), ``calibrations``: {device id: calibration record}."""
        return run_settings(self.quick, cooldown=self.cooldown_s, telemetry=self.telemetry, gpu_energy=gpu_energy,
                            fail_fast=self.fail_fast, calibrations=calibrations, min_time_s=self.min_time_s,
                            min_iters=self.min_iters, warmup_iters=self.warmup_iters,
                            settle_max_s=self.settle_max_s, flush_l2=self.flush_l2 or None)

    @property
    def case_timeout_s(self) -> float:
        """Seconds one case's collectives may wait under torchrun."""
        return self.collective_timeout_s or DEFAULT_CASE_TIMEOUT_S
