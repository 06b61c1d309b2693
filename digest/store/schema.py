"""Tables and migrations. The only place that says what the schema is.

Each migration creates or alters exactly what its version introduced, so a
store at any older version can be brought forward step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from sqlalchemy import (
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Dialect

from digest.errors import StoreError
from digest.models import PROFILE_ID_CHARS


@lru_cache(maxsize=4096)  # ingests repeat the same few timestamps many times
def db_time(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order on every backend."""
    if value.tzinfo is None:
        raise ValueError("naive datetime passed to the store")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC out; stored as `db_time` text."""

    impl = String(32)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> str | None:
        return None if value is None else db_time(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("location", Text, nullable=False, server_default=""),
    Column("kind", String(16), nullable=False, server_default=""),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_fetch_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_new_at", UTCDateTime),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, server_default="0"),
    Column("empty_fetches", Integer, nullable=False, server_default="0"),  # in a row
    Column("last_entries_at", UTCDateTime),  # the last fetch whose document held entries
)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, server_default=""),
    Column("authors", Text, nullable=False, server_default="[]"),  # JSON list of names
    Column("author_count", Integer),
    Column("link", Text, nullable=False, server_default=""),
    Column("pdf_url", Text, nullable=False, server_default=""),
    Column("arxiv_id", Text, nullable=False, server_default=""),
    Column("version", Integer),
    Column("doi", Text, nullable=False, server_default=""),
    Column("published", UTCDateTime),
    Column("categories", Text, nullable=False, server_default="[]"),  # JSON list
    Column("upvotes", Integer),
    Column("quality", Integer, nullable=False, server_default="0"),  # rank of the text's source
    Column("first_seen", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # No index on first_seen: ids are handed out in arrival order, so "new since"
    # is an id range, and every index costs each insert of a big ingest.
)

# Every identity key an item is known by ("arxiv:…", "doi:…", "url:…", "title:…"),
# as `stored_key` gives it.
item_keys = Table(
    "item_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    sqlite_with_rowid=False,  # the key is the row: one b-tree, not two
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("status", String(16), nullable=False, server_default="running"),
    Column("report", Text),  # JSON
    Column("parent_id", Integer),  # the run this one was started inside (a cycle's ingest)
)

# One row per (item, source, version); seeing it again updates last_seen.
sightings = Table(
    "sightings",
    metadata,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),  # 0: the source gave none
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="SET NULL")),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("times_seen", Integer, nullable=False, server_default="1"),
    Column("link", Text, nullable=False, server_default=""),
    Column("announce_type", Text, nullable=False, server_default=""),
    Column("categories", Text, nullable=False, server_default="[]"),
    Column("upvotes", Integer),
    Column("num_comments", Integer),
    Column("author_count", Integer),
    Column("organization", Text, nullable=False, server_default=""),
    Column("submitted_by", Text, nullable=False, server_default=""),
    Column("listed_on", String(10)),  # ISO date of the listing page
    sqlite_with_rowid=False,
)

# What each profile has been given, so no digest repeats a paper.
profile_items = Table(
    "profile_items",
    metadata,
    Column("profile", String(PROFILE_ID_CHARS), primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("delivered_at", UTCDateTime, nullable=False),
    sqlite_with_rowid=False,
)

# How far each profile's successful digests reach: items with a higher id are new to it.
profile_state = Table(
    "profile_state",
    metadata,
    Column("profile", String(PROFILE_ID_CHARS), primary_key=True),
    Column("last_item_id", Integer, nullable=False, server_default="0"),
    Column("last_success_at", UTCDateTime),
)

# Each digest issue of a profile, and its picks in order.
digests = Table(
    "digests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("profile", String(PROFILE_ID_CHARS), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("count", Integer, nullable=False),
    # The profile's window start when it was selected (0: its first digest); one
    # digest per (profile, window), whichever process records it first. NULL: older.
    Column("window_after", Integer),
    Index("uq_digest_window", "profile", "window_after", unique=True),
)

digest_items = Table(
    "digest_items",
    metadata,
    Column("digest_id", Integer, ForeignKey("digests.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("score", Float, nullable=False),
    Column("matched", Text, nullable=False),  # JSON [[term, field], ...] or {matched, reasons}
)


subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised, as first given
    Column("identity", String(320)),  # addresses.identity(email): who it is (v10)
    # pending, active, paused, unsubscribed (left), bounced
    Column("status", String(16), nullable=False),
    Column("secret", String(64), nullable=False),  # per-subscriber part of every token
    Column("generation", Integer, nullable=False, server_default="0"),  # moves on each change
    Column("created_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    Column("unsubscribed_at", UTCDateTime),
    Index("ix_subscribers_identity", "identity", unique=True),
)

# One row per (address, profile): active, pending (asked, not confirmed) or off.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("profile", String(PROFILE_ID_CHARS), primary_key=True),
    Column("state", String(16), nullable=False, server_default="active"),
    Column("since_gen", Integer, nullable=False, server_default="0"),  # (re)started at
    Column("changed_at", UTCDateTime),
)

# consent_log: in store/consent.py; feedback and personal_picks: in store/feedback.py;
# lookups: in store/lookups.py.

# The delivery ledger: one row per (digest, subscriber), created with the digest.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest_id", Integer, ForeignKey("digests.id", ondelete="CASCADE"), nullable=False),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column(
        "status", String(20), nullable=False
    ),  # pending, sent, failed-temporary, failed-permanent
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("message_id", Text),  # set at the first claim: a resend reuses it
    Column("claimed_by", String(200)),  # the sender holding it until lease_until
    Column("lease_until", UTCDateTime),
    UniqueConstraint("digest_id", "subscriber_id", name="uq_delivery"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_claimed", "claimed_by"),
)


# Coordination of many processes on one store (store/coordination.py).
# The scheduler's queue: one row per (kind, profile, due time), so a scheduler
# that takes over re-enqueues nothing; workers claim rows with a lease.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # ingest, digest, send
    Column("profile", String(PROFILE_ID_CHARS), nullable=False, server_default=""),
    Column("due_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False),  # queued, running, done, failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("worker", String(200)),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    UniqueConstraint("kind", "profile", "due_at", name="uq_job"),
    Index("ix_jobs_ready", "status", "due_at"),
)

# Fixed-window request counters shared by every web process.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(400), primary_key=True),
    Column("window", Integer, primary_key=True),  # the window's start, epoch seconds
    Column("expires", Integer, nullable=False),  # epoch seconds; pruned after
    Column("count", Integer, nullable=False),
)

# At most 4 bytes a character: a key's index entry stays within PostgreSQL's
# b-tree limit (2,704 bytes), whatever the script of a title or URL.
KEY_CHARS = 512
_HASH_CHARS = 64


def stored_key(key: str) -> str:
    """`key` as item_keys holds it: a longer one is cut and ends in a hash of
    the whole, so it still names one paper and is found again."""
    if len(key) <= KEY_CHARS:
        return key
    whole = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: KEY_CHARS - _HASH_CHARS - 1]}#{whole}"


def stored_keys(keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(map(stored_key, keys))


def _v1(conn: Connection) -> None:
    for table in (meta, sources, items, item_keys, runs, sightings):
        table.create(conn)


def _v2(conn: Connection) -> None:
    profile_items.create(conn)
    profile_state.create(conn)


def _v3(conn: Connection) -> None:
    digests.create(conn)
    digest_items.create(conn)


def _v4(conn: Connection) -> None:
    for table in (subscribers, subscriptions, deliveries):
        table.create(conn)  # today's columns: v10 then finds them there


# Text from sources, of any length: PostgreSQL enforced the old bounds (SQLite never did).
_UNBOUNDED = (
    ("items", "arxiv_id"),
    ("items", "doi"),
    ("item_keys", "key"),
    ("sources", "name"),
    ("sightings", "announce_type"),
)


def _v5(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":  # varchar to text: no rewrite, no reindex
        for table, column in _UNBOUNDED:
            conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE TEXT")
    t = item_keys  # keys longer than KEY_CHARS, kept whole until now, as stored_key has them
    long = conn.execute(select(t.c.key, t.c.item_id).where(func.length(t.c.key) > KEY_CHARS))
    for key, item_id in long.all():
        conn.execute(t.delete().where(t.c.key == key))
        conn.execute(t.insert().values(key=stored_key(key), item_id=item_id))


def _add_columns(conn: Connection, table: Table, names: Sequence[str]) -> None:
    """ALTER TABLE ADD COLUMN for those of `names` the table lacks (a store created
    at an older version; a new one got them from `table.create`)."""
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for name in names:
        if name not in have:
            kind = table.c[name].type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")


def _v6(conn: Connection) -> None:
    """Claimed deliveries and one digest per profile and window."""
    _add_columns(conn, digests, ["window_after"])
    _add_columns(conn, deliveries, ["message_id", "claimed_by", "lease_until"])
    for index in (*digests.indexes, *deliveries.indexes):
        index.create(conn, checkfirst=True)


def _v7(conn: Connection) -> None:
    jobs.create(conn, checkfirst=True)  # idempotent, like _v6: a store may be walked back
    rate_limits.create(conn, checkfirst=True)


def _v8(conn: Connection) -> None:
    """Sources that went empty: empty_fetches, and last_entries_at from sightings."""
    have = {c["name"] for c in inspect(conn).get_columns("sources")}
    if "empty_fetches" not in have:  # NOT NULL: the existing rows need the default
        conn.exec_driver_sql(
            "ALTER TABLE sources ADD COLUMN empty_fetches INTEGER NOT NULL DEFAULT 0"
        )
    _add_columns(conn, sources, ["last_entries_at"])
    newest = select(func.max(sightings.c.last_seen)).where(sightings.c.source_id == sources.c.id)
    conn.execute(sources.update().values(last_entries_at=newest.scalar_subquery()))


def _v9(conn: Connection) -> None:
    """Runs nested in another: a cycle's ingest names its cycle."""
    _add_columns(conn, runs, ["parent_id"])


