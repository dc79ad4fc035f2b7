"""A stand-in ``pynvml`` module that plays scripted GPUs, for tests without hardware.

Usage in a test (``install`` also resets benchsuite's cached NVML state; reset it again
after the test, as the autouse fixture in tests/telemetry/conftest.py does)::

    from tests.fakes.fake_pynvml import FakeGpu, install

    def test_x(monkeypatch):
        fake = install(monkeypatch, [FakeGpu(power_w=250.0)])
        ...  # benchsuite.telemetry.nvml now talks to `fake`

A ``FakeGpu``'s power is a constant or a function of seconds since the fake was made;
its total-energy counter advances by that power over (real or injected) time, exactly
for a constant and in 1 ms midpoint steps for a trace; with ``counter_period_s`` it
changes only at updates every that many seconds, as a real one does (100 ms on an H100). Capabilities are switched off
with ``energy_counter=False``, ``instant_power=False``, ``unsupported={"nvmlDevice…"}``,
``errors={"nvmlDevice…": NVML_ERROR_NO_PERMISSION}``; ``init_error`` makes nvmlInit fail;
``missing`` removes functions from the module (an older pynvml).
"""

from __future__ import annotations

import math
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

# Values as in nvml.h / pynvml.
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_UNKNOWN = 999

_CONSTANTS = {
    "NVML_SUCCESS": NVML_SUCCESS,
    "NVML_ERROR_UNINITIALIZED": NVML_ERROR_UNINITIALIZED,
    "NVML_ERROR_INVALID_ARGUMENT": NVML_ERROR_INVALID_ARGUMENT,
    "NVML_ERROR_NOT_SUPPORTED": NVML_ERROR_NOT_SUPPORTED,
    "NVML_ERROR_NO_PERMISSION": NVML_ERROR_NO_PERMISSION,
    "NVML_ERROR_NOT_FOUND": NVML_ERROR_NOT_FOUND,
    "NVML_ERROR_DRIVER_NOT_LOADED": NVML_ERROR_DRIVER_NOT_LOADED,
    "NVML_ERROR_TIMEOUT": NVML_ERROR_TIMEOUT,
    "NVML_ERROR_LIBRARY_NOT_FOUND": NVML_ERROR_LIBRARY_NOT_FOUND,
    "NVML_ERROR_FUNCTION_NOT_FOUND": NVML_ERROR_FUNCTION_NOT_FOUND,
    "NVML_ERROR_GPU_IS_LOST": NVML_ERROR_GPU_IS_LOST,
    "NVML_ERROR_LIB_RM_VERSION_MISMATCH": NVML_ERROR_LIB_RM_VERSION_MISMATCH,
    "NVML_ERROR_UNKNOWN": NVML_ERROR_UNKNOWN,
    "NVML_FEATURE_DISABLED": 0,
    "NVML_FEATURE_ENABLED": 1,
    "NVML_TEMPERATURE_GPU": 0,
    "NVML_CLOCK_GRAPHICS": 0,
    "NVML_CLOCK_SM": 1,
    "NVML_CLOCK_MEM": 2,
    "NVML_DEVICE_MIG_DISABLE": 0,
    "NVML_DEVICE_MIG_ENABLE": 1,
    "NVML_COMPUTEMODE_DEFAULT": 0,
    "NVML_COMPUTEMODE_EXCLUSIVE_PROCESS": 3,
    "NVML_VALUE_TYPE_DOUBLE": 0,
    "NVML_VALUE_TYPE_UNSIGNED_INT": 1,
    "NVML_FI_DEV_POWER_AVERAGE": 185,
    "NVML_FI_DEV_POWER_INSTANT": 186,
    "nvmlClocksEventReasonGpuIdle": 0x1,
    "nvmlClocksEventReasonApplicationsClocksSetting": 0x2,
    "nvmlClocksEventReasonSwPowerCap": 0x4,
    "nvmlClocksEventReasonHwSlowdown": 0x8,
    "nvmlClocksEventReasonSyncBoost": 0x10,
    "nvmlClocksEventReasonSwThermalSlowdown": 0x20,
    "nvmlClocksEventReasonHwThermalSlowdown": 0x40,
    "nvmlClocksEventReasonHwPowerBrakeSlowdown": 0x80,
    "nvmlClocksEventReasonDisplayClockSetting": 0x100,
}
_NAMES = {v: k[len("NVML_ERROR_"):] for k, v in _CONSTANTS.items() if k.startswith("NVML_ERROR_")}


