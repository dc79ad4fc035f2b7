"""Host metrics: CPU utilisation and RSS through psutil, CPU package energy through RAPL.

RAPL (Intel, and AMD on recent kernels) is read from the Linux powercap sysfs tree,
``/sys/class/powercap/intel-rapl:N/energy_uj``: a microjoule counter per package that
wraps at ``max_energy_range_uj``. Since Linux 5.10 ``energy_uj`` is readable by root only
(CVE-2020-8694), so "not readable (permission)" is a normal answer.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

__all__ = ["POWERCAP_ROOT", "HOST_SAMPLE_FIELDS", "rapl_available", "rapl_delta_uj",
           "RaplReader", "HostSampler"]

POWERCAP_ROOT = Path("/sys/class/powercap")

#: Keys of :meth:`HostSampler.sample`'s dict, in CSV column order. ``others_cpu_pct``: the CPU
#: time of every process but the run's own, as a share of all logical CPUs (the machine's
#: utilisation less the run's processes), so that a second job on the host shows.
HOST_SAMPLE_FIELDS: tuple[str, ...] = ("cpu_util_pct", "rss_bytes", "cpu_energy_j", "others_cpu_pct")

_PACKAGE_ZONE = re.compile(r"^intel-rapl:\d+$")  # top-level zones; "intel-rapl:0:1" are subzones


def _read_int(path: Path) -> int:
    """Read one integer sysfs file (tests replace this to simulate permission errors)."""
    with open(path, "rb") as fh:
        return int(fh.read().strip())


def _package_zones(root: Path) -> list[Path]:
    try:
        zones = sorted(p for p in root.iterdir() if _PACKAGE_ZONE.match(p.name))
    except OSError:
        return []
    keep = []
    for z in zones:
        try:
            name = (z / "name").read_text().strip()
        except OSError:
            name = "package"
        if name.startswith("package"):  # skip "psys"/"dram" top-level zones
            keep.append(z)
    return keep


def rapl_available(root: Path | str = POWERCAP_ROOT) -> tuple[bool, str | None]:
    """(RAPL package energy readable, reason if not)."""
    zones = _package_zones(Path(root))
    if not zones:
        return False, "no RAPL on this CPU"
    for z in zones:
        try:
            _read_int(z / "energy_uj")
            _read_int(z / "max_energy_range_uj")
        except PermissionError:
            return False, "RAPL not readable (permission)"
        except (OSError, ValueError) as exc:
            return False, f"RAPL not readable ({type(exc).__name__}: {exc})"
    return True, None


def rapl_delta_uj(start_uj: int, end_uj: int, max_range_uj: int) -> int:
    """Energy between two counter readings, allowing for at most one wraparound."""
    if end_uj >= start_uj:
        return end_uj - start_uj
    return end_uj + (max_range_uj + 1 - start_uj)  # counter runs 0..max_range inclusive


class RaplReader:
    """Cumulative CPU package energy in joules since construction, wraparound-safe.

    Sum over packages. Call :meth:`read_j` more often than the counter's wrap period
    (minutes at typical package power); the sampler does so at its rate. Thread-safe.
    """

    def __init__(self, root: Path | str = POWERCAP_ROOT) -> None:
        self.available, self.reason = rapl_available(root)
        self._zones = _package_zones(Path(root)) if self.available else []
        self._max = [_read_int(z / "max_energy_range_uj") for z in self._zones]
        self._last = [_read_int(z / "energy_uj") for z in self._zones]
        self._total_uj = 0
        self._lock = threading.Lock()

    def read_j(self) -> float | None:
        """Joules used by the CPU packages since this reader was made; None without RAPL."""
        if not self.available:
            return None
        with self._lock:
            for i, z in enumerate(self._zones):
                now = _read_int(z / "energy_uj")
                self._total_uj += rapl_delta_uj(self._last[i], now, self._max[i])
                self._last[i] = now
            return self._total_uj / 1e6


class HostSampler:
    """One host reading: CPU utilisation %, this process's RSS bytes, RAPL energy J, and the
    CPU % of processes other than the run's (this one and ``run_pids``: the other ranks of a
    torchrun job on this host)."""

    def __init__(self, rapl_root: Path | str = POWERCAP_ROOT, run_pids: tuple[int, ...] = ()) -> None:
        import psutil  # imported here: no work at import of the telemetry package

        self._psutil = psutil
        self._proc = psutil.Process(os.getpid())
        self._run = [self._proc]
        for pid in dict.fromkeys(run_pids):
            if pid != os.getpid():
                try:
                    self._run.append(psutil.Process(pid))
                except psutil.Error:
                    pass
        self._cpus = psutil.cpu_count() or 1
        self.rapl = RaplReader(rapl_root)
        psutil.cpu_percent(interval=None)  # prime: the first call always returns 0.0
        self._run_percent()  # the same for each process

    def _run_percent(self) -> float:
        """CPU % of the run's processes since the previous call, as a share of all CPUs."""
        total = 0.0
        for proc in list(self._run):
            try:
                total += proc.cpu_percent(interval=None)  # % of one CPU
            except self._psutil.Error:
                self._run.remove(proc)  # a rank that has ended
        return total / self._cpus

    def sample(self, cpu: bool = True) -> dict[str, Any]:
        """Keys: :data:`HOST_SAMPLE_FIELDS`. CPU % (all cores) is since the previous call;
        ``cpu=False`` leaves both CPU figures None and does not move psutil's reference point."""
        try:
            energy = self.rapl.read_j()
        except OSError:
            energy = None
        util = float(self._psutil.cpu_percent(interval=None)) if cpu else None
        others = max(0.0, util - self._run_percent()) if cpu else None
        return {
            "cpu_util_pct": util,
            "rss_bytes": int(self._proc.memory_info().rss),
            "cpu_energy_j": energy,
            "others_cpu_pct": others,
        }
