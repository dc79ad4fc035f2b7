"""A base for classifier workloads (MLP, CNN): the train and infer steps with precision.

Train: float32 weights (under DistributedDataParallel when run by torchrun), autocast for fp16/bf16 (fp16 adds a gradient scaler),
cross-entropy, backward, SGD step. Infer: model and inputs cast to fp16/bf16,
forward under ``torch.inference_mode``. Inputs are random normal values (never zeros)
already on the device, unless the workload supplies real data.
"""

from __future__ import annotations

from typing import ClassVar

from benchsuite import precision
from benchsuite.workload import Param, Workload

def _positive(name: str):
    def check(value: float) -> None:
        if value <= 0:
            raise ValueError(f"parameter {name}={value}: expected a number above 0")
    return check


def _momentum(value: float) -> None:
    if not 0 <= value < 1:
        raise ValueError(f"parameter momentum={value}: expected a number from 0 up to (not including) 1")


LR = Param("lr", "float", 0.001, "", "SGD learning rate (train mode)", check=_positive("lr"))
MOMENTUM = Param("momentum", "float", 0.9, "", "SGD momentum (train mode), 0 <= m < 1", check=_momentum)


class ClassifierWorkload(Workload):
    """Subclasses give ``build_model()``, ``input_shape()`` and ``num_classes()``."""

    sample_unit: ClassVar[str] = "sample"

    def build_model(self):
        raise NotImplementedError

    def input_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def num_classes(self) -> int:
        raise NotImplementedError

    def make_data(self, batch: int, device):
        """One batch of random inputs and labels on ``device``; override for real data."""
        import torch

        g = torch.Generator(device="cpu").manual_seed(0)
        x = torch.randn(batch, *self.input_shape(), generator=g).to(device)
        y = torch.randint(0, self.num_classes(), (batch,), generator=g).to(device)
        return [(x, y)]

    def setup(self, case) -> None:
        import torch

        torch.manual_seed(0)
        device = torch.device(case.device)
        self.samples_per_step = case.batch_size
        model = self.build_model().to(device)
        batches = self.make_data(case.batch_size, device)
        self._i = 0
        if case.mode == "train":
            model.train()
            model = self.wrap_data_parallel(model, device)
            optimizer = torch.optim.SGD(model.parameters(), lr=self.p["lr"], momentum=self.p["momentum"])
            scaler = precision.grad_scaler(case.precision, device.type)
            loss_fn = torch.nn.CrossEntropyLoss()

            def step() -> None:
                x, y = self._next(batches)
                optimizer.zero_grad(set_to_none=True)
                with precision.autocast(case.precision, device.type):
                    loss = loss_fn(model(x), y)
                if scaler is None:
                    loss.backward()
                    optimizer.step()
                else:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
        else:
            model.eval()
            if case.precision in ("fp16", "bf16"):
                dtype = precision.dtype(case.precision)
                model = model.to(dtype)
                batches = [(x.to(dtype), y) for x, y in batches]

            def step() -> None:
                x, _ = self._next(batches)
                with torch.inference_mode():
                    model(x)

        self.model = model
        self._step = step

    def extra_metrics(self, step_s: float) -> dict:
        """Says when the model trained under DistributedDataParallel (gradients all-reduced each step)."""
        from torch.nn.parallel import DistributedDataParallel

        return {"data_parallel": "DistributedDataParallel"} if isinstance(self.model, DistributedDataParallel) else {}

    def wrap_data_parallel(self, model, device):
        """Under torch.distributed (``self.comm`` set), DistributedDataParallel over the case's
        process group: each rank trains on its own batch, gradients are all-reduced in backward."""
        if self.comm is None:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                       process_group=self.comm.group)

    def _next(self, batches):
        batch = batches[self._i % len(batches)]
        self._i += 1
        return batch

    def step(self) -> None:
        self._step()
