"""What telemetry calls a device: ``cpu`` (the host) or ``cuda:<NVML index>``, parsed in one place.

NVML numbers GPUs by PCI bus, torch by ``CUDA_VISIBLE_DEVICES``; a telemetry id always
carries NVML's number (`benchsuite.devices.Device.telemetry_id` does the matching).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

KINDS = ("cpu", "cuda")
_TEXT = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


@dataclass(frozen=True, order=True)
class TelemetryId:
    """A device as telemetry knows it: ``kind`` "cpu" or "cuda", ``index`` the NVML index (GPUs)."""

    kind: str
    index: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"telemetry device kind {self.kind!r} is not allowed; allowed: {', '.join(KINDS)}")
        if (self.kind == "cpu") != (self.index is None) or (self.index is not None and self.index < 0):
            raise ValueError(f"telemetry device {self.kind}:{self.index} is not allowed: 'cpu' has no index, "
                             "'cuda' needs an NVML index of 0 or more")

    @classmethod
    def parse(cls, text: "str | TelemetryId") -> "TelemetryId":
        """``"cpu"``, ``"cuda:N"`` (``"cuda"`` is NVML GPU 0), or a TelemetryId; else ValueError."""
        if isinstance(text, TelemetryId):
            return text
        m = _TEXT.match(text or "") if isinstance(text, str) else None
        if m is None or (m.group(1) == "cpu" and m.group(2) is not None):
            raise ValueError(f"device {text!r} is not allowed: use 'cpu' or 'cuda:N'")
        return CPU if m.group(1) == "cpu" else cls("cuda", int(m.group(2) or 0))

    @classmethod
    def gpu(cls, nvml_index: int) -> "TelemetryId":
        return cls("cuda", nvml_index)

    @property
    def is_gpu(self) -> bool:
        return self.kind == "cuda"

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"


CPU = TelemetryId("cpu")
