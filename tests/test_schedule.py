"""The daemon's schedule, driven by a fake clock: no test waits for real time.

APScheduler reads the clock in two places (`apscheduler.schedulers.base`,
where it picks due jobs, and `apscheduler.executors.base`, where it decides a
run was missed); both are pointed at `Clock`. `ManualScheduler` processes jobs
only when a test calls `tick()`, and `DebugExecutor` runs them in the test's
thread, so each test sees exactly what a running daemon would do at each instant.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Self
from zoneinfo import ZoneInfo

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import create_engine, text

from digest import pipeline, schedule
from digest.config import load_settings
from digest.errors import DigestError
from digest.models import IngestReport, Profile, ProfileReport, SourceReport
from digest.schedule import build_scheduler, next_runs, triggers
from digest.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=BERLIN)  # a Monday, 06:00 in Berlin


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def set(self, when: datetime) -> None:
        assert when.tzinfo is not None
        self.now = when


class ManualScheduler(BaseScheduler):  # type: ignore[misc]
    """Processes due jobs only when told to, in the caller's thread."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def wakeup(self) -> None:
        pass

    def tick(self) -> None:
        self._process_jobs()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(MONDAY)

    class FakeDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Self:
            return cls.fromtimestamp(c.now.timestamp(), tz)

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", FakeDatetime)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", FakeDatetime)
    monkeypatch.setattr(schedule, "_now", lambda: c.now.astimezone(UTC))
    return c


Runs = list[tuple[str, datetime]]


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> Runs:
    """Every pipeline call the jobs make, as (job id, the `now` it was given)."""
    calls: Runs = []

    def fake_ingest(settings: Settings, store: Any, now: datetime, **_: Any) -> IngestReport:
        calls.append(("ingest", now))
        return IngestReport(run_id=None, started=now, sources=(SourceReport("s", new=2),))

    def fake_run_profiles(
        settings: Settings, store: Any, now: datetime, *, names: Sequence[str] | None = None
    ) -> tuple[list[ProfileReport], list[Path]]:
        assert names is not None
        assert len(names) == 1
        calls.append((f"profile:{names[0]}", now))
        return [ProfileReport(names[0], 5, 2, 1, sent=1)], []

    monkeypatch.setattr(pipeline, "ingest", fake_ingest)
    monkeypatch.setattr(pipeline, "run_profiles", fake_run_profiles)
    return calls


def write_config(folder: Path, profiles: dict[str, tuple[str | None, str]]) -> Settings:
    """A config whose profiles are {name: (schedule, timezone)}."""
    (folder / "profiles").mkdir(exist_ok=True)
    for old in (folder / "profiles").glob("*.yaml"):
        old.unlink()
    for name, (when, tz) in profiles.items():
        lines = [f"name: {name}", "keywords: [scaling]", f"timezone: {tz}"]
        if when is not None:
            lines.append(f'schedule: "{when}"')
        (folder / "profiles" / f"{name}.yaml").write_text("\n".join(lines) + "\n")
    path = folder / "digest.yaml"
    path.write_text("profiles: profiles\noutput: out\n")
    return load_settings(path)


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'digest.db'}"


def start(settings: Settings, store_url: str, **options: Any) -> ManualScheduler:
    """What `digest serve` does on start, with a scheduler the test drives."""
    sched = build_scheduler(
        settings, store_url, scheduler=ManualScheduler(), executor=DebugExecutor(), **options
    )
    assert isinstance(sched, ManualScheduler)
    sched.resume()
    return sched


def profile(when: str | None, tz: str = "Europe/Berlin") -> Profile:
    return Profile(name="p", title="p", schedule=when, timezone=tz)


# -- triggers and next_runs --------------------------------------------------


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
    got = next_runs(profile("mon-fri 07:00"), friday, 6)
    assert [d.strftime("%a %d %H:%M") for d in got] == [
        "Mon 23 07:00",
        "Tue 24 07:00",
        "Wed 25 07:00",
        "Thu 26 07:00",
        "Fri 27 07:00",
        "Mon 30 07:00",
    ]
    assert all(d.tzinfo == BERLIN for d in got)
    sundays = next_runs(profile("sun 09:30"), friday, 2)
    assert [(d.weekday(), d.hour, d.minute) for d in sundays] == [(6, 9, 30), (6, 9, 30)]
    assert next_runs(profile("sat,mon 18:00"), friday, 2)[0].weekday() == 5


