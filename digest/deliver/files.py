"""Published files on disk: the archive and feeds `digest.render.archive` made.

Files are replaced atomically (a temporary file beside them, then a rename), so a
web server never serves half a page.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
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
