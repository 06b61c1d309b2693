"""Published files on disk: the archive and feeds `digest.render.archive` made.

Files are replaced atomically (a temporary file beside them, then a rename), so a
web server never serves half a page. A folder or file that cannot be written is
an `OutputError` naming it: the caller decides what else still happens (a cycle
still sends its mail). `write_behind` writes them on a thread of its own while the
next are rendered: creating a file can cost a millisecond of the kernel's time.
"""

from __future__ import annotations

import errno
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from digest.errors import OutputError

# After each system call a writing thread needs the GIL back from the busy one that
# renders or builds: at Python's default 5 ms switch interval it would wait far
# longer than the call took. The interval is process-wide; set while writing.
SWITCH_INTERVAL = 0.0005

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "not permitted",
}


def _folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (path, *path.parents) if p.is_file()), path)
        raise OutputError(str(path), f"{blocker} is a file, not a folder") from None
    except OSError as exc:
        raise OutputError(str(path), _reason(exc)) from None


def _reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno or 0) or exc.strerror or str(exc)


def write_atomic(path: Path, data: bytes) -> None:
    _folder(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise OutputError(str(path.parent), _reason(exc)) from None
    try:
        try:  # os calls, not a file object: fewer system calls, each giving the GIL away
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(str(path), _reason(exc)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_files(folder: Path, files: Iterable[tuple[str, bytes]]) -> list[Path]:
    """Write (or rewrite) each (name, bytes) under `folder`; returns the paths, in order."""
    written = []
    for name, data in files:
        write_atomic(folder / name, data)
        written.append(folder / name)
    return written


@contextmanager
def quick_switches() -> Iterator[None]:
    """Python's switch interval at SWITCH_INTERVAL for a thread that writes files."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


class WriteBehind:
    """`write_files` on a thread of its own, in the order given. The first file that
    cannot be written stops it: nothing given after it is written, and the next
    `write_files` or `flush` raises its OutputError."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Path, bytes] | None] = queue.Queue()
        self._error: OutputError | None = None
        self._thread = threading.Thread(target=self._work, name="digest-files", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if self._error is None:
                    write_atomic(*job)
            except OutputError as exc:
                self._error = exc
            finally:
                self._jobs.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write_files(self, folder: Path, files: Iterable[tuple[str, bytes]]) -> list[Path]:
        """As `write_files`, written later; the paths, in order."""
        self._raise()
        paths = []
        for name, data in files:
            self._jobs.put((folder / name, data))
            paths.append(folder / name)
        return paths

    def flush(self) -> None:
        """Wait until everything given is written."""
        self._jobs.join()
        self._raise()

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join()


@contextmanager
def write_behind() -> Iterator[WriteBehind]:
    """A `WriteBehind` for the block, flushed at its end (a failed write raises
    there); whatever was given is written before an error leaves the block."""
    writer = WriteBehind()
    try:
        with quick_switches():
            yield writer
            writer.flush()
    finally:
        writer.close()
