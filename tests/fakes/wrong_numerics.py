"""Deliberately wrong computations for the numerics check: an MLP whose activation is a ReLU in
fp32 and the identity in 16-bit (a kernel that is wrong only in low precision, so the fp32
reference stays right), and a torch.compile backend that scales every output by 1.1 (fast but
wrong compiled code)."""

from __future__ import annotations

import torch

from workloads.mlp import MLP

WRONG_BACKEND = "benchsuite_test_wrong"


class ReluUnlessLowPrecision(torch.nn.Module):
    """ReLU for float32 inputs; the identity for fp16/bf16 ones (the wrong op)."""

    def forward(self, x):
        return torch.relu(x) if x.dtype == torch.float32 else x


class WrongMLP(MLP):
    name = "wrongmlp"

    def build_model(self):
        widths = self.p["widths"]
        layers: list = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(ReluUnlessLowPrecision())
        return torch.nn.Sequential(*layers)


def register_wrong_backend() -> str:
    """A dynamo backend that runs the graph and multiplies its tensor outputs by 1.1."""
    from torch._dynamo import list_backends, register_backend

    if WRONG_BACKEND not in list_backends(exclude_tags=()):
        @register_backend(name=WRONG_BACKEND)
        def wrong(gm, example_inputs):
            def run(*args):
                out = gm(*args)
                if isinstance(out, (tuple, list)):
                    return type(out)(o * 1.1 if isinstance(o, torch.Tensor) else o for o in out)
                return out * 1.1
            return run
    return WRONG_BACKEND
