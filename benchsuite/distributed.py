"""Runs on ``torch.distributed``: the launcher's environment, process groups, gathers, ``--nproc``.

benchsuite does not launch or connect ranks itself: ``torchrun`` (or ``srun``) starts one
process per device and sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` (SLURM:
``SLURM_PROCID``/``SLURM_NTASKS``/``SLURM_LOCALID``). Every rank runs the same cases in
lock-step; after each case all records are gathered (``all_gather_object`` on a gloo
control group) and rank 0 writes the merged record. Each measured case gets its own
process group (NCCL on GPUs, gloo on CPUs) with the case timeout, so a collective that
hangs on one rank becomes an error record on that rank instead of a hung run, and a
timed-out group is thrown away rather than reused. (On NCCL the timeout aborts the group's
communicators and the case's next collective raises: `nccl_error_env`; not yet verified
on GPUs.)

A rank that dies is found through the rendezvous store: each rank writes why it stops
(``exit/<rank>``) and beats a counter (``beat/<rank>``) from a thread; rank 0 names the
ranks whose message is an error, or whose counter stopped without a message.
Only collective APIs present in torch 2.11 and 2.14 are used.
"""

from __future__ import annotations

import datetime
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from benchsuite.devices import DeviceError
from benchsuite.settings import DEFAULT_CASE_TIMEOUT_S

# torch's own default process-group timeout for gloo: the control group (gathers after each
# case) waits this long for the slowest rank to finish a case.
CONTROL_TIMEOUT_S = 1800.0
HEARTBEAT_S = 0.5  # each rank bumps its counter in the store this often
DEAD_AFTER_S = 2.5  # a counter that did not move for this long, with no exit message: the rank is gone
TERMINATED = "terminated by SIGTERM"  # the exit message of a rank that the launcher stopped


class DistError(RuntimeError):
    """A launcher environment benchsuite cannot use; the message says what is missing."""


class SharedGpuError(DistError, DeviceError):
    """A rank without a GPU of its own (more ranks on a node than GPUs visible to them, or two
    ranks bound to one GPU); also a `DeviceError`, so the command line reports it as a usage error."""


class CaseAborted(RuntimeError):
    """Another rank gave up the current case (its error is in its own record)."""


class Terminated(BaseException):
    """SIGTERM (torchrun stops the other ranks this way when one fails): end the run as failed."""


@dataclass(frozen=True)
class LaunchEnv:
    """Where this process sits in the job, as the launcher said."""

    rank: int
    world_size: int
    local_rank: int
    launcher: str  # "torchrun" or "slurm"
    local_world_size: int | None = None


def detect(environ: Mapping[str, str] | None = None) -> LaunchEnv | None:
    """The torchrun (or srun) environment of this process, or None when run as one process.

    torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR``/``MASTER_PORT``.
    Under ``srun`` without torchrun, a job step with ``SLURM_NTASKS`` > 1 counts, and
    ``MASTER_ADDR``/``MASTER_PORT`` must be exported (the README shows how).
    """
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        ws = int(env["WORLD_SIZE"])
        lws = int(env["LOCAL_WORLD_SIZE"]) if "LOCAL_WORLD_SIZE" in env else None
        return LaunchEnv(int(env["RANK"]), ws, int(env.get("LOCAL_RANK", 0)), "torchrun", lws)
    step = env.get("SLURM_STEP_ID", env.get("SLURM_STEPID"))
    if "SLURM_PROCID" in env and step is not None and int(env.get("SLURM_NTASKS", "1")) > 1:
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if not env.get(k)]
        if missing:
            raise DistError(f"launched by srun with SLURM_NTASKS={env['SLURM_NTASKS']} but {' and '.join(missing)} "
                            "not set: export MASTER_ADDR (the first node's hostname) and MASTER_PORT (a free port), "
                            "or launch with torchrun")
        return LaunchEnv(int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0)), "slurm")
    return None


