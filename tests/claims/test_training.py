"""The training check on a tiny CIFAR-10, and its telemetry windows (benchsuite.claims.training)."""

from __future__ import annotations

import pytest

from benchsuite import devices
from benchsuite.claims import planning, training
from benchsuite.workload import registry
from tests.fakes import cifar_files
from tests.fakes.recording_telemetry import RecordingTelemetry, renumbered_gpu


def test_training_check_learns_the_tiny_dataset_above_chance(tmp_path):
    data = cifar_files.write(tmp_path, per_batch=100)
    settings = planning.ClaimsSettings(data=str(data), epochs=2, subset=(120, 100))
    result = training.train_check(str(data), devices.cpu(), registry(), settings)
    assert result["status"] == "ok" and result["batch_size"] == 4 and result["lr"] == 0.001
    assert result["train_images"] == 120 and result["test_images"] == 100
    assert len(result["accuracy_pct"]) == 2 and max(result["accuracy_pct"]) > 30.0  # chance is 10 %
    assert result["cumulative_s"][1] >= result["epoch_s"][0] > 0
    assert result["energy_j"] == [None, None] and result["energy_note"] == "telemetry disabled"
    assert "idle" not in result  # a GPU figure: not applicable on the CPU


@pytest.mark.gpu
def test_training_check_on_a_gpu_reports_idle_shares(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    data = cifar_files.write(tmp_path, per_batch=100)
    gpu = devices.cuda()[0]
    settings = planning.ClaimsSettings(data=str(data), epochs=1, subset=(400, 100), probe_batch_size=32)
    result = training.train_check(str(data), gpu, registry(), settings)
    assert result["status"] == "ok" and max(result["accuracy_pct"]) > 30.0
    for probe, batch in ((result["idle"], 4), (result["idle_probes"][0], 32)):
        assert probe["batch_size"] == batch and 0.0 <= probe["idle_share_events"] <= 1.0
        assert 0 < probe["busy_s"] <= probe["wall_s"]


def test_telemetry_follows_nvml_numbering_not_torch_numbering():
    matched, unmatched = renumbered_gpu(2), renumbered_gpu(None, id="cuda:1")
    assert devices.telemetry_gpus([devices.cpu(), matched, unmatched]) == [2]
    tel = RecordingTelemetry()
    window = tel.window_for(matched, "claims-train/cuda:0/bs4/epoch1")
    assert tel.windows == ["cuda:2"] and window.summary["energy_j"] == 5.0
    window = tel.window_for(unmatched, "claims-train/cuda:1/bs4/epoch1")
    assert tel.windows == ["cuda:2"]  # no window on a guessed GPU
    assert window.summary["energy_j"] is None and "could not be matched" in window.summary["telemetry_note"]


def test_training_check_windows_use_the_nvml_id(tmp_path):
    # A GPU description whose torch device is the CPU, so that the GPU path of the check (epoch
    # windows, then the idle probe) runs here without CUDA.
    data = cifar_files.write(tmp_path, per_batch=100)
    settings = planning.ClaimsSettings(data=str(data), epochs=2, subset=(40, 20), probe_batch_size=8)
    gpu = devices.Device(id="cpu", type="cuda", name="NVIDIA H100 80GB HBM3", index=0, nvml_index=3)
    tel = RecordingTelemetry()
    result = training.train_check(str(data), gpu, registry(), settings, tel)
    assert tel.windows == ["cuda:3", "cuda:3", "cuda:3"]  # two epochs and the probe
    assert result["energy_j"] == [5.0, 5.0] and result["cumulative_energy_j"] == [5.0, 10.0]
    assert result["idle"]["idle_share_nvml"] == pytest.approx(0.5)
    unmatched = devices.Device(id="cpu", type="cuda", name="NVIDIA H100 80GB HBM3", index=0, nvml_index=None)
    result = training.train_check(str(data), unmatched, registry(), settings, RecordingTelemetry())
    assert result["energy_j"] == [None, None] and "could not be matched" in result["energy_note"]
    assert "could not be matched" in result["idle"]["idle_share_nvml_note"]


def test_subset_larger_than_the_data_is_refused(tmp_path):
    data = cifar_files.write(tmp_path, per_batch=10)
    with pytest.raises(planning.ClaimsError, match="holds only 50 training"):
        training.train_check(str(data), devices.cpu(), registry(), planning.ClaimsSettings(subset=(6000, 1000)))
