"""A tiny third-party workload, installed in tests as a fake distribution with an entry point."""

from __future__ import annotations

import textwrap
from pathlib import Path

SOURCE = textwrap.dedent('''
    from benchsuite.workload import Param, Workload


    class Tiny(Workload):
        """Adds two small random vectors; a stand-in for a third party's workload."""

        name = "tiny"
        summary = "third-party test workload"
        modes = ("infer",)
        precisions = ("fp32",)
        batch_sizes = {"cpu": (4,), "cuda": (4,)}
        params = (Param("size", "int", 16, "elements", "vector length"),)

        def setup(self, case):
            import torch

            self.samples_per_step = case.batch_size
            self.x = torch.randn(case.batch_size, self.p["size"])

        def step(self):
            (self.x + 1.0).sum()

        def flops_per_step(self):
            self.step()
            return float(self.x.numel())
''')


def install(root: Path, package: str = "tinywl", entry: str = "tiny") -> Path:
    """Write a package and its dist-info (with an entry point) under ``root``; add root to sys.path yourself."""
    (root / package).mkdir(parents=True, exist_ok=True)
    (root / package / "__init__.py").write_text(SOURCE)
    info = root / f"{package}-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[benchsuite.workloads]\n{entry} = {package}:Tiny\n")
    return root
