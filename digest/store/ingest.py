"""Batch upsert of entries: identity resolution, merge, keys and sightings.

Work is done in chunks so that a source of any size costs a fixed number of
statements per chunk, not per entry. Statements are compiled once per dialect
and given ready-made tuples, which a `Writer` stores (on SQLite, on a thread of
its own while the next chunk is worked out), and a new item's row is built
straight from its entry: at 100,000 entries a source, every object made and
every call per entry shows in the time.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from itertools import islice
from typing import Any

from sqlalchemy import BindParameter, Connection, bindparam, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from digest.identity import conflicts, entry_keys
from digest.merge import ItemState, abs_link, merge, new_state
from digest.models import Entry
from digest.store import schema
from digest.store.schema import KEY_CHARS
from digest.store.writer import Writer, writer_for

CHUNK = 2000

_ITEM_FIELDS: tuple[str, ...] = tuple(ItemState.__dataclass_fields__)
_ITEM_COLUMNS = ("id", *_ITEM_FIELDS, "first_seen", "updated_at")
_UPDATED_COLUMNS = (*_ITEM_FIELDS, "updated_at")
_SIGHTING_COLUMNS = (  # table order, which is the order SQLite binds them in
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


@dataclass(frozen=True, slots=True)
class IngestCounts:
    new: int
    duplicates: int


class _Known:
    """An item an identity key points at, stored or about to be.

    A new item keeps the entry that created it and gets a state only if a later
    entry of the same chunk merges into it: most new items are inserted straight
    from their entry. After its chunk an item keeps neither (their text is most
    of an ingest's memory), and is read back if a later chunk meets it again."""

    __slots__ = ("arxiv_id", "dirty", "doi", "entry", "item_id", "state")

    def __init__(
        self,
        item_id: int | None,  # None until a new item is inserted
        arxiv_id: str,
        doi: str,
        state: ItemState | None = None,  # stored items: loaded before merging
        entry: Entry | None = None,  # new items: the entry that created it
    ) -> None:
        self.item_id = item_id
        self.arxiv_id = arxiv_id
        self.doi = doi
        self.state = state
        self.dirty = False
        self.entry = entry


def insert_for(conn: Connection, table: Any) -> sqlite.Insert | postgresql.Insert:
    return _insert(conn.dialect, table)


class _Sql:
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


class _Statements:
    """Every statement an ingest runs, compiled for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        items, s = schema.items, schema.sightings
        self.max_id = _Sql(dialect, select(literal_column("max(id)")).select_from(items), ())
        self.insert_items = _Sql(dialect, items.insert(), _ITEM_COLUMNS)
        # An update is an upsert on the id, so rows of the insert's shape serve it
        # and many go in one statement; first_seen is left as it was.
        ins = _insert(dialect, items)
        self.update_items = _Sql(
            dialect,
            ins.on_conflict_do_update(
                index_elements=[items.c.id],
                set_={name: ins.excluded[name] for name in _UPDATED_COLUMNS},
            ),
            _ITEM_COLUMNS,
        )
        self.insert_keys = _Sql(
            dialect, _insert(dialect, schema.item_keys).on_conflict_do_nothing(), ("key", "item_id")
        )
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
        self.upsert_sightings = _Sql(dialect, up, _SIGHTING_COLUMNS)
        self._selects: dict[tuple[bool, int], _Sql] = {}

    def lookup(self, size: int, *, by_id: bool = False) -> _Sql:
        """(key, item id, *_ITEM_FIELDS) of the items `size` keys point at, or
        ("", item id, *_ITEM_FIELDS) of `size` item ids."""
        sql = self._selects.get((by_id, size))
        if sql is None:
            k, i = schema.item_keys, schema.items
            names = [f"p{j}" for j in range(size)]
            params: list[BindParameter[Any]] = [bindparam(name) for name in names]
            fields = [i.c[name] for name in _ITEM_FIELDS]
            if by_id:
                stmt = select(literal_column("''"), i.c.id, *fields).where(i.c.id.in_(params))
            else:
                stmt = (
                    select(k.c.key, i.c.id, *fields)
                    .join(i, i.c.id == k.c.item_id)
                    .where(k.c.key.in_(params))
                )
            sql = self._selects[(by_id, size)] = _Sql(self.dialect, stmt, names)
        return sql


_STATEMENTS: weakref.WeakKeyDictionary[Dialect, _Statements] = weakref.WeakKeyDictionary()


def _statements(conn: Connection) -> _Statements:
    st = _STATEMENTS.get(conn.dialect)
    if st is None:
        st = _STATEMENTS[conn.dialect] = _Statements(conn.dialect)
    return st


def _insert(dialect: Dialect, table: Any) -> sqlite.Insert | postgresql.Insert:
    return postgresql.insert(table) if dialect.name == "postgresql" else sqlite.insert(table)


def _in_batches(values: list[Any]) -> Iterable[tuple[int, tuple[Any, ...]]]:
    """(size, batch): at most _IN_MAX values, padded to `size` by repeating the last."""
    for start in range(0, len(values), _IN_MAX):
        batch = values[start : start + _IN_MAX]
        size = 16
        while size < len(batch):
            size *= 2
        yield size, tuple(batch) + (batch[-1],) * (size - len(batch))


def _lock_items(conn: Connection) -> None:
    """Hold the write lock before choosing ids, so concurrent ingests queue up."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
    else:  # SQLite: the first write of a transaction takes the database's write lock
        conn.execute(
            schema.meta.update()
            .where(schema.meta.c.key == "schema_version")
            .values(value=schema.meta.c.value)
        )


def _dumps(values: tuple[str, ...]) -> str:
    return json.dumps(list(values), ensure_ascii=False) if values else "[]"


def _time(value: datetime | None) -> str | None:
    return schema.db_time(value) if value is not None else None


_from_db_time = lru_cache(maxsize=4096)(datetime.fromisoformat)  # as UTCDateTime reads it


def _json_list(value: str) -> tuple[str, ...]:
    return () if value == "[]" else tuple(json.loads(value))


def _state_from_row(r: Sequence[Any]) -> ItemState:
    """The state in a lookup row (key, id, *_ITEM_FIELDS). Raw driver values:
    JSON text and db_time text, decoded as the schema's column types do."""
    return ItemState(
        r[2],  # title
        r[3],  # summary
        _json_list(r[4]),  # authors
        r[5],  # author_count
        r[6],  # link
        r[7],  # pdf_url
        r[8],  # arxiv_id
        r[9],  # version
        r[10],  # doi
        _from_db_time(r[11]) if r[11] is not None else None,  # published
        _json_list(r[12]),  # categories
        r[13],  # upvotes
        r[14],  # quality
    )


def _state_values(s: ItemState) -> tuple[Any, ...]:
    """_ITEM_FIELDS of a state as the database holds them."""
    return (
        s.title,
        s.summary,
        _dumps(s.authors),
        s.author_count,
        s.link,
        s.pdf_url,
        s.arxiv_id,
        s.version,
        s.doi,
        _time(s.published),
        _dumps(s.categories),
        s.upvotes,
        s.quality,
    )


def _new_item_row(e: Entry, rank: int, item_id: int, stamp: str) -> tuple[Any, ...]:
    """The items row of `new_state(e, rank)`, without building the state."""
    authors, categories, published = e.authors, e.categories, e.published
    return (
        item_id,
        e.title,
        e.summary,
        _dumps(authors) if authors else "[]",
        len(authors) or e.author_count,
        e.link or abs_link(e),
        e.pdf_url,
        e.arxiv_id,
        e.version,
        e.doi,
        schema.db_time(published) if published is not None else None,
        _dumps(categories) if categories else "[]",
        e.upvotes,
        rank,
        stamp,
        stamp,
    )


def ingest_entries(
    conn: Connection,
    source_id: int,
    entries: Iterable[Entry],
    *,
    rank: int,
    now: datetime,
    run_id: int | None,
) -> IngestCounts:
    """Store `entries` of one source within the caller's transaction. They are
    taken a chunk at a time, so a source read lazily is never all in memory."""
    _lock_items(conn)
    run = _Run(conn, source_id, rank, now, run_id)
    writer = writer_for(conn)
    it = iter(entries)
    try:
        while chunk := list(islice(it, CHUNK)):
            run.chunk(chunk, writer)
    finally:
        writer.close()  # every write done (or failed) before the caller commits or rolls back
    return IngestCounts(run.new, run.duplicates)


class _Run:
    """One source's ingest, in one transaction, chunk after chunk.

    It remembers which item every key it has met leads to, so the database is
    asked only about keys new to the run, and a lookup never needs a write
    that may still be queued."""

    def __init__(
        self, conn: Connection, source_id: int, rank: int, now: datetime, run_id: int | None
    ) -> None:
        self.conn = conn
        self.st = _statements(conn)
        self.source_id = source_id
        self.scope = str(source_id)
        self.rank = rank
        self.stamp = schema.db_time(now)
        self.run_id = run_id
        self.next_id: int | None = None  # ids are chosen under the write lock
        self.new = self.duplicates = 0
        self.known: dict[str, _Known] = {}  # key -> item, for every key met
        self.loaded: dict[int, _Known] = {}  # stored items read by this run, by id

    def _lookup(self, reader: Connection, keys: list[str], stale: dict[int, _Known]) -> None:
        """Add the stored items `keys` point at to `known`, one _Known per item, so a
        merge seen through any key is seen through all. An item this run has met
        before, through another key, goes to `stale` if its state was let go."""
        known, loaded = self.known, self.loaded
        for size, batch in _in_batches(keys):
            for row in self.st.lookup(size).fetch(reader, batch):
                kn = loaded.get(row[1])
                if kn is None:
                    state = _state_from_row(row)
                    kn = loaded[row[1]] = _Known(row[1], state.arxiv_id, state.doi, state)
                elif kn.state is None:
                    stale[row[1]] = kn
                known[row[0]] = kn

    def _reload(self, writer: Writer, stale: dict[int, _Known]) -> None:
        """Read back the items of earlier chunks, as this transaction wrote them."""
        writer.flush()
        for size, batch in _in_batches(list(stale)):
            for row in self.st.lookup(size, by_id=True).fetch(self.conn, batch):
                stale[row[1]].state = _state_from_row(row)

    def chunk(self, entries: Sequence[Entry], writer: Writer) -> None:
        st, rank, stamp, scope, known = self.st, self.rank, self.stamp, self.scope, self.known
        kept: list[Entry] = []
        kept_keys: list[tuple[str, ...]] = []
        wanted: set[str] = set()
        for e in entries:
            keys = entry_keys(e, scope)
            if keys and max(map(len, keys)) > KEY_CHARS:  # rare: cut and hashed, as stored
                keys = schema.stored_keys(keys)
            if keys:
                kept.append(e)
                kept_keys.append(keys)
                wanted.update(keys)
        missing: list[str] = []
        stale: dict[int, _Known] = {}  # met in an earlier chunk, state let go
        for key in wanted:
            kn = known.get(key)
            if kn is None:
                missing.append(key)
            elif kn.state is None and kn.entry is None:
                assert kn.item_id is not None
                stale[kn.item_id] = kn
        if missing:
            self._lookup(writer.reader, missing, stale)
        if stale:
            self._reload(writer, stale)

        targets: list[_Known] = []
        created: list[_Known] = []
        new_keys: list[tuple[str, _Known]] = []
        for entry, keys in zip(kept, kept_keys, strict=True):
            target = None
            for key in keys:
                kn = known.get(key)
                if kn is not None and not conflicts(entry, kn.arxiv_id, kn.doi):
                    target = kn
                    break
            if target is None:
                target = _Known(None, entry.arxiv_id, entry.doi, None, entry)
                created.append(target)
            else:
                state = target.state
                if state is None:  # created by this run, first merge into it
                    assert target.entry is not None
                    state = target.state = new_state(target.entry, rank)
                merged = merge(state, entry, rank)
                if merged is not state and merged != state:
                    target.state, target.dirty = merged, True
                    target.arxiv_id, target.doi = merged.arxiv_id, merged.doi
            targets.append(target)
            for key in keys:
                if key not in known:
                    known[key] = target
                    new_keys.append((key, target))

        if created:
            if self.next_id is None:
                [(top,)] = st.max_id.fetch(writer.reader, ())
                self.next_id = (top or 0) + 1
            item_id = self.next_id
            rows = []
            for kn in created:
                kn.item_id = item_id
                if kn.state is None:
                    assert kn.entry is not None
                    rows.append(_new_item_row(kn.entry, rank, item_id, stamp))
                else:  # merged into before it was stored: store the merged state
                    rows.append((item_id, *_state_values(kn.state), stamp, stamp))
                    kn.dirty = False
                item_id += 1
            self.next_id = item_id
            writer.submit(st.insert_items, rows)

        dirty = {id(kn): kn for kn in targets if kn.dirty}
        if dirty:
            rows = []
            for kn in dirty.values():
                assert kn.state is not None
                rows.append((kn.item_id, *_state_values(kn.state), stamp, stamp))
                kn.dirty = False
            writer.submit(st.update_items, rows)

        if new_keys:
            writer.submit(st.insert_keys, [(key, kn.item_id) for key, kn in new_keys])

        writer.submit(st.upsert_sightings, self._sightings(kept, targets, len(created)))
        self.new += len(created)
        self.duplicates += len(targets) - len(created)
        for kn in targets:  # what they hold is in the rows now
            kn.state = kn.entry = None

    def _sightings(
        self, entries: list[Entry], targets: list[_Known], created: int
    ) -> list[tuple[Any, ...]]:
        """One row per (item, source, version): the last entry in the chunk wins."""
        source_id, run_id, stamp = self.source_id, self.run_id, self.stamp
        listed: date | None = None
        listed_on: str | None = None
        rows: list[tuple[Any, ...]] = []
        append = rows.append
        for entry, kn in zip(entries, targets, strict=True):
            if entry.listed_on is not listed:  # a source's entries share one listing date
                listed = entry.listed_on
                listed_on = listed.isoformat() if listed else None
            append(
                (
                    kn.item_id,
                    source_id,
                    entry.version or 0,
                    run_id,
                    stamp,
                    stamp,
                    1,
                    entry.link,
                    entry.announce_type,
                    _dumps(entry.categories) if entry.categories else "[]",
                    entry.upvotes,
                    entry.num_comments,
                    entry.author_count,
                    entry.organization,
                    entry.submitted_by,
                    listed_on,
                )
            )
        if created < len(targets):  # some entries share an item: (item, source, version) lead
            rows = list({r[:3]: r for r in rows}.values())
        return rows
