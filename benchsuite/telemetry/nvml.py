"""The one door to NVML: lazy thread-safe init, one query choke point, typed errors.

This is the only module in benchsuite that imports ``pynvml`` (package ``nvidia-ml-py``).
Nothing happens at import: the library is loaded and ``nvmlInit`` called on first use,
once, under a lock; ``nvmlShutdown`` is registered with ``atexit`` after a successful init.

Every NVML call goes through :func:`query`, which maps "not supported on this chip or
driver" to a default (``None``) and every other NVML error to :class:`NvmlError`.
"""

from __future__ import annotations

import atexit
import importlib
import threading
from typing import Any, Callable

__all__ = [
    "NvmlError",
    "NvmlUnavailable",
    "THROTTLE_REASONS",
    "SLOWING_REASONS",
    "status",
    "query",
    "driver_version",
    "cuda_driver_version",
    "device_count",
    "handle",
    "device_static",
    "sample",
    "energy_counter_j",
    "decode_throttle",
    "running_processes",
    "GPU_SAMPLE_FIELDS",
]


class NvmlError(RuntimeError):
    """An NVML call failed for a reason other than "not supported".

    ``error_name`` is the NVML constant without its prefix (``"NO_PERMISSION"``),
    ``code`` the numeric NVML return code, ``function`` the NVML function called.
    """

    def __init__(self, message: str, *, error_name: str | None = None,
                 code: int | None = None, function: str | None = None) -> None:
        super().__init__(message)
        self.error_name = error_name
        self.code = code
        self.function = function


class NvmlUnavailable(NvmlError):
    """NVML cannot be used at all here; ``reason`` says why, for a human."""

    def __init__(self, reason: str, **kwargs: Any) -> None:
        super().__init__(reason, **kwargs)
        self.reason = reason


# NVML return codes (nvml.h, mirrored as NVML_ERROR_* in pynvml). Only used to classify
# errors; the live module's own constants are preferred where it has them.
_NOT_SUPPORTED_NAMES = ("NOT_SUPPORTED", "FUNCTION_NOT_FOUND", "NOT_FOUND")
_FALLBACK_CODES = {
    "NOT_SUPPORTED": 3, "NO_PERMISSION": 4, "NOT_FOUND": 6, "DRIVER_NOT_LOADED": 9,
    "LIBRARY_NOT_FOUND": 12, "FUNCTION_NOT_FOUND": 13, "LIB_RM_VERSION_MISMATCH": 18,
}

# Clock event ("throttle") reason bits: pynvml nvmlClocksEventReason* / the older
# nvmlClocksThrottleReason* constants (nvml.h, "Clocks Event Reasons"); same values in
# both families. tests/telemetry checks these against the installed pynvml.
THROTTLE_REASONS: dict[str, int] = {
    "gpu_idle": 0x1,                      # nvmlClocksEventReasonGpuIdle
    "applications_clocks_setting": 0x2,   # nvmlClocksEventReasonApplicationsClocksSetting
    "sw_power_cap": 0x4,                  # nvmlClocksEventReasonSwPowerCap
    "hw_slowdown": 0x8,                   # nvmlClocksEventReasonHwSlowdown
    "sync_boost": 0x10,                   # nvmlClocksEventReasonSyncBoost
    "sw_thermal": 0x20,                   # nvmlClocksEventReasonSwThermalSlowdown
    "hw_thermal": 0x40,                   # nvmlClocksEventReasonHwThermalSlowdown
    "hw_power_brake": 0x80,               # nvmlClocksEventReasonHwPowerBrakeSlowdown
    "display_clocks_setting": 0x100,      # nvmlClocksEventReasonDisplayClockSetting
}

#: Reasons that actually hold the clocks below what the work asked for. Idle, the
#: user's application-clock setting and the display clock setting are not slow-downs.
SLOWING_REASONS: frozenset[str] = frozenset(
    set(THROTTLE_REASONS) - {"gpu_idle", "applications_clocks_setting", "display_clocks_setting"}
)

