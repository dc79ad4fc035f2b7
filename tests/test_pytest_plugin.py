"""The pytest plugin, run through pytester with a stand-in pynvml: energy in extra_info."""

from __future__ import annotations

import json
import sys
from importlib import metadata

import pytest

from benchsuite.telemetry import nvml
from tests.fakes.fake_pynvml import FakeGpu, install

# The pytest11 entry point is active only where benchsuite is installed with this
# pyproject; elsewhere (a venv holding another checkout) load the plugin by name.
_ENTRY_POINT = any(ep.value == "benchsuite.pytest_plugin" for ep in metadata.entry_points(group="pytest11"))
PLUGIN = [] if _ENTRY_POINT else ["-p", "benchsuite.pytest_plugin"]
# Short pytest-benchmark settings: a few rounds of a tiny function.
QUICK = ["--benchmark-max-time=0.05", "--benchmark-min-rounds=3", "--benchmark-warmup=off", "-p", "no:cacheprovider"]

BENCH_TESTS = '''
def work():
    return sum(i * i for i in range(3000))

def test_stated_samples(benchmark):
    benchmark.extra_info["samples"] = 100
    benchmark(work)

def test_pedantic(benchmark):
    benchmark.pedantic(work, rounds=4, iterations=3)

def test_not_a_benchmark():
    assert work() > 0
'''


@pytest.fixture(autouse=True)
def _fresh_nvml():
    nvml._reset_for_tests()
    yield
    nvml._reset_for_tests()


def _benchmarks(path) -> dict:
    return {b["name"]: b for b in json.loads(path.read_text())["benchmarks"]}


def test_option_adds_power_and_energy_from_nvml(pytester, monkeypatch):
    gpu = FakeGpu(power_w=250.0)
    install(monkeypatch, [gpu])
    pytester.makepyfile(test_bench=BENCH_TESTS)
    out = pytester.path / "bench.json"
    result = pytester.runpytest(*PLUGIN, *QUICK, "--benchsuite-telemetry", f"--benchmark-json={out}")
    result.assert_outcomes(passed=3)
    benches = _benchmarks(out)
    assert set(benches) == {"test_stated_samples", "test_pedantic"}
    for bench in benches.values():
        info, stats = bench["extra_info"], bench["stats"]
        assert info["device"] == "cuda:0" and info["device_name"] == gpu.name
        assert info["energy_method"] in ("counter", "integrated-power")
        assert info["energy_measured"] is True
        assert info["power_mean_w"] == pytest.approx(250.0, rel=0.05)
        # the window spans the whole benchmark call, which holds every timed round
        assert info["window_s"] >= stats["total"] * stats["iterations"] * 0.999
        assert info["energy_j"] == pytest.approx(250.0 * info["window_s"], rel=0.05)
        round_s = stats["mean"] * stats["iterations"]
        assert info["energy_per_round_j"] == pytest.approx(info["energy_j"] / info["window_s"] * round_s)
    assert benches["test_pedantic"]["stats"]["iterations"] == 3
    assert benches["test_pedantic"]["stats"]["rounds"] == 4
    stated = benches["test_stated_samples"]
    assert stated["extra_info"]["samples_per_j"] == pytest.approx(
        100 * stated["stats"]["iterations"] / stated["extra_info"]["energy_per_round_j"])
    assert benches["test_pedantic"]["extra_info"]["samples_per_j"] is None  # samples not stated


