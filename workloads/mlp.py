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
