"""The daemon's schedule, through public APIs only, with the real pipeline on a
temporary store.

- When a job is due is its trigger's `get_next_fire_time(previous, now)`, asked with
  an explicit `now` (as the scheduler asks it): weekdays, DST nights, intervals.
- What a (re)start decides (keep, reschedule, remove a stored job) is
  `build_scheduler(..., now=...)`, read back with `get_jobs()`.
- What a daemon does with runs it missed is the real scheduler on the real clock:
  the stored jobs are made as if the daemon went down before a time a few minutes
  (or days) ago, then a restarted daemon runs; its listener events say what ran.
- The job functions are called directly with an injected `now`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import create_engine, text

from digest import schedule, service, wiring
from digest.config import load_settings
from digest.models import Profile
from digest.schedule import build_scheduler, triggers
from digest.settings import Settings
from tests.httpserver import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "config" / "samples" / "arxiv-cs-lg.rss"
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=BERLIN)  # a Monday, 06:00 in Berlin


def write_config(
    folder: Path, profiles: dict[str, tuple[str | None, str]], *, source: str | None = None
) -> Settings:
    """A config whose profiles are {name: (schedule, timezone)}, reading the bundled
    arXiv sample (or `source`), output and outbox in `folder`."""
    (folder / "profiles").mkdir(exist_ok=True)
    for old in (folder / "profiles").glob("*.yaml"):
        old.unlink()
    for name, (when, tz) in profiles.items():
        lines = [
            f"name: {name}",
            "keywords: [scaling, learning rate, training]",
            "min_score: 1",
            f"timezone: {tz}",
            "recipients: [lab@example.org]",
        ]
        if when is not None:
            lines.append(f'schedule: "{when}"')
        (folder / "profiles" / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    location = f"url: {source}" if source else f"path: {SAMPLE}"
    path = folder / "digest.yaml"
    path.write_text(
        "profiles: profiles\noutput: out\nemail:\n  outbox: outbox\n"
        f"sources:\n  - name: arxiv\n    kind: feed\n    {location}\n"
    )
    return load_settings(path)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'digest.db'}"


def profile(when: str | None, tz: str = "Europe/Berlin") -> Profile:
    return Profile(name="p", title="p", schedule=when, timezone=tz)


def fires(trigger: Any, after: datetime, n: int) -> list[datetime]:
    """The next `n` fire times strictly after `after`, asked as the scheduler asks."""
    out: list[datetime] = []
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    while fire is not None and len(out) < n:
        out.append(fire)
        fire = trigger.get_next_fire_time(fire, fire)
    return out


def minute(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


class Events:
    """What a running scheduler reports: (event code, job id, scheduled run time)."""

    def __init__(self, scheduler: Any) -> None:
        self.seen: list[tuple[int, str, datetime]] = []
        self._changed = threading.Condition()
        scheduler.add_listener(self._on, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)

    def _on(self, event: JobExecutionEvent) -> None:
        with self._changed:
            self.seen.append((event.code, event.job_id, event.scheduled_run_time))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 60) -> list[tuple[int, str, datetime]]:
        with self._changed:
            assert self._changed.wait_for(lambda: len(self.seen) >= count, timeout), self.seen
            return list(self.seen)


class Idle(BaseScheduler):  # type: ignore[misc]
    """A scheduler that never runs a job (APScheduler's extension points: `wakeup`, `shutdown`).
    For reading back what a start stored: a BackgroundScheduler shut down while
    paused may still process due jobs once, and move their next run times."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


def stored(settings: Settings, store_url: str, **options: Any) -> dict[str, Any]:
    """The jobs a start at `now` leaves in the store, by id."""
    sched = build_scheduler(settings, store_url, scheduler=Idle(), **options)
    jobs = {job.id: job for job in sched.get_jobs()}
    sched.shutdown()
    return jobs


def restart(settings: Settings, store_url: str, **options: Any) -> tuple[Any, Events]:
    """A daemon coming back: the real scheduler, its jobs matched, then resumed."""
    sched = build_scheduler(settings, store_url, **options)
    events = Events(sched)
    sched.resume()
    return sched, events


# -- triggers ----------------------------------------------------------------


def test_trigger_passes_day_names_not_numbers() -> None:
    trigger = triggers(profile("mon-fri 07:00"))
    assert trigger is not None
    assert "day_of_week='mon,tue,wed,thu,fri'" in str(trigger)
    assert "hour='7'" in str(trigger)
    assert "minute='0'" in str(trigger)
    assert str(trigger.timezone) == "Europe/Berlin"


def test_weekdays_are_the_ones_written() -> None:
    # From Friday 08:00 the next weekday runs are Mon, Tue, Wed: numbering
    # days like cron (0 = Sunday) would give Tue..Sat.
    friday = datetime(2026, 11, 20, 8, 0, tzinfo=BERLIN)
    got = fires(triggers(profile("mon-fri 07:00")), friday, 6)
    assert [d.strftime("%a %d %H:%M") for d in got] == [
        "Mon 23 07:00",
        "Tue 24 07:00",
        "Wed 25 07:00",
        "Thu 26 07:00",
        "Fri 27 07:00",
        "Mon 30 07:00",
    ]
    assert all(d.tzinfo == BERLIN for d in got)
    sundays = fires(triggers(profile("sun 09:30")), friday, 2)
    assert [(d.date(), d.hour, d.minute) for d in sundays] == [
        (date(2026, 11, 22), 9, 30),
        (date(2026, 11, 29), 9, 30),
    ]
    assert fires(triggers(profile("sat,mon 18:00")), friday, 2)[0].date() == date(2026, 11, 21)


def test_a_fire_time_is_at_or_after_now_and_zones_agree() -> None:
    daily = triggers(profile("daily 07:00"))
    at_seven = datetime(2026, 11, 23, 7, 0, tzinfo=BERLIN)
    assert daily.get_next_fire_time(None, at_seven) == at_seven
    assert daily.get_next_fire_time(at_seven, at_seven) == at_seven + timedelta(days=1)
    # `now` in another zone is the same instant
    assert daily.get_next_fire_time(None, at_seven.astimezone(UTC)) == at_seven


def test_no_schedule_no_trigger() -> None:
    assert triggers(profile(None)) is None


def test_a_running_daemon_s_jobs_fire_on_time(tmp_path: Path, store_url: str) -> None:
    # What a daemon running through one day runs, and when: its stored jobs' triggers.
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    jobs = stored(settings, store_url, ingest_every=timedelta(hours=4), now=MONDAY)
    ingest, morning = jobs["ingest"], jobs["profile:morning"]
    assert ingest.next_run_time == MONDAY  # a new ingest job runs at once
    ingests = [MONDAY, *fires(ingest.trigger, MONDAY, 5)]
    assert [d.astimezone(BERLIN).strftime("%a %H:%M") for d in ingests] == [
        "Mon 06:00",
        "Mon 10:00",
        "Mon 14:00",
        "Mon 18:00",
        "Mon 22:00",
        "Tue 02:00",
    ]
    assert morning.next_run_time == MONDAY.replace(hour=7)
    assert fires(morning.trigger, morning.next_run_time, 2) == [
        MONDAY.replace(hour=7) + timedelta(days=1),
        MONDAY.replace(hour=7) + timedelta(days=2),
    ]


# The four DST days of 2026 in the two zones, with a time that is missing
# (spring) or repeated (autumn) that night, and the one instant it must run at.
DST_CASES = [
    # spring forward: 02:30 does not exist; runs once at 03:30 by the new clock
    ("Europe/Berlin", date(2026, 3, 29), "02:30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    ("America/New_York", date(2026, 3, 8), "02:30", datetime(2026, 3, 8, 7, 30, tzinfo=UTC)),
    # fall back: the time happens twice; runs once, the first time
    ("Europe/Berlin", date(2026, 10, 25), "02:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ("America/New_York", date(2026, 11, 1), "01:30", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
]


@pytest.mark.parametrize(("tz", "day", "at", "instant"), DST_CASES)
def test_dst_day_runs_exactly_once(tz: str, day: date, at: str, instant: datetime) -> None:
    zone = ZoneInfo(tz)
    before = datetime(day.year, day.month, day.day, tzinfo=zone) - timedelta(days=3)
    got = fires(triggers(profile(f"daily {at}", tz)), before, 7)
    local_days = [d.astimezone(zone).date() for d in got]
    assert local_days == [before.date() + timedelta(days=i) for i in range(7)]
    (on_the_day,) = [d for d in got if d.date() == day]
    # (compared in UTC: Python never finds a time in a repeated hour equal to
    # one in another zone, and ignores `fold` within a zone)
    assert on_the_day.astimezone(UTC) == instant
    # shown as a real wall-clock time of that zone
    assert on_the_day.isoformat() == instant.astimezone(zone).isoformat()
    others = [d for d in got if d.date() != day]
    assert all(d.strftime("%H:%M") == at for d in others)


def test_plain_crontrigger_fires_twice_when_clocks_go_back() -> None:
    # Why WallClockTrigger exists. If APScheduler fixes this, it can go.
    plain = CronTrigger(hour=1, minute=30, second=0, timezone=NEW_YORK)
    first = plain.get_next_fire_time(None, datetime(2026, 11, 1, 0, 0, tzinfo=NEW_YORK))
    second = plain.get_next_fire_time(first, first)
    assert first.date() == second.date() == date(2026, 11, 1)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)
    ours = triggers(profile("daily 01:30", "America/New_York"))
    assert ours is not None
    assert ours.get_next_fire_time(first, first).date() == date(2026, 11, 2)


# -- what a (re)start decides, at an explicit `now` ----------------------------


def test_jobs_defaults_and_no_duplicates_on_restart(tmp_path: Path, store_url: str) -> None:
    settings = write_config(
        tmp_path,
        {"morning": ("mon-fri 07:00", "Europe/Berlin"), "unscheduled": (None, "UTC")},
    )
    for n in range(3):
        jobs = stored(settings, store_url, now=MONDAY + timedelta(minutes=n))
    assert set(jobs) == {"ingest", "profile:morning"}
    engine = create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from apscheduler_jobs")).scalar() == 2
    engine.dispose()

    morning = jobs["profile:morning"]
    assert morning.func_ref == "digest.schedule:profile_job"
    # the store URL is not pickled into the database: it may hold a password
    assert settings.path is not None
    assert morning.args == (str(settings.path.resolve()), "morning")
    assert (morning.coalesce, morning.max_instances, morning.misfire_grace_time) == (True, 1, 3600)
    assert morning.next_run_time == datetime(2026, 11, 23, 7, 0, tzinfo=BERLIN)
    ingest = jobs["ingest"]
    assert ingest.func_ref == "digest.schedule:ingest_job"
    assert (ingest.coalesce, ingest.max_instances, ingest.misfire_grace_time) == (True, 1, None)
    # kept from the first start, not moved to each restart's `now`
    assert ingest.next_run_time == MONDAY
    assert ingest.trigger.interval == timedelta(hours=2)


def test_restart_follows_the_profiles(tmp_path: Path, store_url: str) -> None:
    settings = write_config(
        tmp_path,
        {
            "kept": ("daily 07:00", "Europe/Berlin"),
            "moved": ("daily 07:00", "Europe/Berlin"),
            "gone": ("daily 07:00", "Europe/Berlin"),
            "unscheduled": ("daily 07:00", "Europe/Berlin"),
        },
    )
    assert len(stored(settings, store_url, now=MONDAY)) == 5

    back = MONDAY.replace(hour=7, minute=20)
    settings = write_config(
        tmp_path,
        {
            "kept": ("daily 07:00", "Europe/Berlin"),
            "moved": ("daily 07:00", "America/New_York"),
            "unscheduled": (None, "Europe/Berlin"),
        },
    )
    jobs = stored(
        settings, store_url, ingest_every=timedelta(hours=6), misfire_grace_time=600, now=back
    )
    assert set(jobs) == {"ingest", "profile:kept", "profile:moved"}
    # unchanged schedule: still due at 07:00 (missed), with the new grace time
    assert jobs["profile:kept"].next_run_time == MONDAY.replace(hour=7)
    assert jobs["profile:kept"].misfire_grace_time == 600
    # changed: rescheduled from now
    assert jobs["profile:moved"].next_run_time == datetime(2026, 11, 23, 7, 0, tzinfo=NEW_YORK)
    assert jobs["ingest"].trigger.interval == timedelta(hours=6)
    assert jobs["ingest"].next_run_time == back


def test_bad_options_are_refused(tmp_path: Path, store_url: str) -> None:
    with pytest.raises(ValueError, match="ingest_every"):
        build_scheduler(Settings(), store_url, ingest_every=timedelta(seconds=5))
    with pytest.raises(ValueError, match="misfire_grace_time"):
        build_scheduler(Settings(), store_url, misfire_grace_time=0)
    assert not (tmp_path / "digest.db").exists()


# -- missed runs: the real scheduler on the real clock --------------------------


def test_down_before_the_digest_back_20_minutes_late_runs_it_once(
    tmp_path: Path, store_url: str
) -> None:
    due = minute(datetime.now(UTC) - timedelta(minutes=20))
    settings = write_config(tmp_path, {"morning": (f"daily {due:%H:%M}", "UTC")})
    stored(settings, store_url, now=due - timedelta(hours=1))

    sched, events = restart(settings, store_url)
    # the restart kept the missed run (add_job(replace_existing=True) would have
    # moved it to tomorrow)
    seen = events.wait_for(2)
    nxt = sched.get_job("profile:morning").next_run_time
    sched.shutdown()
    assert sorted((code, job) for code, job, _ in seen) == [
        (EVENT_JOB_EXECUTED, "ingest"),
        (EVENT_JOB_EXECUTED, "profile:morning"),
    ]
    assert [when for _, job, when in seen if job == "profile:morning"] == [due]
    assert nxt == due + timedelta(days=1)
    # the real pipeline ran: a digest recorded and mailed to the outbox
    with wiring.open_store(store_url) as store:
        (digest,) = store.digests(service.profile(settings, "morning"))
        assert digest.picks
    assert len(list(settings.email.outbox.glob("*.eml"))) == 1


def test_replace_existing_alone_would_lose_the_missed_run(tmp_path: Path, store_url: str) -> None:
    # What APScheduler does with a plain re-add on start: the reason a job whose
    # schedule is unchanged is modified instead.
    due = minute(datetime.now(UTC) - timedelta(minutes=20))
    settings = write_config(tmp_path, {"morning": (f"daily {due:%H:%M}", "UTC")})
    stored(settings, store_url, now=due - timedelta(hours=1))
    sched = build_scheduler(settings, store_url, scheduler=Idle())
    assert sched.get_job("profile:morning").next_run_time == due
    sched.add_job(
        "digest.schedule:profile_job",
        triggers(profile(f"daily {due:%H:%M}", "UTC")),
        args=(None, "morning"),
        id="profile:morning",
        replace_existing=True,
    )
    assert sched.get_job("profile:morning").next_run_time == due + timedelta(days=1)
    sched.shutdown()


def test_down_for_days_catches_up_once(tmp_path: Path, store_url: str) -> None:
    due = minute(datetime.now(UTC) - timedelta(minutes=20))
    settings = write_config(tmp_path, {"morning": (f"daily {due:%H:%M}", "UTC")})
    down = due - timedelta(days=3, hours=1)  # 3 digests and 37 ingests missed since
    stored(settings, store_url, now=down)

    sched, events = restart(settings, store_url)
    seen = events.wait_for(2)
    time.sleep(0.2)  # room for a wrong third run to show
    nxt = sched.get_job("profile:morning").next_run_time
    sched.shutdown()
    assert len(events.seen) == 2
    assert sorted((code, job) for code, job, _ in seen) == [
        (EVENT_JOB_EXECUTED, "ingest"),
        (EVENT_JOB_EXECUTED, "profile:morning"),
    ]
    assert [when for _, job, when in seen if job == "profile:morning"] == [due]
    assert nxt == due + timedelta(days=1)


@pytest.mark.parametrize(("grace", "digests"), [(3600, 0), (4 * 3600, 1), (None, 1)])
def test_a_digest_later_than_the_grace_time_waits_for_the_next_one(
    tmp_path: Path,
    store_url: str,
    grace: int | None,
    digests: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    due = minute(datetime.now(UTC) - timedelta(hours=2, minutes=30))
    settings = write_config(tmp_path, {"morning": (f"daily {due:%H:%M}", "UTC")})
    stored(settings, store_url, now=due - timedelta(hours=1))

    sched, events = restart(settings, store_url, misfire_grace_time=grace)
    seen = events.wait_for(2)
    nxt = sched.get_job("profile:morning").next_run_time
    sched.shutdown()
    codes = {job: code for code, job, _ in seen}
    assert codes["ingest"] == EVENT_JOB_EXECUTED  # a late ingest always runs, once
    assert codes["profile:morning"] == (EVENT_JOB_EXECUTED if digests else EVENT_JOB_MISSED)
    missed = [r for r in caplog.records if getattr(r, "event", None) == "job_missed"]
    assert [getattr(r, "job", None) for r in missed] == ["profile:morning"] * (1 - digests)
    assert all(getattr(r, "scheduled", None) == due for r in missed)
    assert nxt == due + timedelta(days=1)
    with wiring.open_store(store_url) as store:
        assert len(store.digests(service.profile(settings, "morning"))) == digests


# -- the job functions, called with an injected `now` --------------------------


def test_the_jobs_run_the_real_pipeline(
    tmp_path: Path, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    caplog.set_level("INFO", logger="digest.schedule")
    config = str(settings.path)
    schedule.ingest_job(config, store_url, now=MONDAY)
    schedule.profile_job(config, "morning", store_url, now=MONDAY.replace(hour=7))
    schedule.profile_job(config, "morning", store_url, now=MONDAY.replace(hour=8))
    done = [r for r in caplog.records if getattr(r, "event", None) == "job_done"]
    assert [getattr(r, "job", None) for r in done] == [
        "ingest",
        "profile:morning",
        "profile:morning",
    ]
    with wiring.open_store(store_url) as store:
        new = store.count_items()
        (digest,) = store.digests(service.profile(settings, "morning"))
    assert getattr(done[0], "new", None) == new > 0
    assert getattr(done[1], "picked", None) == len(digest.picks) > 0
    assert digest.created == MONDAY.replace(hour=7)
    assert getattr(done[1], "sent", None) == 1
    # nothing new by 08:00: no second digest, nothing sent
    assert (getattr(done[2], "digests", None), getattr(done[2], "sent", None)) == (0, 0)
    assert len(list(settings.email.outbox.glob("*.eml"))) == 1


def test_a_failing_job_logs_and_returns(
    tmp_path: Path, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    assert settings.path is not None
    # a profile removed since the job was stored
    schedule.profile_job(str(settings.path), "evening", store_url, now=MONDAY)
    (failed,) = [r for r in caplog.records if getattr(r, "event", None) == "job_failed"]
    assert failed.levelname == "ERROR"
    assert "no profile named 'evening'" in failed.getMessage()
    assert getattr(failed, "job", None) == "profile:evening"
    # a config that became invalid is reported the same way
    settings.path.write_text("bogus_key: 1\n")
    schedule.ingest_job(str(settings.path), store_url, now=MONDAY)
    failures = [r for r in caplog.records if getattr(r, "event", None) == "job_failed"]
    assert [getattr(r, "job", None) for r in failures] == ["profile:evening", "ingest"]
    assert "bogus_key" in failures[1].getMessage()


# -- serve: signals ----------------------------------------------------------


@pytest.fixture
def slow_source(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """The arXiv sample over loopback HTTP, answered 1 s late: a job in hand."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    with LoopbackServer() as server:
        server.add("/slow.rss", SAMPLE.read_bytes(), delay=1.0)
        yield server


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_finishes_the_job_in_hand_and_exits_0(
    tmp_path: Path, store_url: str, sig: signal.Signals, slow_source: LoopbackServer
) -> None:
    settings = write_config(tmp_path, {}, source=slow_source.url("/slow.rss"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "digest",
            "--config",
            str(settings.path),
            "--db",
            store_url,
            "serve",
            "--no-web",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 20
        while not slow_source.count("/slow.rss"):  # the new ingest job runs at once
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the ingest job never started"
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "daemon_started" in names
    assert names.index("daemon_stopping") < names.index("job_done") < names.index("daemon_stopped")
    (done,) = [e for e in events if e["event"] == "job_done"]
    assert done["job"] == "ingest"
    assert done["errors"] == 0
    assert done["new"] > 0
    stopping = events[names.index("daemon_stopping")]
    assert stopping["signal"] == sig.name


def test_serve_exits_1_when_the_scheduler_thread_dies(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DeadScheduler:
        def __init__(self) -> None:
            self._thread = threading.Thread(target=lambda: None)
            self._thread.start()
            self._thread.join()
            self.stopped = False

        def resume(self) -> None:
            pass

        def get_jobs(self) -> list[Any]:
            return []

        def shutdown(self, wait: bool = True) -> None:
            self.stopped = wait

    dead = DeadScheduler()
    monkeypatch.setattr(schedule, "build_scheduler", lambda *a, **k: dead)
    monkeypatch.setattr(schedule, "_WATCH_SECONDS", 0.01)
    before = signal.getsignal(signal.SIGTERM)
    assert schedule.serve(Settings(), store_url) == 1
    assert dead.stopped
    assert signal.getsignal(signal.SIGTERM) == before
