"""Case labels without a workload's default parameters (benchsuite.report.labels)."""

from __future__ import annotations

import subprocess
import sys

from benchsuite import keys
from benchsuite.report import labels


def _row(workload, device, precision="fp32", batch=32, **params):
    return {"workload": workload, "mode": "infer" if workload == "matmul" else "train", "device": device,
            "precision": precision, "batch_size": None if workload == "matmul" else batch, "params": params}


def test_defaults_are_left_out_per_device_type():
    mlp = _row("mlp", "cpu", widths=[1024, 4096, 1024], lr=0.001, momentum=0.9)
    narrow = _row("mlp", "cpu", widths=[32, 64, 10], lr=0.001, momentum=0.9)
    gpu = _row("matmul", "cuda:0", m=8192, n=8192, k=8192)
    cpu = _row("matmul", "cpu", m=1024, n=1024, k=1024)
    assert labels.labels([mlp]) == ["mlp/train/fp32/bs32"]
    assert labels.labels([narrow]) == ["mlp/train/fp32/bs32[widths=32x64x10]"]
    assert labels.labels([gpu]) == ["matmul/infer/fp32"] and labels.labels([cpu]) == ["matmul/infer/fp32"]


def test_rows_that_would_read_alike_get_their_differing_parameters_back():
    gpu = _row("matmul", "cuda:0", m=8192, n=8192, k=8192)
    cpu = _row("matmul", "cpu", m=1024, n=1024, k=1024)
    tf32 = _row("matmul", "cuda:0", "tf32", m=8192, n=8192, k=8192)
    assert labels.labels([gpu, cpu, tf32]) == ["matmul/infer/fp32[m=n=k=8192]", "matmul/infer/fp32[m=n=k=1024]",
                                               "matmul/infer/tf32[m=n=k=8192]"]  # alike across the workload


def test_a_workload_the_registry_does_not_know_keeps_every_parameter():
    assert labels.labels([_row("third-party", "cpu", size=8)]) == ["third-party/train/fp32/bs32[size=8]"]
    assert keys.label(keys.key(_row("mlp", "cpu", widths=[4, 2], lr=0.1))) == "mlp/train/fp32/bs32[lr=0.1,widths=4x2]"


def test_reading_the_registry_for_labels_imports_no_torch():
    code = ("import sys; from benchsuite.report import labels; "
            "labels.labels([{'workload': 'mlp', 'mode': 'train', 'device': 'cpu', 'precision': 'fp32', "
            "'batch_size': 32, 'params': {'lr': 0.001}}]); "
            "assert labels._declared(), 'no workloads'; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'psutil', 'pynvml')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
