"""Telemetry ids ("cpu", "cuda:<NVML index>") and the window telemetry chooses for a device."""

import pytest

from benchsuite import devices
from benchsuite.telemetry import Telemetry, TelemetryId
from benchsuite.telemetry.ids import CPU
from benchsuite.telemetry.window import NodeWindows, UnmatchedWindow


def test_parse_device():
    assert TelemetryId.parse("cpu").index is None and TelemetryId.parse("cuda:2").index == 2
    assert TelemetryId.parse("cuda").index == 0
    with pytest.raises(ValueError, match="'gpu0'.*'cpu' or 'cuda:N'"):
        TelemetryId.parse("gpu0")


def test_ids_are_structured_and_print_as_telemetry_names_them():
    gpu = TelemetryId.parse("cuda:3")
    assert gpu == TelemetryId("cuda", 3) == TelemetryId.gpu(3) and gpu.is_gpu and str(gpu) == "cuda:3"
    assert TelemetryId.parse("cpu") is CPU and str(CPU) == "cpu" and not CPU.is_gpu
    assert TelemetryId.parse(gpu) is gpu and f"{gpu}" == "cuda:3"
    for bad in ("cpu:0", "cuda:-1", "", None, 3):
        with pytest.raises(ValueError, match="not allowed"):
            TelemetryId.parse(bad)
    for kind, index in (("tpu", 0), ("cpu", 1), ("cuda", None), ("cuda", -2)):
        with pytest.raises(ValueError, match="not allowed"):
            TelemetryId(kind, index)


def test_a_device_is_known_to_telemetry_by_its_nvml_index():
    gpu = devices.Device(id="cuda:0", type="cuda", name="G", index=0, nvml_index=2)
    assert gpu.telemetry_id == TelemetryId.gpu(2) and devices.cpu().telemetry_id == CPU
    assert devices.Device(id="cuda:1", type="cuda", name="G", index=1).telemetry_id is None
    assert devices.telemetry_id("cuda", 5) == TelemetryId.gpu(5) and devices.telemetry_id("cuda", None) is None


class Recording(Telemetry):
    """A Telemetry whose windows are recorded, not measured."""

    def __init__(self) -> None:
        super().__init__([], enabled=False)
        self.opened: list[str] = []

    def window(self, device, case_id, align=False):
        self.opened.append(str(device))
        window = UnmatchedWindow(str(device))  # a window that reads nothing, with the summary below
        window.summary = {"device": str(device), "energy_j": 5.0}
        return window


def test_window_for_uses_the_nvml_id_and_says_when_a_gpu_is_unmatched():
    tel = Recording()
    matched = devices.Device(id="cuda:0", type="cuda", name="G", index=0, nvml_index=2)
    unmatched = devices.Device(id="cuda:1", type="cuda", name="G", index=1)
    window = tel.window_for(matched, "case")
    with window:
        pass
    assert tel.opened == ["cuda:2"] and window.summary["energy_j"] == 5.0
    window = tel.window_for(unmatched, "case")
    assert isinstance(window, UnmatchedWindow) and tel.opened == ["cuda:2"]  # no window on a guessed GPU
    assert window.summary["energy_j"] is None and window.summary["device"] == "cuda:1"
    assert "cuda:1 could not be matched to an NVML device" in window.summary["telemetry_note"]
    assert window.summary["not_measured"]["energy_j"] == window.summary["telemetry_note"]


def test_window_for_also_opens_the_other_devices_of_the_node():
    tel = Recording()
    mine = devices.Device(id="cuda:0", type="cuda", name="G", index=0, nvml_index=0)
    window = tel.window_for(mine, "case", also=[TelemetryId.gpu(0), "cuda:1", TelemetryId.gpu(3), "cuda:1"])
    assert isinstance(window, NodeWindows)
    with window:
        pass
    assert tel.opened == ["cuda:0", "cuda:1", "cuda:3"]  # its own once, each other device once
    assert window.summary == {"device": "cuda:0", "energy_j": 5.0}
    assert list(window.node_summaries) == ["cuda:1", "cuda:3"]  # text keys: they go into JSON
    assert not isinstance(tel.window_for(mine, "case", also=["cuda:0"]), NodeWindows)
