"""Stand-in workloads for the runner tests: one that adds, one that raises, one out of memory
above batch 16, one that is interrupted; short CPU timing (`FAST`) and a CPU case maker; for
`-b best`, workloads whose throughput peaks at batch 64 on a fake clock (`BEST_REG`, `CLOCK`)."""

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


class FakeClock:
    """A clock that only the fake workloads move: step times are exact."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


CLOCK = FakeClock()


def peaked_rate(bs, peak=64, dip=None):
    """Samples/s rising with the batch up to ``peak``, falling after it; ``dip``: one batch at 40 %."""
    rate = 1000.0 * min(bs, peak) * (peak / max(bs, peak)) ** 0.5
    return rate * 0.4 if bs == dip else rate


class Peaked(Add):
    """Throughput peaks at batch 64 (fake clock); runs out of memory above ``limit``."""

    name = "peaked"
    limit = 1 << 20
    dip = None

    def setup(self, case):
        if case.batch_size > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        super().setup(case)
        self.bs = case.batch_size

    def step(self):
        CLOCK.t += self.bs / peaked_rate(self.bs, dip=self.dip)


class PeakedDip(Peaked):
    name = "peaked_dip"
    dip = 16  # one fall on the way up: not two in a row


class PeakedOom(Peaked):
    name = "peaked_oom"
    limit = 32


BEST_REG = Registry({c.name: c for c in (Peaked, PeakedDip, PeakedOom)}, {})
