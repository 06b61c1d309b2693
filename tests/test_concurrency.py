"""Two, then four, `digest run` processes at once on one store, against one real
SMTP server, on SQLite and PostgreSQL: every (recipient, digest) gets exactly one
message, and each profile's digest for the window is recorded by one of them."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.store import Store
from tests.conftest import demo_config_at
from tests.smtpserver import Recorder, serve
from tests.test_claims import ENV, NOW, digest_cmd, make_config

PEOPLE = 80
BROAD = """name: broad
title: Anything on learning
keywords: [learning, model, training, data]
min_score: 1
max_items: 30
recipients: [all@example.org]
"""


@pytest.mark.slow
@pytest.mark.parametrize("processes", [2, 4])
def test_runs_at_once_send_each_digest_to_each_recipient_once(
    tmp_path: Path, store_url: str, processes: int
) -> None:
    recorder = Recorder()
    people = [f"r{n:03d}@example.org" for n in range(PEOPLE)]
    with serve(recorder) as server:
        cfg = make_config(tmp_path, store_url, server.port, lease=60, batch=25)
        (tmp_path / "config" / "profiles" / "broad.yaml").write_text(BROAD)
        with Store.open(store_url) as store:
            for p in people:
                store.add_subscriber(p, ["scaling", "diffusion", "broad"], now=NOW)
        cmd = digest_cmd(cfg, "run", "--json")
        procs = [
            subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(processes)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        for proc, (_out, err) in zip(procs, outs, strict=True):
            assert proc.returncode == 0, err.decode()[-3000:]
    reports = [json.loads(out) for out, _ in outs]
    with Store.open(store_url) as store:
        rows = store.ledger()
        emails = {s.id: s.email for s in store.subscribers()}
        owner = store.digest_profiles(sorted({r.digest_id for r in rows}))
    # Each profile's digest was recorded once, by one of the processes; the others
    # found it recorded (or, selecting later, nothing new) and recorded nothing.
    assert sorted(owner.values()) == ["broad", "diffusion", "scaling"]
    made = Counter(p["profile"] for r in reports for p in r["profiles"] if p["digest_id"])
    assert made == Counter(owner.values())
    for p in (p for r in reports for p in r["profiles"]):
        assert [bool(p["digest_id"]), p["recorded_elsewhere"], p["picked"] == 0].count(True) == 1
    # 0 missing and 0 doubled per (recipient, digest), by Message-ID.
    wanted = {(emails[r.subscriber_id], r.message_id) for r in rows}
    fixed = {"lab@example.org": 2, "design@example.org": 1, "all@example.org": 1}
    assert len(wanted) == len(rows) == PEOPLE * 3 + sum(fixed.values())
    got = Counter((rcpt, m.message["Message-ID"]) for m in recorder.received for rcpt in m.rcpt_tos)
    assert set(got) == wanted
    assert max(got.values()) == 1
    assert {r.status for r in rows} == {"sent"}
    assert sum(r["sent"]["sent"] for r in reports) == len(rows)


def _waiting_for(store: Store, table: str) -> int:
    """Transactions waiting for a lock on `table`."""
    with store.engine.connect() as conn:
        return int(
            conn.exec_driver_sql(
                "SELECT count(*) FROM pg_locks WHERE relation = to_regclass(%(t)s) AND NOT granted",
                {"t": table},
            ).scalar_one()
        )


PROFILE_LINE = re.compile(r"  (\S+) +\d+ candidates, +\d+ picked, (.+), \d+ sent, \d+ failed")


@pytest.mark.postgresql
def test_the_run_that_loses_the_race_for_a_window_records_nothing_and_says_so(
    tmp_path: Path, pg_url: str
) -> None:
    """Two `digest run` select the same windows while the test holds the digests
    table; once it lets go, each profile's digest is recorded by one of them, and
    the other prints that another process recorded it."""
    cfg = demo_config_at(tmp_path, pg_url)
    cmd = digest_cmd(cfg, "run")
    with Store.open(pg_url) as store:
        with store.engine.connect() as hold:
            hold.exec_driver_sql("LOCK TABLE digests IN EXCLUSIVE MODE")  # reads still pass
            procs = [
                subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(2)
            ]
            deadline = time.monotonic() + 120
            while _waiting_for(store, "digests") < 2:  # both selected, both recording
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                assert time.monotonic() < deadline, "the runs never got to their digests"
                time.sleep(0.05)
            hold.rollback()
        outs = [p.communicate(timeout=120) for p in procs]
        for proc, (_out, err) in zip(procs, outs, strict=True):
            assert proc.returncode == 0, err.decode()[-3000:]
        rows = store.ledger()
        owners = store.digest_profiles(sorted({r.digest_id for r in rows}))
    assert sorted(owners.values()) == ["diffusion", "scaling"]  # one digest each
    said = [m.groups() for out, _ in outs for m in PROFILE_LINE.finditer(out.decode())]
    for profile in ("scaling", "diffusion"):
        made = sorted(what for name, what in said if name == profile)
        assert len(made) == 2, said
        assert made[0].startswith("digest #"), said  # '#' sorts first
        assert made[1] == "digest already recorded by another process", said
    assert len(list(load_settings(cfg).email.outbox.glob("*.eml"))) == len(rows) == 3
