"""Roofline data: each case placed by its FLOPs per byte under its device's two ceilings.

The ceilings come from a calibration (`benchsuite calibrate`): the achievable matmul
TFLOP/s of the case's precision and the achievable device-memory bandwidth (``d2d``).
Attainable TFLOP/s at intensity I (FLOP/byte) is min(compute, bandwidth × I); the ridge
point is compute / bandwidth. Renderers draw from this frame; nothing here measures or
imports torch.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from benchsuite.calibration_store import achievable_gbs, achievable_tflops

ROOFLINE_COLUMNS = ("id", "device", "precision", "flop_per_byte", "tflop_per_s", "compute_tflop_per_s",
                    "bandwidth_gb_per_s", "ridge_flop_per_byte", "attainable_tflop_per_s", "pct_of_roofline",
                    "bound", "calibration")


def _by_device(calibration: dict | list | None) -> dict[str, dict]:
    """{device id: record} from one record, a list of them, or such a dict already."""
    if calibration is None:
        return {}
    if isinstance(calibration, list):
        return {rec["device"]["id"]: rec for rec in calibration}
    if "device" in calibration and "kind" in calibration:
        return {calibration["device"]["id"]: calibration}
    return dict(calibration)


def ceilings(record: dict, precision: str) -> dict[str, Any]:
    """A device's compute and bandwidth ceilings for ``precision`` and the ridge point."""
    compute = achievable_tflops(record, precision)
    bandwidth = achievable_gbs(record, "d2d")
    ridge = compute * 1e12 / (bandwidth * 1e9) if compute and bandwidth else None
    return {"compute_tflop_per_s": compute, "bandwidth_gb_per_s": bandwidth, "ridge_flop_per_byte": ridge}


def roofline_points(df: pd.DataFrame, calibration: dict | list | None) -> pd.DataFrame:
    """One row per ok case with FLOPs and bytes per step: its intensity, TFLOP/s, the
    attainable TFLOP/s at that intensity, % of it, and whether it is memory- or
    compute-bound. ``calibration``: a record, a list of records, or {device id: record}."""
    records = _by_device(calibration)
    rows = []
    needed = {"status", "device", "precision", "flops_per_step", "bytes_per_step", "tflop_per_s"}
    if df.empty or not needed <= set(df.columns):
        return pd.DataFrame(columns=list(ROOFLINE_COLUMNS))
    for row in df.itertuples(index=False):
        flops, nbytes = getattr(row, "flops_per_step"), getattr(row, "bytes_per_step")
        if row.status != "ok" or not flops or not nbytes or pd.isna(flops) or pd.isna(nbytes):
            continue
        intensity = float(flops) / float(nbytes)
        record = records.get(row.device)
        ceiling = ceilings(record, row.precision) if record else {
            "compute_tflop_per_s": None, "bandwidth_gb_per_s": None, "ridge_flop_per_byte": None}
        compute, bandwidth = ceiling["compute_tflop_per_s"], ceiling["bandwidth_gb_per_s"]
        attainable = min(compute, bandwidth * intensity / 1e3) if compute and bandwidth else None
        ridge = ceiling["ridge_flop_per_byte"]
        tflops = row.tflop_per_s
        rows.append({
            "id": row.id, "device": row.device, "precision": row.precision, "flop_per_byte": intensity,
            "tflop_per_s": tflops, **ceiling, "attainable_tflop_per_s": attainable,
            "pct_of_roofline": 100.0 * tflops / attainable if attainable and tflops and not pd.isna(tflops) else None,
            "bound": None if ridge is None else ("memory" if intensity < ridge else "compute"),
            "calibration": record.get("id") if record else None,
        })
    return pd.DataFrame(rows, columns=list(ROOFLINE_COLUMNS))