#: Keys of :func:`sample`'s dict, in CSV column order.
GPU_SAMPLE_FIELDS: tuple[str, ...] = (
    "power_w", "power_source", "energy_j", "mem_used_bytes", "mem_total_bytes",
    "util_gpu_pct", "util_mem_pct", "sm_clock_mhz", "mem_clock_mhz", "temp_c",
    "pstate", "power_limit_w", "throttle_mask",
)

_lock = threading.RLock()
_tried = False
_module: Any = None
_reason: str | None = None
_handles: dict[int, Any] = {}
_no_instant_power: set[int] = set()
_atexit_registered = False
_MISSING = object()


def _reset_for_tests() -> None:
    """Forget the cached init state, handles and capabilities (tests swap ``pynvml``)."""
    global _tried, _module, _reason
    with _lock:
        _tried = False
        _module = None
        _reason = None
        _handles.clear()
        _no_instant_power.clear()


def _code(mod: Any, name: str) -> int:
    return getattr(mod, "NVML_ERROR_" + name, _FALLBACK_CODES.get(name, -1))


def _error_name(mod: Any, code: int) -> str:
    for attr in dir(mod):
        if attr.startswith("NVML_ERROR_") and getattr(mod, attr) == code:
            return attr[len("NVML_ERROR_"):]
    return f"UNKNOWN_{code}"


def _init_reason(mod: Any, exc: BaseException) -> str:
    code = getattr(exc, "value", None)
    if code == _code(mod, "LIBRARY_NOT_FOUND"):
        return "no NVML: driver not found (libnvidia-ml not loadable)"
    if code == _code(mod, "DRIVER_NOT_LOADED"):
        return "no NVML: driver not loaded"
    if code == _code(mod, "LIB_RM_VERSION_MISMATCH"):
        return "no NVML: driver/library version mismatch (reboot or reload the driver)"
    if code == _code(mod, "NO_PERMISSION"):
        return "no NVML: permission denied"
    if isinstance(code, int):
        return f"no NVML: nvmlInit failed ({_error_name(mod, code)})"
    return f"no NVML: nvmlInit failed ({type(exc).__name__}: {exc})"


def _shutdown() -> None:
    global _tried, _module
    with _lock:
        mod = _module
        _module = None
        _tried = False
        _handles.clear()
    if mod is not None:
        try:
            mod.nvmlShutdown()
        except Exception:  # at interpreter exit there is nobody left to tell
            pass


def _ensure() -> Any:
    """Return the initialised pynvml module or raise :class:`NvmlUnavailable`."""
    global _tried, _module, _reason, _atexit_registered
    if _module is not None:
        return _module
    with _lock:
        if _module is not None:
            return _module
        if not _tried:
            _tried = True
            try:
                mod = importlib.import_module("pynvml")
            except ImportError:
                _reason = "no NVML: pynvml not installed (pip install nvidia-ml-py)"
            else:
                try:
                    mod.nvmlInit()
                except Exception as exc:  # NVMLError, OSError from ctypes, ...
                    _reason = _init_reason(mod, exc)
                else:
                    _module = mod
                    _reason = None
                    if not _atexit_registered:
                        atexit.register(_shutdown)
                        _atexit_registered = True
        if _module is None:
            raise NvmlUnavailable(_reason or "no NVML")
        return _module


def status() -> tuple[bool, str | None]:
    """(NVML reachable, reason if not). Initialises NVML on first call."""
    try:
        _ensure()
    except NvmlUnavailable as exc:
        return False, exc.reason
    return True, None