def _v10(conn: Connection) -> None:
    from digest.store.consent import migrate_v10  # it needs these tables: imported late

    migrate_v10(conn, _add_columns)


def _v11(conn: Connection) -> None:
    from digest.store.feedback import migrate_v11  # as v10: imported late

    migrate_v11(conn)


def _v12(conn: Connection) -> None:
    from digest.store.lookups import migrate_v12  # as v10: imported late

    migrate_v12(conn)


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_v1, _v2, _v3, _v4, _v5, _v6)
MIGRATIONS += (_v7, _v8, _v9, _v10, _v11, _v12)
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "meta"):
        return 0
    row = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).first()
    return int(row[0]) if row else 0


def lock_schema(conn: Connection) -> None:
    """Hold the schema lock until the caller's transaction ends, so processes that
    create or migrate one store at once do it one after the other. SQLite: the
    caller's BEGIN IMMEDIATE already holds the write lock."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242000)")


def migrate(conn: Connection) -> int:
    """Bring the schema to SCHEMA_VERSION inside the caller's transaction, which
    holds `lock_schema`: the version is read under it."""
    lock_schema(conn)
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"the store has schema version {version}, newer than this digest knows "
            f"({SCHEMA_VERSION}); upgrade digest"
        )
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](conn)
    if version != SCHEMA_VERSION:
        stmt = meta.delete().where(meta.c.key == "schema_version")
        conn.execute(stmt)
        conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
    return SCHEMA_VERSION