def test_next_runs_are_strictly_after() -> None:
    at_seven = datetime(2026, 11, 23, 7, 0, tzinfo=BERLIN)
    assert next_runs(profile("daily 07:00"), at_seven, 1)[0].day == 24
    just_before = at_seven - timedelta(microseconds=1)
    assert next_runs(profile("daily 07:00"), just_before, 1) == [at_seven]
    # `after` in another zone is the same instant
    assert next_runs(profile("daily 07:00"), just_before.astimezone(UTC), 1) == [at_seven]


def test_no_schedule_no_runs() -> None:
    assert triggers(profile(None)) is None
    assert next_runs(profile(None), MONDAY, 5) == []
    assert next_runs(profile("daily 07:00"), MONDAY, 0) == []
    with pytest.raises(ValueError, match="aware"):
        next_runs(profile("daily 07:00"), datetime(2026, 11, 23), 1)


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
    got = next_runs(profile(f"daily {at}", tz), before, 7)
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


# -- the daemon, with a fake clock -------------------------------------------


def test_jobs_defaults_and_no_duplicates_on_restart(
    tmp_path: Path, store_url: str, clock: Clock
) -> None:
    settings = write_config(
        tmp_path,
        {"morning": ("mon-fri 07:00", "Europe/Berlin"), "unscheduled": (None, "UTC")},
    )
    for _ in range(3):
        sched = start(settings, store_url)
        jobs = {job.id: job for job in sched.get_jobs()}
        sched.shutdown()
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
    assert ingest.next_run_time == MONDAY  # a new ingest job runs at once
    assert ingest.trigger.interval == timedelta(hours=2)


def test_a_running_daemon_runs_each_job_on_time(
    tmp_path: Path, store_url: str, clock: Clock, runs: Runs
) -> None:
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    sched = start(settings, store_url, ingest_every=timedelta(hours=4))
    t = MONDAY
    while t < MONDAY + timedelta(days=1):
        clock.set(t)
        sched.tick()
        t += timedelta(minutes=15)
    sched.shutdown()
    assert [(job, when.astimezone(BERLIN).strftime("%H:%M")) for job, when in runs] == [
        ("ingest", "06:00"),
        ("profile:morning", "07:00"),
        ("ingest", "10:00"),
        ("ingest", "14:00"),
        ("ingest", "18:00"),
        ("ingest", "22:00"),
        ("ingest", "02:00"),
    ]


def test_down_at_seven_back_at_seven_twenty_runs_it_once(
    tmp_path: Path, store_url: str, clock: Clock, runs: Runs
) -> None:
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    sched = start(settings, store_url)
    sched.tick()  # the first ingest
    sched.shutdown()  # the daemon goes down at 06:00 ...
    runs.clear()

    back = MONDAY.replace(hour=7, minute=20)  # ... and is back at 07:20
    clock.set(back)
    sched = start(settings, store_url)
    # the restart kept the missed run (add_job(replace_existing=True) would have
    # moved it to tomorrow)
    assert sched.get_job("profile:morning").next_run_time == MONDAY.replace(hour=7)
    sched.tick()
    sched.tick()
    assert runs == [("profile:morning", back.astimezone(UTC))]
    assert sched.get_job("profile:morning").next_run_time == datetime(
        2026, 11, 24, 7, 0, tzinfo=BERLIN
    )
    sched.shutdown()


def test_replace_existing_alone_would_lose_the_missed_run(
    tmp_path: Path, store_url: str, clock: Clock
) -> None:
    # What APScheduler does with a plain re-add on start: the reason _sync_jobs
    # modifies a job whose schedule is unchanged instead.
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    start(settings, store_url).shutdown()
    clock.set(MONDAY.replace(hour=7, minute=20))
    sched = start(settings, store_url)
    sched.add_job(
        "digest.schedule:profile_job",
        triggers(profile("daily 07:00")),
        args=(None, "morning"),
        id="profile:morning",
        replace_existing=True,
    )
    assert sched.get_job("profile:morning").next_run_time.day == 24
    sched.shutdown()


