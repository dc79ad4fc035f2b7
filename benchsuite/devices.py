"""Device discovery: the CPU and every CUDA GPU, their names and capabilities."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from benchsuite.telemetry.ids import CPU, TelemetryId

# CPU feature flags (as /proc/cpuinfo spells them) that give native low-precision matmul.
_NATIVE_FLAGS = {
    "bf16": {"avx512_bf16", "amx_bf16", "bf16"},  # x86 AVX512/AMX; "bf16" on aarch64
    "fp16": {"avx512_fp16", "amx_fp16", "asimdhp"},  # x86 AVX512/AMX; "asimdhp" on aarch64
}


class DeviceError(ValueError):
    """A device name that does not exist on this machine."""


@dataclass(frozen=True)
class Device:
    """One compute device as benchsuite sees it."""

    id: str  # "cpu" or "cuda:N"
    type: str  # "cpu" or "cuda"
    name: str
    index: int | None = None
    memory_bytes: int | None = None
    compute_capability: tuple[int, int] | None = None
    multiprocessors: int | None = None
    uuid: str | None = None
    nvml_index: int | None = None  # NVML numbers GPUs by PCI bus; torch may not (CUDA_VISIBLE_DEVICES)
    cores_physical: int | None = None
    cores_logical: int | None = None
    native_precisions: frozenset[str] = field(default_factory=frozenset)

    @property
    def telemetry_id(self) -> TelemetryId | None:
        """The id telemetry knows this device by ("cpu", "cuda:<NVML index>"), None for a GPU NVML
        could not be matched to."""
        return telemetry_id(self.type, self.nvml_index)

    def to_dict(self) -> dict:
        """Plain data for the run header."""
        data = asdict(self)
        data["native_precisions"] = sorted(self.native_precisions)
        if self.compute_capability:
            data["compute_capability"] = f"{self.compute_capability[0]}.{self.compute_capability[1]}"
        return data


def record(device: Device) -> dict:
    """A device as the run header stores it, with its datasheet (GPUs) where one is known."""
    from benchsuite import peaks

    data = device.to_dict()
    sheet = peaks.lookup(device.name) if device.type == "cuda" else None
    data["datasheet"] = sheet.to_dict() if sheet else None
    return data


def telemetry_id(device_type: str, nvml_index: int | None) -> TelemetryId | None:
    """The telemetry id of a device of ``device_type`` ("cpu" or "cuda") and NVML index (a
    `Device`, or a device record of a run header); None for a GPU NVML could not be matched to."""
    if device_type == "cpu":
        return CPU
    return TelemetryId.gpu(nvml_index) if nvml_index is not None else None


def telemetry_gpus(devices: list[Device]) -> list[int]:
    """NVML indices of the GPUs among ``devices`` that telemetry samples (unmatched GPUs are left out)."""
    return [d.nvml_index for d in devices if d.type == "cuda" and d.nvml_index is not None]


def native_cpu_precisions(flags: set[str]) -> frozenset[str]:
    """Low precisions the CPU computes natively, from its feature flags."""
    return frozenset(p for p, wanted in _NATIVE_FLAGS.items() if flags & wanted)


def _cpuinfo() -> tuple[str, set[str]]:
    """CPU model name and feature flags (Linux /proc/cpuinfo; best effort elsewhere)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and value.strip():
            model = value.strip()
        elif key in ("flags", "features"):
            flags.update(value.split())
    return model, flags


@lru_cache(maxsize=1)
def cpu() -> Device:
    """The host CPU."""
    import psutil

    model, flags = _cpuinfo()
    return Device(
        id="cpu",
        type="cpu",
        name=model,
        memory_bytes=psutil.virtual_memory().total,
        cores_physical=psutil.cpu_count(logical=False),
        cores_logical=psutil.cpu_count(logical=True),
        native_precisions=native_cpu_precisions(flags),
    )


def cuda() -> list[Device]:
    """Every CUDA GPU torch can see (an empty list without CUDA)."""
    import torch

    if not torch.cuda.is_available():
        return []
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        uuid = str(props.uuid) if getattr(props, "uuid", None) is not None else None
        gpus.append(
            Device(
                id=f"cuda:{i}",
                type="cuda",
                name=props.name,
                index=i,
                memory_bytes=props.total_memory,
                compute_capability=(props.major, props.minor),
                multiprocessors=props.multi_processor_count,
                uuid=uuid,
                nvml_index=_nvml_index(i, uuid),
                native_precisions=frozenset(("fp16", "bf16") if props.major >= 8 else ("fp16",)),
            )
        )
    return gpus


def _nvml_index(torch_index: int, uuid: str | None) -> int | None:
    """Match a torch GPU to NVML's numbering by UUID; without a UUID, only when no
    CUDA_VISIBLE_DEVICES remaps the devices is the index taken as the same."""
    from benchsuite.telemetry import nvml

    found = nvml.index_of_uuid(uuid)
    if found is not None:
        return found
    if uuid is None and not os.environ.get("CUDA_VISIBLE_DEVICES") and nvml.status()[0]:
        return torch_index
    return None


def available() -> list[Device]:
    """All devices present: the CPU first, then each GPU."""
    return [cpu(), *cuda()]


def resolve(spec: str, present: list[Device] | None = None) -> list[Device]:
    """Devices named by a comma list of ``cpu``, ``cuda``, ``cuda:N`` or ``all``."""
    present = available() if present is None else present
    gpus = [d for d in present if d.type == "cuda"]
    allowed = "cpu, cuda, " + (", ".join(d.id for d in gpus) + ", " if gpus else "") + "all"
    chosen: list[Device] = []
    for part in (p.strip().lower() for p in spec.split(",")):
        if part == "all":
            picked = present
        elif part == "cpu":
            picked = [d for d in present if d.type == "cpu"]
        elif part in ("cuda", "gpu"):
            if not gpus:
                raise DeviceError(f"device {part!r}: no CUDA GPU is visible on this machine; allowed: {allowed}")
            picked = gpus
        elif re.fullmatch(r"cuda:\d+", part):
            picked = [d for d in gpus if d.id == part]
            if not picked:
                have = f"{len(gpus)} GPU(s): {', '.join(d.id for d in gpus)}" if gpus else "no CUDA GPU"
                raise DeviceError(f"device {part!r} does not exist: this machine has {have}; allowed: {allowed}")
        else:
            raise DeviceError(f"unknown device {part!r}; allowed: {allowed}")
        chosen.extend(d for d in picked if d not in chosen)
    if not chosen:
        raise DeviceError(f"no device given; allowed: {allowed}")
    return chosen


def host_info() -> dict:
    """Host facts for the run header and `benchsuite info` (no GPU calls)."""
    import torch

    from benchsuite.telemetry import nvml

    device = cpu()
    reachable, reason = nvml.status()
    governor = None
    try:
        governor = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor").read_text().strip()
    except OSError:
        pass
    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu_model": device.name,
        "cpu_cores_physical": device.cores_physical,
        "cpu_cores_logical": device.cores_logical,
        "cpu_governor": governor,
        "cpu_native_precisions": sorted(device.native_precisions),
        "torch_threads": torch.get_num_threads(),
        "nvml": reachable,
        "nvml_reason": reason,
        "driver": nvml.driver_version() if reachable else None,
        "cuda_driver": nvml.cuda_driver_version() if reachable else None,
        "env_cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
