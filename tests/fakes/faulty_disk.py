"""A disk that fails on cue, standing in for a full or read-only file system: it replaces the
system calls of `benchsuite.files` (through which benchsuite writes every file), so one fake
covers results, samples, calibrations, reports and exports.

``FaultyDisk(monkeypatch, room=200)``: the first 200 bytes written to matching files land,
the write that passes that is partial and the next fails with ENOSPC, as a real full disk
does. ``FaultyDisk(monkeypatch, writes=2)``: the first two writes land whole, the third lands
half and the next fails (the disk fills up in the middle of a record). ``FaultyDisk(monkeypatch,
read_only=True)``: creating a folder or opening a file for writing fails with EROFS.
``match``: only paths containing this text fail (others are real).
"""

from __future__ import annotations

import errno
import os

from benchsuite import files


class FaultyDisk:
    def __init__(self, monkeypatch, *, room: int | None = None, writes: int | None = None,
                 read_only: bool = False, match: str | None = None, error: int | None = None) -> None:
        self.room = room
        self.writes = writes
        self.calls = 0
        self.read_only = read_only
        self.match = match
        self.error = error if error is not None else (errno.EROFS if read_only else errno.ENOSPC)
        self.written = 0
        self.failures = 0
        self._paths: dict[int, str] = {}
        real_open, real_write, real_mkdir = files._open, files._write, files._mkdir

        def matches(path) -> bool:
            return self.match is None or self.match in str(path)

        def fail(path):
            self.failures += 1
            raise OSError(self.error, os.strerror(self.error), str(path))

        def fake_open(path, flags, mode=0o777):
            if self.read_only and matches(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                fail(path)
            fd = real_open(path, flags, mode)
            self._paths[fd] = str(path)
            return fd

        def fake_mkdir(path, mode=0o777):
            if self.read_only and matches(path):
                fail(path)
            return real_mkdir(path, mode)

        def fake_write(fd, data):
            path = self._paths.get(fd, "")
            if not matches(path):
                return real_write(fd, data)
            if self.writes is not None:
                self.calls += 1
                if self.calls <= self.writes:
                    return real_write(fd, data)
                if self.calls == self.writes + 1 and len(data) > 1:
                    return real_write(fd, bytes(data[:len(data) // 2]))
                fail(path)
            if self.room is None:
                return real_write(fd, data)
            left = self.room - self.written
            if left <= 0:
                fail(path)
            n = real_write(fd, bytes(data[:left]))
            self.written += n
            return n

        monkeypatch.setattr(files, "_open", fake_open)
        monkeypatch.setattr(files, "_mkdir", fake_mkdir)
        monkeypatch.setattr(files, "_write", fake_write)