def query(fn: str | Callable[..., Any], *args: Any, default: Any = None) -> Any:
    """Call one NVML function; "not supported" gives ``default``, other errors raise.

    ``fn`` is a pynvml function name (``"nvmlDeviceGetPowerUsage"``) or a callable.
    A name the installed pynvml does not have counts as not supported. Raises
    :class:`NvmlUnavailable` when NVML cannot be loaded, :class:`NvmlError` otherwise.
    """
    mod = _ensure()
    if isinstance(fn, str):
        name = fn
        func = getattr(mod, fn, None)
        if func is None:
            return default
    else:
        func = fn
        name = getattr(fn, "__name__", repr(fn))
    nvml_error = getattr(mod, "NVMLError", None)
    mismatch = getattr(mod, "NVMLLibraryMismatchError", None)
    try:
        return func(*args)
    except Exception as exc:
        if mismatch is not None and isinstance(exc, mismatch):
            return default  # unversioned function absent from this driver's library
        if nvml_error is None or not isinstance(exc, nvml_error):
            raise
        code = getattr(exc, "value", None)
        if code in {_code(mod, n) for n in _NOT_SUPPORTED_NAMES}:
            return default
        err = _error_name(mod, code) if isinstance(code, int) else type(exc).__name__
        raise NvmlError(f"{name} failed: NVML_ERROR_{err}", error_name=err,
                        code=code, function=name) from exc


def _decode(value: Any) -> Any:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def driver_version() -> str | None:
    """The NVIDIA driver version ("580.82.07"), or None without NVML."""
    try:
        return _decode(query("nvmlSystemGetDriverVersion"))
    except NvmlError:
        return None


def cuda_driver_version() -> str | None:
    """The CUDA version the driver supports ("13.0"), or None without NVML."""
    try:
        v = query("nvmlSystemGetCudaDriverVersion_v2")
        if v is None:
            v = query("nvmlSystemGetCudaDriverVersion")
    except NvmlError:
        return None
    if v is None:
        return None
    return f"{v // 1000}.{(v % 1000) // 10}"  # encoded as 1000*major + 10*minor (nvml.h)


def device_count() -> int:
    """Number of GPUs NVML sees; 0 when NVML is unavailable."""
    try:
        return int(query("nvmlDeviceGetCount") or 0)
    except NvmlError:
        return 0


def index_of_uuid(uuid: str | None) -> int | None:
    """NVML's index of the GPU with this UUID (``GPU-`` prefix and case ignored), or None."""
    if not uuid or not status()[0]:
        return None
    wanted = uuid.lower().removeprefix("gpu-")
    for i in range(device_count()):
        found = _decode(query("nvmlDeviceGetUUID", handle(i)))
        if isinstance(found, str) and found.lower().removeprefix("gpu-") == wanted:
            return i
    return None


def handle(index: int) -> Any:
    """The NVML handle of GPU ``index`` (cached). Raises NvmlError for a bad index."""
    with _lock:
        h = _handles.get(index)
    if h is not None:
        return h
    try:
        h = query("nvmlDeviceGetHandleByIndex", index)
    except NvmlUnavailable:
        raise
    except NvmlError as exc:
        if exc.error_name != "INVALID_ARGUMENT":
            raise
        h = None
    if h is None:
        raise NvmlError(f"no NVML device at index {index} (NVML sees {device_count()} GPUs)",
                        error_name="INVALID_ARGUMENT", function="nvmlDeviceGetHandleByIndex")
    with _lock:
        _handles[index] = h
    return h


class _Fields:
    """Per-field tolerant reader: an unexpected NvmlError makes that field None."""

    def __init__(self, errors: list[str] | None) -> None:
        self.errors = errors

    def get(self, fn: str, *args: Any, default: Any = None) -> Any:
        try:
            return query(fn, *args, default=default)
        except NvmlUnavailable:
            raise
        except NvmlError as exc:
            if self.errors is None:
                raise
            self.errors.append(str(exc))
            return default


def _mw_to_w(mw: Any) -> float | None:
    return None if mw is None else mw / 1000.0


def _enabled(value: Any, on: int) -> bool | None:
    return None if value is None else bool(value == on)


_COMPUTE_MODES = {0: "default", 1: "exclusive_thread", 2: "prohibited", 3: "exclusive_process"}


