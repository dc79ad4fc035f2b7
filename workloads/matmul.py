"""Dense matrix multiply C = A·B: the tensor-core (or BLAS) ceiling. FLOPs 2·M·N·K."""

from __future__ import annotations

from benchsuite import precision
from benchsuite.workload import Param, Workload


MULTIPLE_OF_16 = "a positive integer, a multiple of 16"


def _multiple_of_16(value: int) -> None:
    if value % 16:
        raise ValueError(f"matrix dimension {value} must be a multiple of 16 (fp8 scaled matmul and tensor-core tiles need it)")


class Matmul(Workload):
    name = "matmul"
    summary = "C = A·B on random normal matrices; one product per step (no batch axis)"
    modes = ("infer",)
    precisions = ("fp32", "tf32", "fp16", "bf16", "fp8")
    batched = False
    sample_unit = "product"
    shown_params = ("m", "n", "k")
    params = (
        Param("m", "int", {"cpu": 1024, "cuda": 8192}, "rows", "rows of A and C", check=_multiple_of_16,
              rule=MULTIPLE_OF_16),
        Param("n", "int", {"cpu": 1024, "cuda": 8192}, "columns", "columns of B and C", check=_multiple_of_16,
              rule=MULTIPLE_OF_16),
        Param("k", "int", {"cpu": 1024, "cuda": 8192}, "elements", "inner dimension", check=_multiple_of_16,
              rule=MULTIPLE_OF_16),
    )

    def setup(self, case) -> None:
        import torch

        m, n, k = self.p["m"], self.p["n"], self.p["k"]
        device = torch.device(case.device)
        self._precision = case.precision
        g = torch.Generator(device="cpu").manual_seed(0)
        a = torch.randn(m, k, generator=g)
        b = torch.randn(n, k, generator=g)  # stored (n, k) so that b.t() is column-major for fp8
        self._fp32 = (a, b)  # host copies: the numerics check's reference operands, dropped after it
        self.samples_per_step = 1
        if case.precision == "fp8":
            fp8 = precision.dtype("fp8")
            self.a = a.to(device=device, dtype=fp8)
            self.b = b.to(device=device, dtype=fp8).t()
            self.scale = torch.ones((), device=device, dtype=torch.float32)
            self.out_bytes = 2  # bf16 output

            def step():
                return torch._scaled_mm(self.a, self.b, scale_a=self.scale, scale_b=self.scale,
                                        out_dtype=torch.bfloat16)
        else:
            dtype = precision.dtype(case.precision)
            self.a = a.to(device=device, dtype=dtype)
            self.b = b.t().contiguous().to(device=device, dtype=dtype)
            self.c = torch.empty(m, n, device=device, dtype=dtype)
            self.out_bytes = self.c.element_size()

            def step():
                return torch.mm(self.a, self.b, out=self.c)
        self._step = step

    def step(self):
        return self._step()

    def numerics(self) -> dict:
        """The product against an fp32 product (TF32 off) of the same fp32 matrices
        (`benchsuite.numerics`): the error of the precision's rounding and its tensor cores."""
        import time

        import torch

        from benchsuite import numerics, precision

        t0 = time.perf_counter()
        a, b = self._fp32
        self._fp32 = None
        got = self.step().float()
        with precision.numerics("fp32"):
            device = got.device
            want = torch.mm(a.to(device), b.to(device).t())
        return numerics.result(self._precision, {"output": numerics.rel_err(got, want)}, rows=None,
                               seconds=time.perf_counter() - t0, reference="fp32 product, TF32 off, same matrices")

    def flops_per_step(self) -> float:
        self.step()  # keep the same warm-up step the counted workloads get
        return 2.0 * self.p["m"] * self.p["n"] * self.p["k"]

    def bytes_per_step(self) -> float:
        m, n, k = self.p["m"], self.p["n"], self.p["k"]
        return float((m * k + k * n) * self.a.element_size() + m * n * self.out_bytes)
