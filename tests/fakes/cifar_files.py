"""Write tiny CIFAR-10 python batches in the real files' byte layout.

The original ``cifar-10-batches-py`` files were written by Python 2's ``cPickle`` at protocol 2:
a dict with the keys ``batch_label``, ``labels``, ``data``, ``filenames`` (Python 2 ``str``, read
as ``bytes`` under ``encoding='bytes'``), ``data`` a uint8 ndarray N x 3072 pickled through
``numpy.core.multiarray._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``, ``labels`` a list of
ints (the CIFAR-10 page; numpy's own Python-2 pickle fixtures for the array and dtype state).
Python 3 cannot produce that stream (it writes bytes as ``_codecs.encode`` and names
``numpy._core``), so ``Py2Pickler`` emits the opcodes directly.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
BATCH_SIZE = 1000  # items per APPENDS/SETITEMS run, as pickle and cPickle batch them


class Py2Pickler:
    """The opcodes Python 2.7's cPickle wrote at protocol 2 for the values a batch holds.

    Memo indices start at 1, as cPickle's ``put2`` numbered them; the raw array bytes, tuples and
    list items are not memoised (cPickle skipped objects with one reference).
    """

    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self._memo = 1

    def _put(self) -> None:
        i, self._memo = self._memo, self._memo + 1
        self.out += b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i)  # BINPUT / LONG_BINPUT

    def string(self, value: bytes, memo: bool = True) -> None:
        """A Python 2 ``str``: SHORT_BINSTRING below 256 bytes, else BINSTRING."""
        if len(value) < 256:
            self.out += b"U" + bytes([len(value)]) + value
        else:
            self.out += b"T" + struct.pack("<I", len(value)) + value
        if memo:
            self._put()

    def integer(self, value: int) -> None:
        if 0 <= value < 256:
            self.out += b"K" + bytes([value])  # BININT1
        elif 0 <= value < 65536:
            self.out += b"M" + struct.pack("<H", value)  # BININT2
        else:
            self.out += b"J" + struct.pack("<i", value)  # BININT

    def global_(self, module: str, name: str) -> None:
        self.out += b"c" + f"{module}\n{name}\n".encode()  # GLOBAL
        self._put()

    def tuple_(self, *items) -> None:
        """Items already written by the caller's callbacks; TUPLE1..3 or MARK ... TUPLE."""
        if 1 <= len(items) <= 3:
            for write in items:
                write()
            self.out += b"\x85\x86\x87"[len(items) - 1:len(items)]
        else:
            self.out += b"("
            for write in items:
                write()
            self.out += b"t"

    def dtype(self, dtype: np.dtype) -> None:
        """numpy.dtype(str, 0, 1) then its version-3 state (endianness, no fields, elsize/alignment -1)."""
        self.global_("numpy", "dtype")
        self.tuple_(lambda: self.string(dtype.str[1:].encode()), lambda: self.integer(0), lambda: self.integer(1))
        self.out += b"R"  # REDUCE
        self._put()
        self.tuple_(lambda: self.integer(3), lambda: self.string(dtype.byteorder.encode()),
                    *[lambda: self.none()] * 3, lambda: self.integer(-1), lambda: self.integer(-1),
                    lambda: self.integer(0))
        self.out += b"b"  # BUILD

    def none(self) -> None:
        self.out += b"N"

    def ndarray(self, array: np.ndarray) -> None:
        """_reconstruct(ndarray, (0,), 'b') then the state (1, shape, dtype, is_fortran, raw bytes)."""
        self.global_("numpy.core.multiarray", "_reconstruct")
        self.tuple_(lambda: self.global_("numpy", "ndarray"), lambda: self.tuple_(lambda: self.integer(0)),
                    lambda: self.string(b"b"))
        self.out += b"R"
        self._put()
        self.tuple_(lambda: self.integer(1), lambda: self.tuple_(*[lambda n=n: self.integer(n) for n in array.shape]),
                    lambda: self.dtype(array.dtype), lambda: self.out.extend(b"\x89"),  # NEWFALSE: C order
                    lambda: self.string(np.ascontiguousarray(array).tobytes(), memo=False))
        self.out += b"b"

    def list_(self, items: list, write) -> None:
        self.out += b"]"  # EMPTY_LIST
        self._put()
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start:start + BATCH_SIZE]
            if len(chunk) == 1:
                write(chunk[0])
                self.out += b"a"  # APPEND
            else:
                self.out += b"("
                for item in chunk:
                    write(item)
                self.out += b"e"  # APPENDS

    def batch(self, batch_label: bytes, labels: list[int], data: np.ndarray, filenames: list[bytes]) -> bytes:
        """The whole file: a dict in the key order the real batches load in."""
        self.out += b"}"  # EMPTY_DICT
        self._put()
        self.out += b"("
        self.string(b"batch_label")
        self.string(batch_label)
        self.string(b"labels")
        self.list_(labels, self.integer)
        self.string(b"data")
        self.ndarray(data)
        self.string(b"filenames")
        self.list_(filenames, lambda name: self.string(name, memo=False))
        self.out += b"u."  # SETITEMS, STOP
        return bytes(self.out)


def write(root: Path, per_batch: int = 20, bytes_keys: bool = True, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py/`` with data_batch_1..5 and test_batch; labels are learnable:
    each class brightens one of ten horizontal bands of the image.

    ``bytes_keys``: the original files' layout (Python 2 cPickle, protocol 2, keys read as bytes);
    otherwise the same dict with ``str`` keys as Python 3 and this numpy write it at protocol 2.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.integers(0, 10, per_batch)
        images = rng.integers(0, 100, (per_batch, 3, 32, 32), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, :, 3 * label:3 * label + 3, :] = 250
        data = images.reshape(per_batch, -1)
        batch_label = ("testing batch 1 of 1" if name == "test_batch"
                       else f"training batch {name[-1]} of 5")
        filenames = [f"{CLASS_NAMES[label]}_s_{i:06d}.png" for i, label in enumerate(labels)]
        if bytes_keys:
            content = Py2Pickler().batch(batch_label.encode(), labels.tolist(), data,
                                         [f.encode() for f in filenames])
        else:
            content = pickle.dumps({"batch_label": batch_label, "labels": labels.tolist(), "data": data,
                                    "filenames": filenames}, protocol=2)
        (folder / name).write_bytes(content)
    return folder