def device_static(index: int, errors: list[str] | None = None) -> dict[str, Any]:
    """Properties of GPU ``index`` that do not change during a run (for fingerprints).

    Fields are None where the chip or driver does not support them. With ``errors`` a
    list, unexpected NVML errors are appended there and the field is None; without it
    they raise :class:`NvmlError`.
    """
    mod = _ensure()
    h = handle(index)
    f = _Fields(errors)
    sm, mem = getattr(mod, "NVML_CLOCK_SM", 1), getattr(mod, "NVML_CLOCK_MEM", 2)
    feature_on = getattr(mod, "NVML_FEATURE_ENABLED", 1)
    meminfo = f.get("nvmlDeviceGetMemoryInfo", h)
    pci = f.get("nvmlDeviceGetPciInfo", h)
    ecc = f.get("nvmlDeviceGetEccMode", h)
    mig = f.get("nvmlDeviceGetMigMode", h)
    compute_mode = f.get("nvmlDeviceGetComputeMode", h)
    return {
        "index": index,
        "name": _decode(f.get("nvmlDeviceGetName", h)),
        "uuid": _decode(f.get("nvmlDeviceGetUUID", h)),
        "pci_bus_id": None if pci is None else _decode(pci.busId),
        "memory_total_bytes": None if meminfo is None else int(meminfo.total),
        "power_limit_w": _mw_to_w(f.get("nvmlDeviceGetPowerManagementLimit", h)),
        "enforced_power_limit_w": _mw_to_w(f.get("nvmlDeviceGetEnforcedPowerLimit", h)),
        "default_power_limit_w": _mw_to_w(f.get("nvmlDeviceGetPowerManagementDefaultLimit", h)),
        "sm_clock_app_mhz": f.get("nvmlDeviceGetApplicationsClock", h, sm),
        "mem_clock_app_mhz": f.get("nvmlDeviceGetApplicationsClock", h, mem),
        "sm_clock_max_mhz": f.get("nvmlDeviceGetMaxClockInfo", h, sm),
        "mem_clock_max_mhz": f.get("nvmlDeviceGetMaxClockInfo", h, mem),
        "ecc_enabled": None if ecc is None else _enabled(ecc[0], feature_on),
        "mig_enabled": None if mig is None else _enabled(
            mig[0], getattr(mod, "NVML_DEVICE_MIG_ENABLE", 1)),
        "persistence_enabled": _enabled(f.get("nvmlDeviceGetPersistenceMode", h), feature_on),
        "pcie_gen": f.get("nvmlDeviceGetCurrPcieLinkGeneration", h),
        "pcie_width": f.get("nvmlDeviceGetCurrPcieLinkWidth", h),
        "compute_mode": None if compute_mode is None
        else _COMPUTE_MODES.get(compute_mode, str(compute_mode)),
        # read when the header is written: the GPU's temperature at the start of the run
        "temp_start_c": f.get("nvmlDeviceGetTemperature", h, getattr(mod, "NVML_TEMPERATURE_GPU", 0)),
    }


_VALUE_ATTR = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


def _instant_power_w(mod: Any, index: int, h: Any, f: _Fields) -> float | None:
    """Instantaneous board power from field NVML_FI_DEV_POWER_INSTANT, if the driver has it."""
    fid = getattr(mod, "NVML_FI_DEV_POWER_INSTANT", None)
    if fid is None or index in _no_instant_power:
        return None
    values = f.get("nvmlDeviceGetFieldValues", h, [fid])
    if not values:
        _no_instant_power.add(index)
        return None
    v = values[0]
    if v.nvmlReturn != getattr(mod, "NVML_SUCCESS", 0):
        # Older drivers answer NOT_SUPPORTED or INVALID_ARGUMENT for an unknown field id:
        # stop asking this GPU and use nvmlDeviceGetPowerUsage from now on.
        _no_instant_power.add(index)
        unsupported = {_code(mod, n) for n in (*_NOT_SUPPORTED_NAMES, "INVALID_ARGUMENT")}
        if v.nvmlReturn not in unsupported and f.errors is not None:
            name = _error_name(mod, v.nvmlReturn)
            f.errors.append(f"NVML_FI_DEV_POWER_INSTANT: NVML_ERROR_{name}")
        return None
    attr = _VALUE_ATTR.get(int(v.valueType))
    if attr is None:
        return None
    return float(getattr(v.value, attr)) / 1000.0  # milliwatts


