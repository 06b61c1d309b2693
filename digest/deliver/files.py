"""Published files on disk: the archive and feeds `digest.render.archive` made.

Files are replaced atomically (a temporary file beside them, then a rename), so a
web server never serves half a page. A folder or file that cannot be written is
an `OutputError` naming it: the caller decides what else still happens (a cycle
still sends its mail).
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from digest.errors import OutputError

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
        with os.fdopen(fd, "wb") as f:
            f.write(data)
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
