"""pytest plugin: power and energy for any pytest-benchmark test.

Registered as the ``pytest11`` entry point ``benchsuite``. With ``--benchsuite-telemetry``
every test that uses pytest-benchmark's ``benchmark`` fixture is measured; the
``benchsuite_telemetry`` fixture measures one test. A telemetry window (see
`benchsuite.telemetry`) is open for the whole ``benchmark(...)`` call (calibration,
warm-up and rounds: the same function throughout), and the benchmark's ``extra_info``
gets:

``power_mean_w``        mean power of the device over that call, W
``energy_j``, ``window_s``  energy and duration of the call, J and s
``energy_per_round_j``  (energy_j / window_s) x the mean round time, J; a round is
                        ``iterations`` calls of the benchmarked function
``samples_per_j``       samples per joule, when the test states ``extra_info["samples"]``
                        (samples one call processes)
``device``, ``device_name``, ``energy_method``, ``quality_flags``, ``telemetry_note``

A test may name its device with ``benchmark.extra_info["device"] = "cuda:1"``; the
default is ``--benchsuite-device``, else ``cuda:0`` when NVML sees a GPU, else ``cpu``.
Without NVML (or RAPL, for the CPU) the fields are still written: the energy fields
are None and ``telemetry_note`` says why. Importing this module touches neither torch
nor NVML.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

_SESSION_KEY = pytest.StashKey["_TelemetrySession"]()
_ATTACHED = "_benchsuite_meter"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("benchsuite", "benchsuite power and energy for pytest-benchmark")
    group.addoption("--benchsuite-telemetry", action="store_true", default=False,
                    help="Add mean power (W), energy per round (J), samples/J, the device and the "
                         "telemetry method to every benchmark's extra_info.")
    group.addoption("--benchsuite-device", default=None, metavar="DEVICE",
                    help="Device the benchmarks run on: cpu or cuda:N (default: cuda:0 when NVML "
                         "sees a GPU, else cpu); a test overrides it with extra_info['device'].")
    group.addoption("--benchsuite-telemetry-hz", type=float, default=20.0, metavar="HZ",
                    help="Telemetry sampling rate, 1..1000 Hz (default 20).")


class _TelemetrySession:
    """One `benchsuite.telemetry.Telemetry` per pytest session, started on first use."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._telemetry = None
        self._names: dict[str, str | None] = {}

    def telemetry(self):
        if self._telemetry is None:
            from benchsuite.telemetry import Telemetry, nvml

            ok, _ = nvml.status()
            gpus = list(range(nvml.device_count())) if ok else []
            hz = self.config.getoption("benchsuite_telemetry_hz")
            self._telemetry = Telemetry(gpus, hz=hz)
            self._telemetry.start()
        return self._telemetry

    def default_device(self) -> str:
        chosen = self.config.getoption("benchsuite_device")
        if chosen:
            return chosen
        return "cuda:0" if self.telemetry().gpu_indices else "cpu"

    def device_name(self, device: str) -> str | None:
        """The device's name: the CPU model, or the GPU's name from NVML (None if unknown)."""
        if device not in self._names:
            from benchsuite.telemetry import NvmlError, TelemetryId, nvml

            index = TelemetryId.parse(device).index
            name = None
            if index is None:
                from benchsuite.devices import cpu

                name = cpu().name
            elif nvml.status()[0]:
                try:
                    name = nvml.device_static(index, errors=[])["name"]
                except NvmlError:
                    name = None
            self._names[device] = name
        return self._names[device]

    def stop(self) -> None:
        if self._telemetry is not None:
            self._telemetry.stop()


