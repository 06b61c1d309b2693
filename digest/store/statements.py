"""The SQL of an ingest, compiled once per dialect and run with ready-made tuples.

Work is done in chunks so that a source of any size costs a fixed number of
statements per chunk, not per entry. Rows hold database-ready values (see
`digest.store.merge.row`), which a `Writer` stores: on SQLite, on a thread of its
own while the next chunk is worked out.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from digest.store import schema
from digest.store.merge import FIELDS

ITEM_COLUMNS = ("id", *FIELDS, "first_seen", "updated_at")
_UPDATED_COLUMNS = (*FIELDS, "updated_at")
SIGHTING_COLUMNS = (  # table order, which is the order SQLite binds them in
    "item_id",
    "source_id",
    "version",
    "run_id",
    "first_seen",
    "last_seen",
    "times_seen",
    "link",
    "announce_type",
    "categories",
    "upvotes",
    "num_comments",
    "author_count",
    "organization",
    "submitted_by",
    "listed_on",
)
# Keys per lookup statement (old SQLite allows 999 parameters). Shorter lists are
# padded to a power of two, so that a few statement shapes serve every size.
_IN_MAX = 512


def insert_for(conn: Connection, table: Any) -> sqlite.Insert | postgresql.Insert:
    return _insert(conn.dialect, table)


def _insert(dialect: Dialect, table: Any) -> sqlite.Insert | postgresql.Insert:
    return postgresql.insert(table) if dialect.name == "postgresql" else sqlite.insert(table)


class Sql:
    """A statement compiled once for a dialect, run with tuples in `columns` order.

    Rows must already hold database-ready values (text times, JSON text) for
    every bound parameter: executemany at driver speed, no per-row processing.
    """

    __slots__ = ("columns", "names", "same_order", "sql")

    def __init__(self, dialect: Dialect, stmt: ClauseElement, columns: Sequence[str]) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns))
        assert isinstance(compiled, SQLCompiler)
        self.sql = str(compiled)
        self.columns = tuple(columns)
        # Positional styles bind in the order the SQL names parameters.
        self.names = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.same_order = self.names == self.columns
        missing = set(self.names or compiled.binds) - set(columns)
        if missing:  # a bound parameter no row would fill
            raise ValueError(f"unbound parameters {sorted(missing)}")

    def params(self, rows: list[tuple[Any, ...]]) -> list[Any]:
        """`rows` as the driver takes them: as they are when the orders agree."""
        if self.same_order:
            return rows
        if self.names is None:  # named style (psycopg): dicts
            return [dict(zip(self.columns, r, strict=True)) for r in rows]
        where = [self.columns.index(name) for name in self.names]
        return [tuple(r[j] for j in where) for r in rows]

    def many(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            conn.exec_driver_sql(self.sql, self.params(rows))

    def fetch(self, conn: Connection, row: tuple[Any, ...]) -> Sequence[Any]:
        """All result rows, as the driver gives them (plain tuples, no Row objects)."""
        result = conn.exec_driver_sql(self.sql, self.params([row])[0])
        try:
            rows: Sequence[Any] = result.cursor.fetchall()
        finally:
            result.close()
        return rows


class Statements:
    """Every statement an ingest runs, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        items, s = schema.items, schema.sightings
        self.max_id = Sql(dialect, select(literal_column("max(id)")).select_from(items), ())
        self.insert_items = Sql(dialect, items.insert(), ITEM_COLUMNS)
        # An update is an upsert on the id, so rows of the insert's shape serve it
        # and many go in one statement; first_seen is left as it was.
        ins = _insert(dialect, items)
        self.update_items = Sql(
            dialect,
            ins.on_conflict_do_update(
                index_elements=[items.c.id],
                set_={name: ins.excluded[name] for name in _UPDATED_COLUMNS},
            ),
            ITEM_COLUMNS,
        )
        # Plain inserts for what cannot be there yet, so PostgreSQL's COPY takes
        # them straight in: a key the run has not met was looked up and not found
        # (ingests hold the items lock), and an item new in this chunk has no sightings.
        self.insert_keys = Sql(dialect, schema.item_keys.insert(), ("key", "item_id"))
        self.insert_sightings = Sql(dialect, s.insert(), SIGHTING_COLUMNS)
        up = _insert(dialect, s)
        up = up.on_conflict_do_update(
            index_elements=[s.c.item_id, s.c.source_id, s.c.version],
            set_={
                "last_seen": up.excluded.last_seen,
                "times_seen": s.c.times_seen + literal_column("1"),
                "run_id": up.excluded.run_id,
                "upvotes": up.excluded.upvotes,
                "num_comments": up.excluded.num_comments,
                "announce_type": up.excluded.announce_type,
            },
        )
        self.upsert_sightings = Sql(dialect, up, SIGHTING_COLUMNS)
        self._selects: dict[tuple[bool, int], Sql] = {}

    def lookup(self, size: int, *, by_id: bool = False) -> Sql:
        """(key, item id, *FIELDS) of the items `size` keys point at, or
        ("", item id, *FIELDS) of `size` item ids."""
        sql = self._selects.get((by_id, size))
        if sql is None:
            k, i = schema.item_keys, schema.items
            names = [f"p{j}" for j in range(size)]
            params: list[BindParameter[Any]] = [bindparam(name) for name in names]
            fields = [i.c[name] for name in FIELDS]
            if by_id:
                stmt = select(literal_column("''"), i.c.id, *fields).where(i.c.id.in_(params))
            else:
                stmt = (
                    select(k.c.key, i.c.id, *fields)
                    .join(i, i.c.id == k.c.item_id)
                    .where(k.c.key.in_(params))
                )
            sql = self._selects[(by_id, size)] = Sql(self.dialect, stmt, names)
        return sql


_STATEMENTS: weakref.WeakKeyDictionary[Dialect, Statements] = weakref.WeakKeyDictionary()


def statements_for(conn: Connection) -> Statements:
    st = _STATEMENTS.get(conn.dialect)
    if st is None:
        st = _STATEMENTS[conn.dialect] = Statements(conn.dialect)
    return st


def in_batches(values: list[Any]) -> Iterable[tuple[int, tuple[Any, ...]]]:
    """(size, batch): at most _IN_MAX values, padded to `size` by repeating the last."""
    for start in range(0, len(values), _IN_MAX):
        batch = values[start : start + _IN_MAX]
        size = 16
        while size < len(batch):
            size *= 2
        yield size, tuple(batch) + (batch[-1],) * (size - len(batch))


def lock_items(conn: Connection) -> None:
    """Hold the write lock before choosing ids, so concurrent ingests queue up."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
    else:  # SQLite: the first write of a transaction takes the database's write lock
        conn.execute(
            schema.meta.update()
            .where(schema.meta.c.key == "schema_version")
            .values(value=schema.meta.c.value)
        )