class NVMLError(Exception):
    """Like pynvml.NVMLError: ``.value`` is the NVML return code."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return _NAMES.get(self.value, f"NVML Error with code {self.value}")


class NVMLLibraryMismatchError(Exception):
    pass


GiB = 1024 ** 3


@dataclass
class FakeGpu:
    """One scripted GPU. ``power_w``: watts, constant or ``f(seconds since creation)``."""

    name: str = "NVIDIA Fake H100 80GB HBM3"
    power_w: float | Callable[[float], float] = 250.0
    energy_counter: bool = True
    stall_counter: bool = False          # counter exists but never advances
    counter_scale: float = 1.0           # counter reads this × the true energy
    # The counter updates only every counter_period_s (an H100's: 0.1 s), at
    # counter_phase_s + k × period; None: it follows every read.
    counter_period_s: float | None = None
    counter_phase_s: float = 0.0
    instant_power: bool = True           # NVML_FI_DEV_POWER_INSTANT field supported
    unsupported: set[str] = field(default_factory=set)   # function names -> NOT_SUPPORTED
    errors: dict[str, int] = field(default_factory=dict)  # function names -> error code
    throttle_mask: int | Callable[[float], int] = 0
    pids: list[int] = field(default_factory=list)
    mem_total_bytes: int = 80 * GiB
    mem_used_bytes: int = 10 * GiB
    util_gpu_pct: int = 97
    util_mem_pct: int = 40
    sm_clock_mhz: int = 1980
    mem_clock_mhz: int = 2619
    temp_c: int = 55
    power_limit_mw: int = 700_000
    uuid: str = "GPU-00000000-fake-0000-0000-000000000000"
    pci_bus_id: str = "00000000:19:00.0"
    energy_base_mj: int = 123_456_789    # counters count since driver load, not from 0
    # integration state (guarded by the module's lock)
    _last_t: float | None = None
    _energy_mj: float = 0.0

    def power_at(self, t: float) -> float:
        return self.power_w(t) if callable(self.power_w) else float(self.power_w)

    def advance(self, t: float) -> float:
        """Energy in mJ consumed since creation, at time ``t`` (seconds since creation)."""
        if self._last_t is None:
            self._last_t = 0.0
        if t > self._last_t:
            if callable(self.power_w):
                step = 1e-3
                t0 = self._last_t
                while t0 < t:
                    t1 = min(t, t0 + step)
                    self._energy_mj += self.power_at((t0 + t1) / 2) * (t1 - t0) * 1000.0
                    t0 = t1
            else:
                self._energy_mj += float(self.power_w) * (t - self._last_t) * 1000.0
            self._last_t = t
        return self._energy_mj


class _Handle:
    def __init__(self, index: int) -> None:
        self.index = index

    def __repr__(self) -> str:
        return f"<fake nvmlDevice {self.index}>"


class FakePynvml(types.ModuleType):
    """The fake module. ``calls`` counts calls by function name; ``initialised`` is state."""

    def __init__(self, gpus: Iterable[FakeGpu] | None = None, *, init_error: int | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 missing: Iterable[str] = (), driver_version: str = "580.82.07",
                 cuda_version: int = 13000) -> None:
        super().__init__("pynvml")
        self.__file__ = __file__
        self.gpus = list(gpus) if gpus is not None else [FakeGpu()]
        self.init_error = init_error
        self.clock = clock
        self.t0 = clock()
        self.initialised = 0
        self.shutdowns = 0
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self._driver = driver_version
        self._cuda = cuda_version
        for k, v in _CONSTANTS.items():
            setattr(self, k, v)
        self.NVMLError = NVMLError
        self.NVMLLibraryMismatchError = NVMLLibraryMismatchError
        for name in dir(type(self)):
            if name.startswith("nvml") and callable(getattr(type(self), name)):
                setattr(self, name, self._wrap(name, getattr(self, name)))
        for name in missing:
            if hasattr(self, name):
                delattr(self, name)

    # -- plumbing -----------------------------------------------------------------------
    def now(self) -> float:
        return self.clock() - self.t0

    def _wrap(self, name: str, bound: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            with self.lock:
                self.calls[name] = self.calls.get(name, 0) + 1
            if name not in ("nvmlInit", "nvmlInitWithFlags") and not self.initialised:
                raise NVMLError(NVML_ERROR_UNINITIALIZED)
            if args and isinstance(args[0], _Handle):
                gpu = self.gpus[args[0].index]
                if name in gpu.errors:
                    raise NVMLError(gpu.errors[name])
                if name in gpu.unsupported:
                    raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
            return bound(*args)
        call.__name__ = name
        return call

    def _gpu(self, h: _Handle) -> FakeGpu:
        return self.gpus[h.index]

    # -- init -----------------------------------------------------------------------------
    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1
        self.initialised = max(0, self.initialised - 1)

    # -- system ---------------------------------------------------------------------------
    def nvmlSystemGetDriverVersion(self) -> str:
        return self._driver

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        return self._cuda

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        return self._cuda

    def nvmlDeviceGetCount(self) -> int:
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> _Handle:
        if not 0 <= index < len(self.gpus):
            raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
        return _Handle(index)

    # -- static -----------------------------------------------------------------------------
    def nvmlDeviceGetName(self, h: _Handle) -> str:
        return self._gpu(h).name

    def nvmlDeviceGetUUID(self, h: _Handle) -> str:
        return self._gpu(h).uuid

    def nvmlDeviceGetPciInfo(self, h: _Handle) -> Any:
        return types.SimpleNamespace(busId=self._gpu(h).pci_bus_id)

    def nvmlDeviceGetPowerManagementLimit(self, h: _Handle) -> int:
        return self._gpu(h).power_limit_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, h: _Handle) -> int:
        return self._gpu(h).power_limit_mw

    def nvmlDeviceGetPowerManagementDefaultLimit(self, h: _Handle) -> int:
        return self._gpu(h).power_limit_mw

    def nvmlDeviceGetApplicationsClock(self, h: _Handle, clock_type: int) -> int:
        g = self._gpu(h)
        return g.sm_clock_mhz if clock_type == 1 else g.mem_clock_mhz

    def nvmlDeviceGetMaxClockInfo(self, h: _Handle, clock_type: int) -> int:
        g = self._gpu(h)
        return g.sm_clock_mhz if clock_type == 1 else g.mem_clock_mhz

    def nvmlDeviceGetEccMode(self, h: _Handle) -> list[int]:
        return [1, 1]

    def nvmlDeviceGetMigMode(self, h: _Handle) -> list[int]:
        return [0, 0]

    def nvmlDeviceGetPersistenceMode(self, h: _Handle) -> int:
        return 1

    def nvmlDeviceGetCurrPcieLinkGeneration(self, h: _Handle) -> int:
        return 5

    def nvmlDeviceGetCurrPcieLinkWidth(self, h: _Handle) -> int:
        return 16

    def nvmlDeviceGetComputeMode(self, h: _Handle) -> int:
        return 0

    # -- dynamic ----------------------------------------------------------------------------
    def nvmlDeviceGetFieldValues(self, h: _Handle, field_ids: list[int]) -> list[Any]:
        g = self._gpu(h)
        out = []
        for fid in field_ids:
            ok = fid in (185, 186) and g.instant_power
            value = types.SimpleNamespace(uiVal=int(round(g.power_at(self.now()) * 1000)),
                                          dVal=0.0)
            out.append(types.SimpleNamespace(
                fieldId=fid, scopeId=0, timestamp=0, latencyUsec=0, valueType=1,
                nvmlReturn=NVML_SUCCESS if ok else NVML_ERROR_NOT_SUPPORTED, value=value))
        return out

    def nvmlDeviceGetPowerUsage(self, h: _Handle) -> int:
        return int(round(self._gpu(h).power_at(self.now()) * 1000))

    def nvmlDeviceGetTotalEnergyConsumption(self, h: _Handle) -> int:
        g = self._gpu(h)
        if not g.energy_counter:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        t = self.now()
        if g.counter_period_s:  # the value of the last update at or before t
            t = g.counter_phase_s + math.floor((t - g.counter_phase_s) / g.counter_period_s) * g.counter_period_s
        with self.lock:
            mj = g.advance(max(t, 0.0))
        if g.stall_counter:
            mj = 0.0
        return int(g.energy_base_mj + mj * g.counter_scale)

    def nvmlDeviceGetMemoryInfo(self, h: _Handle) -> Any:
        g = self._gpu(h)
        return types.SimpleNamespace(total=g.mem_total_bytes, used=g.mem_used_bytes,
                                     free=g.mem_total_bytes - g.mem_used_bytes)

    def nvmlDeviceGetUtilizationRates(self, h: _Handle) -> Any:
        g = self._gpu(h)
        return types.SimpleNamespace(gpu=g.util_gpu_pct, memory=g.util_mem_pct)

    def nvmlDeviceGetClockInfo(self, h: _Handle, clock_type: int) -> int:
        g = self._gpu(h)
        return g.sm_clock_mhz if clock_type == 1 else g.mem_clock_mhz

    def nvmlDeviceGetTemperature(self, h: _Handle, sensor: int) -> int:
        return self._gpu(h).temp_c

    def nvmlDeviceGetPerformanceState(self, h: _Handle) -> int:
        return 0

    def nvmlDeviceGetCurrentClocksEventReasons(self, h: _Handle) -> int:
        m = self._gpu(h).throttle_mask
        return m(self.now()) if callable(m) else m

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, h: _Handle) -> int:
        return self.nvmlDeviceGetCurrentClocksEventReasons(h)

    def nvmlDeviceGetComputeRunningProcesses(self, h: _Handle) -> list[Any]:
        return [types.SimpleNamespace(pid=p, usedGpuMemory=GiB) for p in self._gpu(h).pids]


def install(monkeypatch: Any, gpus: Iterable[FakeGpu] | None = None, **kwargs: Any) -> FakePynvml:
    """Put a :class:`FakePynvml` in ``sys.modules["pynvml"]`` and reset benchsuite's NVML state."""
    from benchsuite.telemetry import nvml

    fake = FakePynvml(gpus, **kwargs)
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    nvml._reset_for_tests()  # tests/telemetry/conftest.py resets again after each test
    return fake
