"""Where an ingest's writes go: for PostgreSQL by COPY, for a SQLite file on a
thread, otherwise through the driver's executemany.

SQLite runs one statement with the GIL released. Given many rows per
statement (multi-row VALUES), a thread of its own inserts one chunk while the
ingest works out the next in Python on the other core. Rows arrive in order and
are written in order; the caller's transaction commits after `close()`.
"""

from __future__ import annotations

import queue
import re
import sqlite3
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any, Protocol

from sqlalchemy import Connection

from digest.store.failures import store_error


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
    """Each write at once, through the driver's executemany (in-memory SQLite)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = self.reader = conn

    def submit(self, stmt: Statement, rows: list[tuple[Any, ...]]) -> None:
        stmt.many(self.conn, rows)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


_INSERT = re.compile(
    r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((?:%\(\w+\)s(?:::\w+)?(?:, )?)+\)(.*)", re.DOTALL
)
_UPSERT_ON = re.compile(r"\s*ON CONFLICT \(([\w, ]+)\) DO UPDATE")


@dataclass(frozen=True, slots=True)
class _Copy:
    """How a one-row INSERT's rows go in by COPY: straight into `table`, or,
    with an ON CONFLICT clause (`tail`), into a staging table first."""

    table: str
    columns: tuple[str, ...]
    tail: str  # "" for a plain INSERT
    unique: tuple[str, ...]  # DO UPDATE's conflict columns: no two rows may share them


@lru_cache(maxsize=64)
def _copy_plan(sql: str) -> _Copy | None:
    found = _INSERT.fullmatch(sql.strip())
    if found is None:
        return None
    table, columns, tail = found[1], tuple(c.strip() for c in found[2].split(",")), found[3]
    upsert = _UPSERT_ON.match(tail)
    unique = tuple(c.strip() for c in upsert[1].split(",")) if upsert else ()
    return _Copy(table, columns, tail.strip(), unique)


class PostgresWriter(InlineWriter):
    """Each write at once, by COPY: psycopg's executemany costs a round of
    Python per row, COPY's rows are formatted in C. A statement with an ON
    CONFLICT clause copies into a temporary table of the same shape, then
    inserts from it under the same clause.

    A table this transaction grows past what the planner's statistics say it
    holds is analysed at once: nothing else would before the commit, and with
    an empty table's statistics every key lookup of a big first ingest scans the
    whole table (quadratic). ANALYZE counts the transaction's own rows.

    Even so, a 512-key lookup into a table of some 10k-50k keys is planned as a
    scan of all of it (cheaper by the cost model than 512 index probes, 30 times
    slower in fact), chunk after chunk: the transaction plans without sequential
    scans, so every lookup takes the index whatever the statistics say."""

    ANALYZE_MIN = 1000  # rows: fewer never make a plan go wrong
    STAGE_MIN = 100  # rows: fewer go by executemany

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        self.staged: set[str] = set()  # tables with a staging table in this transaction
        self.written: dict[str, int] = {}  # table -> rows this writer wrote to it
        self.known: dict[str, float] = {}  # table -> rows its statistics count
        self.analysed: set[str] = set()

    def submit(self, stmt: Statement, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        plan = _copy_plan(stmt.sql)
        if (
            plan is None
            or set(plan.columns) != set(stmt.columns)
            or (plan.tail and len(rows) < self.STAGE_MIN)  # not worth a temporary table
            or _repeats(plan, stmt, rows)  # what COPY cannot do as executemany does
        ):
            stmt.many(self.conn, rows)
        else:
            if plan.columns != stmt.columns:
                where = [stmt.columns.index(name) for name in plan.columns]
                rows = [tuple(r[j] for j in where) for r in rows]
            try:
                self._copy(plan, rows)
            except self.conn.dialect.loaded_dbapi.Error as exc:
                raise store_error(exc, self.conn.engine.url) from exc
        self._maybe_analyse(plan.table if plan else None, len(rows))

    def _copy(self, plan: _Copy, rows: list[tuple[Any, ...]]) -> None:
        raw: Any = self.conn.connection.driver_connection
        names = ", ".join(plan.columns)
        with raw.cursor() as cur:
            target = plan.table
            if plan.tail:
                target = f"digest_stage_{plan.table}"
                if plan.table not in self.staged:
                    cur.execute(
                        f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} "
                        f"(LIKE {plan.table} INCLUDING DEFAULTS) ON COMMIT DROP"
                    )
                    self.staged.add(plan.table)
            with cur.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if plan.tail:
                # The names come from a statement compiled from the schema, not from data.
                into = f"INSERT INTO {plan.table} ({names}) SELECT {names} FROM {target}"  # noqa: S608
                cur.execute(f"{into} {plan.tail}")
                cur.execute(f"TRUNCATE {target}")

    def _maybe_analyse(self, table: str | None, count: int) -> None:
        if table is None or table in self.analysed:
            return
        self.written[table] = done = self.written.get(table, 0) + count
        if done < self.ANALYZE_MIN:
            return
        if table not in self.known:
            tuples = self.conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%(t)s)", {"t": table}
            ).scalar()
            self.known[table] = max(float(tuples or 0), 0.0)  # -1: never analysed
        if done >= self.known[table]:
            self.analysed.add(table)
            self.conn.exec_driver_sql(f'ANALYZE "{table}"')


def _repeats(plan: _Copy, stmt: Statement, rows: list[tuple[Any, ...]]) -> bool:
    """Do two rows share DO UPDATE's conflict columns? One INSERT may not
    update a row twice; executemany, a statement per row, may."""
    if not plan.unique:
        return False
    where = [stmt.columns.index(name) for name in plan.unique]
    return len({tuple(r[j] for j in where) for r in rows}) < len(rows)


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
        self.url = conn.engine.url
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
            raise store_error(self.error, self.url) from self.error

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
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return PostgresWriter(conn)
    return InlineWriter(conn)
