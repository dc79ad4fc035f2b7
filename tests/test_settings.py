"""Run settings (torch-free): timing defaults and overrides, the user's options checked and turned
into the runner's settings."""

from pathlib import Path

import pytest

from benchsuite import settings
from benchsuite.plan import PlanError
from benchsuite.telemetry.sampler import HZ_MAX, HZ_MIN

README = Path(__file__).resolve().parents[1] / "README.md"


def test_timing_settings_overrides():
    s = settings.timing_settings("cuda", quick=False, min_time_s=None, min_iters=7)
    assert s.min_time_s == 2.0 and s.min_iters == 7  # the GPU's 2 s window (issue 14; 5 s before)
    assert settings.timing_settings("cpu", quick=True).min_time_s < settings.timing_settings("cpu").min_time_s


def test_run_options_become_the_runner_settings():
    got = settings.RunOptions(quick=True, min_time_s=0.05, settle_max_s=0).run_settings(gpu_energy=True,
                                                                                       calibrations={"cpu": {}})
    assert got.timing["cpu"].min_time_s == 0.05 and got.timing["cuda"].settle_max_s == 0
    assert got.timing["cpu"].min_iters == settings.TIMING_QUICK["cpu"].min_iters
    assert got.cooldown_s == {"cpu": 0.0, "cuda": settings.COOLDOWN_GPU_S}
    assert got.idle_s == settings.IDLE_QUICK_S and got.calibrations == {"cpu": {}}
    off = settings.RunOptions(telemetry=False).run_settings(gpu_energy=False)
    assert off.idle_s == 0.0 and off.cooldown_s == {"cpu": 0.0, "cuda": 0.0} and not off.timing["cuda"].flush_l2
    assert settings.RunOptions().case_timeout_s == settings.DEFAULT_CASE_TIMEOUT_S


@pytest.mark.parametrize("options,message", [
    ({"sample_hz": 5000}, "sample_hz=5000 is not allowed; allowed: a number from 1 to 1000"),
    ({"min_time_s": 0}, "min_time_s=0 is not allowed; allowed: a number above 0"),
    ({"min_iters": 0}, "min_iters=0 is not allowed; allowed: an integer from 1"),
    ({"warmup_iters": 1.5}, "warmup_iters=1.5 is not allowed"),
    ({"cooldown_s": -1}, "cooldown_s=-1"),
    ({"collective_timeout_s": float("nan")}, "collective_timeout_s=nan"),
])
def test_options_out_of_range_are_plan_errors(options, message):
    with pytest.raises(PlanError, match=message.replace("(", r"\(")):
        settings.RunOptions(**options).check()


def test_the_readme_options_table_states_these_defaults():
    rows = {line.split("|")[1].strip(): line for line in README.read_text(encoding="utf-8").splitlines()
            if line.startswith("| `--")}
    cpu, cuda, quick = settings.TIMING_DEFAULTS["cpu"], settings.TIMING_DEFAULTS["cuda"], settings.TIMING_QUICK["cuda"]
    stated = {
        "`--min-time`, `--min-iters`, `--warmup`": f"default {cpu.min_time_s:g} on a CPU, {cuda.min_time_s:g} on a GPU",
        "`--settle-max S`": f"default {cuda.settle_max_s:g} s; 0: a fixed warm-up; `--quick` always warms up for a "
                            f"fixed {quick.warmup_time_s:g} s",
        "`--sample-hz HZ`": f"{HZ_MIN:g} to {HZ_MAX:g} (default {settings.SAMPLE_HZ:g})",
        "`--cooldown S`": f"default {settings.COOLDOWN_GPU_S:g} when energy is measured",
        "`--collective-timeout S`": f"(default {settings.DEFAULT_CASE_TIMEOUT_S:g})",
    }
    assert [f"{option}: {text}" for option, text in stated.items() if text not in rows.get(option, "")] == []