def test_option_without_nvml_records_not_measured(pytester, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # `import pynvml` fails: no NVML
    pytester.makepyfile(test_bench=BENCH_TESTS)
    out = pytester.path / "bench.json"
    result = pytester.runpytest(*PLUGIN, *QUICK, "--benchsuite-telemetry", "--benchsuite-device=cuda:0",
                                f"--benchmark-json={out}")
    result.assert_outcomes(passed=3)
    for bench in _benchmarks(out).values():
        info = bench["extra_info"]
        assert info["device"] == "cuda:0" and info["device_name"] is None
        assert info["energy_measured"] is False
        assert info["energy_j"] is None and info["energy_per_round_j"] is None and info["power_mean_w"] is None
        assert "pynvml not installed" in info["telemetry_note"]


def test_option_without_nvml_defaults_to_the_cpu(pytester, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    pytester.makepyfile(test_bench=BENCH_TESTS)
    out = pytester.path / "bench.json"
    pytester.runpytest(*PLUGIN, *QUICK, "--benchsuite-telemetry", f"--benchmark-json={out}").assert_outcomes(passed=3)
    for bench in _benchmarks(out).values():
        info = bench["extra_info"]
        assert info["device"] == "cpu" and info["device_name"]
        # Host energy comes from RAPL where the kernel exposes it; otherwise the note says why.
        assert info["energy_measured"] == (info["energy_j"] is not None)
        assert info["energy_measured"] or info["telemetry_note"]


def test_fixture_measures_one_test_only(pytester, monkeypatch):
    gpu = FakeGpu(power_w=300.0, name="NVIDIA Fake A100")
    install(monkeypatch, [gpu])
    pytester.makepyfile(test_bench='''
def work():
    return sum(range(5000))

def test_measured(benchmark, benchsuite_telemetry):
    benchsuite_telemetry.samples = 64
    assert benchsuite_telemetry.summary is None
    benchmark(work)
    fields = benchsuite_telemetry.fields
    assert benchsuite_telemetry.summary["device"] == "cuda:0"
    assert fields["device_name"] == "NVIDIA Fake A100"
    assert abs(fields["power_mean_w"] - 300.0) < 15.0
    assert fields["samples"] == 64 and fields["samples_per_j"] > 0
    assert {k: benchmark.extra_info[k] for k in fields} == fields

def test_plain(benchmark):
    benchmark(work)
''')
    out = pytester.path / "bench.json"
    result = pytester.runpytest(*PLUGIN, *QUICK, f"--benchmark-json={out}")
    result.assert_outcomes(passed=2)
    benches = _benchmarks(out)
    assert benches["test_measured"]["extra_info"]["energy_measured"] is True
    assert benches["test_plain"]["extra_info"] == {}  # no --benchsuite-telemetry: untouched


def test_device_from_extra_info_and_bad_device(pytester, monkeypatch):
    install(monkeypatch, [FakeGpu(name="gpu zero"), FakeGpu(name="gpu one", power_w=100.0)])
    pytester.makepyfile(test_bench='''
def test_second_gpu(benchmark):
    benchmark.extra_info["device"] = "cuda:1"
    benchmark(lambda: sum(range(1000)))

def test_bad_device(benchmark):
    benchmark.extra_info["device"] = "gpu1"
    benchmark(lambda: None)
''')
    out = pytester.path / "bench.json"
    result = pytester.runpytest(*PLUGIN, *QUICK, "--benchsuite-telemetry", f"--benchmark-json={out}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*device 'gpu1' is not allowed: use 'cpu' or 'cuda:N'*"])
    info = _benchmarks(out)["test_second_gpu"]["extra_info"]
    assert info["device_name"] == "gpu one"
    assert info["power_mean_w"] == pytest.approx(100.0, rel=0.05)


@pytest.mark.parametrize("option, message", [
    ("--benchsuite-telemetry-hz=0", "sampling rate hz=0.0 is not allowed"),
    ("--benchsuite-device=tpu:0", "device 'tpu:0' is not allowed: use 'cpu' or 'cuda:N'"),
])
def test_bad_option_values_are_usage_errors(pytester, option, message):
    pytester.makepyfile(test_bench="def test_x(benchmark):\n    benchmark(lambda: None)\n")
    result = pytester.runpytest(*PLUGIN, *QUICK, "--benchsuite-telemetry", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*benchsuite: {message}*"])
