"""`digest serve --role scheduler|worker|web`: the daemon split over processes
that share one store (PostgreSQL across machines; SQLite on one).

- scheduler: exactly one is active, the holder of the store's leader lock
  (`Store.coordination.leader()`); others wait as standbys, trying the lock
  every `poll` seconds, and one takes over when the active one's session ends.
  It only enqueues: each tick it works out what is due now (the ingest
  interval's current slot, each profile's latest scheduled time within the
  misfire grace, the send slot) and queues it. The queue's key is (kind,
  profile, due time), so a takeover, or a restart, queues nothing twice, and
  several missed slots of one job coalesce into the latest.
- worker: any number. Claims the oldest ready job with a lease (renewed while
  it runs) and runs it through the pipeline's public functions. A job that
  fails is retried after 2**attempts polls (at least a second each), up to
  MAX_ATTEMPTS claims; one whose worker died, once its lease has run out.
- web: the HTTP side only, its rate-limit counters in the store.

The config is read afresh for every tick and every job, so a new profile or a
changed schedule needs no restart.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from digest import pipeline, service
from digest.config import load_settings
from digest.errors import DigestError
from digest.mailing import Job, JobKind
from digest.schedule import latest_run
from digest.settings import Settings
from digest.wiring import Store

log = logging.getLogger("digest.roles")

ROLES = ("all", "scheduler", "worker", "web")
LEASE = timedelta(minutes=5)  # renewed every third of it while a job runs
SEND_EVERY = timedelta(minutes=10)  # retries, and deliveries a dead worker left


@dataclass(slots=True)
class Stop:
    """Set by SIGTERM or SIGINT; `signal` names the first one received."""

    event: threading.Event
    signal: str | None = None

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)


@contextmanager
def stop_on_signals() -> Iterator[Stop]:
    """SIGTERM and SIGINT set the yielded Stop; the handlers before are restored
    on exit, so a second signal after that acts at once. Main thread only."""
    stop = Stop(threading.Event())

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.signal = stop.signal or signal.Signals(signum).name
        stop.event.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _now() -> datetime:
    return datetime.now(UTC)


def _reload(settings: Settings) -> Settings:
    """The config as it is now; the last good one when it has become invalid."""
    if settings.path is None:
        return settings
    try:
        return load_settings(settings.path)
    except DigestError as exc:
        log.error("config: %s (keeping the last good one)", exc, extra={"event": "config_bad"})
        return settings


def _slot(now: datetime, every: timedelta) -> datetime:
    step = every.total_seconds()
    return datetime.fromtimestamp(now.timestamp() // step * step, UTC)


def due_jobs(
    settings: Settings, now: datetime, *, ingest_every: timedelta, grace: timedelta
) -> list[tuple[JobKind, str, datetime]]:
    """What is due at `now`: (kind, profile, due time), the scheduler's whole plan."""
    due: list[tuple[JobKind, str, datetime]] = [("ingest", "", _slot(now, ingest_every))]
    for profile in service.profiles(settings):
        if (when := latest_run(profile, now, grace)) is not None:
            due.append(("digest", profile.name, when))
    due.append(("send", "", _slot(now, SEND_EVERY)))
    return due


def run_scheduler(
    settings: Settings,
    store: Store,
    stop: Stop,
    *,
    ingest_every: timedelta,
    grace: timedelta,
    poll: float,
) -> int:
    """Wait for the leader lock, then enqueue what is due every `poll` seconds
    until stopped (0) or the lock is lost (1: let the supervisor restart us)."""
    coordination = store.coordination
    leader = coordination.leader()
    waited = False
    while not leader.acquire():
        if not waited:
            log.info("scheduler: standby", extra={"event": "scheduler_standby"})
            waited = True
        if stop.wait(poll):
            return 0
    log.info("scheduler: active", extra={"event": "scheduler_active", "pid": os.getpid()})
    try:
        while True:
            if not leader.alive():
                log.error("scheduler: lost the lock", extra={"event": "scheduler_lost"})
                return 1
            settings = _reload(settings)
            now = _now()
            try:
                plan = due_jobs(settings, now, ingest_every=ingest_every, grace=grace)
                for kind, profile, due in plan:
                    if coordination.enqueue(kind, profile, due, now):
                        log.info(
                            "queued %s %s for %s",
                            kind,
                            profile,
                            due,
                            extra={"event": "job_queued", "kind": kind, "profile": profile},
                        )
            except DigestError as exc:
                log.error("scheduler: %s", exc, extra={"event": "scheduler_error"})
            if stop.wait(poll):
                return 0
    finally:
        leader.release()


