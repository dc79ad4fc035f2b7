"""Stand-in workloads for the runner tests: one that adds, one that raises, one out of memory
above batch 16, one that is interrupted; short CPU timing (`FAST`) and a CPU case maker."""

from __future__ import annotations

import torch

from benchsuite.plan import Case
from benchsuite.settings import RunSettings
from benchsuite.timing import TimingSettings
from benchsuite.workload import Registry, Workload

FAST = RunSettings(timing={"cpu": TimingSettings(min_time_s=0.001, min_iters=2, warmup_iters=1,
                                                 warmup_time_s=0)})


class Add(Workload):
    name = "add"
    modes = ("infer",)

    def setup(self, case):
        self.samples_per_step = case.batch_size or 1
        self.x = torch.randn(self.samples_per_step, 8)

    def step(self):
        self.x.add(1.0)


class Broken(Add):
    name = "broken"

    def step(self):
        raise ValueError("bad shapes")


class FitsUpTo16(Add):
    name = "fits16"

    def setup(self, case):
        if case.batch_size > 16:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        super().setup(case)


class Interrupt(Add):
    name = "interrupt"

    def step(self):
        raise KeyboardInterrupt


REG = Registry({c.name: c for c in (Add, Broken, FitsUpTo16, Interrupt)}, {})


def case(name, bs=4, **kw):
    return Case(name, "infer", "cpu", "fp32", bs, **kw)
