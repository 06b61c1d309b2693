"""Many processes on one store: the scheduler's leader lock, the job queue and
the web's shared rate-limit counters. All of it is the database's own locking,
no protocol of ours on top:

- Leader: on PostgreSQL a session advisory lock (`pg_try_advisory_lock`) held on
  a connection of its own for the leader's lifetime; the server frees it when
  that session ends, a SIGKILL included. On SQLite (one machine) an exclusive
  `flock` on `<database>.scheduler.lock`, which the kernel frees the same way.
- Jobs: one row per (kind, profile, due time); enqueueing is an insert that
  does nothing on conflict, so a scheduler that takes over never queues a job
  twice. A worker claims the oldest ready row with one UPDATE whose subquery is
  `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's single writer makes the same
  statement atomic), for a lease it renews while it works. A row whose lease
  ran out (its worker died), or that failed and is to be retried, is ready
  again, up to MAX_ATTEMPTS claims.
- Rate limits: fixed-window counters, one upsert per request.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, suppress
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, and_, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from digest.mailing import Job, JobKind
from digest.store.failures import store_error
from digest.store.schema import jobs, rate_limits

MAX_ATTEMPTS = 3  # claims of one job before it is given up as failed
LEADER_KEY = 0x6469676573740001  # "digest" + 1: the scheduler's advisory lock
_PRUNE_EVERY = 200  # counter hits between deletes of expired windows


class Leader:
    """The scheduler's lock. `acquire()` never blocks: a standby calls it again."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._file is not None

    def acquire(self) -> bool:
        if self.held:
            return True
        try:
            if self._engine.dialect.name == "postgresql":
                return self._acquire_pg()
            return self._acquire_file()
        except (SQLAlchemyError, OSError) as exc:
            raise store_error(exc, self._engine.url, "taking the scheduler lock") from exc

    def _acquire_pg(self) -> bool:
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_KEY}).scalar()
        if got:
            self._conn = conn
        else:
            conn.close()
        return bool(got)

    def _acquire_file(self) -> bool:
        db = self._engine.url.database
        if not db or db == ":memory:":
            self._file = open(os.devnull, "rb")  # noqa: SIM115  # one process: nobody to exclude
            return True
        handle = open(Path(db).with_name(Path(db).name + ".scheduler.lock"), "ab")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def alive(self) -> bool:
        """The lock is still ours: on PostgreSQL, its session still answers."""
        if self._conn is None:
            return self._file is not None
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            with suppress(SQLAlchemyError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_KEY})
            with suppress(SQLAlchemyError):
                self._conn.close()
            self._conn = None
        if self._file is not None:
            self._file.close()  # closing drops the flock
            self._file = None


def _job(r: Any) -> Job:
    return Job(r.id, r.kind, r.profile, r.due_at, r.status, r.attempts, r.worker)


class Coordination:
    """The queue and counters of one store. Get it from `Store.coordination`."""

    def __init__(
        self, engine: Engine, tx: Callable[[], AbstractContextManager[Connection]]
    ) -> None:
        self.engine = engine
        self._tx = tx  # the store's: one transaction, errors as StoreError
        self._hits = 0

    def _insert(self, table: Any) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def leader(self) -> Leader:
        return Leader(self.engine)

    # -- the job queue ---------------------------------------------------------

    def enqueue(self, kind: JobKind, profile: str, due_at: datetime, now: datetime) -> bool:
        """Queue a job; False when that (kind, profile, due time) was queued before."""
        stmt = self._insert(jobs).values(
            kind=kind, profile=profile, due_at=due_at, status="queued", created_at=now
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=["kind", "profile", "due_at"])
        with self._tx() as conn:  # rowcount is not reliable here on PostgreSQL: RETURNING is
            return conn.execute(stmt.returning(jobs.c.id)).first() is not None

    def claim(self, worker: str, now: datetime, lease: timedelta) -> Job | None:
        """The oldest ready job, now running for `worker` until `now + lease`."""
        expired = and_(jobs.c.status == "running", jobs.c.lease_until < now)
        waited = or_(jobs.c.lease_until.is_(None), jobs.c.lease_until <= now)  # a retry's pause
        ready = or_(and_(jobs.c.status == "queued", jobs.c.due_at <= now, waited), expired)
        pick = select(jobs.c.id).where(ready).order_by(jobs.c.due_at, jobs.c.id).limit(1)
        if self.engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        with self._tx() as conn:
            conn.execute(  # a job whose workers kept dying is given up
                update(jobs)
                .where(expired, jobs.c.attempts >= MAX_ATTEMPTS)
                .values(status="failed", finished_at=now, error="lease expired", lease_until=None)
            )
            row = conn.execute(
                update(jobs)
                .where(jobs.c.id == pick.scalar_subquery())
                .values(
                    status="running",
                    worker=worker,
                    lease_until=now + lease,
                    attempts=jobs.c.attempts + 1,
                )
                .returning(*jobs.c)
            ).first()
        return None if row is None else _job(row)

    def renew(self, job_id: int, worker: str, until: datetime) -> bool:
        """Extend the lease; False when the job is no longer this worker's."""
        with self._tx() as conn:
            done = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.status == "running")
                .values(lease_until=until)
            )
        return bool(done.rowcount)

    def finish(
        self,
        job_id: int,
        worker: str,
        now: datetime,
        error: str | None = None,
        *,
        retry_at: datetime | None = None,
    ) -> bool:
        """Mark the job done, or failed with `error`: queued again for `retry_at`
        when given and it has claims left. False when its lease was lost."""
        mine = and_(jobs.c.id == job_id, jobs.c.worker == worker, jobs.c.status == "running")
        values: dict[str, Any] = {"finished_at": now, "error": error, "lease_until": None}
        values["status"] = "failed" if error else "done"
        with self._tx() as conn:
            if error and retry_at is not None:
                again = conn.execute(
                    update(jobs)
                    .where(mine, jobs.c.attempts < MAX_ATTEMPTS)
                    .values(status="queued", error=error, lease_until=retry_at)
                )
                if again.rowcount:
                    return True
            return bool(conn.execute(update(jobs).where(mine).values(**values)).rowcount)

    def jobs(self, status: str | None = None) -> list[Job]:
        stmt = select(jobs).order_by(jobs.c.due_at, jobs.c.id)
        if status is not None:
            stmt = stmt.where(jobs.c.status == status)
        with self._tx() as conn:
            return [_job(r) for r in conn.execute(stmt)]

    # -- rate limits -----------------------------------------------------------

    def hit(self, key: str, per: int, now: float) -> tuple[int, float]:
        """Count a request against `key` in the current `per`-second window.

        Returns the window's count with this request, and the seconds until the
        window ends."""
        window = int(now // per) * per
        stmt = self._insert(rate_limits).values(
            key=key, window=window, expires=window + per, count=1
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["key", "window"], set_={"count": rate_limits.c.count + 1}
        ).returning(rate_limits.c.count)
        self._hits += 1
        with self._tx() as conn:
            count = int(conn.execute(stmt).scalar_one())
            if self._hits % _PRUNE_EVERY == 0:
                conn.execute(rate_limits.delete().where(rate_limits.c.expires < int(now)))
        return count, window + per - now
