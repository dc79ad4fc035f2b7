"""The training check of claim 4b: the article's CNN, recipe and input pipeline on CIFAR-10.

Test accuracy after each epoch, wall and cumulative seconds, energy per epoch (a telemetry
window per epoch, from `benchsuite.telemetry.Telemetry.window_for`) and, on a GPU, how idle
it is at the article's batch and at a larger one. Importing this module imports no torch;
the functions import it when they run.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from benchsuite import cifar
from benchsuite.claims.planning import ClaimsError, ClaimsSettings
from benchsuite.devices import Device
from benchsuite.workload import Registry


def _loaders(data: str, subset: tuple[int, int] | None, batch_size: int, workers: int, seed: int):
    """The article's pipeline: per-image ToTensor+Normalize((0.5,)*3, (0.5,)*3) in a shuffled DataLoader."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    class Images(Dataset):
        def __init__(self, images, labels) -> None:
            self.images, self.labels = images, labels

        def __len__(self) -> int:
            return len(self.labels)

        def __getitem__(self, i):
            return cifar.normalise(self.images[i:i + 1])[0], int(self.labels[i])

    train = cifar.load(data, train=True, limit=subset[0] if subset else None)
    test = cifar.load(data, train=False, limit=subset[1] if subset else None)
    if subset and (len(train[1]) < subset[0] or len(test[1]) < subset[1]):
        raise ClaimsError(f"--subset {subset[0]}/{subset[1]}: {data} holds only {len(train[1])} training and "
                          f"{len(test[1])} test images")
    g = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(Images(*train), batch_size=batch_size, shuffle=True, num_workers=workers, generator=g)
    test_x, test_y = cifar.normalise(test[0]), torch.from_numpy(test[1])
    return train_loader, (test_x, test_y), len(train[1])


def _epoch(model, optimizer, loader, device, window=None, max_steps: int | None = None) -> dict[str, Any]:
    """One pass over ``loader``; wall time, and on a GPU the device time of the steps (CUDA events)."""
    import contextlib

    import torch

    loss_fn = torch.nn.CrossEntropyLoss()
    cuda = device.type == "cuda"
    events: list = []
    model.train()
    if cuda:
        torch.cuda.synchronize(device)
    on_device = torch.cuda.device(device) if cuda else contextlib.nullcontext()  # events record on its stream
    with on_device, window if window is not None else contextlib.nullcontext():
        t0 = time.perf_counter()
        for step, (x, y) in enumerate(loader):
            if max_steps is not None and step >= max_steps:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()
            if cuda:
                end.record()
                events.append((start, end))
        if cuda:
            torch.cuda.synchronize(device)
        wall = time.perf_counter() - t0
    out: dict[str, Any] = {"wall_s": wall}
    if cuda:
        busy = sum(s.elapsed_time(e) for s, e in events) / 1e3
        out["busy_s"] = busy
        out["idle_share_events"] = max(0.0, 1.0 - busy / wall) if wall > 0 else None
    summary = getattr(window, "summary", None) if window is not None else None
    out["telemetry"] = summary
    return out


def _accuracy(model, test, device, batch: int = 1000) -> float:
    import torch

    model.eval()
    x, y = test
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = model(x[i:i + batch].to(device))
            correct += int((out.argmax(1).cpu() == y[i:i + batch]).sum())
    return 100.0 * correct / len(y)


def _idle_nvml(summary: dict | None) -> tuple[float | None, str]:
    util = (summary or {}).get("util_gpu_mean_pct")
    if util is None:
        note = (summary or {}).get("telemetry_note") or "no telemetry"
        return None, f"GPU utilisation not measured: {note}"
    return max(0.0, 1.0 - util / 100.0), "1 − mean NVML GPU utilisation over the epoch"


EVENTS_NOTE = ("1 − (device time between CUDA events around each step) ÷ wall time; launch gaps inside a step "
               "count as busy, so this is a lower bound of the idle share")


