"""Subscribers, their profiles, and the delivery ledger.

A delivery row is created in the same transaction as its digest, so a crash
can never leave a digest that nobody is due to receive. A row becomes `sent`
only after the SMTP server (or the outbox) accepted the message.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, and_, func, or_, select

from digest.models import Delivery, DigestDeliveries, Due, Subscriber, SubscriberStatus
from digest.store import schema

MAX_ATTEMPTS = 8  # temporary failures are retried across runs this many times
FIRST_RETRY = timedelta(minutes=5)
LAST_RETRY = timedelta(hours=6)


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
    if row is None:
        sid = int(
            conn.execute(
                s.insert().values(
                    email=email,
                    status=status,
                    secret=secrets.token_urlsafe(24),
                    created_at=now,
                    confirmed_at=now if status == "active" else None,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
    else:
        sid = row["id"]
        if row["status"] != status and (reactivate or row["status"] == "pending"):
            values: dict[str, Any] = {"status": status}
            if status == "active":
                values.update(confirmed_at=now, unsubscribed_at=None)
            conn.execute(s.update().where(s.c.id == sid).values(**values))
    have = set(conn.execute(select(sub.c.profile).where(sub.c.subscriber_id == sid)).scalars())
    for profile in profiles:
        if profile not in have:
            conn.execute(sub.insert().values(subscriber_id=sid, profile=profile))
    found = get_by_id(conn, sid)
    assert found is not None
    return found


def set_status(
    conn: Connection, subscriber_id: int, status: SubscriberStatus, now: datetime
) -> None:
    s, d = schema.subscribers, schema.deliveries
    values: dict[str, Any] = {"status": status}
    if status in ("unsubscribed", "bounced"):
        values["unsubscribed_at"] = now
        # Nothing more goes out to them, including what was still queued.
        conn.execute(
            d.update()
            .where(d.c.subscriber_id == subscriber_id, d.c.status.in_(_OPEN))
            .values(status="failed-permanent", last_error=f"subscriber {status}")
        )
    elif status == "active":
        values.update(confirmed_at=now, unsubscribed_at=None)
    conn.execute(s.update().where(s.c.id == subscriber_id).values(**values))


_OPEN = ("pending", "failed-temporary")


def create_deliveries(conn: Connection, digest_id: int, profile: str, now: datetime) -> int:
    """Queue the digest for every active subscriber of the profile."""
    s, sub, d = schema.subscribers, schema.subscriptions, schema.deliveries
    ids = (
        conn.execute(
            select(s.c.id)
            .join(sub, sub.c.subscriber_id == s.c.id)
            .where(sub.c.profile == profile, s.c.status == "active")
            .order_by(s.c.id)
        )
        .scalars()
        .all()
    )
    if ids:
        conn.execute(
            d.insert(),
            [
                {"digest_id": digest_id, "subscriber_id": i, "status": "pending", "created_at": now}
                for i in ids
            ],
        )
    return len(ids)


def due(conn: Connection, now: datetime, profiles: Sequence[str] | None = None) -> list[Due]:
    """Deliveries to attempt now: pending ones and temporary failures whose time came."""
    d, s, dg = schema.deliveries, schema.subscribers, schema.digests
    stmt = (
        select(d.c.id, d.c.digest_id, d.c.subscriber_id, d.c.attempts, s.c.email, s.c.secret)
        .join(s, s.c.id == d.c.subscriber_id)
        .join(dg, dg.c.id == d.c.digest_id)
        .where(
            s.c.status == "active",
            or_(
                d.c.status == "pending",
                and_(d.c.status == "failed-temporary", d.c.next_attempt_at <= now),
            ),
        )
        .order_by(d.c.digest_id, d.c.id)
    )
    if profiles is not None:
        stmt = stmt.where(dg.c.profile.in_(list(profiles)))
    return [
        Due(r.id, r.digest_id, r.subscriber_id, r.email, r.secret, r.attempts)
        for r in conn.execute(stmt)
    ]


def mark(
    conn: Connection,
    delivery_id: int,
    status: Literal["sent", "temporary", "permanent"],
    now: datetime,
    error: str | None = None,
) -> None:
    d = schema.deliveries
    if status == "sent":
        values: dict[str, Any] = {"status": "sent", "sent_at": now, "last_error": None}
    elif status == "permanent":
        values = {"status": "failed-permanent", "last_error": error}
    else:
        attempts = conn.execute(select(d.c.attempts).where(d.c.id == delivery_id)).scalar_one()
        attempts += 1
        if attempts >= MAX_ATTEMPTS:
            values = {"status": "failed-permanent", "last_error": f"gave up: {error}"}
        else:
            wait = min(FIRST_RETRY * 2 ** (attempts - 1), LAST_RETRY)
            values = {
                "status": "failed-temporary",
                "last_error": error,
                "next_attempt_at": now + wait,
            }
        values["attempts"] = attempts
    # Never downgrade a row that is already sent.
    conn.execute(d.update().where(d.c.id == delivery_id, d.c.status != "sent").values(**values))


def ledger(conn: Connection) -> list[Delivery]:
    d = schema.deliveries
    rows = conn.execute(select(d).order_by(d.c.id)).mappings()
    return [Delivery(**{k: r[k] for k in Delivery.__dataclass_fields__}) for r in rows]


def summary(conn: Connection) -> list[DigestDeliveries]:
    """Delivery counts per digest and status, newest digest first."""
    d, dg = schema.deliveries, schema.digests
    rows = conn.execute(
        select(dg.c.id, dg.c.profile, dg.c.created_at, dg.c.count, d.c.status, func.count(d.c.id))
        .join(d, d.c.digest_id == dg.c.id, isouter=True)
        .group_by(dg.c.id, dg.c.profile, dg.c.created_at, dg.c.count, d.c.status)
        .order_by(dg.c.id.desc())
    ).all()
    counts: dict[tuple[int, str, datetime, int], dict[str, int]] = {}
    for digest_id, profile, created, papers, status, n in rows:
        entry = counts.setdefault((digest_id, profile, created, papers), {})
        if status is not None:
            entry[status] = n
    return [
        DigestDeliveries(
            *digest,
            pending=n.get("pending", 0),
            sent=n.get("sent", 0),
            failed_temporary=n.get("failed-temporary", 0),
            failed_permanent=n.get("failed-permanent", 0),
        )
        for digest, n in counts.items()
    ]
