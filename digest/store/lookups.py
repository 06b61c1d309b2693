"""Look-ups of liked papers the store lacked (schema version 12): what each asked
key found and when, so a paper no source has is not asked again every run, and
a paper a look-up brought in is never taken for a new one.

One row per key asked ("arxiv:…", "title:…", as `stored_key` gives it): when it
was last asked, and the item the look-up created (NULL: no source had it). Such
an item is an old paper, fetched because someone likes it: it stays out of every
profile's window (`picks.pool`), and is found as a liked paper like any other.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    Select,
    Table,
    Text,
    func,
    select,
)

from digest.models import Entry
from digest.store import resolve, schema
from digest.store.statements import insert_for, lock_items
from digest.store.transactions import StoreMixin

lookups = Table(  # on schema.metadata: created by v12, copied by `store copy`
    "lookups",
    schema.metadata,
    Column("key", Text, primary_key=True),
    Column("asked_at", schema.UTCDateTime, nullable=False),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE")),  # NULL: a miss
    Index("ix_lookups_item", "item_id"),
)


def migrate_v12(conn: Connection) -> None:
    lookups.create(conn, checkfirst=True)


def looked_up_items() -> Select[tuple[int]]:
    """The ids of the items look-ups brought in: no window holds them."""
    return select(lookups.c.item_id).where(lookups.c.item_id.is_not(None))


def _record(conn: Connection, rows: Sequence[Mapping[str, object]]) -> None:
    if rows:
        new = insert_for(conn, lookups)
        asked = {"asked_at": new.excluded.asked_at, "item_id": new.excluded.item_id}
        conn.execute(new.on_conflict_do_update(index_elements=[lookups.c.key], set_=asked), rows)


class LookupMethods(StoreMixin):
    def lookup_misses(self, keys: Collection[str]) -> dict[str, datetime]:
        """When each of `keys` was last asked and no source had it."""
        stored = {schema.stored_key(k): k for k in keys}
        out: dict[str, datetime] = {}
        names = list(stored)
        with self._tx() as conn:
            for start in range(0, len(names), 1000):
                q = select(lookups.c.key, lookups.c.asked_at).where(
                    lookups.c.key.in_(names[start : start + 1000]), lookups.c.item_id.is_(None)
                )
                out.update((stored[k], at) for k, at in conn.execute(q))
        return out

    def record_misses(self, keys: Iterable[str], now: datetime) -> None:
        """Note that no source had these keys when asked at `now`."""
        rows = [{"key": schema.stored_key(k), "asked_at": now, "item_id": None} for k in set(keys)]
        with self._tx() as conn:
            _record(conn, rows)

    def add_looked_up(
        self, source_id: int, found: Mapping[str, Entry], *, rank: int, now: datetime
    ) -> int:
        """Store what a look-up found (key asked -> the entry answering it) as the
        source saw it, in one transaction, and note the items it created as looked
        up (an item stored before keeps its place in the windows). Returns how many
        papers were new to the store."""
        if not found:
            return 0
        with self._write_tx() as conn:
            lock_items(conn)  # ids are handed out under it: those above `top` are this one's
            top = conn.execute(select(func.max(schema.items.c.id))).scalar() or 0
            counts = resolve.ingest_entries(
                conn, source_id, list(found.values()), rank=rank, now=now, run_id=None
            )
            k = schema.item_keys
            stored = {schema.stored_key(key): key for key in found}
            q = select(k.c.key, k.c.item_id).where(k.c.key.in_(list(stored)), k.c.item_id > top)
            rows = [{"key": key, "asked_at": now, "item_id": i} for key, i in conn.execute(q)]
            _record(conn, rows)
            return counts.new
