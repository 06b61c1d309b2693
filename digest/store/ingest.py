"""Batch upsert of entries: identity resolution, merge, keys and sightings.

Work is done in chunks so that a source of any size costs a fixed number of
statements per chunk, not per entry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, bindparam, func, literal_column, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import UpdateBase

from digest.identity import conflicts, entry_keys
from digest.merge import ItemState, merge, new_state
from digest.models import Entry
from digest.store import schema

CHUNK = 2000


@dataclass(frozen=True, slots=True)
class IngestCounts:
    new: int
    duplicates: int


@dataclass(slots=True)
class _Known:
    """An item an identity key points at, stored or about to be."""

    item_id: int | None  # None until a new item is inserted
    arxiv_id: str
    doi: str
    state: ItemState | None = None  # loaded lazily for stored items
    dirty: bool = False


def insert_for(conn: Connection, table: Any) -> sqlite.Insert | postgresql.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _executemany(conn: Connection, stmt: UpdateBase, rows: list[dict[str, Any]]) -> None:
    """executemany at driver speed: compile once, skip per-row bind processing.

    Rows must already hold database-ready values (text times, JSON text) for
    every bound parameter; the schema uses server defaults so none are implied.
    """
    if not rows:
        return
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(rows[0]))
    if compiled.positional:
        names = compiled.positiontup or []
        get = itemgetter(*names)
        params: list[Any] = [get(r) for r in rows] if len(names) > 1 else [(get(r),) for r in rows]
    else:
        params = rows
    conn.exec_driver_sql(str(compiled), params)


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


def _state_from_row(r: Any) -> ItemState:
    return ItemState(
        title=r.title,
        summary=r.summary,
        authors=tuple(json.loads(r.authors)),
        author_count=r.author_count,
        link=r.link,
        pdf_url=r.pdf_url,
        arxiv_id=r.arxiv_id,
        version=r.version,
        doi=r.doi,
        published=r.published,
        categories=tuple(json.loads(r.categories)),
        upvotes=r.upvotes,
        quality=r.quality,
    )


def _row_from_state(s: ItemState) -> dict[str, Any]:
    return {
        "title": s.title,
        "summary": s.summary,
        "authors": _dumps(s.authors),
        "author_count": s.author_count,
        "link": s.link,
        "pdf_url": s.pdf_url,
        "arxiv_id": s.arxiv_id,
        "version": s.version,
        "doi": s.doi,
        "published": schema.db_time(s.published) if s.published else None,
        "categories": _dumps(s.categories),
        "upvotes": s.upvotes,
        "quality": s.quality,
    }


def _lookup(conn: Connection, keys: set[str]) -> dict[str, _Known]:
    k, i = schema.item_keys, schema.items
    found: dict[str, _Known] = {}
    by_item: dict[int, _Known] = {}
    stmt = (
        select(k.c.key, k.c.item_id, i.c.arxiv_id, i.c.doi)
        .join(i, i.c.id == k.c.item_id)
        .where(k.c.key.in_(bindparam("keys", expanding=True)))
    )
    for key, item_id, arxiv_id, doi in conn.execute(stmt, {"keys": list(keys)}):
        # One _Known per item, so a merge seen through any key is seen through all.
        found[key] = by_item.setdefault(item_id, _Known(item_id, arxiv_id, doi))
    return found


def _load_states(conn: Connection, known: list[_Known]) -> None:
    todo = {kn.item_id: kn for kn in known if kn.state is None and kn.item_id is not None}
    if not todo:
        return
    i = schema.items
    cols = [i.c.id, *(i.c[name] for name in ItemState.__dataclass_fields__)]
    stmt = select(*cols).where(i.c.id.in_(bindparam("ids", expanding=True)))
    for row in conn.execute(stmt, {"ids": list(todo)}):
        todo[row.id].state = _state_from_row(row)


def ingest_entries(
    conn: Connection,
    source_id: int,
    entries: Sequence[Entry],
    *,
    rank: int,
    now: datetime,
    run_id: int | None,
) -> IngestCounts:
    new = dup = 0
    _lock_items(conn)
    for start in range(0, len(entries), CHUNK):
        counts = _chunk(conn, source_id, entries[start : start + CHUNK], rank, now, run_id)
        new += counts.new
        dup += counts.duplicates
    return IngestCounts(new, dup)


def _chunk(
    conn: Connection,
    source_id: int,
    entries: Sequence[Entry],
    rank: int,
    now: datetime,
    run_id: int | None,
) -> IngestCounts:
    scope = str(source_id)
    keyed = [(e, entry_keys(e, scope)) for e in entries]
    keyed = [(e, ks) for e, ks in keyed if ks]
    index = _lookup(conn, {key for _, ks in keyed for key in ks})
    matched: list[tuple[Entry, _Known]] = []
    created: list[_Known] = []
    new_keys: list[tuple[str, _Known]] = []

    _load_states(conn, list(index.values()))

    for entry, keys in keyed:
        target = next(
            (
                index[key]
                for key in keys
                if key in index and not conflicts(entry, index[key].arxiv_id, index[key].doi)
            ),
            None,
        )
        if target is None:
            target = _Known(None, entry.arxiv_id, entry.doi, new_state(entry, rank))
            created.append(target)
        else:
            assert target.state is not None
            merged = merge(target.state, entry, rank)
            if merged != target.state:
                target.state, target.dirty = merged, True
                target.arxiv_id, target.doi = merged.arxiv_id, merged.doi
        matched.append((entry, target))
        for key in keys:
            if key not in index:
                index[key] = target
                new_keys.append((key, target))

    items = schema.items
    stamp = schema.db_time(now)
    if created:
        next_id = conn.execute(select(func.coalesce(func.max(items.c.id), 0))).scalar_one() + 1
        rows = []
        for n, kn in enumerate(created):
            assert kn.state is not None
            kn.item_id, kn.dirty = next_id + n, False
            rows.append(
                {
                    "id": kn.item_id,
                    **_row_from_state(kn.state),
                    "first_seen": stamp,
                    "updated_at": stamp,
                }
            )
        _executemany(conn, items.insert(), rows)

    dirty = [
        kn
        for kn in {id(kn): kn for _, kn in matched}.values()
        if kn.dirty and kn.item_id is not None
    ]
    if dirty:
        stmt = (
            items.update()
            .where(items.c.id == bindparam("_id"))
            .values(
                {name: bindparam(name) for name in (*ItemState.__dataclass_fields__, "updated_at")}
            )
        )
        _executemany(
            conn,
            stmt,
            [
                {**_row_from_state(kn.state), "updated_at": stamp, "_id": kn.item_id}
                for kn in dirty
                if kn.state is not None
            ],
        )

    if new_keys:
        _executemany(
            conn,
            insert_for(conn, schema.item_keys).on_conflict_do_nothing(),
            [{"key": key, "item_id": kn.item_id} for key, kn in new_keys],
        )

    _record_sightings(conn, source_id, matched, now, run_id)
    return IngestCounts(new=len(created), duplicates=len(matched) - len(created))


def _record_sightings(
    conn: Connection,
    source_id: int,
    matched: list[tuple[Entry, _Known]],
    now: datetime,
    run_id: int | None,
) -> None:
    # One row per (item, source, version): the last entry in the chunk wins.
    rows: dict[tuple[int, int], dict[str, Any]] = {}
    stamp = schema.db_time(now)
    for entry, kn in matched:
        assert kn.item_id is not None
        version = entry.version or 0
        rows[(kn.item_id, version)] = {
            "item_id": kn.item_id,
            "source_id": source_id,
            "run_id": run_id,
            "version": version,
            "first_seen": stamp,
            "last_seen": stamp,
            "times_seen": 1,
            "link": entry.link,
            "announce_type": entry.announce_type,
            "categories": _dumps(entry.categories),
            "upvotes": entry.upvotes,
            "num_comments": entry.num_comments,
            "author_count": entry.author_count,
            "organization": entry.organization,
            "submitted_by": entry.submitted_by,
            "listed_on": entry.listed_on.isoformat() if entry.listed_on else None,
        }
    if not rows:
        return
    s = schema.sightings
    stmt = insert_for(conn, s)
    stmt = stmt.on_conflict_do_update(
        index_elements=[s.c.item_id, s.c.source_id, s.c.version],
        set_={
            "last_seen": stmt.excluded.last_seen,
            "times_seen": s.c.times_seen + literal_column("1"),
            "run_id": stmt.excluded.run_id,
            "upvotes": stmt.excluded.upvotes,
            "num_comments": stmt.excluded.num_comments,
            "announce_type": stmt.excluded.announce_type,
        },
    )
    _executemany(conn, stmt, list(rows.values()))
