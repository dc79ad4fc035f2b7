"""Collectives across ranks: all-reduce, all-gather, reduce-scatter, with nccl-tests bandwidths.

One step is one collective on a ``size``-byte buffer (nccl-tests' meaning of size: the
all-reduce tensor, the all-gather output, the reduce-scatter input), over the case's
process group: NCCL on GPUs, gloo on CPUs. ``algbw_gbps = size / time``, ``busbw_gbps``
applies nccl-tests' factor (`benchsuite.bandwidth`). It needs a process group: a
single-process run skips it; under torchrun with one rank it runs (bus bandwidth is 0 by
the formula, as in nccl-tests).
"""

from __future__ import annotations

import warnings

from benchsuite import bandwidth, precision
from benchsuite.workload import Param, Unsupported, Workload


class Collective(Workload):
    name = "collective"
    summary = "one all-reduce, all-gather or reduce-scatter per step across every rank (torchrun/--nproc)"
    modes = ("infer",)  # no training: a collective runs as an inference-mode case
    precisions = ("fp32", "bf16", "fp16")
    batched = False
    sample_unit = "collective"
    shown_params = ("op", "size")
    needs_process_group = True
    params = (
        Param("op", "choice", "all_reduce", "", "the collective (a comma list sweeps)", choices=bandwidth.OPS),
        Param("size", "bytes", {"cpu": 2**20, "cuda": 64 * 2**20}, "bytes",
              "message size as nccl-tests counts it (all-gather: output, reduce-scatter: input); "
              "rounded down to a multiple of world size × element size; a comma list sweeps, e.g. 1K,64K,1M,16M"),
    )

    def setup(self, case) -> None:
        import torch
        import torch.distributed as dist

        comm = self.comm
        if comm is None:
            raise Unsupported("collective needs a process group: launch with --nproc N or torchrun")
        op = self.p["op"]
        device = torch.device(case.device)
        dtype = precision.dtype(case.precision)
        element = torch.empty((), dtype=dtype).element_size()
        n = comm.world_size
        count = self.p["size"] // (element * n) * n  # elements in the whole buffer, divisible by n
        if count == 0:
            raise ValueError(f"size={self.p['size']} bytes is below one {case.precision} element per rank "
                             f"({element * n} bytes for {n} ranks)")
        self.message_bytes = count * element
        self.op = op
        g = torch.Generator(device="cpu").manual_seed(comm.rank)
        full = torch.randn(count, generator=g).to(device=device, dtype=dtype)
        chunk = torch.randn(count // n, generator=g).to(device=device, dtype=dtype)
        group = comm.group
        self.samples_per_step = 1
        if op == "all_reduce":
            def step() -> None:
                dist.all_reduce(full, group=group)
        elif op == "all_gather":
            step = self._all_gather(chunk, full, group, n)
        else:
            step = self._reduce_scatter(full, chunk, group, comm.backend)
        self._step = step

    def _all_gather(self, chunk, out, group, n):
        """``all_gather_into_tensor`` where the backend has it, else the list form (older gloo)."""
        import torch.distributed as dist

        self.variant = "all_gather_into_tensor"
        try:
            with warnings.catch_warnings():  # 2.14 deprecates it for all_gather_single, which 2.11 lacks
                warnings.simplefilter("ignore", FutureWarning)
                dist.all_gather_into_tensor(out, chunk, group=group)
        except RuntimeError as exc:
            if "not support" not in str(exc).lower() and "unimplemented" not in str(exc).lower():
                raise
            self.variant = "all_gather (list of tensors)"
            parts = list(out.chunk(n))

            def step() -> None:
                dist.all_gather(parts, chunk, group=group)
            return step

        def step() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                dist.all_gather_into_tensor(out, chunk, group=group)
        return step

    def _reduce_scatter(self, full, out, group, backend: str):
        """``reduce_scatter_tensor``; a backend without it makes the case skipped with its message."""
        import torch.distributed as dist

        self.variant = "reduce_scatter_tensor"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                dist.reduce_scatter_tensor(out, full, group=group)
        except RuntimeError as exc:
            if "not support" in str(exc).lower() or "unimplemented" in str(exc).lower():
                raise Unsupported(f"{backend} in torch {__import__('torch').__version__} has no "
                                  f"reduce_scatter_tensor: {exc}") from None
            raise

        def step() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                dist.reduce_scatter_tensor(out, full, group=group)
        return step

    def step(self) -> None:
        self._step()

    def flops_per_step(self) -> None:
        self.step()  # the same warm-up step the counted workloads get; a collective is not FLOPs
        return None

    def bytes_per_step(self) -> float:
        return float(self.message_bytes)

    def extra_metrics(self, step_s: float) -> dict:
        n = self.comm.world_size
        return {
            "collective_op": self.op,
            "collective_call": self.variant if self.op != "all_reduce" else "all_reduce",
            "backend": self.comm.backend,
            "message_bytes": self.message_bytes,
            "bus_factor": bandwidth.bus_factor(self.op, n),
            "algbw_gbps": bandwidth.algbw_gbps(self.message_bytes, step_s),
            "busbw_gbps": bandwidth.busbw_gbps(self.op, self.message_bytes, step_s, n),
        }
