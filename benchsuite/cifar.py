"""Read CIFAR-10 from its python-pickle batches, without downloading.

Accepts ``cifar-10-batches-py/`` or its parent, and both ``str`` and ``bytes`` keys
(torchvision's ``CIFAR10`` class checks MD5 sums, which refuses generated test files).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
FOLDER = "cifar-10-batches-py"
MEAN = STD = (0.5, 0.5, 0.5)  # the article's normalisation


def find(directory: str | Path) -> Path:
    """The folder holding the batches, or ValueError saying what was expected."""
    directory = Path(directory).expanduser()
    for candidate in (directory, directory / FOLDER):
        if all((candidate / name).is_file() for name in (*TRAIN_FILES, TEST_FILE)):
            return candidate
    raise ValueError(
        f"no CIFAR-10 in {str(directory)!r}: expected the python batches data_batch_1..data_batch_5 and "
        f"test_batch in it or in {FOLDER}/ below it (torchvision's python layout; nothing is downloaded)"
    )


def check(directory: str) -> None:
    """Parameter check for ``data=``: raises ValueError when no CIFAR-10 is there."""
    find(directory)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open("rb") as fh:
        batch = pickle.load(fh, encoding="bytes")
    get = lambda key: batch[key] if key in batch else batch[key.encode()]  # noqa: E731
    data = np.asarray(get("data"), dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(get("labels"), dtype=np.int64)
    if len(data) != len(labels):
        raise ValueError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


def load(directory: str | Path, train: bool = True, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of the train or test split."""
    folder = find(directory)
    parts = [_read(folder / name) for name in (TRAIN_FILES if train else (TEST_FILE,))]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return images, labels


def normalise(images: np.ndarray):
    """uint8 images -> float32 tensor scaled to [0, 1] then normalised by (0.5, 0.5, 0.5)."""
    import torch

    x = torch.from_numpy(images).float().div_(255.0)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x - mean) / std