def pick_device(spec: str, local_rank: int, present: Sequence, environ: Mapping[str, str] | None = None) -> Any:
    """The one device of this rank: ``cuda:<local rank>`` when ``spec`` allows a GPU and one is
    present, else the CPU. ``present`` is a Device list. A rank that sees a single GPU through a
    one-device ``CUDA_VISIBLE_DEVICES`` (``srun --gpus-per-task=1``, a wrapper script) takes it.
    Raises `SharedGpuError` when the local rank has no GPU of its own (more ranks on the node
    than GPUs visible): two ranks sharing a GPU would each measure a part of it."""
    env = os.environ if environ is None else environ
    spec = spec.strip().lower()
    gpus = [d for d in present if d.type == "cuda"]
    cpu = [d for d in present if d.type == "cpu"]
    if spec == "cpu":
        return cpu[0]
    if spec in ("all", "cuda", "gpu"):
        if gpus:
            if local_rank < len(gpus):
                return gpus[local_rank]
            visible = env.get("CUDA_VISIBLE_DEVICES")
            if len(gpus) == 1 and visible is not None and len([v for v in visible.split(",") if v.strip()]) == 1:
                return gpus[0]  # the launcher bound one GPU to this rank (distinct ranks: `Context.start` checks)
            shown = f" (CUDA_VISIBLE_DEVICES={visible})" if visible is not None else ""
            raise SharedGpuError(f"local rank {local_rank} has no GPU of its own: {len(gpus)} GPU"
                                 f"{'s are' if len(gpus) != 1 else ' is'} visible{shown}, for local ranks "
                                 f"0-{len(gpus) - 1}; launch at most {len(gpus)} per node (--nproc, "
                                 "--nproc-per-node), bind one GPU per rank (srun --gpus-per-task=1), "
                                 "or give --device cpu")
        if spec == "all":
            return cpu[0]
        raise DeviceError(f"device {spec!r}: no CUDA GPU is visible to local rank {local_rank}")
    raise DeviceError(f"device {spec!r} is not allowed under torchrun: each rank takes one device, so give "
                      "cpu, cuda or all (rank r uses cuda:<local rank r>)")


def check_own_gpus(peers: Sequence[dict]) -> None:
    """Raise `SharedGpuError` when two ranks on one host hold the same GPU (same UUID), say
    ``CUDA_VISIBLE_DEVICES=0`` exported for two ranks. ``peers`` is `Context.peers`; ranks whose
    device has no UUID are not compared."""
    holders: dict[tuple, list[int]] = {}
    for p in peers:
        device = p.get("device") or {}
        if device.get("type") == "cuda" and device.get("uuid"):
            holders.setdefault((p.get("hostname"), device["uuid"]), []).append(p["rank"])
    shared = {key: ranks for key, ranks in holders.items() if len(ranks) > 1}
    if shared:
        (host, uuid), ranks = next(iter(shared.items()))
        raise SharedGpuError(f"ranks {', '.join(map(str, ranks))} on {host} share one GPU ({uuid}): each rank "
                             "needs its own; launch at most one rank per GPU, or bind one GPU per rank")


# ProcessGroupNCCL reads these when a group is made (torch 2.11 and 2.14 alike).
# TORCH_NCCL_ASYNC_ERROR_HANDLING: 0 nothing, 1 abort the communicators and end the process,
# 2 abort the communicators only, 3 end the process only (torch's default; torchrun sets 1).
# TORCH_NCCL_BLOCKING_WAIT=1 would make each collective's wait() a host loop that sleeps
# 1 ms between checks, so a step would be timed with that sleep in it; it is not set.
NCCL_ERROR_HANDLING = "TORCH_NCCL_ASYNC_ERROR_HANDLING"
NCCL_CLEAN_UP_ONLY = "2"


