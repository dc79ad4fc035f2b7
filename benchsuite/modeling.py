"""A base for classifier workloads (MLP, CNN): the train and infer steps with precision.

Train: float32 weights (under DistributedDataParallel when run by torchrun), autocast for
fp16/bf16 around forward and loss (fp16 adds a gradient scaler), cross-entropy, backward,
SGD step. Infer: model and inputs cast to fp16/bf16, forward under ``torch.inference_mode``
entered once per block of steps. Inputs are random normal values (never zeros) already on
the device, unless the workload supplies real data. The step is built in the case's exec
mode by `benchsuite.exec_modes`.
"""

from __future__ import annotations

import copy
from typing import ClassVar

from benchsuite import execution, precision
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
    """Subclasses give ``build_model()``, ``input_shape()`` and ``num_classes()``.

    Steps follow the per-block contract (``block_steps``): an inference step is ``model(x)``
    alone, inside ``torch.inference_mode`` entered once per block; a training step keeps
    autocast around its forward and loss. Every exec mode (`benchsuite.exec_modes`) and the
    numerics check (`benchsuite.numerics`) are implemented here.
    """

    sample_unit: ClassVar[str] = "sample"
    block_steps: ClassVar[bool] = True
    exec_modes: ClassVar[tuple[str, ...]] = execution.EXEC_MODES

    def build_model(self):
        raise NotImplementedError

    def input_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def num_classes(self) -> int:
        raise NotImplementedError

    def channels_last(self, case) -> bool:
        """Whether the model and inputs use ``torch.channels_last`` (4-D inputs; cnn's parameter)."""
        return False

    def make_data(self, batch: int, device):
        """One batch of random inputs and labels on ``device``; override for real data."""
        import torch

        g = torch.Generator(device="cpu").manual_seed(0)
        x = torch.randn(batch, *self.input_shape(), generator=g).to(device)
        y = torch.randint(0, self.num_classes(), (batch,), generator=g).to(device)
        return [(x, y)]

    def setup(self, case) -> None:
        import torch

        from benchsuite import exec_modes

        torch.manual_seed(0)
        device = torch.device(case.device)
        exec_mode = getattr(case, "exec", execution.DEFAULT)
        self.samples_per_step = case.batch_size
        model = self.build_model().to(device)
        batches = self.make_data(case.batch_size, device)
        if self.channels_last(case):
            model = model.to(memory_format=torch.channels_last)
            batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
        self._x_ref = batches[0][0]  # the fp32 input: the numerics reference's
        self._reference = None
        optimizer = scaler = loss_fn = None
        if case.mode == "train":
            model.train()
            model = self.wrap_data_parallel(model, device)
            optimizer = torch.optim.SGD(model.parameters(), lr=self.p["lr"], momentum=self.p["momentum"])
            scaler = precision.grad_scaler(case.precision, device.type)
            loss_fn = torch.nn.CrossEntropyLoss()
        else:
            model.eval()
            self._reference = model
            if case.precision in ("fp16", "bf16"):
                self._reference = copy.deepcopy(model)  # the fp32 initial weights, before the cast
                dtype = precision.dtype(case.precision)
                model = model.to(dtype)
                batches = [(x.to(dtype), y) for x, y in batches]
        self.model = model
        self._parts = exec_modes.Parts(model, batches, case.mode, case.precision, device.type, optimizer, scaler,
                                       loss_fn)
        self._flops = None
        self.prepared = None
        if exec_mode != execution.DEFAULT:  # FLOPs of the eager step, before compiling or capturing
            self._flops = self._count_flops(exec_modes.prepare(self._parts, execution.DEFAULT))
        self.prepared = exec_modes.prepare(self._parts, exec_mode, backend=execution.compile_backend())
        # the prepared step itself, not a method that calls it: one Python call less per step
        self.step = self._step = self.prepared.step  # type: ignore[method-assign]

    @staticmethod
    def _count_flops(prepared) -> float | None:
        from torch.utils.flop_counter import FlopCounterMode

        counter = FlopCounterMode(display=False)
        with counter, prepared.block_context():
            prepared.step()
        return float(counter.get_total_flops()) or None

    def block_context(self):
        return self.prepared.block_context()

    def flops_per_step(self) -> float | None:
        """FLOPs of one eager step (counted by FlopCounterMode before any compile or capture)."""
        if self._flops is None:
            self._flops = self._count_flops(self.prepared)
        else:
            self.run_steps(1)  # the warm-up step every case gets
        return self._flops

    def numerics(self) -> dict:
        """One step against fp32 eager (`benchsuite.numerics.check_classifier`): on a CPU an
        eager case uses at most `benchsuite.numerics.CPU_ROWS` rows of its batch."""
        from benchsuite import numerics

        if self.comm is not None:
            return numerics.not_checked("not checked under torch.distributed (the gradient is all-reduced "
                                        "across ranks; the fp32 reference is one rank's)")
        eager_cpu = self._parts.device_type == "cpu" and self.prepared.exec_mode == execution.DEFAULT
        try:
            return numerics.check_classifier(self._parts, self.prepared, self._reference, self._x_ref,
                                             rows=numerics.CPU_ROWS if eager_cpu else None)
        finally:
            self._reference = self._x_ref = None  # the fp32 copy is needed no more

    def exec_report(self) -> dict | None:
        """The ``compile`` section of a compiled or captured case (`benchsuite.exec_modes.Prepared.report`)."""
        prepared = getattr(self, "prepared", None)
        if prepared is None or prepared.exec_mode == execution.DEFAULT:
            return None
        return prepared.report()

    def teardown(self) -> None:
        prepared = getattr(self, "prepared", None)
        if prepared is not None:
            prepared.close()
        super().teardown()

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

    def step(self):
        return self._step()

    @property
    def _i(self) -> int:
        """Steps taken over several batches of real data (the batch cycle's count)."""
        return getattr(self._parts.cycle, "i", 0)
