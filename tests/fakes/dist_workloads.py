"""Workloads for the torch.distributed tests, installed as a fake distribution with entry points.

/work/venv's installed metadata predates the ``collective`` entry point, so the tests
register it (and two misbehaving workloads) through a dist-info of their own on PYTHONPATH:

- ``stall``: an all-reduce per step, except on rank ``rank``, which skips it, so the
  others wait until the case timeout.
- ``crash``: an all-reduce per step; rank ``rank`` kills itself with SIGKILL at step ``at``.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

SOURCE = textwrap.dedent('''
    import os
    import signal

    from benchsuite.workload import Param, Workload


    class _Reducing(Workload):
        modes = ("infer",)
        precisions = ("fp32",)
        batched = False
        needs_process_group = True
        params = (Param("rank", "int", 1, "", "the misbehaving rank"),
                  Param("at", "int", 3, "steps", "step at which it misbehaves"))

        def setup(self, case):
            import torch

            self.x = torch.ones(16)
            self.steps = 0

        def flops_per_step(self):
            self.step()
            return None

        def reduce(self):
            import torch.distributed as dist

            dist.all_reduce(self.x, group=self.comm.group)


    class Stall(_Reducing):
        name = "stall"
        summary = "test: one rank skips its all-reduce"

        def step(self):
            if self.comm.rank != self.p["rank"]:
                self.reduce()


    class Crash(_Reducing):
        name = "crash"
        summary = "test: one rank is killed mid-case"

        def step(self):
            self.steps += 1
            if self.comm.rank == self.p["rank"] and self.steps >= self.p["at"]:
                os.kill(os.getpid(), signal.SIGKILL)
            self.reduce()
''')


def install(root: Path, package: str = "bsdisttest") -> Path:
    """Write the package and a dist-info registering collective, stall and crash under ``root``."""
    (root / package).mkdir(parents=True, exist_ok=True)
    (root / package / "__init__.py").write_text(SOURCE)
    info = root / f"{package}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[benchsuite.workloads]\n"
        "collective = workloads.collective:Collective\n"
        f"stall = {package}:Stall\n"
        f"crash = {package}:Crash\n")
    return root
