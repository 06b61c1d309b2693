"""The consent log (every change of a subscriber's consent, with time and cause),
the store's random id (part of every Message-ID), and schema version 10, which
brought both and made identity case-insensitive by merging case twins.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
)

from digest.addresses import identity
from digest.mailing import ConsentEvent
from digest.store import schema

# Every change of a subscriber's consent, with its time and cause (v10).
consent_log = Table(  # on schema.metadata: created by v10, copied by `store copy`
    "consent_log",
    schema.metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("at", schema.UTCDateTime, nullable=False),
    Column("generation", Integer, nullable=False),  # the subscriber's, after the change
    Column("cause", String(16), nullable=False),  # web, confirm, cli, import, one-click, ...
    Column("action", String(32), nullable=False),
    Column("profiles", Text, nullable=False, server_default=""),  # space-separated
    Column("status", String(16), nullable=False),  # the subscriber's, after the change
    Column("detail", Text, nullable=False, server_default=""),
    Index("ix_consent_subscriber", "subscriber_id", "id"),
)

STORE_ID = "store_id"
# When twins merge, the surviving row keeps the strongest state of each profile.
_RANK = {"active": 3, "pending": 2, "off": 1}


def store_id(conn: Connection) -> str:
    """The random id this store was given when it was made (schema v10)."""
    m = schema.meta
    found = conn.execute(select(m.c.value).where(m.c.key == STORE_ID)).scalar()
    return str(found or "")


def log(
    conn: Connection,
    subscriber_id: int,
    now: datetime,
    *,
    generation: int,
    cause: str,
    action: str,
    profiles: Sequence[str],
    status: str,
    detail: str = "",
) -> None:
    conn.execute(
        consent_log.insert().values(
            subscriber_id=subscriber_id,
            at=now,
            generation=generation,
            cause=cause,
            action=action,
            profiles=" ".join(profiles),
            status=status,
            detail=detail[:2000],
        )
    )


def history(conn: Connection, subscriber_id: int) -> list[ConsentEvent]:
    c = consent_log
    rows = conn.execute(
        select(c).where(c.c.subscriber_id == subscriber_id).order_by(c.c.id)
    ).mappings()
    return [
        ConsentEvent(
            at=r["at"],
            generation=r["generation"],
            cause=r["cause"],
            action=r["action"],
            profiles=tuple(r["profiles"].split()),
            status=r["status"],
            detail=r["detail"],
        )
        for r in rows
    ]


# -- schema version 10 --------------------------------------------------------------


def migrate_v10(
    conn: Connection, add_columns: Callable[[Connection, Any, list[str]], None]
) -> None:
    """Per-profile states, generations, identity (case twins merged), the consent
    log and the store id. Idempotent: a fresh store has the columns from v4."""
    s, sub = schema.subscribers, schema.subscriptions
    add_columns(conn, s, ["identity", "generation"])
    add_columns(conn, sub, ["state", "since_gen", "changed_at"])
    consent_log.create(conn, checkfirst=True)
    conn.execute(s.update().where(s.c.generation.is_(None)).values(generation=0))
    conn.execute(sub.update().where(sub.c.since_gen.is_(None)).values(since_gen=0))
    # Runs once, from an older version: each row takes its subscriber's state.
    for status, state in (("active", "active"), ("pending", "pending")):
        ids = select(s.c.id).where(s.c.status == status).scalar_subquery()
        conn.execute(sub.update().where(sub.c.subscriber_id.in_(ids)).values(state=state))
    ids = select(s.c.id).where(s.c.status.not_in(["active", "pending"])).scalar_subquery()
    conn.execute(sub.update().where(sub.c.subscriber_id.in_(ids)).values(state="off"))
    now = datetime.now(UTC)  # a migration is not a decision: it records when it ran
    rows = conn.execute(select(s.c.id, s.c.email, s.c.status).order_by(s.c.id)).all()
    groups: dict[str, list[Any]] = {}
    for row in rows:
        groups.setdefault(identity(row.email), []).append(row)
    for key, twins in groups.items():
        keep = twins[0]  # the lowest id: the address as first given
        merged = [t.email for t in twins[1:]]
        for twin in twins[1:]:
            _merge(conn, keep.id, twin.id)
        statuses = {t.status for t in twins}
        status = next((x for x in ("active", "pending") if x in statuses), keep.status)
        conn.execute(s.update().where(s.c.id == keep.id).values(identity=key, status=status))
        active = conn.execute(
            select(sub.c.profile)
            .where(sub.c.subscriber_id == keep.id, sub.c.state == "active")
            .order_by(sub.c.profile)
        ).scalars()
        detail = f"merged case twins: {', '.join(merged)}" if merged else ""
        log(
            conn,
            keep.id,
            now,
            generation=0,
            cause="migration",
            action="as found",
            profiles=list(active),
            status=status,
            detail=detail,
        )
    for index in s.indexes:
        index.create(conn, checkfirst=True)
    if not store_id(conn):
        conn.execute(schema.meta.insert().values(key=STORE_ID, value=secrets.token_hex(8)))


def _merge(conn: Connection, keep: int, twin: int) -> None:
    """Move a case twin's subscriptions and deliveries to `keep`, then drop it."""
    s, sub, d = schema.subscribers, schema.subscriptions, schema.deliveries
    have = dict(
        conn.execute(select(sub.c.profile, sub.c.state).where(sub.c.subscriber_id == keep)).all()
    )
    theirs = conn.execute(select(sub.c.profile, sub.c.state).where(sub.c.subscriber_id == twin))
    for profile, state in theirs.all():
        if profile not in have:
            conn.execute(sub.insert().values(subscriber_id=keep, profile=profile, state=state))
        elif _RANK.get(state, 0) > _RANK.get(have[profile], 0):
            where = (sub.c.subscriber_id == keep) & (sub.c.profile == profile)
            conn.execute(sub.update().where(where).values(state=state))
    mine = select(d.c.digest_id).where(d.c.subscriber_id == keep).scalar_subquery()
    conn.execute(
        d.update()
        .where(d.c.subscriber_id == twin, d.c.digest_id.not_in(mine))
        .values(subscriber_id=keep)
    )
    # A digest both twins were due: the kept one's row stands for it.
    conn.execute(d.delete().where(d.c.subscriber_id == twin))
    conn.execute(sub.delete().where(sub.c.subscriber_id == twin))
    conn.execute(consent_log.delete().where(consent_log.c.subscriber_id == twin))
    first = conn.execute(
        select(func.min(s.c.confirmed_at)).where(s.c.id.in_([keep, twin]))
    ).scalar()
    conn.execute(s.update().where(s.c.id == keep).values(confirmed_at=first))
    conn.execute(s.delete().where(s.c.id == twin))