def run_job(settings: Settings, store: Store, job: Job, now: datetime) -> dict[str, Any]:
    """One job through the pipeline's public functions; a summary for the log."""
    if job.kind == "ingest":
        report = pipeline.ingest(settings, store, now)
        return {"new": report.new, "errors": report.errors}
    if job.kind == "digest":
        reports, written = pipeline.run_profiles(settings, store, now, names=[job.profile])
        made = sum(1 for r in reports if r.digest_id is not None)
        return {"digests": made, "sent": sum(r.sent for r in reports), "written": len(written)}
    names = [job.profile] if job.profile else None  # a send job may be one profile's
    return pipeline.total(pipeline.send(settings, store, now, names=names))


@contextmanager
def _renewing(store: Store, job: Job, worker: str, lease: timedelta) -> Iterator[None]:
    """Renew the job's lease every third of it while the body runs."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(lease.total_seconds() / 3):
            try:
                store.coordination.renew(job.id, worker, _now() + lease)
            except DigestError as exc:  # a busy store: the next try may get through
                log.warning("lease of job %d: %s", job.id, exc)

    thread = threading.Thread(target=renew, name=f"lease-{job.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def run_worker(
    settings: Settings,
    store: Store,
    stop: Stop,
    *,
    poll: float,
    lease: timedelta = LEASE,
    until_idle: bool = False,
    name: str | None = None,
) -> int:
    """Claim and run jobs until stopped (the job in hand finishes first), or,
    with `until_idle`, until the queue has nothing ready."""
    worker = name or f"{socket.gethostname()}:{os.getpid()}"
    log.info("worker %s: started", worker, extra={"event": "worker_started", "worker": worker})
    while not stop.event.is_set():
        job = store.coordination.claim(worker, _now(), lease)
        if job is None:
            if until_idle or stop.wait(poll):
                break
            continue
        started = time.monotonic()
        fields = {"job": job.id, "kind": job.kind, "profile": job.profile, "worker": worker}
        error = None
        try:
            with _renewing(store, job, worker, lease):
                summary = run_job(_reload(settings), store, job, _now())
        except DigestError as exc:
            error = str(exc)
            log.error(
                "job %d (%s) failed: %s",
                job.id,
                job.kind,
                exc,
                extra={"event": "job_failed", **fields},
            )
        else:
            seconds = round(time.monotonic() - started, 3)
            log.info(
                "job %d (%s %s) done",
                job.id,
                job.kind,
                job.profile,
                extra={"event": "job_done", **fields, **summary, "seconds": seconds},
            )
        retry = _now() + timedelta(seconds=max(poll, 1.0) * 2**job.attempts)
        if not store.coordination.finish(job.id, worker, _now(), error, retry_at=retry):
            log.warning(
                "job %d: lease lost before it finished",
                job.id,
                extra={"event": "lease_lost", **fields},
            )
    log.info("worker %s: stopped", worker, extra={"event": "worker_stopped", "worker": worker})
    return 0


def run_web(settings: Settings, store: Store, stop: Stop, *, host: str, port: int) -> int:
    """The web side alone, rate limits counted in the store, until stopped."""
    from digest.web import WebServer, create_app

    web = WebServer(create_app(settings, store, shared_limits=True), host=host, port=port)
    web.start()
    log.info("web: %s", web.url, extra={"event": "web_started", "url": web.url})
    try:
        stop.event.wait()
    finally:
        web.stop()
    return 0