def nccl_error_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment changes for a case's NCCL group: a collective that outlives the case
    timeout has its communicators aborted by NCCL's watchdog thread (its kernels stop, the
    host's wait on the GPU returns), but the process is not ended. Left alone when the user
    asked for ``TORCH_NCCL_BLOCKING_WAIT=1`` (there the timeout raises in the waiting call)."""
    if environ.get("TORCH_NCCL_BLOCKING_WAIT", "0") == "1":
        return {}
    return {NCCL_ERROR_HANDLING: NCCL_CLEAN_UP_ONLY}


@dataclass
class Comm:
    """What a workload sees of the job: its case's process group, its rank and the world size."""

    group: Any
    rank: int
    world_size: int
    backend: str
    timeout_s: float


class Context:
    """One rank's membership of the job: control group, per-case groups, failure reports."""

    def __init__(self, env: LaunchEnv, device, case_timeout_s: float = DEFAULT_CASE_TIMEOUT_S,
                 control_timeout_s: float = CONTROL_TIMEOUT_S) -> None:
        self.env = env
        self.device = device
        self.case_timeout_s = float(case_timeout_s)
        self.control_timeout_s = float(control_timeout_s)
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        self.peers: list[dict] = []  # every rank's {rank, local_rank, hostname, device}, after start()
        self._store = None
        self._beat_stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._old_sigterm = None

    @property
    def rank(self) -> int:
        return self.env.rank

    @property
    def world_size(self) -> int:
        return self.env.world_size

    @property
    def is_main(self) -> bool:
        return self.env.rank == 0

    def start(self, me: dict) -> list[dict]:
        """Join the job (gloo control group), start the heartbeat, gather every rank's ``me``."""
        import torch
        import torch.distributed as dist

        if self.device.type == "cuda":
            torch.cuda.set_device(self.device.index)
        dist.init_process_group("gloo", init_method="env://", rank=self.rank, world_size=self.world_size,
                                timeout=datetime.timedelta(seconds=self.control_timeout_s))
        self._store = dist.PrefixStore("benchsuite/", dist.TCPStore(
            os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
            timeout=datetime.timedelta(seconds=30)))
        self._beat = threading.Thread(target=self._heartbeat, name="benchsuite-heartbeat", daemon=True)
        self._beat.start()
        self._old_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        self.peers = self.all_gather({**me, "rank": self.rank, "local_rank": self.env.local_rank})
        check_own_gpus(self.peers)  # every rank has the same list, so every rank raises alike
        return self.peers

    def _heartbeat(self) -> None:
        while not self._beat_stop.wait(HEARTBEAT_S):
            try:
                self._store.add(f"beat/{self.rank}", 1)
            except Exception:  # the store went away: the job is ending
                return

    def _on_sigterm(self, signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the failure path must not be cut short
        raise Terminated(f"{TERMINATED} (the launcher stops every rank when one fails)")

    def all_gather(self, obj: Any) -> list:
        """``obj`` from every rank, in rank order, on every rank (control group)."""
        import torch.distributed as dist

        out: list = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    # Control messages are tagged, because a rank whose case failed early sends its record
    # while the others may still be asking to agree on step counts: a round that mixes the
    # two tells the agreeing ranks to abort the case, and every rank then exchanges records.
    def agree_max(self, values: Sequence[int]) -> list[int]:
        """The element-wise largest of every rank's ``values``; raises `CaseAborted` when a
        rank has already given up the case."""
        got = self.all_gather(("agree", list(values)))
        failed = [r for r, (tag, _) in enumerate(got) if tag != "agree"]
        if failed:
            raise CaseAborted(f"rank{'s' if len(failed) > 1 else ''} {', '.join(map(str, failed))} "
                              "gave up the case first")
        return [max(v[i] for _, v in got) for i in range(len(values))]

    def gather_records(self, record: dict) -> list[dict]:
        """Every rank's record of the case just run, in rank order (see `agree_max`)."""
        while True:
            got = self.all_gather(("record", record))
            if all(tag == "record" for tag, _ in got):
                return [r for _, r in got]

    def case_comm(self) -> Comm:
        """A fresh process group for one case, with the case timeout (every rank must call it).

        NCCL groups are made with ``TORCH_NCCL_ASYNC_ERROR_HANDLING=2`` (see `nccl_error_env`)."""
        import torch.distributed as dist

        if self.backend == "nccl":
            os.environ.update(nccl_error_env(os.environ))
        group = dist.new_group(backend=self.backend, timeout=datetime.timedelta(seconds=self.case_timeout_s))
        return Comm(group, self.rank, self.world_size, self.backend, self.case_timeout_s)

    def release(self, comm: Comm) -> None:
        """Drop a case's process group (a timed-out one is never reused)."""
        import torch.distributed as dist

        try:
            dist.destroy_process_group(comm.group)
        except Exception as exc:  # a broken group may not tear down cleanly; the run goes on
            warnings.warn(f"rank {self.rank}: could not destroy a case's process group: {exc}")

    def failure_reason(self, exc: BaseException) -> str:
        """Why the run stops. Every rank reports its own exit; rank 0 also names the culprit ranks."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the launcher's SIGTERM must not cut this short
        mine = TERMINATED if isinstance(exc, Terminated) else f"{type(exc).__name__}: {exc}".strip()
        try:
            self._store.set(f"exit/{self.rank}", mine)
        except Exception:
            pass
        if not self.is_main:
            return mine
        return describe_failure(self.rank, mine, self._exit_messages(), self.peers)

    def _exit_messages(self) -> dict[int, str | None]:
        """Each other rank's exit message, or None when it stopped beating without one."""
        others = [r for r in range(self.world_size) if r != self.rank]
        found: dict[int, str | None] = {}

        def beats(r: int) -> int:
            try:
                return self._store.add(f"beat/{r}", 0)
            except Exception:
                return -1

        before = {r: beats(r) for r in others}
        deadline = time.monotonic() + DEAD_AFTER_S
        while True:
            for r in others:
                if r not in found and self._store.check([f"exit/{r}"]):
                    found[r] = self._store.get(f"exit/{r}").decode(errors="replace")
            if len(found) == len(others) or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        for r in others:
            if r not in found and beats(r) == before[r]:
                found[r] = None  # no message and no heartbeat: killed or exited abruptly
        return found

    def close(self) -> None:
        """Leave the job: stop the heartbeat, restore SIGTERM, destroy the process group."""
        import torch.distributed as dist

        self._beat_stop.set()
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
        if dist.is_initialized():
            dist.destroy_process_group()


def describe_failure(rank: int, mine: str, others: Mapping[int, str | None], peers: Sequence[dict] = ()) -> str:
    """The run's failure reason: the ranks that failed first (an error, or dead without a word),
    then what this rank saw. ``others`` maps rank -> exit message (None: died silently);
    ranks still alive are absent."""
    where = {p["rank"]: p.get("hostname") for p in peers}

    def name(r: int) -> str:
        return f"rank {r}" + (f" ({where[r]})" if where.get(r) else "")

    parts = []
    for r in sorted(others):
        message = others[r]
        if message is None:
            parts.append(f"{name(r)} died without reporting an error (killed by a signal, out of memory, "
                         "or exited abruptly)")
        elif not message.startswith(TERMINATED):
            parts.append(f"{name(r)} failed: {message}")
    if not parts:
        return f"{name(rank)} failed: {mine}"
    return "; ".join(parts) + f"; {name(rank)} then stopped: {mine}"


def launch(nproc: int, argv: Sequence[str], master_port: int | None = None) -> None:
    """Run ``python -m benchsuite <argv>`` in ``nproc`` processes on this node through
    torchrun's own API (``torch.distributed.run.main``); raises ``ChildFailedError`` (naming
    the failed ranks) when a rank fails."""
    from torch.distributed import run as torchrun

    endpoint = f"127.0.0.1:{master_port or 0}"
    torchrun.main(["--nnodes", "1", "--nproc-per-node", str(nproc), "--rdzv-backend", "c10d",
                   "--rdzv-endpoint", endpoint, "--max-restarts", "0", "-m", "benchsuite", *argv])


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """The command line less ``--nproc N`` / ``--nproc=N``: what each launched rank runs."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--nproc":
            skip = True
            continue
        if arg.startswith("--nproc="):
            continue
        out.append(arg)
    return out
