"""Write tiny CIFAR-10 python batches in the exact on-disk format (pickled dicts)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def write(root: Path, per_batch: int = 20, bytes_keys: bool = True, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py/`` with data_batch_1..5 and test_batch; labels are learnable:
    each class brightens one of ten horizontal bands of the image."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, per_batch)
        images = rng.integers(0, 100, (per_batch, 3, 32, 32), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, :, 3 * label:3 * label + 3, :] = 250
        key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
        batch = {key("data"): images.reshape(per_batch, -1), key("labels"): labels.tolist(),
                 key("batch_label"): name}
        with (folder / name).open("wb") as fh:
            pickle.dump(batch, fh)
    return folder