class EnergyMeter:
    """Measures one test's ``benchmark(...)`` call; what the ``benchsuite_telemetry`` fixture gives.

    Set ``device`` and ``samples`` (per call of the benchmarked function) before the
    call, or put them in ``benchmark.extra_info``. After the call ``summary`` holds the
    telemetry window's summary and ``fields`` what was written into ``extra_info``.
    """

    def __init__(self, benchmark: Any, session: _TelemetrySession) -> None:
        self.benchmark = benchmark
        self.session = session
        self.device: str | None = None
        self.samples: float | None = None
        self.summary: dict[str, Any] | None = None
        self.fields: dict[str, Any] = {}

    def _wrap(self, raw):
        @functools.wraps(raw)
        def measured(*args: Any, **kwargs: Any) -> Any:
            info = self.benchmark.extra_info
            device = self.device or info.get("device") or self.session.default_device()
            try:
                window = self.session.telemetry().window(device, self.benchmark.fullname)
            except ValueError as exc:  # a device name that is not cpu / cuda:N
                raise pytest.UsageError(f"benchsuite telemetry: {exc}") from None
            try:
                with window:
                    return raw(*args, **kwargs)
            finally:
                self.summary = window.summary
                self.fields = self._fields(device)
                info.update(self.fields)
        return measured

    def _fields(self, device: str) -> dict[str, Any]:
        s = self.summary or {}
        info = self.benchmark.extra_info
        samples = self.samples if self.samples is not None else info.get("samples")
        energy_j, window_s = s.get("energy_j"), s.get("window_s")
        note = s.get("telemetry_note")
        per_round = per_j = None
        bench = self.benchmark.stats  # pytest-benchmark's Metadata; None when benchmarks are disabled
        if bench is None or not bench.stats:
            why = "no timed rounds (benchmarks disabled?)"
            note = f"{note}; {why}" if note else why
        elif energy_j is not None and window_s:
            from benchsuite import metrics

            round_s = bench.stats.mean * bench.iterations  # the window also held calibration and warm-up
            got = metrics.round_energy(energy_j, window_s / round_s if round_s else None,
                                       samples * bench.iterations if samples else None)
            per_round, per_j = got["energy_per_round_j"], got["samples_per_j"]
        return {
            "device": device,
            "device_name": self.session.device_name(device),
            "samples": samples,
            "power_mean_w": s.get("power_mean_w"),
            "energy_j": energy_j,
            "window_s": window_s,
            "energy_per_round_j": per_round,
            "samples_per_j": per_j,
            "energy_method": s.get("energy_method"),
            "energy_measured": per_round is not None,
            "quality_flags": list(s.get("quality_flags") or []),
            "telemetry_note": note,
        }


def attach(benchmark: Any, config: pytest.Config) -> EnergyMeter:
    """Measure ``benchmark`` (a pytest-benchmark fixture) with telemetry; idempotent."""
    meter = getattr(benchmark, _ATTACHED, None)
    if meter is None:
        meter = EnergyMeter(benchmark, config.stash[_SESSION_KEY])
        # benchmark(...) and benchmark.pedantic(...) both go through these two methods.
        benchmark._raw = meter._wrap(benchmark._raw)
        benchmark._raw_pedantic = meter._wrap(benchmark._raw_pedantic)
        setattr(benchmark, _ATTACHED, meter)
    return meter


def pytest_configure(config: pytest.Config) -> None:
    from benchsuite.telemetry import TelemetryId, validate_hz

    try:  # bad values are usage errors before anything runs (neither needs NVML)
        validate_hz(config.getoption("benchsuite_telemetry_hz"))
        if config.getoption("benchsuite_device"):
            TelemetryId.parse(config.getoption("benchsuite_device"))
    except ValueError as exc:
        raise pytest.UsageError(f"benchsuite: {exc}") from None
    config.stash[_SESSION_KEY] = _TelemetrySession(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(_SESSION_KEY, None)
    if session is not None:
        session.stop()


@pytest.fixture
def benchsuite_telemetry(request: pytest.FixtureRequest, benchmark: Any) -> EnergyMeter:
    """Power and energy for this test's ``benchmark`` call (see the module docstring)."""
    return attach(benchmark, request.config)


@pytest.fixture(autouse=True)
def _benchsuite_telemetry_option(request: pytest.FixtureRequest) -> None:
    """With ``--benchsuite-telemetry``, measure every test that uses ``benchmark``."""
    if request.config.getoption("benchsuite_telemetry") and "benchmark" in request.fixturenames:
        attach(request.getfixturevalue("benchmark"), request.config)
