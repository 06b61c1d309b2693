"""Where an ingest's writes go: the driver's executemany, or for SQLite a thread.

SQLite runs one statement with the GIL released. Given many rows per
statement (multi-row VALUES), a thread of its own inserts one chunk while the
ingest works out the next in Python on the other core. Rows arrive in order and
are written in order; the caller's transaction commits after `close()`.
"""

from __future__ import annotations

import queue
import sqlite3
import sys
import threading
from collections.abc import Sequence
from functools import lru_cache
from itertools import chain
from typing import Any, Protocol

from sqlalchemy import Connection

from digest.errors import StoreError


class Statement(Protocol):
    """A compiled positional statement: `sql` binds one row of `columns`."""

    sql: str
    columns: tuple[str, ...]

    def many(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None: ...


class Writer(Protocol):
    reader: Connection  # where the ingest looks keys up: it never waits behind queued writes

    def submit(self, stmt: Statement, rows: list[tuple[Any, ...]]) -> None:
        """Queue `rows` for `stmt`; an error of an earlier write is raised here or later."""

    def flush(self) -> None:
        """Wait until every queued write is done, so the writing connection shows them."""

    def close(self) -> None:
        """Wait for every write; raise StoreError if one failed."""


class InlineWriter:
    """Each write at once, through the driver's executemany (PostgreSQL)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = self.reader = conn

    def submit(self, stmt: Statement, rows: list[tuple[Any, ...]]) -> None:
        stmt.many(self.conn, rows)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@lru_cache(maxsize=64)
def _values_sql(sql: str, width: int, count: int) -> str:
    """`sql` with its one `VALUES (?, ...)` group repeated `count` times."""
    group = "(" + ", ".join(["?"] * width) + ")"
    head, found, tail = sql.partition(f"VALUES {group}")
    if not found:
        raise ValueError(f"not a one-row positional INSERT: {sql[:80]!r}")
    return f"{head}VALUES {', '.join([group] * count)}{tail}"


class ThreadWriter:
    """SQLite: multi-row INSERTs on a thread of their own, on the same connection.

    The ingest looks keys up through a connection of its own, so a lookup never
    waits for an insert to finish. That connection sees what was committed
    before the transaction took the write lock; what the ingest wrote itself it
    remembers, or reads back on the writing connection after `flush()`."""

    # After each statement the thread needs the GIL back from the busy ingest:
    # with Python's default 5 ms switch interval it would spend as long waiting
    # for it as SQLite spends inserting. The interval is process-wide; two writers
    # never overlap, as each lives inside a transaction holding the write lock.
    SWITCH_INTERVAL = 0.0005

    def __init__(self, conn: Connection) -> None:
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection)
        self.raw = raw
        self.reader = conn.engine.connect()
        self.max_params = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.jobs: queue.Queue[tuple[Statement, list[tuple[Any, ...]]] | None] = queue.Queue()
        self.error: BaseException | None = None  # the first failed write; later ones are skipped
        self.reported = False
        self.thread = threading.Thread(target=self._work, name="digest-store-writer", daemon=True)
        self.interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self.interval, self.SWITCH_INTERVAL))
        self.thread.start()

    def submit(self, stmt: Statement, rows: list[tuple[Any, ...]]) -> None:
        self._raise()
        if rows:
            self.jobs.put((stmt, rows))

    def flush(self) -> None:
        self.jobs.join()
        self._raise()

    def close(self) -> None:
        if self.thread.is_alive():
            self.jobs.put(None)
            self.thread.join()
        sys.setswitchinterval(self.interval)
        self.reader.close()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None and not self.reported:
            self.reported = True
            raise StoreError(f"store error: {self.error}") from self.error

    def _work(self) -> None:
        cursor = self.raw.cursor()
        try:
            while True:
                job = self.jobs.get()
                try:
                    if job is None:
                        return
                    if self.error is None:
                        self._write(cursor, *job)
                except BaseException as exc:  # handed to the ingest, which rolls back
                    self.error = exc
                finally:
                    self.jobs.task_done()
        finally:
            cursor.close()

    def _write(self, cursor: sqlite3.Cursor, stmt: Statement, rows: list[tuple[Any, ...]]) -> None:
        width = len(stmt.columns)
        per = max(1, min(1000, self.max_params // width))
        for start in range(0, len(rows), per):
            part: Sequence[tuple[Any, ...]] = rows[start : start + per]
            cursor.execute(_values_sql(stmt.sql, width, len(part)), list(chain.from_iterable(part)))


def writer_for(conn: Connection) -> Writer:
    """A thread for a SQLite file; in-memory SQLite has one connection per database."""
    if conn.dialect.name == "sqlite" and conn.engine.url.database not in (None, "", ":memory:"):
        return ThreadWriter(conn)
    return InlineWriter(conn)
