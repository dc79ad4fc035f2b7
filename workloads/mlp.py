"""A multilayer perceptron: Linear+ReLU layers with the given widths, cross-entropy over the last."""

from __future__ import annotations

from benchsuite.modeling import LR, MOMENTUM, ClassifierWorkload
from benchsuite.workload import Param


def _two_or_more(widths: tuple[int, ...]) -> None:
    if len(widths) < 2:
        raise ValueError(f"widths={'x'.join(map(str, widths))}: give at least an input and an output width, "
                         "e.g. 1024x10")


class MLP(ClassifierWorkload):
    name = "mlp"
    summary = "MLP on random inputs: train = forward + cross-entropy + backward + SGD step; infer = forward"
    batch_sizes = {"cpu": (32, 256), "cuda": (256, 2048, 8192)}
    # The headline's batch, near the throughput knee. CPU: 256 beats 32 in every case on the 2-core
    # EPYC (reports/reference/20261125-192644-5532: train fp32 3,219 vs 1,464 samples/s, infer bf16
    # 22,395 vs 15,686) and the 16-core Xeon (H100 run da35: infer bf16 179k vs 77k). GPU: the H100 runs
    # measured only bs 128/256, launch-bound there (bf16 no faster than fp32: train 202k vs 261k
    # samples/s, run 6bcb); a bs-8192 step is 0.4 TFLOP of training, milliseconds of tensor-core work,
    # so the largest default size is the one nearest the knee (a GPU check with `-b best` is owed).
    headline_batch = {"cpu": 256, "cuda": 8192}
    params = (
        Param("widths", "ints", (1024, 4096, 1024), "features",
              "layer widths from input to output; the last is the class count", check=_two_or_more,
              rule="two or more positive integers joined by 'x' (input, hidden..., classes), e.g. 1024x4096x1024"),
        LR,
        MOMENTUM,
    )

    def build_model(self):
        import torch.nn as nn

        widths = self.p["widths"]
        if len(widths) < 2:
            raise ValueError(f"widths={'x'.join(map(str, widths))}: give at least an input and an output width")
        layers: list = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def input_shape(self) -> tuple[int, ...]:
        return (self.p["widths"][0],)

    def num_classes(self) -> int:
        return self.p["widths"][-1]
