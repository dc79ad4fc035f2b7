"""RAPL reading on a fake powercap tree, and the psutil host sampler."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchsuite.telemetry import host


def make_zone(root: Path, name: str, energy_uj: int, max_uj: int = 1_000_000,
              kind: str = "package-0") -> Path:
    z = root / name
    z.mkdir(parents=True)
    (z / "name").write_text(kind + "\n")
    (z / "energy_uj").write_text(f"{energy_uj}\n")
    (z / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return z


def test_no_rapl(tmp_path):
    assert host.rapl_available(tmp_path / "absent") == (False, "no RAPL on this CPU")
    reader = host.RaplReader(tmp_path)
    assert reader.read_j() is None and reader.reason == "no RAPL on this CPU"


def test_rapl_permission(tmp_path, monkeypatch):
    make_zone(tmp_path, "intel-rapl:0", 10)

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(host, "_read_int", denied)
    assert host.rapl_available(tmp_path) == (False, "RAPL not readable (permission)")


def test_rapl_delta_wraparound():
    assert host.rapl_delta_uj(100, 350, 1000) == 250
    assert host.rapl_delta_uj(900, 100, 999) == 200  # 900 -> 999 -> 0 -> 100


def test_rapl_reader_sums_packages_and_wraps(tmp_path):
    z0 = make_zone(tmp_path, "intel-rapl:0", 999_000, max_uj=999_999)
    z1 = make_zone(tmp_path, "intel-rapl:1", 0, kind="package-1")
    make_zone(tmp_path, "intel-rapl:0:0", 5, kind="core")      # subzone: ignored
    make_zone(tmp_path, "intel-rapl:2", 7, kind="psys")       # platform: ignored
    reader = host.RaplReader(tmp_path)
    assert reader.available and reader.reason is None
    assert reader.read_j() == 0.0
    (z0 / "energy_uj").write_text("500000\n")   # wrapped: 1000 to the top, then 500000
    (z1 / "energy_uj").write_text("2000000\n")
    assert reader.read_j() == pytest.approx((1_000 + 500_000 + 2_000_000) / 1e6)
    (z0 / "energy_uj").write_text("600000\n")
    assert reader.read_j() == pytest.approx((1_000 + 600_000 + 2_000_000) / 1e6)


def test_host_sampler(tmp_path):
    make_zone(tmp_path, "intel-rapl:0", 0)
    s = host.HostSampler(rapl_root=tmp_path)
    row = s.sample()
    assert set(row) == set(host.HOST_SAMPLE_FIELDS)
    assert row["rss_bytes"] > 0 and 0.0 <= row["cpu_util_pct"] <= 100.0
    assert row["cpu_energy_j"] == 0.0
    assert s.sample(cpu=False)["cpu_util_pct"] is None
