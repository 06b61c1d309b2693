"""The published files over HTTP: each profile's feeds and the static archive.

Both answer conditional requests: a strong ETag (from the file's modification time
and size: `publish` replaces files atomically, so a new file means a new tag) and
Last-Modified; If-None-Match, when sent, decides alone (RFC 9110), else
If-Modified-Since. Only the configured profiles' two feeds are served under
`/feeds/`; the archive is Starlette's StaticFiles on `<output>/archive`, which keeps
every request inside that folder and answers 404 when the folder does not exist yet.
"""

from __future__ import annotations

import os
import stat
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

FEED_TYPES = {
    "xml": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
}
FEED_CACHE = "public, max-age=300, must-revalidate"


def validators(st: os.stat_result) -> tuple[str, str]:
    """(ETag, Last-Modified) of a file."""
    etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'
    return etag, formatdate(st.st_mtime, usegmt=True)


def not_modified(request: Request, etag: str, mtime: float) -> bool:
    inm = request.headers.get("if-none-match")
    if inm is not None:
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or etag in tags
    ims = request.headers.get("if-modified-since")
    if ims is None:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:  # RFC 850 / asctime forms: GMT by definition
        return False
    return int(mtime) <= since.timestamp()


def _read(path: Path) -> tuple[bytes, os.stat_result] | None:
    """The file's bytes and the stat of that very file (not of a newer replacement)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None
        return f.read(), st


def feed_response(request: Request, archive: Path, profile: str, kind: str) -> Response:
    """`<archive>/<profile>/feed.<kind>`, conditionally. The caller has checked that
    `profile` is a configured profile; this checks the path stays in `archive`."""
    base = archive.resolve()
    path = (archive / profile / f"feed.{kind}").resolve()
    if kind not in FEED_TYPES or not path.is_relative_to(base) or path.parent.parent != base:
        raise HTTPException(404)
    found = _read(path)
    if found is None:
        raise HTTPException(404)
    data, st = found
    etag, last_modified = validators(st)
    headers = {"ETag": etag, "Last-Modified": last_modified, "Cache-Control": FEED_CACHE}
    if not_modified(request, etag, st.st_mtime):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=FEED_TYPES[kind], headers=headers)


class Archive(StaticFiles):
    """StaticFiles that answers 404, not 500, while nothing is published yet."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, html=True, check_dir=False)

    async def check_config(self) -> None:
        return None
