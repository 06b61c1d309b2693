"""The store: the only owner of SQL. SQLite by default; any SQLAlchemy URL later.

Callers speak in records (`Entry` in, `Candidate` out, `SourceState`, ... from `digest.models`),
never in rows or dicts.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.errors import StoreError
from digest.issues import IssueHead
from digest.models import (
    Candidate,
    Digest,
    Entry,
    IngestCounts,
    Pick,
    Pool,
    Profile,
    Sighting,
    SourceState,
)
from digest.store import deliveries, feedback, likes, lookups, picks, resolve, schema
from digest.store import subscribers as subs
from digest.store.coordination import Coordination
from digest.store.failures import sqlite_path
from digest.store.runs import RunMethods
from digest.store.statements import insert_for
from digest.store.transactions import Transactions

__all__ = ["Store"]

log = logging.getLogger(__name__)


_BUSY_SECONDS = 10  # how long a SQLite writer waits for another


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={_BUSY_SECONDS * 1000}")  # first: WAL may wait
    # Only a new, empty file takes it. Big pages suit rows that carry an abstract:
    # 16 KiB ones make a large ingest's inserts and checkpoint about a third cheaper.
    cur.execute("PRAGMA page_size=16384")
    _wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: big ingests stay in memory
    cur.close()


def _wal(cur: Any) -> None:
    """Turn WAL on. SQLite answers "locked" at once, without its busy handler, while
    another process is turning it on for a new file: retry within the busy timeout."""
    deadline = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Store(
    Transactions,
    deliveries.LedgerMethods,
    RunMethods,
    likes.LikeMethods,
    lookups.LookupMethods,
    feedback.FeedbackMethods,
    subs.SubscriberMethods,
):
    """A handle on one database. Open with `Store.open(url)`; migrates on open."""

    # Seconds an ingest holds the write lock before it commits what it has and lets
    # a waiting process in: well within the busy timeout (10 s) of the others.
    lock_budget = 2.0
    lock_pause = 0.15  # SQLite's waiters retry every 100 ms: one of them gets the lock

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise StoreError(f"bad store URL {url!r}: {exc}") from exc
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            parsed = parsed.set(database=str(sqlite_path(parsed.database or "")))
        try:
            engine = create_engine(parsed)
        except (ArgumentError, ImportError) as exc:
            raise StoreError(f"cannot use store URL {url!r}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def close(self) -> None:
        self._wait_for_checkpoints()
        self.engine.dispose()

    def copy_to(self, path: Path) -> None:
        """A consistent copy of this SQLite store into the file `path` (SQLite's backup)."""
        db = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not db or db == ":memory:":
            raise StoreError("only a SQLite store file can be copied")
        raw = self.engine.raw_connection()
        try:
            with sqlite3.connect(path) as dst:
                raw.driver_connection.backup(dst)  # type: ignore[union-attr]
        finally:
            raw.close()

    @cached_property
    def coordination(self) -> Coordination:
        """Leader lock, job queue, shared rate limits: many processes on one store."""
        return Coordination(self.engine, self._tx)

    def copy_into(self, url: str) -> dict[str, int]:
        """Copy every row into the empty store at `url`, on either engine; row
        counts are checked per table before it commits. Rows copied per table."""
        from digest.store.copy import copy_store

        with Store.open(url) as target:
            return copy_store(self.engine, target.engine)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def migrate(self) -> int:
        """Bring the schema forward; several processes may open a new store at once."""
        if self.schema_version() == schema.SCHEMA_VERSION:  # the usual case: no write lock
            return schema.SCHEMA_VERSION
        with self._write_tx() as conn:
            return schema.migrate(conn)

    def schema_version(self) -> int:
        with self._tx() as conn:
            return schema.current_version(conn)

    # -- sources -----------------------------------------------------------

    def source(self, name: str, *, location: str = "", kind: str = "") -> SourceState:
        """The state of source `name`, created on first use."""
        t = schema.sources
        with self._tx() as conn:
            row = conn.execute(select(t).where(t.c.name == name)).mappings().first()
            if row is None:  # or another process's, added meanwhile
                new = insert_for(conn, t).values(name=name, location=location, kind=kind)
                conn.execute(new.on_conflict_do_nothing(index_elements=[t.c.name]))
                row = conn.execute(select(t).where(t.c.name == name)).mappings().one()
            elif (location and row["location"] != location) or (kind and row["kind"] != kind):
                conn.execute(
                    t.update()
                    .where(t.c.id == row["id"])
                    .values(location=location or row["location"], kind=kind or row["kind"])
                )
                row = conn.execute(select(t).where(t.c.name == name)).mappings().one()
        return SourceState(**{k: row[k] for k in SourceState.__dataclass_fields__})

    def sources(self) -> list[SourceState]:
        t = schema.sources
        with self._tx() as conn:
            rows = conn.execute(select(t).order_by(t.c.name)).mappings().all()
        return [SourceState(**{k: r[k] for k in SourceState.__dataclass_fields__}) for r in rows]

    def record_fetch(
        self,
        source_id: int,
        now: datetime,
        *,
        error: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        new: int = 0,
        entries: int | None = None,
    ) -> None:
        """Note a fetch outcome. A failure keeps the old validators and counts up.
        `entries` (what a fetched document held; None for a 304) counts empty fetches."""
        t = schema.sources
        values: dict[str, Any] = {"last_fetch_at": now}
        if error is None:
            values.update(
                last_success_at=now,
                last_error=None,
                consecutive_failures=0,
                etag=etag,
                last_modified=last_modified,
            )
            if new:
                values["last_new_at"] = now
            if entries:
                values.update(empty_fetches=0, last_entries_at=now)
            elif entries == 0:
                values["empty_fetches"] = t.c.empty_fetches + 1
        else:
            values.update(last_error=error, consecutive_failures=t.c.consecutive_failures + 1)
        with self._tx() as conn:
            conn.execute(t.update().where(t.c.id == source_id).values(**values))

    # -- ingest ------------------------------------------------------------

    def add_entries(
        self,
        source_id: int,
        entries: Iterable[Entry],
        *,
        rank: int,
        now: datetime,
        run_id: int | None = None,
    ) -> IngestCounts:
        """Store entries from one source: each paper once. `entries` may be lazy:
        they are read a chunk at a time. A transaction commits once it has held
        the write lock `lock_budget` seconds, so no other process waits past its
        busy timeout; an error raised while reading them rolls back the entries
        since the last commit (a small source: all of them)."""
        if now.tzinfo is None:
            raise StoreError("naive datetime passed to the store")
        it, new, duplicates = iter(entries), 0, 0
        with self._big_connection() as conn:
            while True:
                gate = _Budget(it, self.lock_budget)
                with conn.begin():
                    counts = resolve.ingest_entries(
                        conn, source_id, gate, rank=rank, now=now, run_id=run_id
                    )
                new, duplicates = new + counts.new, duplicates + counts.duplicates
                if gate.exhausted:
                    return IngestCounts(new, duplicates)
                time.sleep(self.lock_pause)

    # -- runs: RunMethods (store/runs.py) ---------------------------------

    # -- items -------------------------------------------------------------

    def count_items(self) -> int:
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(schema.items)).scalar_one())

    def items(self, *, limit: int | None = None, since: datetime | None = None) -> list[Candidate]:
        """Items, newest first seen first."""
        with self._tx() as conn:
            return picks.newest(conn, limit=limit, since=since)

    # -- selection windows and digests ---------------------------------------

    def pool(self, profiles: Sequence[Profile], *, since: datetime | None = None) -> Pool:
        """The candidates of all `profiles`, read once, with each one's window:
        items newer than its last recorded digest (a new profile: those first seen
        in its `first_digest_days` before the newest arrival), or first seen at or
        after `since`; never an item it was given."""
        with self._tx() as conn:
            return picks.pool(conn, profiles, since=since)

    def candidates(self, profile: str, *, since: datetime | None = None) -> list[Candidate]:
        """One profile's window (see `pool`), for a profile of the default settings."""
        found = self.pool([Profile(profile, profile)], since=since)
        return [c for c in found.candidates if found.windows[profile].holds(c)]

    def record_given(
        self, profile: str, item_ids: Sequence[int], *, upto_item_id: int, now: datetime
    ) -> None:
        """Remember that `profile` was given these items, and how far its window reached."""
        with self._tx() as conn:
            picks.record_given(conn, profile, item_ids, upto_item_id=upto_item_id, now=now)

    def record_digest(
        self,
        profile: Profile,
        chosen: Sequence[Pick],
        *,
        upto_item_id: int,
        now: datetime,
        window_after: int | None = None,
        personal: Mapping[int, Sequence[Pick]] | None = None,
    ) -> Digest | None:
        """Store a digest issue, its subscribers' `personal` picks (subscriber id ->
        picks) and move the profile's window, in one transaction.
        `window_after`: the window's start when it was selected (`window_marks`);
        then None comes back, recording nothing, when another process already
        recorded the profile's digest for that window. Without it: no such check."""
        with self._write_tx() as conn:
            made = picks.record_digest(
                conn, profile, chosen, upto_item_id=upto_item_id, now=now, window_after=window_after
            )
            if made is not None and made.id is not None and personal:
                feedback.record_personal(conn, made.id, personal)
            return made

    def window_marks(self, profiles: Sequence[str]) -> dict[str, int]:
        """How far each profile's window reached (0: never moved); read it before selecting."""
        with self._tx() as conn:
            return picks.window_marks(conn, profiles)

    def digests(self, profile: Profile, *, limit: int | None = None) -> list[Digest]:
        """The profile's recorded digests, newest first; all of them, or the newest `limit`."""
        with self._tx() as conn:
            return picks.digests(conn, profile, limit=limit)

    def recent_digests(
        self, profile: Profile, *, papers: int, also: Collection[int]
    ) -> list[Digest]:
        with self._tx() as conn:
            return picks.recent(conn, profile, papers=papers, also=also)

    def issue_heads(self, profile: Profile, *, limit: int | None = None) -> list[IssueHead]:
        with self._tx() as conn:
            return picks.heads(conn, profile, limit=limit)

    def digest(self, profile: Profile, digest_id: int) -> Digest | None:
        with self._tx() as conn:
            found = picks.digests(conn, profile, limit=1, digest_id=digest_id)
        return found[0] if found else None

    def digest_profiles(self, digest_ids: Sequence[int]) -> dict[int, str]:
        """The profile name of each digest."""
        d = schema.digests
        with self._tx() as conn:
            rows = conn.execute(select(d.c.id, d.c.profile).where(d.c.id.in_(list(digest_ids))))
            return {i: p for i, p in rows}

    # -- subscribers: subs.SubscriberMethods; the ledger: deliveries.LedgerMethods --

    def item_keys(self, item_id: int) -> list[str]:
        t = schema.item_keys
        with self._tx() as conn:
            return list(conn.execute(select(t.c.key).where(t.c.item_id == item_id)).scalars())

    def sightings(self, item_id: int) -> list[Sighting]:
        """Where and how an item was seen, oldest first, with the source's name."""
        s, src = schema.sightings, schema.sources
        stmt = (
            select(s, src.c.name.label("source"))
            .join(src, src.c.id == s.c.source_id)
            .where(s.c.item_id == item_id)
            .order_by(s.c.first_seen, s.c.source_id, s.c.version)
        )
        with self._tx() as conn:
            rows = conn.execute(stmt).mappings().all()
        fields = Sighting.__dataclass_fields__
        return [
            Sighting(**{k: r[k] for k in fields if k != "categories"}, categories=_tags(r))
            for r in rows
        ]


class _Budget:
    """The entries one ingest transaction takes: up to a chunk boundary past
    `seconds` of work (timed from its first entry, after the lock was taken)."""

    def __init__(self, entries: Iterator[Entry], seconds: float) -> None:
        self.entries = entries
        self.seconds = seconds
        self.started = 0.0
        self.taken = 0
        self.exhausted = False

    def __iter__(self) -> Iterator[Entry]:
        return self

    def __next__(self) -> Entry:
        if self.taken == 0:
            self.started = time.monotonic()
        elif self.taken % resolve.CHUNK == 0 and time.monotonic() - self.started > self.seconds:
            raise StopIteration
        try:
            entry = next(self.entries)
        except StopIteration:
            self.exhausted = True
            raise
        self.taken += 1
        return entry


def _tags(r: Any) -> tuple[str, ...]:
    return tuple(json.loads(r["categories"]))
