"""Subscribers and their profiles (the delivery ledger: `deliveries`)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from digest.mailing import Subscriber, SubscriberStatus
from digest.store import deliveries, schema
from digest.store.statements import insert_for


def _subscriber(conn: Connection, row: Any) -> Subscriber:
    sub = schema.subscriptions
    profiles = conn.execute(
        select(sub.c.profile).where(sub.c.subscriber_id == row["id"]).order_by(sub.c.profile)
    ).scalars()
    return Subscriber(
        id=row["id"],
        email=row["email"],
        status=row["status"],
        secret=row["secret"],
        profiles=tuple(profiles),
        created_at=row["created_at"],
        confirmed_at=row["confirmed_at"],
    )


def get(conn: Connection, email: str) -> Subscriber | None:
    s = schema.subscribers
    row = conn.execute(select(s).where(s.c.email == email)).mappings().first()
    return _subscriber(conn, row) if row else None


def get_by_id(conn: Connection, subscriber_id: int) -> Subscriber | None:
    s = schema.subscribers
    row = conn.execute(select(s).where(s.c.id == subscriber_id)).mappings().first()
    return _subscriber(conn, row) if row else None


def all_subscribers(conn: Connection) -> list[Subscriber]:
    s = schema.subscribers
    rows = conn.execute(select(s).order_by(s.c.email)).mappings().all()
    return [_subscriber(conn, r) for r in rows]


def upsert(
    conn: Connection,
    email: str,
    profiles: Sequence[str],
    *,
    status: SubscriberStatus,
    now: datetime,
    reactivate: bool,
) -> Subscriber:
    """Create or update a subscriber and add `profiles` to what they follow.

    An unsubscribed or bounced address is only made active again when
    `reactivate` says so (an explicit admin action), never by a config file.
    """
    s, sub = schema.subscribers, schema.subscriptions
    row = conn.execute(select(s).where(s.c.email == email)).mappings().first()
    if row is None:  # another process may add it meanwhile: then theirs stands
        conn.execute(
            insert_for(conn, s)
            .values(
                email=email,
                status=status,
                secret=secrets.token_urlsafe(24),
                created_at=now,
                confirmed_at=now if status == "active" else None,
            )
            .on_conflict_do_nothing(index_elements=[s.c.email])
        )
        row = conn.execute(select(s).where(s.c.email == email)).mappings().one()
    sid = row["id"]
    if row["status"] != status and (reactivate or row["status"] == "pending"):
        values: dict[str, Any] = {"status": status}
        if status == "active":
            values.update(confirmed_at=now, unsubscribed_at=None)
        conn.execute(s.update().where(s.c.id == sid).values(**values))
    have = set(conn.execute(select(sub.c.profile).where(sub.c.subscriber_id == sid)).scalars())
    for profile in profiles:
        if profile not in have:
            add = insert_for(conn, sub).values(subscriber_id=sid, profile=profile)
            conn.execute(add.on_conflict_do_nothing())
    found = get_by_id(conn, sid)
    assert found is not None
    return found


def set_status(
    conn: Connection, subscriber_id: int, status: SubscriberStatus, now: datetime
) -> None:
    s = schema.subscribers
    values: dict[str, Any] = {"status": status}
    if status in ("unsubscribed", "bounced"):
        values["unsubscribed_at"] = now
        deliveries.cancel_open(conn, subscriber_id, f"subscriber {status}")
    elif status == "active":
        values.update(confirmed_at=now, unsubscribed_at=None)
    conn.execute(s.update().where(s.c.id == subscriber_id).values(**values))
