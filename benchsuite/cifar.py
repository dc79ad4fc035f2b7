"""Read CIFAR-10 from its python-pickle batches, without downloading and without running code.

Accepts ``cifar-10-batches-py/`` or its parent, and both ``str`` and ``bytes`` keys.
The batches are pickles, and unpickling a file from a user path with ``pickle.load`` runs
whatever its ``__reduce__`` names. They are read here by a restricted unpickler that admits
only the globals real batches hold (``ALLOWED_GLOBALS``) and refuses object arrays.
MD5 sums (torchvision's check) are no substitute: they would also refuse generated test files.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
FOLDER = "cifar-10-batches-py"
MEAN = STD = (0.5, 0.5, 0.5)  # the article's normalisation
PIXELS = 3 * 32 * 32  # values per image: 1024 red, 1024 green, 1024 blue (the CIFAR-10 page)
CLASSES = 10

# What the batches hold besides dicts, lists, strings, bytes and ints (which need no global):
# numpy arrays. The original files are Python-2 cPickle protocol 2: ndarray.__reduce__ gives
# _reconstruct(ndarray, (0,), 'b') plus a state holding a numpy.dtype and the raw bytes.
# numpy 2 writes the module as numpy._core.multiarray; Python 3 at protocol 2 writes bytes
# as _codecs.encode(str, 'latin1').
ALLOWED_GLOBALS = (
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.ndarray",
    "numpy.dtype",
    "_codecs.encode",
)
_LATIN1 = ("latin1", "latin-1")  # the codec Python 3's pickle names for bytes at protocol < 3


class CifarError(ValueError):
    """A batch file that is not a CIFAR-10 python batch, or cannot be read; the message names the file."""


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
    """Parameter check for ``data=`` and ``claims --data``: the batches are there and each one
    reads as CIFAR-10 (safely); raises ValueError (CifarError for a bad file) otherwise."""
    folder = find(directory)
    for name in (*TRAIN_FILES, TEST_FILE):
        _read(folder / name)


def _one_line(text: str, limit: int = 200) -> str:
    """Text from a hostile file, made safe to print: control characters escaped, one line, bounded."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[:limit] + "..."


def _latin1_encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 pickles bytes at protocol 2, and nothing else."""
    if not isinstance(text, str) or encoding not in _LATIN1 or errors != "strict":
        raise pickle.UnpicklingError(f"_codecs.encode is allowed only as encode(str, 'latin1'), "
                                     f"not encode({type(text).__name__}, {_one_line(repr(encoding))})")
    return text.encode("latin-1")


class _BatchUnpickler(pickle.Unpickler):
    """An Unpickler whose ``find_class`` admits only ``ALLOWED_GLOBALS``; nothing else is imported."""

    def __init__(self, fh: BinaryIO, path: Path) -> None:
        super().__init__(fh, encoding="bytes")  # Python 2 str -> bytes, as the CIFAR-10 page says
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        qualified = f"{module}.{name}"
        if qualified not in ALLOWED_GLOBALS:
            raise CifarError(
                f"{self._path}: refused to load the global {_one_line(repr(qualified))}: these are not CIFAR-10 "
                f"batches (they hold only dicts, lists, strings, bytes, ints and numpy arrays; allowed globals: "
                f"{', '.join(ALLOWED_GLOBALS)}); nothing from the file was run"
            )
        if name == "_reconstruct":  # the same function under numpy 1 and 2, without importing numpy.core
            return np.ndarray.__reduce__(np.empty(0))[0]
        if qualified == "_codecs.encode":
            return _latin1_encode
        return np.ndarray if name == "ndarray" else np.dtype


def _object_arrays(root: Any) -> bool:
    """Whether any numpy array reachable from ``root`` through dicts, lists and tuples holds Python objects."""
    stack, seen = [root], set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject:
                return True
        elif isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
    return False


def _unpickle(path: Path) -> Any:
    """The object in one batch file, read by the restricted unpickler; CifarError naming the file otherwise."""
    try:
        with path.open("rb") as fh:
            obj = _BatchUnpickler(fh, path).load()
    except CifarError:
        raise
    except OSError as exc:
        raise CifarError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # anything a damaged or hostile pickle raises: UnpicklingError, EOFError, ...
        why = type(exc).__name__ + (f": {_one_line(str(exc))}" if str(exc) else "")
        raise CifarError(f"{path}: not a CIFAR-10 python batch, the file does not unpickle ({why})") from None
    if _object_arrays(obj):
        raise CifarError(f"{path}: refused a numpy array of Python objects (dtype object): these are not "
                         f"CIFAR-10 batches, whose data is a uint8 array")
    return obj


def _read(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) uint8 and labels (N,) int64 of one batch file."""
    batch = _unpickle(path)
    if not isinstance(batch, dict):
        raise CifarError(f"{path}: not a CIFAR-10 python batch: it holds a {type(batch).__name__}, "
                         f"expected a dict with 'data' and 'labels'")

    def get(key: str) -> Any:
        for k in (key, key.encode()):
            if k in batch:
                return batch[k]
        keys = ", ".join(_one_line(repr(k), 40) for k in list(batch)[:10])
        raise CifarError(f"{path}: not a CIFAR-10 python batch: no {key!r} key (it has {keys or 'none'})")

    data, labels = get("data"), get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim < 1 or (
            data.size != len(data) * PIXELS):
        what = (f"a {data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray)
                else f"a {type(data).__name__}")
        raise CifarError(f"{path}: not a CIFAR-10 python batch: 'data' is {what}, expected a uint8 array "
                         f"of N x {PIXELS} (N images of 3 x 32 x 32)")
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError):
        labels = np.asarray([None])  # ragged: reported below as not integers
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or (
            len(labels) and (labels.min() < 0 or labels.max() >= CLASSES)):
        raise CifarError(f"{path}: not a CIFAR-10 python batch: 'labels' must be a list of integers "
                         f"0..{CLASSES - 1}")
    if len(data) != len(labels):
        raise CifarError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


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
