"""The daemon (`digest serve`): when each job runs. The only module that imports APScheduler.

Two kinds of job, kept in the store's own database (table `apscheduler_jobs`) so
that a restarted daemon knows what it missed:

- `ingest`: every `ingest_every` (default 2 hours), `pipeline.ingest`. A new
  ingest job runs at once. A late one always runs, once.
- `profile:<name>`: at the profile's `schedule` in its `timezone`,
  `pipeline.run_profiles(..., names=[name])` (digest, archive, feeds, email).
  A run missed by at most `misfire_grace_time` seconds (default 3600) runs when
  the daemon is back; a later one is skipped, and the next digest holds its
  papers (the profile's window only moves when a digest is recorded).

Several missed runs of one job are coalesced into one. Jobs run one at a time,
in a single worker thread. On start the stored jobs are matched to the config:
a job whose schedule is unchanged keeps its next run time (so a run missed
while the daemon was down is not lost), a changed one is rescheduled, and jobs
of profiles that are gone (or lost their schedule) are removed. A profile's
keywords and other settings are read afresh at every run; only a changed
schedule needs a restart.

Schedules are wall-clock times: on the day clocks go back a time in the
repeated hour fires once (the first time), and on the day they go forward a
time that does not exist (02:30) fires once, an hour later by the new clock
(03:30). See `WallClockTrigger`.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from digest import pipeline, service, wiring
from digest.config import load_settings
from digest.errors import DigestError
from digest.models import Profile
from digest.selection.profiles import DAYS, parse_schedule
from digest.settings import INGEST_EVERY, MISFIRE_GRACE_TIME, Settings
from digest.wiring import Store

log = logging.getLogger("digest.schedule")

JOB_TABLE = "apscheduler_jobs"
INGEST_JOB = "ingest"
PROFILE_JOB = "profile:"  # + the profile's name
_WATCH_SECONDS = 5.0  # how often serve() checks that the scheduler thread is alive

# The store URL the daemon in this process was started with. Jobs read it
# rather than carry it in their arguments, which APScheduler pickles into the
# database: a URL may hold a password.
_store_url: str | None = None


class WallClockTrigger(CronTrigger):  # type: ignore[misc]
    """A CronTrigger that fires at most once for each matching wall-clock time.

    APScheduler 3.11's CronTrigger fires twice on the day clocks go back when
    its time falls in the repeated hour (01:30 EDT, then 01:30 EST); this one
    skips the second pass. For a time that does not exist on the day clocks go
    forward (02:30), CronTrigger returns that non-existent local time, which is
    the instant 03:30 by the new clock; this one returns it as 03:30.
    """

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire: datetime | None = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None and _second_pass(fire):
            fire = super().get_next_fire_time(fire, fire)
        return None if fire is None else datetime.fromtimestamp(fire.timestamp(), fire.tzinfo)


def _second_pass(when: datetime) -> bool:
    """`when` is the second occurrence of a wall-clock time repeated as clocks go back."""
    if when.fold != 1:
        return False
    first, second = when.replace(fold=0).utcoffset(), when.utcoffset()
    return first is not None and second is not None and first > second


def triggers(profile: Profile) -> CronTrigger | None:
    """The trigger of the profile's digest, or None when it has no `schedule`.

    Days go to APScheduler by name: its day numbers start at Monday = 0, unlike cron's.
    """
    if not profile.schedule:
        return None
    days, hour, minute = parse_schedule(profile.schedule)
    return WallClockTrigger(
        day_of_week=",".join(DAYS[d] for d in days),
        hour=hour,
        minute=minute,
        second=0,
        timezone=profile.timezone,
    )


def latest_run(profile: Profile, now: datetime, grace: timedelta) -> datetime | None:
    """The profile's latest scheduled time in (now - grace, now], in UTC, or None."""
    trigger = triggers(profile)
    if trigger is None:
        return None
    latest = None
    fire = trigger.get_next_fire_time(None, now - grace)
    while fire is not None and fire <= now:
        if fire > now - grace:
            latest = fire.astimezone(UTC)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest


# -- jobs: module-level so that stored jobs can name them --------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _open(config_path: str | None, store_url: str | None) -> tuple[Settings, Store]:
    settings = load_settings(Path(config_path) if config_path else None)
    url = store_url or _store_url or wiring.store_url(settings)
    return settings, wiring.open_store(url)


