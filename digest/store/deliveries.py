"""The delivery ledger, and the claims senders take on it.

A row is created in the same transaction as its digest, so a crash can never
leave a digest that nobody is due to receive. A sender claims rows in batches
(`claimed_by`, `lease_until`): on PostgreSQL with `SELECT ... FOR UPDATE SKIP
LOCKED`, on SQLite inside a `BEGIN IMMEDIATE` transaction (its one writer). The
claim stores the row's Message-ID, so a row whose sender died (its lease ran
out) goes out again as the same message. A row becomes `sent` only after the
SMTP server (or the outbox) accepted the message; until then it stays due.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select

from digest.mailing import Delivery, DigestDeliveries, Due, Outcome
from digest.store import schema, subscribers
from digest.store.transactions import StoreMixin

MAX_ATTEMPTS = 8  # temporary failures are retried across runs this many times
FIRST_RETRY = timedelta(minutes=5)
LAST_RETRY = timedelta(hours=6)
OPEN = ("pending", "failed-temporary")
# Outcomes wait at most LINGER seconds, or until FLUSH_AT of them, for one transaction:
# few transactions at any rate, and a SIGKILL forgets at most that many marks. At 5 ms
# a loaded sender wrote one transaction per 2-3 marks: a fifth of its CPU (bench/send.py).
LINGER = 0.05
FLUSH_AT = 500


@dataclass(frozen=True, slots=True)
class Mark:
    """One send outcome, to be written with others in one transaction."""

    delivery_id: int
    status: Outcome
    error: str | None = None
    bounced: int | None = None  # a subscriber whose mailbox does not exist


def create(conn: Connection, digest_id: int, profile: str, now: datetime) -> int:
    """Queue the digest for every active subscriber of the profile."""
    s, sub, d = schema.subscribers, schema.subscriptions, schema.deliveries
    ids = (
        conn.execute(
            select(s.c.id)
            .join(sub, sub.c.subscriber_id == s.c.id)
            .where(sub.c.profile == profile, sub.c.state == "active", s.c.status == "active")
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


def cancel_open(
    conn: Connection, subscriber_id: int, reason: str, profiles: Sequence[str] | None = None
) -> None:
    """Nothing more goes out to this subscriber (of these profiles: None, any),
    including what was still queued."""
    d, dg = schema.deliveries, schema.digests
    stmt = d.update().where(d.c.subscriber_id == subscriber_id, d.c.status.in_(OPEN))
    if profiles is not None:
        of = select(dg.c.id).where(dg.c.profile.in_(list(profiles))).scalar_subquery()
        stmt = stmt.where(d.c.digest_id.in_(of))
    conn.execute(
        stmt.values(status="failed-permanent", last_error=reason, claimed_by=None, lease_until=None)
    )


def _due_query(now: datetime, profiles: Sequence[str] | None) -> Any:
    d, s, dg = schema.deliveries, schema.subscribers, schema.digests
    stmt = (
        select(
            d.c.id,
            d.c.digest_id,
            d.c.subscriber_id,
            d.c.attempts,
            d.c.message_id,
            s.c.email,
            s.c.secret,
            dg.c.profile,
            s.c.generation,
        )
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
    return stmt


def _due(r: Any, message_id: str | None) -> Due:
    return Due(
        r.id,
        r.digest_id,
        r.subscriber_id,
        r.email,
        r.secret,
        r.attempts,
        message_id=message_id or "",
        profile=r.profile,
        generation=r.generation or 0,
    )


def due(conn: Connection, now: datetime, profiles: Sequence[str] | None = None) -> list[Due]:
    """Deliveries to attempt now, claimed or not: pending ones and temporary
    failures whose time came."""
    return [_due(r, r.message_id) for r in conn.execute(_due_query(now, profiles))]


def claim(
    conn: Connection,
    worker: str,
    now: datetime,
    *,
    clock: datetime,
    lease: float,
    limit: int,
    profiles: Sequence[str] | None,
    message_id: Callable[[int, int], str],
) -> list[Due]:
    """Up to `limit` due deliveries no live lease holds, claimed for `worker`
    until `clock` + `lease` seconds. Run it first in a write transaction (SQLite:
    BEGIN IMMEDIATE). `message_id(digest_id, subscriber_id)` names a row's
    message the first time it is claimed; later claims keep that name."""
    d = schema.deliveries
    stmt = (
        _due_query(now, profiles)
        .where(or_(d.c.lease_until.is_(None), d.c.lease_until <= clock))
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=d)
    rows = conn.execute(stmt).all()
    if not rows:
        return []
    named = {r.id: r.message_id or message_id(r.digest_id, r.subscriber_id) for r in rows}
    conn.execute(
        d.update()
        .where(d.c.id == bindparam("b_id"))
        .values(
            claimed_by=worker,
            lease_until=clock + timedelta(seconds=lease),
            message_id=bindparam("b_mid"),
        ),
        [{"b_id": i, "b_mid": m} for i, m in named.items()],
    )
    return [_due(r, named[r.id]) for r in rows]


def renew(conn: Connection, worker: str, until: datetime) -> int:
    """Extend the lease of every open row `worker` holds (its heartbeat)."""
    d = schema.deliveries
    result = conn.execute(
        d.update().where(d.c.claimed_by == worker, d.c.status.in_(OPEN)).values(lease_until=until)
    )
    return int(result.rowcount)


def release(conn: Connection, worker: str) -> int:
    """Give back what `worker` claimed and did not send: due again at once."""
    d = schema.deliveries
    result = conn.execute(
        d.update()
        .where(d.c.claimed_by == worker, d.c.status.in_(OPEN))
        .values(claimed_by=None, lease_until=None)
    )
    return int(result.rowcount)


def mark_many(conn: Connection, marks: Sequence[Mark], now: datetime) -> None:
    """Write send outcomes, a statement per kind. A sent row is never downgraded;
    every marked row leaves its claim."""
    d = schema.deliveries
    free = {"claimed_by": None, "lease_until": None}
    where = and_(d.c.id == bindparam("b_id"), d.c.status != "sent")
    sent = [{"b_id": m.delivery_id} for m in marks if m.status == "sent"]
    if sent:
        values = {"status": "sent", "sent_at": now, "last_error": None, **free}
        conn.execute(d.update().where(where).values(**values), sent)
    failed = [{"b_id": m.delivery_id, "b_error": m.error} for m in marks if m.status == "permanent"]
    later = [m for m in marks if m.status == "temporary"]
    if later:
        ids = [m.delivery_id for m in later]
        attempts = dict(conn.execute(select(d.c.id, d.c.attempts).where(d.c.id.in_(ids))).all())
        retry = []
        for m in later:
            n = attempts.get(m.delivery_id, 0) + 1
            if n >= MAX_ATTEMPTS:
                failed.append({"b_id": m.delivery_id, "b_error": f"gave up: {m.error}"})
                continue
            wait = min(FIRST_RETRY * 2 ** (n - 1), LAST_RETRY)
            retry.append({"b_id": m.delivery_id, "b_error": m.error, "b_n": n, "b_at": now + wait})
        if retry:
            stmt = d.update().where(where)
            again: dict[str, Any] = {
                "last_error": bindparam("b_error"),
                "attempts": bindparam("b_n"),
            }
            again["next_attempt_at"] = bindparam("b_at", type_=schema.UTCDateTime)
            conn.execute(stmt.values(status="failed-temporary", **again, **free), retry)
    if failed:
        stmt = d.update().where(where).values(status="failed-permanent", **free)
        conn.execute(stmt.values(last_error=bindparam("b_error")), failed)


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


class LedgerMethods(StoreMixin):
    """The `Store`'s ledger methods (mixed into it: it supplies the transactions)."""

    def due_deliveries(self, now: datetime, profiles: Sequence[str] | None = None) -> list[Due]:
        with self._tx() as conn:
            return due(conn, now, profiles)

    def claims(
        self,
        now: datetime,
        *,
        lease: float,
        batch: int,
        profiles: Sequence[str] | None = None,
        message_id: Callable[[int, int], str],
        worker: str | None = None,
    ) -> Claims:
        """A sender's claims on the deliveries due at `now`, `batch` at a time with a
        lease of `lease` seconds, named by `message_id(digest_id, subscriber_id)`.
        Iterate it, `put` each outcome, then `close` it (see `Claims`)."""
        worker = worker or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

        def take() -> list[Due]:
            with self._write_tx() as conn:
                clock = datetime.now(UTC)
                return claim(
                    conn,
                    worker,
                    now,
                    clock=clock,
                    lease=lease,
                    limit=batch,
                    profiles=profiles,
                    message_id=message_id,
                )

        def write(marks: list[Mark]) -> None:
            with self._write_tx() as conn:
                mark_many(conn, marks, now)
                for m in marks:
                    if m.bounced is not None:
                        subscribers.set_status(conn, m.bounced, "bounced", now, cause="bounce")

        def beat() -> None:
            with self._tx() as conn:
                renew(conn, worker, datetime.now(UTC) + timedelta(seconds=lease))

        def give_back() -> None:
            with self._tx() as conn:
                release(conn, worker)

        return Claims(claim=take, write=write, renew=beat, release=give_back, lease=lease)

    def mark_delivery(
        self, delivery_id: int, status: Outcome, now: datetime, error: str | None = None
    ) -> None:
        """Record one send outcome (a sender writes them in batches: `claims`)."""
        with self._tx() as conn:
            mark_many(conn, [Mark(delivery_id, status, error)], now)

    def deliveries(self) -> list[DigestDeliveries]:
        """How each digest's deliveries stand, newest digest first."""
        with self._tx() as conn:
            return summary(conn)

    def ledger(self) -> list[Delivery]:
        """Every delivery, oldest first: what was sent to whom, and what failed why."""
        with self._tx() as conn:
            return ledger(conn)


