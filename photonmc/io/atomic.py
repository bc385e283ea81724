"""Atomic file writes: every photonmc file appears whole or not at all.

Streaming writers (time tags) derive from `StreamingFile`: they write into a temporary
file chunk by chunk and move it into place when closed.

`atomic_path(path)` yields a temporary path beside the target; when the block ends
without an error the temporary file is fsynced and renamed over the target (and the
directory fsynced), otherwise it is removed and any earlier file at the target stays.

`check_writable(path, force)` is the check every writer makes before any work: the
target is no directory, exists only with `force`, and its directory exists and takes a
new file (a probe file is created and removed, so a read-only directory is found before
a long run, not after it). Errors about the temporary file name the real target.

A temporary file is `.<name>.<pid>.<hex>.tmp` beside the target. One left behind by a
killed process (its pid no longer runs on this machine) is stale: the next write of the
same target removes it and says so with a `StaleFileWarning` naming it.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import re
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path


class StaleFileWarning(UserWarning):
    """A temporary file of an interrupted write was found and removed."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path to write; renamed to `path` when the block succeeds."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        with naming_target(path, tmp):
            yield tmp
            fsync(tmp)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


def check_writable(path: str | os.PathLike, force: bool = False) -> None:
    """Raise the error a write of `path` would raise about the target itself, before any
    work: IsADirectoryError, FileExistsError (unless `force`), FileNotFoundError for a
    missing directory, PermissionError for a directory that takes no new file."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name for the result")
    if path.exists() and not force:
        raise FileExistsError(
            f"{path} already exists; use --force to overwrite it (force=True in Python)"
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: directory {path.parent} does not exist")
    remove_stale_temporaries(path)
    probe = temporary_path(path, clean=False)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        why = e.strerror or str(e)
        raise PermissionError(
            f"cannot write {path}: directory {path.parent} takes no new file ({why})"
        ) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


@contextlib.contextmanager
def naming_target(path: Path, tmp: Path) -> Iterator[None]:
    """Re-raise an OSError about the temporary file `tmp` as one about the target `path`."""
    try:
        yield
    except OSError as e:
        if isinstance(e, FileExistsError | IsADirectoryError | FileNotFoundError) and (
            tmp.name not in str(e)
        ):
            raise
        why = e.strerror
        if not why:
            found = re.search(r"error message = '([^']*)'", str(e))
            why = found.group(1) if found else " ".join(str(e).split())
            why = why.replace(str(tmp), str(path)).replace(tmp.name, path.name)
        if e.errno == _errno.ENOSPC or "No space" in why:
            why = "no space left on the device"
        try:
            error = type(e)(f"cannot write {path}: {why}")
        except TypeError:
            error = OSError(f"cannot write {path}: {why}")
        raise error from None


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


def temporary_path(path: Path, clean: bool = True) -> Path:
    """A unique temporary path beside `path` (hidden, same file system); first removes
    the stale temporaries of `path` (see the module docstring) unless `clean` is false."""
    path = Path(path)
    if clean:
        remove_stale_temporaries(path)
    return path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files of `path` left by processes that no longer run on this machine."""
    path = Path(path)
    pattern = re.compile(r"^\." + re.escape(path.name) + r"\.(\d+)(?:\.[0-9a-f]+)?\.tmp$")
    found = []
    try:
        entries = list(os.scandir(path.parent if str(path.parent) else "."))
    except OSError:
        return []
    for entry in entries:
        match = pattern.match(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _running(int(match[1])):
            found.append(path.parent / entry.name)
    return sorted(found)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the stale temporaries of `path`; warn (StaleFileWarning) naming each one."""
    removed = []
    for tmp in stale_temporaries(path):
        try:
            size = tmp.stat().st_size
            tmp.unlink()
        except OSError:
            continue
        removed.append(tmp)
        warnings.warn(
            f"removed {tmp} ({_size(size)}), the unfinished temporary file of an earlier "
            f"write of {Path(path).name} that did not end (killed or crashed)",
            StaleFileWarning,
            stacklevel=3,
        )
    return removed


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process's own file: another write of the same target
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # exists under another user, or not a pid this system can check
    except OSError:
        return True
    return True


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} bytes"


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
            with naming_target(self.path, self._tmp):
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
            with naming_target(self.path, self._tmp):
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
