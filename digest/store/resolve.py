"""Which item is this? Each entry of a source is resolved to the item its identity
keys lead to, or to a new one, merged into it, and written, a chunk at a time.

A new item's row is built straight from its entry (`merge.first_values`): at
100,000 entries a source, every object made and every call per entry shows in
the time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection

from digest.identity import conflicts, entry_keys
from digest.models import Entry, IngestCounts
from digest.store import schema
from digest.store.merge import (
    ItemState,
    first_values,
    from_row,
    has_nul,
    json_text,
    merge,
    new_state,
    stored_row,
    values_of,
    without_nul,
)
from digest.store.schema import KEY_CHARS
from digest.store.statements import in_batches, lock_items, statements_for
from digest.store.writer import Writer, writer_for

CHUNK = 2000


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
    lock_items(conn)
    run = Resolver(conn, source_id, rank, now, run_id)
    writer = writer_for(conn)
    it = iter(entries)
    try:
        while chunk := list(islice(it, CHUNK)):
            run.chunk(chunk, writer)
    finally:
        writer.close()  # every write done (or failed) before the caller commits or rolls back
    return IngestCounts(run.new, run.duplicates)


class Resolver:
    """One source's ingest, in one transaction, chunk after chunk.

    It remembers which item every key it has met leads to, so the database is
    asked only about keys new to the run, and a lookup never needs a write
    that may still be queued."""

    def __init__(
        self, conn: Connection, source_id: int, rank: int, now: datetime, run_id: int | None
    ) -> None:
        self.conn = conn
        self.st = statements_for(conn)
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
        for size, batch in in_batches(keys):
            for row in self.st.lookup(size).fetch(reader, batch):
                kn = loaded.get(row[1])
                if kn is None:
                    state = from_row(row, 2)
                    kn = loaded[row[1]] = _Known(row[1], state.arxiv_id, state.doi, state)
                elif kn.state is None:
                    stale[row[1]] = kn
                known[row[0]] = kn

    def _reload(self, writer: Writer, stale: dict[int, _Known]) -> None:
        """Read back the items of earlier chunks, as this transaction wrote them."""
        writer.flush()
        for size, batch in in_batches(list(stale)):
            for row in self.st.lookup(size, by_id=True).fetch(self.conn, batch):
                stale[row[1]].state = from_row(row, 2)

    def chunk(self, entries: Sequence[Entry], writer: Writer) -> None:
        st, rank, stamp, scope, known = self.st, self.rank, self.stamp, self.scope, self.known
        kept: list[Entry] = []
        kept_keys: list[tuple[str, ...]] = []
        wanted: set[str] = set()
        for e in entries:
            if has_nul(e):  # PostgreSQL refuses NUL in text; on both engines, taken out
                e = without_nul(e)
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

        first_new = 0  # ids from here on are this chunk's new items
        if created:
            if self.next_id is None:
                [(top,)] = st.max_id.fetch(writer.reader, ())
                self.next_id = (top or 0) + 1
            item_id = first_new = self.next_id
            rows = []
            for kn in created:
                kn.item_id = item_id
                if kn.state is None:
                    assert kn.entry is not None
                    rows.append((item_id, *stored_row(first_values(kn.entry, rank)), stamp, stamp))
                else:  # merged into before it was stored: store the merged state
                    rows.append((item_id, *stored_row(values_of(kn.state)), stamp, stamp))
                    kn.dirty = False
                item_id += 1
            self.next_id = item_id
            writer.submit(st.insert_items, rows)

        dirty = {id(kn): kn for kn in targets if kn.dirty}
        if dirty:
            rows = []
            for kn in dirty.values():
                assert kn.state is not None
                rows.append((kn.item_id, *stored_row(values_of(kn.state)), stamp, stamp))
                kn.dirty = False
            writer.submit(st.update_items, rows)

        if new_keys:
            writer.submit(st.insert_keys, [(key, kn.item_id) for key, kn in new_keys])

        sightings = self._sightings(kept, targets, len(created))
        if first_new:
            writer.submit(st.insert_sightings, [r for r in sightings if r[0] >= first_new])
            sightings = [r for r in sightings if r[0] < first_new]
        writer.submit(st.upsert_sightings, sightings)
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
                    json_text(entry.categories),
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
