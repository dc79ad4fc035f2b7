"""Every file benchsuite writes goes through here, with two guarantees and one error.

* An append (`Appender`: results.jsonl, samples.csv) is whole or absent: when a write fails
  (a full disk, a read-only file system, an I/O error) the file is cut back to the end of
  the last complete record, so it still loads.
* A whole file (`write_text`, `write_bytes`, `write_json`: reports, tables, exports,
  calibrations, claims) is written to a temporary file in the same folder, synced, and
  renamed over the target: a reader sees the old file or the new one, never a part.
* Any failure is a `WriteError` naming the file and the cause, never a bare OSError;
  `WriteError.bad_path` tells a wrong path (the user's input: exit 2) from a disk that
  failed at run time (exit 3).

Stored JSON is strict: NaN and infinity are written as null ("not measured"), never as
the ``NaN``/``Infinity`` that other JSON readers refuse. Torch-free.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, Callable

# The system calls, as module names so that a test can stand in a failing disk
# (tests/fakes/faulty_disk.py): every byte benchsuite writes passes `_write`.
_write: Callable[[int, Any], int] = os.write
_open: Callable[..., int] = os.open
_fsync: Callable[[int], None] = os.fsync
_mkdir: Callable[..., None] = os.mkdir

#: errno values that mean the path itself is wrong (not there, not a folder, not allowed):
#: the user's input, exit 2. Anything else (ENOSPC, EROFS, EIO, EDQUOT, ...) is the disk
#: failing at run time: exit 3.
BAD_PATH_ERRNOS = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EEXIST, errno.EISDIR, errno.EACCES, errno.EPERM,
                             errno.ENAMETOOLONG, errno.EINVAL, errno.ELOOP, errno.EXDEV})
EXIT_BAD_PATH = 2
EXIT_WRITE_FAILED = 3


class WriteError(OSError):
    """A file or folder that could not be written; the message names it and the cause.

    ``path``: what was being written; ``errno``: the system's error number (None when the
    cause was not the system's); ``bad_path``: whether the path itself is wrong.
    """

    def __init__(self, path: str | Path, action: str, cause: BaseException) -> None:
        number = getattr(cause, "errno", None)
        why = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        super().__init__(number, why)
        self.path = Path(path)
        self.action = action
        self.message = f"could not {action} {self.path}: {why}"

    @property
    def bad_path(self) -> bool:
        return self.errno in BAD_PATH_ERRNOS

    @property
    def exit_code(self) -> int:
        """2 for a wrong path, 3 for a write that failed at run time (see the README)."""
        return EXIT_BAD_PATH if self.bad_path else EXIT_WRITE_FAILED

    def __str__(self) -> str:
        return self.message


def expand(path: str | Path) -> Path:
    """``~`` and ``~user`` expanded (a shell leaves ``--out=~/x`` as it is)."""
    return Path(os.path.expanduser(str(path)))


def make_dir(path: str | Path, *, exist_ok: bool = True) -> Path:
    """Create ``path`` and its parents; an existing folder is fine unless ``exist_ok`` is False."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.is_dir():
        if probe.exists() or probe.is_symlink():
            _fail(path, "create folder", NotADirectoryError(errno.ENOTDIR, f"{probe} is a file, not a folder"))
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if not missing and not exist_ok:
        _fail(path, "create folder", FileExistsError(errno.EEXIST, "it already exists"))
    for folder in reversed(missing):
        try:
            _mkdir(folder, 0o777)
        except FileExistsError:
            if not folder.is_dir() or (folder == path and not exist_ok):
                _fail(path, "create folder", FileExistsError(errno.EEXIST, "it already exists"))
        except OSError as exc:
            _fail(path, "create folder", exc)
    return path


def remove_tree(path: str | Path) -> None:
    """Remove a folder this process made (a run that never got going); errors are ignored."""
    shutil.rmtree(path, ignore_errors=True)


def _fail(path: str | Path, action: str, exc: BaseException):
    raise WriteError(path, action, exc) from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = _write(fd, view)
        if written <= 0:  # pragma: no cover - a file system that accepts nothing without an error
            raise OSError(errno.EIO, "the file system accepted no bytes")
        view = view[written:]


class Appender:
    """A file opened for appending, one whole record at a time.

    ``append`` writes the text and, with ``sync``, waits until it is on disk; when the write
    fails the file is cut back to its length before the call and a `WriteError` is raised,
    so the file ends with the last complete record. ``new=True`` refuses an existing file.
    """

    def __init__(self, path: str | Path, *, new: bool = False) -> None:
        self.path = Path(path)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | (os.O_EXCL if new else 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            self._fd: int | None = _open(self.path, flags, 0o666)
        except OSError as exc:
            _fail(self.path, "create" if new else "open", exc)
        self.size = os.fstat(self._fd).st_size
        self.error: WriteError | None = None  # the first failed write

    @property
    def closed(self) -> bool:
        return self._fd is None

    def append(self, text: str, *, sync: bool = True) -> None:
        """Append ``text`` whole (UTF-8), or raise `WriteError` leaving the file as it was."""
        if self._fd is None:
            raise WriteError(self.path, "write", ValueError("the file is closed"))
        data = text.encode("utf-8")
        try:
            _write_all(self._fd, data)
            if sync:
                _fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self.size)  # the part written is no record: cut it off
            self.error = WriteError(self.path, "write", exc)
            raise self.error from None
        self.size += len(data)

    def close(self) -> None:
        """Close the file; never raises (every append was already written or refused)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``path`` whole: a temporary file in the same folder, synced, renamed over it."""
    path = Path(path)
    make_dir(path.parent)
    if path.is_dir():
        _fail(path, "write", IsADirectoryError(errno.EISDIR, "it is a folder; give a file name"))
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = _open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    except OSError as exc:
        _fail(path, "write", exc)
    try:
        try:
            _write_all(fd, data)
            _fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        _fail(path, "write", exc)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """`write_bytes` of ``text`` in UTF-8."""
    return write_bytes(path, text.encode("utf-8"))


def json_text(value: Any, **dumps: Any) -> str:
    """Strict JSON of ``value``: NaN and infinity become null, all the way down."""
    return json.dumps(finite(value), allow_nan=False, **dumps)


def write_json(path: str | Path, value: Any, **dumps: Any) -> Path:
    """`write_text` of `json_text` (indented by 2 unless told), with a final newline."""
    dumps.setdefault("indent", 2)
    return write_text(path, json_text(value, **dumps) + "\n")


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinity replaced by None (lists, tuples and dicts walked)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