def test_down_for_days_catches_up_once(
    tmp_path: Path, store_url: str, clock: Clock, runs: Runs
) -> None:
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    sched = start(settings, store_url)
    sched.tick()
    sched.shutdown()
    runs.clear()

    back = datetime(2026, 11, 26, 7, 30, tzinfo=BERLIN)  # Thursday: 3 digests and 36 ingests due
    clock.set(back)
    sched = start(settings, store_url)
    for _ in range(3):
        sched.tick()
    assert sorted(runs) == [("ingest", back.astimezone(UTC)), ("profile:morning", back)]
    assert sched.get_job("profile:morning").next_run_time == datetime(
        2026, 11, 27, 7, 0, tzinfo=BERLIN
    )
    assert sched.get_job("ingest").next_run_time > back
    sched.shutdown()


@pytest.mark.parametrize(("grace", "digests"), [(3600, 0), (4 * 3600, 1), (None, 1)])
def test_a_digest_later_than_the_grace_time_waits_for_the_next_one(
    tmp_path: Path,
    store_url: str,
    clock: Clock,
    runs: Runs,
    grace: int | None,
    digests: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    sched = start(settings, store_url, misfire_grace_time=grace)
    sched.tick()
    sched.shutdown()
    runs.clear()

    clock.set(MONDAY.replace(hour=9, minute=30))  # 2.5 hours after 07:00
    sched = start(settings, store_url, misfire_grace_time=grace)
    sched.tick()
    sched.tick()
    got = Counter(job for job, _ in runs)
    assert got == Counter({"ingest": 1, "profile:morning": digests})  # ingest: always once
    missed = [r for r in caplog.records if getattr(r, "event", None) == "job_missed"]
    assert [getattr(r, "job", None) for r in missed] == ["profile:morning"] * (1 - digests)
    assert all(getattr(r, "scheduled", None) == MONDAY.replace(hour=7) for r in missed)
    assert sched.get_job("profile:morning").next_run_time.day == 24
    sched.shutdown()


def test_restart_follows_the_profiles(tmp_path: Path, store_url: str, clock: Clock) -> None:
    settings = write_config(
        tmp_path,
        {
            "kept": ("daily 07:00", "Europe/Berlin"),
            "moved": ("daily 07:00", "Europe/Berlin"),
            "gone": ("daily 07:00", "Europe/Berlin"),
            "unscheduled": ("daily 07:00", "Europe/Berlin"),
        },
    )
    sched = start(settings, store_url)
    assert len(sched.get_jobs()) == 5
    sched.shutdown()

    clock.set(MONDAY.replace(hour=7, minute=20))
    settings = write_config(
        tmp_path,
        {
            "kept": ("daily 07:00", "Europe/Berlin"),
            "moved": ("daily 07:00", "America/New_York"),
            "unscheduled": (None, "Europe/Berlin"),
        },
    )
    sched = start(settings, store_url, ingest_every=timedelta(hours=6), misfire_grace_time=600)
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == {"ingest", "profile:kept", "profile:moved"}
    # unchanged schedule: still due at 07:00 (missed), with the new grace time
    assert jobs["profile:kept"].next_run_time == MONDAY.replace(hour=7)
    assert jobs["profile:kept"].misfire_grace_time == 600
    # changed: rescheduled from now
    assert jobs["profile:moved"].next_run_time == datetime(2026, 11, 23, 7, 0, tzinfo=NEW_YORK)
    assert jobs["ingest"].trigger.interval == timedelta(hours=6)
    assert jobs["ingest"].next_run_time == clock.now
    sched.shutdown()


@pytest.mark.parametrize(("tz", "day", "at", "instant"), DST_CASES)
def test_daemon_across_a_dst_night_runs_one_digest_a_day(
    tmp_path: Path,
    store_url: str,
    clock: Clock,
    runs: Runs,
    tz: str,
    day: date,
    at: str,
    instant: datetime,
) -> None:
    zone = ZoneInfo(tz)
    settings = write_config(tmp_path, {"night": (f"daily {at}", tz)})
    t = datetime(day.year, day.month, day.day, 12, 0, tzinfo=zone) - timedelta(days=2)
    clock.set(t)
    sched = start(settings, store_url, ingest_every=timedelta(hours=12))
    end = t + timedelta(days=4)
    while t < end:  # every 10 minutes of real (UTC) time
        clock.set(t)
        sched.tick()
        t += timedelta(minutes=10)
    sched.shutdown()
    digests = [when for job, when in runs if job == "profile:night"]
    per_day = Counter(d.astimezone(zone).date() for d in digests)
    assert per_day == Counter({day + timedelta(days=i): 1 for i in range(-1, 3)})
    (on_the_day,) = [d for d in digests if d.astimezone(zone).date() == day]
    assert timedelta(0) <= on_the_day - instant < timedelta(minutes=10)


# -- the job functions -------------------------------------------------------


def test_profile_job_runs_the_pipeline_for_its_profile(
    tmp_path: Path,
    store_url: str,
    clock: Clock,
    runs: Runs,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})
    caplog.set_level("INFO", logger="digest.schedule")
    schedule.profile_job(str(settings.path), "morning", store_url)
    schedule.ingest_job(str(settings.path), store_url)
    assert runs == [("profile:morning", MONDAY.astimezone(UTC)), ("ingest", MONDAY.astimezone(UTC))]
    done = [r for r in caplog.records if getattr(r, "event", None) == "job_done"]
    assert [getattr(r, "job", None) for r in done] == ["profile:morning", "ingest"]
    assert getattr(done[0], "picked", None) == 2
    assert getattr(done[1], "new", None) == 2
    assert (tmp_path / "digest.db").is_file()


