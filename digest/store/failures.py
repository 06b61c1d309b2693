"""A database failure as a person reads it: which store, what went wrong, what to
do. Never the SQL, parameters or SQLAlchemy's link; those go to the debug log."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from sqlalchemy.engine import URL

from digest.errors import StoreError

log = logging.getLogger("digest.store")

# (what the driver's message says, what it means and what to do), first match wins.
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), hint)
    for pattern, hint in (
        (
            r"unable to open database file|cannot open file",
            "cannot be opened: check that its folder exists and that you may write there",
        ),
        (
            r"readonly database|read-only",
            "is read-only: make the file and its folder writable, or use another store",
        ),
        (
            r"database or disk is full|no space left|disk full",
            "cannot be written: the disk is full; free some space and run again",
        ),
        (
            r"database (table )?is locked|lock timeout",
            "is busy: another process held its write lock too long; run again",
        ),
        (
            r"file is not a database|malformed",
            "is not a digest store or is damaged: point --db at another, or restore a backup",
        ),
        (r"disk i/o error", "cannot be read or written (disk I/O error): check the disk"),
        (
            r'password authentication failed|role "[^"]*" does not exist|permission denied for',
            "refused this user: check the user, password and grants in the store URL",
        ),
        (
            r'database "[^"]*" does not exist',
            "names a database that does not exist: create it (createdb) or fix the URL",
        ),
        (
            r"connection refused|could not connect|connection to server|timeout expired",
            "cannot be reached: is the database server running there?",
        ),
    )
)


def sqlite_path(database: str) -> Path:
    """A SQLite store's file, `~` expanded, its folder made: or a StoreError that
    names the path and says why it cannot be (no such user, a file in the way,
    no permission)."""
    try:
        path = Path(database).expanduser()
    except RuntimeError:  # ~nosuchuser
        user = database.split("/", 1)[0]
        raise StoreError(
            f"cannot use the store path {database}: there is no user {user[1:]!r} "
            "to find a home folder for; give a full path (--db or `store:`)",
            store=database,
        ) from None
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(
            f"cannot create the store {path}: {_in_the_way(folder)} is a file, not a "
            "folder; choose another path (--db or `store:`)",
            store=str(path),
        ) from None
    except OSError as exc:
        raise StoreError(
            f"cannot create the store's folder {folder}: {exc.strerror or exc}; "
            "choose another path (--db or `store:`)",
            store=str(path),
        ) from None
    return path


def _in_the_way(folder: Path) -> Path:
    """The first part of `folder` that exists and is not a folder."""
    for part in reversed((folder, *folder.parents)):
        if part.exists() and not part.is_dir():
            return part
    return folder


def label(url: URL) -> str:
    """The store as a person names it: a SQLite file's path, else the URL without
    its password."""
    if url.get_backend_name() == "sqlite":
        db = url.database
        return str(Path(db)) if db and db != ":memory:" else "an in-memory SQLite store"
    return url.render_as_string(hide_password=True)


def store_error(exc: BaseException, url: URL, doing: str = "") -> StoreError:
    """`exc` (SQLAlchemy's, or the driver's) as a StoreError naming the store."""
    log.debug("store failure on %s", label(url), exc_info=exc)
    message = _driver_message(exc)
    for pattern, hint in _HINTS:
        if pattern.search(message):
            return StoreError(f"the store {label(url)} {hint} ({message})", store=label(url))
    what = f" while {doing}" if doing else ""
    return StoreError(
        f"the store {label(url)} failed{what}: {message}; run again with -vv for details",
        store=label(url),
    )


def _driver_message(exc: BaseException) -> str:
    """The driver's own first line: no statement, no parameters, no link."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    first = text[0].strip() if text else type(orig).__name__
    return first[:300]
