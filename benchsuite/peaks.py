"""Datasheet peaks of common GPUs, each with its source. Dense figures (no sparsity).

"fp32" is the CUDA-core FP32 rate (TF32 off); "tf32", "fp16", "bf16" and "fp8" are
tensor-core rates with FP32 accumulation, as PyTorch's GEMMs use. No peak is given
for CPUs: their vendors publish no comparable figure, and none is invented here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_H100 = "NVIDIA H100 Tensor Core GPU datasheet (2023), https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet"
_H200 = "NVIDIA H200 Tensor Core GPU datasheet (2024), https://www.nvidia.com/en-us/data-center/h200/"
_A100 = "NVIDIA A100 Tensor Core GPU datasheet (2021), https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
_L40S = "NVIDIA L40S datasheet (2023), https://www.nvidia.com/en-us/data-center/l40s/"
_L4 = "NVIDIA L4 Tensor Core GPU datasheet (2023), https://www.nvidia.com/en-us/data-center/l4/"
_ADA = "NVIDIA Ada GPU Architecture whitepaper v2.1, appendix A (GeForce RTX 4090), https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf"
_V100 = "NVIDIA V100 Tensor Core GPU datasheet (2020), https://images.nvidia.com/content/technologies/volta/pdf/volta-v100-datasheet-update-us-1165301-r5.pdf"
_T4 = "NVIDIA T4 Tensor Core GPU datasheet (2019), https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf"


@dataclass(frozen=True)
class Datasheet:
    """A GPU model's published peaks: TFLOP/s per precision, memory bandwidth, board power."""

    model: str
    pattern: str  # regex matched against torch's device name, case-insensitive
    tflops: dict[str, float] = field(hash=False)
    mem_bandwidth_gbs: float = 0.0
    memory_gb: float = 0.0
    tdp_w: float = 0.0
    source: str = ""

    def to_dict(self) -> dict:
        """Plain data for headers and `benchsuite info`."""
        return {
            "model": self.model,
            "tflops": dict(self.tflops),
            "mem_bandwidth_gbs": self.mem_bandwidth_gbs,
            "memory_gb": self.memory_gb,
            "tdp_w": self.tdp_w,
            "source": self.source,
        }


# Sparse datasheet figures are halved to dense; the source prints both or marks sparsity.
# More specific patterns come first.
DATASHEETS: tuple[Datasheet, ...] = (
    Datasheet("H100 NVL", r"H100.*NVL", {"fp32": 60.0, "tf32": 417.5, "fp16": 835.5, "bf16": 835.5, "fp8": 1670.5}, 3900, 94, 400, _H100),
    Datasheet("H100 PCIe", r"H100.*PCIe", {"fp32": 51.0, "tf32": 378.0, "fp16": 756.5, "bf16": 756.5, "fp8": 1513.0}, 2000, 80, 350, _H100),
    Datasheet("H100 SXM", r"H100", {"fp32": 67.0, "tf32": 494.5, "fp16": 989.5, "bf16": 989.5, "fp8": 1979.0}, 3350, 80, 700, _H100),
    Datasheet("H200 NVL", r"H200.*NVL", {"fp32": 60.0, "tf32": 417.5, "fp16": 835.5, "bf16": 835.5, "fp8": 1670.5}, 4800, 141, 600, _H200),
    Datasheet("H200 SXM", r"H200", {"fp32": 67.0, "tf32": 494.5, "fp16": 989.5, "bf16": 989.5, "fp8": 1979.0}, 4800, 141, 700, _H200),
    Datasheet("A100 80GB PCIe", r"A100.*80GB.*PCIe|A100.*PCIE.*80GB", {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0}, 1935, 80, 300, _A100),
    Datasheet("A100 40GB PCIe", r"A100.*PCIE", {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0}, 1555, 40, 250, _A100),
    Datasheet("A100 80GB SXM", r"A100.*80GB", {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0}, 2039, 80, 400, _A100),
    Datasheet("A100 40GB SXM", r"A100", {"fp32": 19.5, "tf32": 156.0, "fp16": 312.0, "bf16": 312.0}, 1555, 40, 400, _A100),
    Datasheet("L40S", r"L40S", {"fp32": 91.6, "tf32": 183.0, "fp16": 362.05, "bf16": 362.05, "fp8": 733.0}, 864, 48, 350, _L40S),
    Datasheet("L4", r"\bL4\b", {"fp32": 30.3, "tf32": 60.0, "fp16": 121.0, "bf16": 121.0, "fp8": 242.5}, 300, 24, 72, _L4),
    Datasheet("GeForce RTX 4090", r"RTX 4090", {"fp32": 82.6, "tf32": 82.6, "fp16": 165.2, "bf16": 165.2, "fp8": 330.3}, 1008, 24, 450, _ADA),
    Datasheet("V100S PCIe", r"V100S", {"fp32": 16.4, "fp16": 130.0}, 1134, 32, 250, _V100),
    Datasheet("V100 PCIe", r"V100.*PCIE", {"fp32": 14.0, "fp16": 112.0}, 900, 32, 250, _V100),
    Datasheet("V100 SXM2", r"V100", {"fp32": 15.7, "fp16": 125.0}, 900, 32, 300, _V100),
    Datasheet("T4", r"\bT4\b", {"fp32": 8.1, "fp16": 65.0}, 320, 16, 70, _T4),
)


def lookup(device_name: str) -> Datasheet | None:
    """The datasheet for a GPU name as torch reports it, or None when unknown."""
    for sheet in DATASHEETS:
        if re.search(sheet.pattern, device_name, re.IGNORECASE):
            return sheet
    return None


def peak_tflops(device_name: str, precision: str) -> float | None:
    """Dense datasheet TFLOP/s for this GPU and precision, or None when not published."""
    sheet = lookup(device_name)
    return sheet.tflops.get(precision) if sheet else None