def sample(index: int, errors: list[str] | None = None) -> dict[str, Any]:
    """One reading of GPU ``index``; keys are :data:`GPU_SAMPLE_FIELDS`, units in names.

    ``power_source`` is ``"instant"`` (NVML_FI_DEV_POWER_INSTANT) or ``"power_usage"``
    (nvmlDeviceGetPowerUsage, a 1 s average on Ampere and newer). ``energy_j`` is the
    board's total-energy counter since driver load (Volta+), None where absent.
    Errors: as for :func:`device_static`.
    """
    mod = _ensure()
    h = handle(index)
    f = _Fields(errors)
    power = _instant_power_w(mod, index, h, f)
    source = "instant"
    if power is None:
        power = _mw_to_w(f.get("nvmlDeviceGetPowerUsage", h))
        source = None if power is None else "power_usage"
    energy_mj = f.get("nvmlDeviceGetTotalEnergyConsumption", h)
    meminfo = f.get("nvmlDeviceGetMemoryInfo", h)
    util = f.get("nvmlDeviceGetUtilizationRates", h)
    pstate = f.get("nvmlDeviceGetPerformanceState", h)
    mask = f.get("nvmlDeviceGetCurrentClocksEventReasons", h, default=_MISSING)
    if mask is _MISSING:
        mask = f.get("nvmlDeviceGetCurrentClocksThrottleReasons", h)
    return {
        "power_w": power,
        "power_source": source,
        "energy_j": None if energy_mj is None else energy_mj / 1000.0,
        "mem_used_bytes": None if meminfo is None else int(meminfo.used),
        "mem_total_bytes": None if meminfo is None else int(meminfo.total),
        "util_gpu_pct": None if util is None else float(util.gpu),
        "util_mem_pct": None if util is None else float(util.memory),
        "sm_clock_mhz": f.get("nvmlDeviceGetClockInfo", h, getattr(mod, "NVML_CLOCK_SM", 1)),
        "mem_clock_mhz": f.get("nvmlDeviceGetClockInfo", h, getattr(mod, "NVML_CLOCK_MEM", 2)),
        "temp_c": f.get("nvmlDeviceGetTemperature", h, getattr(mod, "NVML_TEMPERATURE_GPU", 0)),
        "pstate": None if pstate is None or pstate == 32 else int(pstate),  # 32: unknown
        "power_limit_w": _mw_to_w(f.get("nvmlDeviceGetEnforcedPowerLimit", h)),
        "throttle_mask": None if mask is None else int(mask),
    }


def energy_counter_j(index: int) -> float | None:
    """GPU ``index``'s total-energy counter in J: one NVML call, for polling a window's edges
    (`benchsuite.telemetry.window.align_edges`); None where the chip has no counter."""
    mj = query("nvmlDeviceGetTotalEnergyConsumption", handle(index))
    return None if mj is None else mj / 1000.0


def decode_throttle(mask: int | None) -> list[str]:
    """Names of the clock event reasons set in ``mask``; unknown bits as "unknown_0x…"."""
    if not mask:
        return []
    names = [name for name, bit in THROTTLE_REASONS.items() if mask & bit]
    rest = mask & ~sum(THROTTLE_REASONS.values())
    bit = 1
    while rest:
        if rest & bit:
            names.append(f"unknown_{bit:#x}")
            rest &= ~bit
        bit <<= 1
    return names


def running_processes(index: int) -> list[int] | None:
    """PIDs of compute processes on GPU ``index`` (host PID namespace); None if unsupported."""
    procs = query("nvmlDeviceGetComputeRunningProcesses", handle(index))
    if procs is None:
        return None
    return sorted({int(p.pid) for p in procs})
