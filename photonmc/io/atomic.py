"""Atomic file writes: every photonmc file appears whole or not at all.

Streaming writers (time tags) derive from `StreamingFile`: they write into a temporary
file chunk by chunk and move it into place when closed.

`atomic_path(path)` yields a temporary path beside the target; when the block ends
without an error the temporary file is fsynced and renamed over the target (and the
directory fsynced), otherwise it is removed and any earlier file at the target stays.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write; renamed to `path` when the block succeeds."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        yield tmp
        fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


def fsync(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_directory(path: Path) -> None:
    """Make a rename durable; not every platform or file system allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def temporary_path(path: Path) -> Path:
    """A unique temporary path beside `path` (hidden, same file system)."""
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


class StreamingFile:
    """Life cycle of a file written in chunks: write, then close (or abort).

    Subclasses set `path`, `_tmp`, `_file` (open) and `_stream` (an ordering buffer with
    push and flush) and implement `_append(chunk)` and `_finish()` (final metadata;
    closes `_file`). Any error while writing or closing discards the temporary file, and
    an earlier file at `path` stays; leaving a `with` block by an exception aborts.
    """

    path: Path

    def write(self, chunk) -> None:
        """Append a chunk."""
        if self._file is None:
            raise ValueError(f"{self.path}: the writer is closed")
        try:
            ready = self._stream.push(chunk)
            if ready is not None:
                self._append(ready)
        except BaseException:
            self.abort()
            raise

    def close(self) -> Path:
        """Write what is held back and the final metadata; move the file into place."""
        if self._file is None:
            raise ValueError(f"{self.path}: the writer is closed")
        try:
            rest = self._stream.flush()
            if rest is not None:
                self._append(rest)
            self._finish()
            self._file = None
            fsync(self._tmp)
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        fsync_directory(self.path.parent)
        return self.path

    def abort(self) -> None:
        """Discard the unfinished file; any earlier file at the path stays."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._file.close()
            self._file = None
        with contextlib.suppress(OSError):
            os.unlink(self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def _append(self, chunk) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError
