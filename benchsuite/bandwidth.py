"""Collective bandwidth with the nccl-tests formulas (torch-free).

nccl-tests (github.com/NVIDIA/nccl-tests, doc/PERFORMANCE.md): algorithm bandwidth is the
message size over the time, ``algbw = S / t``; bus bandwidth scales it by how much data
each link must carry so that it compares with the hardware's peak link speed:
all-reduce ``busbw = algbw · 2(n−1)/n``, all-gather and reduce-scatter ``algbw · (n−1)/n``.
``S`` is the whole buffer: the all-reduce tensor, the all-gather *output*, the
reduce-scatter *input* (n times what each rank receives).
"""

from __future__ import annotations

OPS = ("all_reduce", "all_gather", "reduce_scatter")


def bus_factor(op: str, world_size: int) -> float:
    """nccl-tests' bus-bandwidth factor of ``op`` in a world of ``world_size`` ranks."""
    if world_size < 1:
        raise ValueError(f"world size {world_size} is not allowed; it must be 1 or more")
    n = world_size
    if op == "all_reduce":
        return 2.0 * (n - 1) / n
    if op in ("all_gather", "reduce_scatter"):
        return (n - 1) / n
    raise ValueError(f"unknown collective {op!r}; allowed: {', '.join(OPS)}")


def algbw_gbps(message_bytes: float, seconds: float) -> float:
    """Algorithm bandwidth in GB/s (10⁹ bytes per second, as nccl-tests prints)."""
    return message_bytes / seconds / 1e9


def busbw_gbps(op: str, message_bytes: float, seconds: float, world_size: int) -> float:
    """Bus bandwidth in GB/s: ``algbw × bus_factor(op, n)``."""
    return algbw_gbps(message_bytes, seconds) * bus_factor(op, world_size)
