import pytest

from benchsuite import peaks


@pytest.mark.parametrize("name,model", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM"), ("NVIDIA H100 PCIe", "H100 PCIe"), ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA H200", "H200 SXM"), ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM"), ("NVIDIA A100-PCIE-40GB", "A100 40GB PCIe"),
    ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"), ("NVIDIA L40S", "L40S"), ("NVIDIA L4", "L4"),
    ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"), ("Tesla V100-SXM2-16GB", "V100 SXM2"), ("Tesla T4", "T4"),
])
def test_lookup_by_torch_name(name, model):
    assert peaks.lookup(name).model == model


def test_every_sheet_is_dense_and_cited():
    for sheet in peaks.DATASHEETS:
        assert sheet.source.startswith("NVIDIA") and "http" in sheet.source
        assert sheet.mem_bandwidth_gbs > 0 and sheet.tdp_w > 0
        if "fp16" in sheet.tflops and "fp8" in sheet.tflops:
            assert sheet.tflops["fp8"] >= sheet.tflops["fp16"]


def test_h100_dense_bf16_and_unknown_devices():
    assert peaks.peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == 989.5
    assert peaks.peak_tflops("Tesla V100-SXM2-16GB", "bf16") is None
    assert peaks.lookup("AMD EPYC 9654") is None