class Claims:
    """One sender's session on the ledger. Iterating yields its claimed rows,
    batch after batch (the next batch is claimed while this one goes out); `put`
    queues an outcome. A thread of its own does all the writing, so the event
    loop never waits on a transaction: outcomes go in batches (every FLUSH_AT of
    them or LINGER seconds after the first, whichever comes first), and it renews
    the lease every third of it. `close` writes what is left and gives
    back what was claimed and not sent."""

    def __init__(
        self,
        *,
        claim: Callable[[], list[Due]],
        write: Callable[[list[Mark]], None],
        renew: Callable[[], object],
        release: Callable[[], object],
        lease: float,
    ) -> None:
        self._claim, self._write, self._renew, self._release = claim, write, renew, release
        self._lease = lease
        self._marks: list[Mark] = []
        self._asked: list[Future[list[Due]]] = []
        self._wake = threading.Condition()
        self._closing = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="digest-ledger", daemon=True)
        self._thread.start()

    def _ask(self) -> Future[list[Due]]:
        future: Future[list[Due]] = Future()
        with self._wake:
            self._asked.append(future)
            self._wake.notify()
        return future

    def __iter__(self) -> Iterator[Due]:
        ahead = self._ask()
        while batch := ahead.result():
            ahead = self._ask()
            yield from batch

    def put(self, mark: Mark) -> None:
        with self._wake:
            self._marks.append(mark)
            if len(self._marks) in (1, FLUSH_AT):  # the first starts the linger
                self._wake.notify()

    def _wait(self, renewed: float) -> None:
        """Under the lock: wait until there is work, or the lease needs renewing."""
        deadline = None
        while not (self._closing or self._asked or len(self._marks) >= FLUSH_AT):
            now = time.monotonic()
            if self._marks:
                deadline = deadline or now + LINGER
                if now >= deadline:
                    break
                self._wake.wait(deadline - now)
            elif now - renewed > self._lease / 3:
                break
            else:
                self._wake.wait(self._lease / 3)

    def _run(self) -> None:
        renewed = time.monotonic()
        while True:
            with self._wake:
                self._wait(renewed)
                marks, self._marks = self._marks, []
                asked, self._asked = self._asked, []
                closing = self._closing
            try:
                if marks:
                    self._write(marks)
                for future in asked:
                    future.set_result(self._claim() if self._error is None else [])
                if time.monotonic() - renewed > self._lease / 3:
                    self._renew()
                    renewed = time.monotonic()
            except BaseException as exc:  # raised by close(); the claims wait for their lease
                self._error = self._error or exc
                for future in asked:
                    if not future.done():
                        future.set_exception(exc)
            if closing and not marks and not asked:
                return

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error
        self._release()
