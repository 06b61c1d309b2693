"""Subscribers and their subscriptions, one per (address, profile), and every change
to them written to the consent log (`consent`) in the same transaction.

An address is found by its identity (`addresses.identity`: case-insensitive) and
kept as first given. A subscription is `active`, `pending` (asked for on the web,
not confirmed) or `off` (stopped). A subscriber is `pending` (nothing confirmed
yet), `active` (mailed its active subscriptions), `paused`, `unsubscribed` (left:
nothing active) or `bounced`. Every change moves the subscriber's `generation` on:
a signed link names the generation it was made in, and `since_gen` says when each
subscription last (re)started, so a link made before a restart cannot stop it.
A change that changes nothing (say, a profile's `recipients` on each run) moves
nothing and logs nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from digest.addresses import identity
from digest.mailing import ConsentEvent, Subscriber, SubscriberStatus, SubscriptionState
from digest.store import consent, deliveries, schema
from digest.store.statements import insert_for
from digest.store.transactions import StoreMixin

_LEFT = ("unsubscribed", "bounced")


def _states(conn: Connection, subscriber_id: int) -> dict[str, tuple[str, int]]:
    sub = schema.subscriptions
    rows = conn.execute(
        select(sub.c.profile, sub.c.state, sub.c.since_gen)
        .where(sub.c.subscriber_id == subscriber_id)
        .order_by(sub.c.profile)
    )
    return {p: (st, g or 0) for p, st, g in rows}


def _subscriber(conn: Connection, row: Any) -> Subscriber:
    states = _states(conn, row["id"])
    return Subscriber(
        id=row["id"],
        email=row["email"],
        status=row["status"],
        secret=row["secret"],
        profiles=tuple(p for p, (st, _) in states.items() if st == "active"),
        created_at=row["created_at"],
        confirmed_at=row["confirmed_at"],
        generation=row["generation"] or 0,
        pending=tuple(p for p, (st, _) in states.items() if st == "pending"),
    )


def _row(conn: Connection, email: str) -> Any:
    s = schema.subscribers
    return conn.execute(select(s).where(s.c.identity == identity(email))).mappings().first()


def _by_id(conn: Connection, subscriber_id: int) -> Any:
    s = schema.subscribers
    return conn.execute(select(s).where(s.c.id == subscriber_id)).mappings().first()


def get(conn: Connection, email: str) -> Subscriber | None:
    row = _row(conn, email)
    return _subscriber(conn, row) if row else None


def get_by_id(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = _by_id(conn, subscriber_id)
    return _subscriber(conn, row) if row else None


def all_subscribers(conn: Connection) -> list[Subscriber]:
    s = schema.subscribers
    rows = conn.execute(select(s).order_by(s.c.email)).mappings().all()
    return [_subscriber(conn, r) for r in rows]


def _create(conn: Connection, email: str, now: datetime) -> Any:
    """The row for `email`, made `pending` with nothing subscribed if new."""
    s = schema.subscribers
    if (row := _row(conn, email)) is None:  # another process may add it meanwhile: theirs stands
        conn.execute(
            insert_for(conn, s)
            .values(
                email=email,
                identity=identity(email),
                status="pending",
                secret=secrets.token_urlsafe(24),
                generation=0,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
        row = _row(conn, email)
    return row


def _apply(
    conn: Connection,
    row: Any,
    now: datetime,
    *,
    cause: str,
    action: str,
    states: Mapping[str, SubscriptionState | None],
    status: SubscriberStatus | None = None,
    detail: str = "",
) -> bool:
    """Set the subscriptions in `states` (None: forget a pending one) and the
    status (None: what the subscriptions make it); if anything changed, move the
    generation on, stop what was queued for what stopped, and log it."""
    s, sub = schema.subscribers, schema.subscriptions
    sid, old_status, gen = row["id"], row["status"], (row["generation"] or 0) + 1
    have = _states(conn, sid)
    changed = [p for p, st in states.items() if (have[p][0] if p in have else None) != st]
    after = {p: st for p, (st, _) in have.items()}
    after.update({p: st for p, st in states.items() if st is not None})
    for p in (p for p, st in states.items() if st is None):
        after.pop(p, None)
    if status is None:
        if "active" in after.values():
            status = old_status if old_status in ("active", "paused") else "active"
        elif "pending" in after.values() and old_status != "bounced":
            status = "pending"
        else:
            status = "bounced" if old_status == "bounced" else "unsubscribed"
    if not changed and status == old_status:
        return False
    for p in changed:
        where = (sub.c.subscriber_id == sid) & (sub.c.profile == p)
        new = states[p]
        if new is None:
            conn.execute(sub.delete().where(where))
        elif p in have:
            values: dict[str, Any] = {"state": new, "changed_at": now}
            if new != "off" and have[p][0] == "off":
                values["since_gen"] = gen
            conn.execute(sub.update().where(where).values(**values))
        else:
            add = insert_for(conn, sub).values(
                subscriber_id=sid, profile=p, state=new, since_gen=gen, changed_at=now
            )
            conn.execute(add.on_conflict_do_nothing())
    values = {"status": status, "generation": gen}
    if status == "active" and old_status in ("pending", *_LEFT):
        values.update(confirmed_at=now, unsubscribed_at=None)
    if status in _LEFT and old_status not in _LEFT:
        values["unsubscribed_at"] = now
    conn.execute(s.update().where(s.c.id == sid).values(**values))
    stopped = [p for p in changed if states[p] != "active" and have.get(p, ("",))[0] == "active"]
    if status not in ("active",) and old_status == "active":
        deliveries.cancel_open(conn, sid, f"subscriber {status}")
    elif stopped:
        deliveries.cancel_open(conn, sid, "subscription stopped", profiles=stopped)
    shown = changed or sorted(p for p, st in after.items() if st == "active")
    consent.log(
        conn,
        sid,
        now,
        generation=gen,
        cause=cause,
        action=action,
        profiles=shown,
        status=status,
        detail=detail,
    )
    return True


def upsert(
    conn: Connection,
    email: str,
    profiles: Sequence[str],
    *,
    status: SubscriberStatus,
    now: datetime,
    reactivate: bool,
    cause: str = "cli",
) -> Subscriber:
    """Subscribe `email` to `profiles` (other profiles stay as they are).

    `status` "active": they are active at once (an admin's act: the CLI, an import,
    a profile's `recipients`). Without `reactivate` (a config file) an address that
    left, or a profile it stopped, stays so. "pending": asked for on the web, to be
    confirmed; nothing active changes and other pending requests are forgotten.
    """
    row = _create(conn, email, now)
    have = _states(conn, row["id"])
    states: dict[str, SubscriptionState | None] = {}
    if status == "pending":
        states = {p: None for p, (st, _) in have.items() if st == "pending"}
        states.update({p: "pending" for p in profiles if have.get(p, ("",))[0] != "active"})
        new_status = None
        action = "request"
    else:
        if not reactivate and row["status"] in _LEFT:
            return _subscriber(conn, row)
        keep_off = not reactivate
        states = {
            p: "active" for p in profiles if not (keep_off and have.get(p, ("",))[0] == "off")
        }
        new_status = status if row["status"] != "paused" or reactivate else None
        action = "add"
    _apply(conn, row, now, cause=cause, action=action, states=states, status=new_status)
    found = get_by_id(conn, row["id"])
    assert found is not None
    return found


def set_status(
    conn: Connection,
    subscriber_id: int,
    status: SubscriberStatus,
    now: datetime,
    *,
    cause: str = "cli",
    detail: str = "",
) -> None:
    """Unsubscribed or bounced: every subscription off; active: pending ones active."""
    row = _by_id(conn, subscriber_id)
    if row is None:
        return
    have = _states(conn, subscriber_id)
    states: dict[str, SubscriptionState | None] = {}
    if status in _LEFT:
        states = {p: ("off" if st == "active" else None) for p, (st, _) in have.items()}
        states = {p: st for p, st in states.items() if st != "off" or have[p][0] != "off"}
    elif status == "active":
        states = {p: "active" for p, (st, _) in have.items() if st == "pending"}
    action = {"unsubscribed": "leave", "bounced": "bounce", "active": "confirm"}.get(status, status)
    _apply(conn, row, now, cause=cause, action=action, states=states, status=status, detail=detail)


class SubscriberMethods(StoreMixin):
    """The `Store`'s subscriber methods (mixed into it: it supplies the transactions)."""

    def add_subscriber(
        self,
        email: str,
        profiles: Sequence[str],
        *,
        now: datetime,
        status: SubscriberStatus = "active",
        reactivate: bool = True,
        cause: str = "cli",
    ) -> Subscriber:
        """Subscribe `email` (normalised) to `profiles`; see `upsert`."""
        with self._tx() as conn:
            return upsert(
                conn, email, profiles, status=status, now=now, reactivate=reactivate, cause=cause
            )

    def subscriber(self, email: str) -> Subscriber | None:
        """The subscriber with this identity (case-insensitive), if any."""
        with self._tx() as conn:
            return get(conn, email)

    def subscriber_by_id(self, subscriber_id: int) -> Subscriber | None:
        with self._tx() as conn:
            return get_by_id(conn, subscriber_id)

    def subscribers(self) -> list[Subscriber]:
        with self._tx() as conn:
            return all_subscribers(conn)

    def set_subscriber_status(
        self, subscriber_id: int, status: SubscriberStatus, now: datetime, *, cause: str = "cli"
    ) -> None:
        with self._tx() as conn:
            set_status(conn, subscriber_id, status, now, cause=cause)

    def consent_log(self, subscriber_id: int) -> list[ConsentEvent]:
        """Every change of the subscriber's consent, oldest first."""
        with self._tx() as conn:
            return consent.history(conn, subscriber_id)

    def store_id(self) -> str:
        """The random id this store was made with: part of every Message-ID."""
        with self._tx() as conn:
            return consent.store_id(conn)

    def change_subscriptions(
        self,
        subscriber_id: int,
        now: datetime,
        *,
        cause: str,
        action: str,
        states: Mapping[str, SubscriptionState | None],
        status: SubscriberStatus | None = None,
        generation: int | None = None,
    ) -> bool | None:
        """A change asked for by a signed link made in `generation` (None: any); None
        when the subscriber is gone or the link's generation is no longer theirs."""
        with self._tx() as conn:
            row = _by_id(conn, subscriber_id)
            if row is None or (generation is not None and (row["generation"] or 0) != generation):
                return None
            return _apply(conn, row, now, cause=cause, action=action, states=states, status=status)

    def stop_subscriptions(
        self,
        subscriber_id: int,
        profiles: Collection[str] | None,
        generation: int,
        now: datetime,
        *,
        cause: str,
    ) -> tuple[bool, bool]:
        """Stop `profiles` (None: every one, and leave) for a link made in `generation`:
        (whether anything changed, whether the link was older than what it names)."""
        with self._tx() as conn:
            row = _by_id(conn, subscriber_id)
            if row is None:
                return False, True
            have = _states(conn, subscriber_id)
            named = have.keys() if profiles is None else [p for p in profiles if p in have]
            ours = [p for p in named if have[p][1] <= generation]
            stale = profiles is not None and len(ours) < len(profiles)
            states: dict[str, SubscriptionState | None] = {
                p: ("off" if have[p][0] == "active" else None) for p in ours if have[p][0] != "off"
            }
            status: SubscriberStatus | None = None
            if profiles is None and len(ours) == len(have) and row["status"] not in _LEFT:
                status = "unsubscribed"
            action = "leave" if profiles is None else "stop"
            changed = _apply(
                conn, row, now, cause=cause, action=action, states=states, status=status
            )
            return changed, stale