def ingest_job(
    config_path: str | None, store_url: str | None = None, *, now: datetime | None = None
) -> None:
    """Ingest every configured source, with the config as it is now. `now`: the
    clock's time unless given (the scheduler never gives it)."""
    started = time.monotonic()
    try:
        settings, store = _open(config_path, store_url)
        try:
            report = pipeline.ingest(settings, store, now or _now())
        finally:
            store.close()
    except DigestError as exc:
        log.error("ingest failed: %s", exc, extra={"event": "job_failed", "job": INGEST_JOB})
        return
    log.info(
        "ingest: %d sources, %d new, %d failed",
        len(report.sources),
        report.new,
        report.errors,
        extra={
            "event": "job_done",
            "job": INGEST_JOB,
            "sources": len(report.sources),
            "entries": report.entries,
            "new": report.new,
            "duplicates": report.duplicates,
            "errors": report.errors,
            "seconds": round(time.monotonic() - started, 3),
        },
    )


def profile_job(
    config_path: str | None,
    profile_name: str,
    store_url: str | None = None,
    *,
    now: datetime | None = None,
) -> None:
    """Make, publish and send one profile's digest, with the config as it is now."""
    started = time.monotonic()
    job = PROFILE_JOB + profile_name
    try:
        settings, store = _open(config_path, store_url)
        try:
            when = now or _now()
            reports, written = pipeline.run_profiles(settings, store, when, names=[profile_name])
        finally:
            store.close()
    except DigestError as exc:
        log.error(
            "digest of %s failed: %s",
            profile_name,
            exc,
            extra={"event": "job_failed", "job": job, "profile": profile_name},
        )
        return
    log.info(
        "digest of %s: %d picked",
        profile_name,
        sum(r.picked for r in reports),
        extra={
            "event": "job_done",
            "job": job,
            "profile": profile_name,
            "digests": sum(1 for r in reports if r.digest_id is not None),
            "picked": sum(r.picked for r in reports),
            "written": len(written),
            "sent": sum(r.sent for r in reports),
            "failed": sum(r.failed for r in reports),
            "seconds": round(time.monotonic() - started, 3),
        },
    )


# -- the scheduler -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Spec:
    id: str
    func: str  # a textual reference, as stored
    args: tuple[Any, ...]
    name: str
    trigger: Any
    first_run: datetime  # when a new job (or one whose schedule changed) runs first
    misfire_grace_time: int | None


def _schedule_key(trigger: Any) -> str:
    """What must match for a stored job to keep its next run time."""
    if isinstance(trigger, IntervalTrigger):
        return f"interval {trigger.interval} {trigger.timezone}"
    return f"{type(trigger).__name__} {trigger} {trigger.timezone}"


def _specs(
    settings: Settings,
    profiles: list[Profile],
    *,
    ingest_every: timedelta,
    misfire_grace_time: int | None,
    now: datetime,
) -> list[_Spec]:
    config = str(settings.path.resolve()) if settings.path is not None else None
    specs = [
        _Spec(
            id=INGEST_JOB,
            func=f"{__name__}:ingest_job",
            args=(config,),
            name="ingest",
            trigger=IntervalTrigger(
                seconds=int(ingest_every.total_seconds()), start_date=now, timezone="UTC"
            ),
            first_run=now,
            misfire_grace_time=None,  # a late ingest is always worth doing
        )
    ]
    for profile in profiles:
        trigger = triggers(profile)
        if trigger is None:
            continue
        specs.append(
            _Spec(
                id=PROFILE_JOB + profile.name,
                func=f"{__name__}:profile_job",
                args=(config, profile.name),
                name=f"digest {profile.name} ({profile.schedule}, {profile.timezone})",
                trigger=trigger,
                first_run=trigger.get_next_fire_time(None, now),
                misfire_grace_time=misfire_grace_time,
            )
        )
    return specs


def _sync_jobs(scheduler: Any, specs: list[_Spec]) -> None:
    """Make the stored jobs what `specs` say, keeping next run times that still hold."""
    stored = {job.id: job for job in scheduler.get_jobs()}
    for spec in specs:
        options: dict[str, Any] = {
            "func": spec.func,
            "args": spec.args,
            "name": spec.name,
            "misfire_grace_time": spec.misfire_grace_time,
            "coalesce": True,
            "max_instances": 1,
        }
        old = stored.pop(spec.id, None)
        if (
            old is not None
            and old.next_run_time is not None  # a paused job is started afresh
            and _schedule_key(old.trigger) == _schedule_key(spec.trigger)
        ):
            # Not add_job(replace_existing=True): that would recompute the next run
            # time from now and drop a run missed while the daemon was down.
            scheduler.modify_job(spec.id, **options)
            how = "kept"
        else:
            scheduler.add_job(
                trigger=spec.trigger,
                id=spec.id,
                next_run_time=spec.first_run,
                replace_existing=True,
                **options,
            )
            how = "scheduled" if old is None else "rescheduled"
        job = scheduler.get_job(spec.id)
        log.info(
            "job %s %s, next run %s",
            spec.id,
            how,
            job.next_run_time,
            extra={"event": f"job_{how}", "job": spec.id, "next_run": job.next_run_time},
        )
    for job_id in stored:
        scheduler.remove_job(job_id)
        log.info("job %s removed", job_id, extra={"event": "job_removed", "job": job_id})