def train_check(data: str, device: Device, registry: Registry, settings: ClaimsSettings, telemetry=None,
                on_epoch: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
    """Train the fixed CNN with the article's recipe on CIFAR-10; test accuracy after each epoch.

    Returns plain data: accuracy (%), wall and cumulative seconds, energy per epoch (J, from a
    telemetry window per epoch where measured) and, on a GPU, the idle share at the
    article's batch and at ``settings.probe_batch_size``.
    """
    import torch

    torch.manual_seed(settings.seed)
    tdev = torch.device(device.id)
    loader, test, n_train = _loaders(data, settings.subset, settings.train_batch_size, settings.workers,
                                     settings.seed)
    model = registry["cnn"](variant="fixed").build_model().to(tdev)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    out: dict[str, Any] = {
        "device": device.id, "device_name": device.name, "status": "ok", "reason": None,
        "batch_size": settings.train_batch_size, "epochs": settings.epochs,
        "subset": list(settings.subset) if settings.subset else None, "train_images": n_train,
        "test_images": len(test[1]), "lr": settings.lr, "momentum": settings.momentum, "workers": settings.workers,
        "normalisation": list(cifar.MEAN), "accuracy_pct": [], "epoch_s": [], "cumulative_s": [],
        "energy_j": [], "cumulative_energy_j": [], "energy_method": None, "energy_note": None,
    }
    epochs = []
    for n in range(1, settings.epochs + 1):
        window = (telemetry.window_for(device, f"claims-train/{device.id}/bs{settings.train_batch_size}/epoch{n}")
                  if telemetry is not None else None)
        epoch = _epoch(model, optimizer, loader, tdev, window)
        accuracy = _accuracy(model, test, tdev)
        summary = epoch["telemetry"] or {}
        energy = summary.get("energy_j")
        out["accuracy_pct"].append(accuracy)
        out["epoch_s"].append(epoch["wall_s"])
        out["cumulative_s"].append(sum(out["epoch_s"]))
        out["energy_j"].append(energy)
        previous = out["cumulative_energy_j"][-1] if out["cumulative_energy_j"] else 0.0
        out["cumulative_energy_j"].append(previous + energy if energy is not None and previous is not None else None)
        out["energy_method"] = out["energy_method"] or summary.get("energy_method")
        if energy is None:
            out["energy_note"] = summary.get("telemetry_note") or ("telemetry disabled" if telemetry is None
                                                                   else "energy not measured")
        epochs.append(epoch)
        if on_epoch is not None:
            on_epoch(n, {"accuracy_pct": accuracy, "wall_s": epoch["wall_s"], "energy_j": energy})
    if device.type == "cuda":
        out["idle"] = _idle_record(settings.train_batch_size, epochs)
        out["idle_probes"] = [_idle_probe(data, device, registry, settings, telemetry)] \
            if settings.probe_batch_size != settings.train_batch_size else []
    return out


def _idle_record(batch_size: int, epochs: list[dict]) -> dict[str, Any]:
    wall = sum(e["wall_s"] for e in epochs)
    busy = sum(e.get("busy_s") or 0.0 for e in epochs)
    shares = [_idle_nvml(e["telemetry"]) for e in epochs]
    nvml = [s for s, _ in shares if s is not None]
    return {"batch_size": batch_size, "wall_s": wall, "busy_s": busy,
            "idle_share_events": max(0.0, 1.0 - busy / wall) if wall > 0 else None,
            "idle_share_events_note": EVENTS_NOTE,
            "idle_share_nvml": sum(nvml) / len(nvml) if nvml else None,
            "idle_share_nvml_note": shares[-1][1] if shares else "no epochs"}


def _idle_probe(data: str, device: Device, registry: Registry, settings: ClaimsSettings, telemetry) -> dict:
    """One epoch at the larger batch through the same input pipeline: how idle is the GPU there."""
    import torch

    torch.manual_seed(settings.seed)
    tdev = torch.device(device.id)
    loader, _, _ = _loaders(data, settings.subset, settings.probe_batch_size, settings.workers, settings.seed)
    model = registry["cnn"](variant="fixed").build_model().to(tdev)
    optimizer = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=settings.momentum)
    _epoch(model, optimizer, loader, tdev, max_steps=3)  # warm-up: cuDNN and allocator
    window = (telemetry.window_for(device, f"claims-train/{device.id}/bs{settings.probe_batch_size}/probe")
              if telemetry is not None else None)
    return _idle_record(settings.probe_batch_size, [_epoch(model, optimizer, loader, tdev, window)])
