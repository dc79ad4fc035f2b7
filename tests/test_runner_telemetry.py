"""The runner with telemetry: energy figures derived per case, idle power, header and samples file."""

import time

import pandas as pd
import pytest
from click.testing import CliRunner

from benchsuite import devices, results, runner
from benchsuite.settings import IDLE_S, RunSettings
from benchsuite.cli import main
from benchsuite.telemetry import Telemetry, nvml
from tests.conftest import TINY
from tests.fakes import fake_pynvml
from tests.fakes.runner_workloads import FAST, REG, case


class ScriptedWindow:
    """A telemetry window whose summary is given: 100 W over the window, 10 J in all."""

    def __init__(self, log):
        self.log, self.summary = log, None

    def __enter__(self):
        self.log.append("open")
        return self

    def __exit__(self, *exc):
        self.log.append("close")
        self.summary = {"energy_j": 10.0, "power_mean_w": 100.0, "energy_method": "counter", "quality_flags": []}


class ScriptedTelemetry:
    def __init__(self):
        self.log, self.idle = [], []

    def window(self, device, case_id, align=False):
        self.log.append(case_id)
        return ScriptedWindow(self.log)

    window_for = Telemetry.window_for  # the real choice of window, over these scripted ones

    def measures_energy(self, device):
        return True

    def measure_idle(self, device, seconds):
        self.idle.append((str(device), seconds))
        return 20.0

    def info(self):
        return {"nvml_available": False}


def test_energy_metrics_follow_from_the_window(tmp_path):
    tel = ScriptedTelemetry()
    store = results.RunStore(tmp_path, {})
    r = runner.Runner(REG, [devices.cpu()], store, FAST, telemetry=tel)
    r.run([case("add", 4), case("add", 8)])
    assert tel.idle == [("cpu", IDLE_S)]  # once per device, before the sweep
    run = results.read_run(store.path)
    rec = run.cases[0]
    iters = rec["metrics"]["iters"]  # the timed steps (schema 2 stores blocks of them)
    m = rec["metrics"]
    assert m["samples_per_j"] == pytest.approx(4 * iters / 10.0)
    assert m["j_per_sample"] == pytest.approx(10.0 / (4 * iters))
    assert m["samples_per_s_per_w"] == pytest.approx(m["samples_per_s"] / 100.0)
    assert rec["telemetry"]["energy_method"] == "counter"
    assert run.end["telemetry"] == {"nvml_available": False}


def test_no_energy_means_no_figure_not_zero():
    assert runner.energy_metrics(None, 10, 5.0, 1.0) == {
        "samples_per_j": None, "j_per_sample": None, "samples_per_s_per_w": None, "tflop_per_s_per_w": None}
    got = runner.energy_metrics({"energy_j": 2.0, "power_mean_w": 4.0}, 10, 5.0, 1.0)
    assert got == {"samples_per_j": 5.0, "j_per_sample": 0.2, "samples_per_s_per_w": 1.25, "tflop_per_s_per_w": 0.25}


def test_cooldown_between_cases_on_the_same_device(tmp_path, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    settings = RunSettings(timing=FAST.timing, cooldown_s={"cpu": 0.5, "cuda": 0.0})
    r = runner.Runner(REG, [devices.cpu()], results.RunStore(tmp_path, {}), settings)
    r.run([case("add"), case("add", skip_reason="x"), case("add")])
    assert slept == [0.5]


@pytest.fixture
def nvml_reset():
    nvml._reset_for_tests()
    yield
    nvml._reset_for_tests()


def test_run_without_nvml_measures_timings_and_says_why(tmp_path, monkeypatch, nvml_reset):
    fake_pynvml.install(monkeypatch, [], init_error=fake_pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    r = CliRunner().invoke(main, ["run", "-w", "matmul", "-p", "fp32", "--param", "m=64", "--out", str(tmp_path),
                                  *TINY, "--min-time", "0.3", "--sample-hz", "200"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    run_dir = results.newest_run(tmp_path)
    df = results.load(run_dir)
    header = df.attrs["runs"][0]["header"]
    assert header["telemetry"]["nvml_available"] is False and header["telemetry"]["nvml_reason"]
    assert df["status"].tolist() == ["ok"] and df["samples_per_s"][0] > 0
    assert pd.isna(df["samples_per_j"][0])  # not measured: empty, never zero
    samples = pd.read_csv(run_dir / results.SAMPLES_FILE, keep_default_na=False)
    assert (samples["device"] == "host").any()
    assert "matmul/infer/cpu/fp32" in set(samples["case_id"].str.split("[").str[0])


def test_sample_hz_out_of_range_is_a_usage_error(tmp_path):
    r = CliRunner().invoke(main, ["run", "--sample-hz", "5000", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--sample-hz" in r.output and "1<=x<=1000" in r.output.replace(" ", "")


def test_real_telemetry_window_wraps_the_timed_steps(tmp_path, monkeypatch, nvml_reset):
    fake_pynvml.install(monkeypatch, [fake_pynvml.FakeGpu(power_w=250.0)])
    tel = Telemetry([], hz=200, samples_path=tmp_path / "samples.csv")
    store = results.RunStore(tmp_path, {})
    with tel:
        runner.Runner(REG, [devices.cpu()], store, FAST, telemetry=tel).run([case("add")])
    rec = results.read_run(store.path).cases[0]
    assert rec["telemetry"]["device"] == "cpu" and rec["telemetry"]["window_s"] > 0
    assert rec["telemetry"]["case_id"] == rec["id"]
    assert tel.sampler is not None and not tel.sampler.running