def _on_skipped(event: Any) -> None:
    """A run that did not happen: missed by more than its grace time, or the
    job was still running from before."""
    missed = event.code == EVENT_JOB_MISSED
    log.warning(
        "job %s skipped its %s run: %s",
        event.job_id,
        event.scheduled_run_time if missed else event.scheduled_run_times[-1],
        "later than its misfire grace time" if missed else "still running",
        extra={
            "event": "job_missed" if missed else "job_still_running",
            "job": event.job_id,
            "scheduled": event.scheduled_run_time if missed else event.scheduled_run_times[-1],
        },
    )


def build_scheduler(
    settings: Settings,
    store_url: str,
    *,
    ingest_every: timedelta = INGEST_EVERY,
    misfire_grace_time: int | None = MISFIRE_GRACE_TIME,
    now: datetime | None = None,
    scheduler: Any = None,
    executor: Any = None,
) -> Any:
    """The daemon's scheduler, started *paused*, its stored jobs matched to `settings`.

    Call `.resume()` to let it run jobs (serve() does) and `.shutdown()` when
    done. Jobs are kept in `store_url`'s database. `misfire_grace_time` None:
    a missed digest always runs when the daemon is back. `scheduler` (an
    unstarted APScheduler scheduler; default a BackgroundScheduler), `executor`
    (default one worker thread) and `now` are for tests.
    """
    global _store_url
    if ingest_every < timedelta(minutes=1):
        raise ValueError("ingest_every must be at least a minute")
    if misfire_grace_time is not None and misfire_grace_time < 1:
        raise ValueError("misfire_grace_time must be at least 1 second, or None")
    profiles = service.profiles(settings)  # config problems surface before anything runs
    specs = _specs(
        settings,
        profiles,
        ingest_every=ingest_every,
        misfire_grace_time=misfire_grace_time,
        now=_now() if now is None else now,
    )
    store = wiring.open_store(store_url)  # migrated; its engine (SQLite pragmas too) holds the jobs
    sched = BackgroundScheduler() if scheduler is None else scheduler
    try:
        sched.configure(
            jobstores={"default": SQLAlchemyJobStore(engine=store.engine, tablename=JOB_TABLE)},
            executors={
                "default": ThreadPoolExecutor(max_workers=1) if executor is None else executor
            },
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": misfire_grace_time,
            },
            timezone="UTC",
        )
        sched.add_listener(_on_skipped, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        _store_url = store_url
        sched.start(paused=True)
    except BaseException:
        store.close()
        raise
    try:
        _sync_jobs(sched, specs)
    except BaseException:
        sched.shutdown(wait=False)
        raise
    return sched


def serve(
    settings: Settings,
    store_url: str,
    *,
    ingest_every: timedelta = INGEST_EVERY,
    misfire_grace_time: int | None = MISFIRE_GRACE_TIME,
) -> int:
    """Run the scheduler until SIGTERM or SIGINT; return the exit status.

    A signal lets the job in hand finish, then stops: status 0. A second
    signal acts at once (the default handlers are back by then). Status 1 if
    the scheduler's thread died. Call from the main thread.
    """
    from digest.roles import stop_on_signals  # roles imports this module

    status = 1
    with ExitStack() as handlers:
        stop = handlers.enter_context(stop_on_signals())
        scheduler = build_scheduler(
            settings, store_url, ingest_every=ingest_every, misfire_grace_time=misfire_grace_time
        )
        try:
            scheduler.resume()
            jobs = {job.id: job.next_run_time for job in scheduler.get_jobs()}
            log.info(
                "daemon started with %d jobs",
                len(jobs),
                extra={"event": "daemon_started", "jobs": jobs},
            )
            status = 0
            while not stop.wait(_WATCH_SECONDS):
                thread = getattr(scheduler, "_thread", None)
                if thread is not None and not thread.is_alive():
                    log.error("the scheduler thread died", extra={"event": "scheduler_died"})
                    status = 1
                    break
        finally:
            handlers.close()  # the default handlers are back: a second signal acts at once
            if stop.signal:
                log.info(
                    "stopping on %s: finishing the job in hand",
                    stop.signal,
                    extra={"event": "daemon_stopping", "signal": stop.signal},
                )
            scheduler.shutdown(wait=True)
            log.info("daemon stopped", extra={"event": "daemon_stopped", "status": status})
    return status
