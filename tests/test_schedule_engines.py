"""The daemon (`digest serve`, `--role all`) on a PostgreSQL store: APScheduler's
own job table lives there (not a store table: made by APScheduler, not copied by
`store copy`), restarts add no duplicate, and a digest missed while it was down
runs once when it is back. tests/test_schedule.py tests the rest on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED
from sqlalchemy import create_engine, inspect, text

from digest import service, wiring
from digest.schedule import JOB_TABLE
from digest.store import Store, schema
from tests.test_schedule import minute, restart, stored, write_config

pytestmark = pytest.mark.postgresql


def test_jobs_are_kept_in_postgresql_once_and_a_missed_digest_runs_once(
    tmp_path: Path, pg_url: str
) -> None:
    with Store.open(pg_url):
        pass
    engine = create_engine(pg_url)
    assert JOB_TABLE not in inspect(engine).get_table_names()  # not the store's migrations
    assert JOB_TABLE not in schema.metadata.tables  # so `store copy` leaves it out
    due = minute(datetime.now(UTC) - timedelta(minutes=20))
    settings = write_config(
        tmp_path, {"morning": (f"daily {due:%H:%M}", "UTC"), "unscheduled": (None, "UTC")}
    )
    for n in range(3):  # three starts before the digest was due: one job each
        jobs = stored(settings, pg_url, now=due - timedelta(hours=1, minutes=-n))
    assert set(jobs) == {"ingest", "profile:morning"}
    with engine.connect() as conn:
        assert conn.execute(text(f"select count(*) from {JOB_TABLE}")).scalar() == 2
    engine.dispose()

    sched, events = restart(settings, pg_url)  # back 20 minutes after it was due
    seen = events.wait_for(2)
    nxt = sched.get_job("profile:morning").next_run_time
    sched.shutdown()
    assert sorted((code, job) for code, job, _ in seen) == [
        (EVENT_JOB_EXECUTED, "ingest"),
        (EVENT_JOB_EXECUTED, "profile:morning"),
    ]
    assert nxt == due + timedelta(days=1)
    with wiring.open_store(pg_url) as store:
        (digest,) = store.digests(service.profile(settings, "morning"))
        assert digest.picks
    assert len(list(settings.email.outbox.glob("*.eml"))) == 1