def test_a_failing_job_logs_and_returns(
    tmp_path: Path,
    store_url: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = write_config(tmp_path, {"morning": ("daily 07:00", "Europe/Berlin")})

    def gone(*_: Any, **__: Any) -> Any:
        raise DigestError("no profile named 'morning'")

    monkeypatch.setattr(pipeline, "run_profiles", gone)
    schedule.profile_job(str(settings.path), "morning", store_url)
    (failed,) = [r for r in caplog.records if getattr(r, "event", None) == "job_failed"]
    assert failed.levelname == "ERROR"
    assert "no profile named" in failed.getMessage()
    # a config that became invalid is reported the same way
    assert settings.path is not None
    settings.path.write_text("bogus_key: 1\n")
    schedule.ingest_job(str(settings.path), store_url)
    assert sum(getattr(r, "event", None) == "job_failed" for r in caplog.records) == 2


def test_bad_options_are_refused(tmp_path: Path, store_url: str) -> None:
    with pytest.raises(ValueError, match="ingest_every"):
        build_scheduler(Settings(), store_url, ingest_every=timedelta(seconds=5))
    with pytest.raises(ValueError, match="misfire_grace_time"):
        build_scheduler(Settings(), store_url, misfire_grace_time=0)


# -- serve: signals ----------------------------------------------------------

SERVE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from digest import pipeline, schedule
    from digest.settings import Settings
    from digest.logs import setup_logging
    from digest.models import IngestReport

    marks = Path(sys.argv[1])

    def slow_ingest(settings, store, now, **kw):
        (marks / "started").touch()
        time.sleep(0.4)
        (marks / "finished").touch()
        return IngestReport(run_id=None, started=now)

    pipeline.ingest = slow_ingest
    setup_logging(1, json_logs=True)
    sys.exit(schedule.serve(Settings(), sys.argv[2]))
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_finishes_the_job_in_hand_and_exits_0(
    tmp_path: Path, store_url: str, sig: signal.Signals
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(tmp_path), store_url],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "started").exists():  # the new ingest job runs at once
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the ingest job never started"
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert (tmp_path / "finished").exists()
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    names = [e["event"] for e in events]
    assert "daemon_started" in names
    assert names.index("daemon_stopping") < names.index("daemon_stopped")
    assert any(e.get("job") == "ingest" and e["event"] == "job_done" for e in events)
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
