"""Claimed deliveries and one digest per profile and window, on SQLite and
PostgreSQL: the ledger's claims and leases, its batched marks, the v6 migration,
and a `digest send` SIGKILLed while it holds claims, finished by another."""

from __future__ import annotations

import asyncio
import email
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from digest.models import Profile
from digest.store import Store, deliveries, schema
from tests.smtpserver import Recorder, serve

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
P = Profile("p", "p")


def mid(digest_id: int, subscriber_id: int) -> str:
    return f"<digest-{digest_id}.{subscriber_id}@test>"


def queued(store: Store, n: int) -> int:
    """A digest of profile p for `n` subscribers; its id."""
    for i in range(n):
        store.add_subscriber(f"s{i}@example.org", ["p"], now=NOW)
    digest = store.record_digest(P, [], upto_item_id=0, now=NOW)
    assert digest is not None
    assert digest.id is not None
    return digest.id


def claim_all(store: Store, worker: str, *, lease: float = 60, batch: int = 4) -> list[int]:
    claims = store.claims(NOW, lease=lease, batch=batch, message_id=mid, worker=worker)
    try:
        return [d.delivery_id for d in claims]
    finally:
        claims.close()


def test_a_window_is_recorded_once(store_url: str) -> None:
    with Store.open(store_url) as store:
        store.add_subscriber("a@example.org", ["p"], now=NOW)
        first = store.record_digest(P, [], upto_item_id=5, now=NOW, window_after=0)
        again = store.record_digest(P, [], upto_item_id=9, now=NOW, window_after=0)
        assert first is not None
        assert again is None
        assert [d.id for d in store.digests(P)] == [first.id]
        assert len(store.ledger()) == 1  # and queues nothing
        assert store.window_marks(["p", "new"]) == {"p": 5, "new": 0}  # its window did not move
        nxt = store.record_digest(P, [], upto_item_id=9, now=NOW, window_after=5)
        assert nxt is not None
        assert len(store.ledger()) == 2


def test_claims_are_exclusive_until_released_or_expired(store_url: str) -> None:
    with Store.open(store_url) as store:
        digest_id = queued(store, 10)
        named: list[tuple[int, int]] = []

        def naming(digest: int, sub: int) -> str:
            named.append((digest, sub))
            return mid(digest, sub)

        a = store.claims(NOW, lease=60, batch=4, message_id=naming, worker="a")
        held = list(a)
        assert len(held) == 10
        assert len({d.delivery_id for d in held}) == 10
        assert {d.message_id for d in held} == {mid(digest_id, d.subscriber_id) for d in held}
        assert {r.claimed_by for r in store.ledger()} == {"a"}
        assert claim_all(store, "b") == []  # a's lease is live
        for d in held[:6]:
            a.put(deliveries.Mark(d.delivery_id, "sent"))
        a.close()  # writes the marks, gives back the 4 it did not send
        rows = {r.id: r for r in store.ledger()}
        assert Counter(r.status for r in rows.values()) == {"sent": 6, "pending": 4}
        assert all(r.claimed_by is None and r.lease_until is None for r in rows.values())
        assert sorted(claim_all(store, "b")) == sorted(d.delivery_id for d in held[6:])
        # A sender that dies keeps its claims until the lease runs out...
        with store.engine.begin() as conn:
            dead = deliveries.claim(conn, "dead", NOW, clock=datetime.now(UTC), lease=3.0,
                                    limit=10, profiles=None, message_id=naming)  # fmt: skip
        assert len(dead) == 4
        assert claim_all(store, "c") == []  # 3 s: still live on a loaded machine
        until = max(r.lease_until for r in store.ledger() if r.lease_until is not None)
        while datetime.now(UTC) <= until:  # the stored lease, not a guessed sleep
            time.sleep(0.05)
        again = store.claims(NOW, lease=60, batch=10, message_id=naming, worker="c")
        late = list(again)
        again.close()
        # ...then another takes them, under the Message-IDs of their first claim.
        assert {d.delivery_id for d in late} == {d.delivery_id for d in dead}
        assert {d.message_id for d in late} == {rows[d.delivery_id].message_id for d in dead}
        assert len(named) == 10  # each row was named once


def test_marks_are_written_in_one_batch(store_url: str) -> None:
    with Store.open(store_url) as store:
        queued(store, 4)
        claims = store.claims(NOW, lease=60, batch=10, message_id=mid, worker="w")
        one, two, three, four = list(claims)
        claims.put(deliveries.Mark(one.delivery_id, "sent"))
        claims.put(deliveries.Mark(two.delivery_id, "temporary", "451 later"))
        claims.put(
            deliveries.Mark(three.delivery_id, "permanent", "550 no such user", three.subscriber_id)
        )
        claims.put(deliveries.Mark(four.delivery_id, "sent"))
        claims.close()
        rows = {r.id: r for r in store.ledger()}
        assert rows[one.delivery_id].status == "sent"
        assert rows[one.delivery_id].sent_at == NOW
        assert rows[two.delivery_id].status == "failed-temporary"
        assert rows[two.delivery_id].attempts == 1
        assert rows[two.delivery_id].last_error == "451 later"
        assert rows[two.delivery_id].next_attempt_at == NOW + deliveries.FIRST_RETRY
        assert rows[three.delivery_id].status == "failed-permanent"
        bounced = store.subscriber_by_id(three.subscriber_id)
        assert bounced is not None
        assert bounced.status == "bounced"
        store.mark_delivery(one.delivery_id, "temporary", NOW, "late news")  # never downgraded
        assert {r.id: r.status for r in store.ledger()}[one.delivery_id] == "sent"
        assert store.due_deliveries(NOW) == []


def test_a_v5_store_migrates_and_keeps_its_ledger(store_url: str) -> None:
    with Store.open(store_url) as store:
        queued(store, 2)
        with store.engine.begin() as conn:  # back to what version 5 had
            conn.execute(text("DROP INDEX uq_digest_window"))
            conn.execute(text("DROP INDEX ix_deliveries_claimed"))
            conn.execute(text("ALTER TABLE digests DROP COLUMN window_after"))
            for column in ("message_id", "claimed_by", "lease_until"):
                conn.execute(text(f"ALTER TABLE deliveries DROP COLUMN {column}"))
            conn.execute(text("UPDATE meta SET value = '5' WHERE key = 'schema_version'"))
    with Store.open(store_url) as store:
        assert store.schema_version() == schema.SCHEMA_VERSION >= 6
        assert [r.status for r in store.ledger()] == ["pending", "pending"]
        assert len(claim_all(store, "w")) == 2
        # An old digest has no window; a new one for the first window still records.
        assert store.record_digest(P, [], upto_item_id=0, now=NOW, window_after=0) is not None


# -- a sender SIGKILLed while it holds claims ---------------------------------------------


def make_config(tmp_path: Path, url: str, port: int, *, lease: float, batch: int = 200) -> Path:
    """The bundled config on store `url`, mailing through 127.0.0.1:`port`."""
    if not (tmp_path / "config").exists():
        shutil.copytree(ROOT / "config", tmp_path / "config")
    cfg = tmp_path / "config" / "digest.yaml"
    text_ = (ROOT / "config" / "digest.yaml").read_text()
    text_ = text_.replace("store: sqlite:///digest.db", f"store: {url}")
    text_ = text_.replace(
        "  # smtp:\n  #   host: smtp.example.org\n  #   port: 587\n  #   security: starttls",
        f"  smtp:\n    host: 127.0.0.1\n    port: {port}\n    security: plain\n"
        "    timeout: 30\n    retries: 1\n    connections: 4",
    )
    assert f"port: {port}" in text_
    text_ += f"\ndeliveries:\n  lease_seconds: {lease}\n  batch: {batch}\n"
    cfg.write_text(text_)
    return cfg


def digest_cmd(cfg: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "digest", "--config", str(cfg), *args, "--now", NOW.isoformat()]


ENV = {**os.environ, "PYTHONPATH": str(ROOT), "DIGEST_SECRET_KEY": "k" * 32}


@dataclass
class Stalling(Recorder):
    """Takes each message in, then, while `stall`, never answers it."""

    stall: bool = True
    held: list[tuple[str, str]] = field(default_factory=list)  # (recipient, Message-ID)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.stall:
            return await super().handle_DATA(server, session, envelope)
        message = email.message_from_bytes(envelope.original_content)
        with self.lock:
            self.held.extend((r, str(message["Message-ID"])) for r in envelope.rcpt_tos)
        while self.stall:
            await asyncio.sleep(0.05)
        return "451 4.3.0 gave up"


def test_a_killed_senders_claims_are_finished_by_another_after_the_lease(
    tmp_path: Path, store_url: str
) -> None:
    from digest import pipeline
    from digest.config import load_settings

    lease = 4.0
    handler = Stalling()
    people = [f"k{n:02d}@example.org" for n in range(30)]
    with serve(handler) as server:
        cfg = make_config(tmp_path, store_url, server.port, lease=lease)
        settings = load_settings(cfg)
        with Store.open(store_url) as store:
            for p in people:
                store.add_subscriber(p, ["scaling"], now=NOW)
            pipeline.ingest(settings, store, NOW)
            pipeline.create_digests(settings, store, NOW, names=["scaling"])
        proc = subprocess.Popen(digest_cmd(cfg, "send"), env=ENV, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(handler.held) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        with Store.open(store_url) as store:
            rows = store.ledger()
        assert len(handler.held) == 4, proc.stderr  # four connections, each stalled
        assert {r.claimed_by for r in rows} != {None}
        assert {r.status for r in rows} == {"pending"}
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Store.open(store_url) as store:
            probe = store.claims(NOW, lease=lease, batch=100, message_id=mid, worker="probe")
            early = list(probe)
            probe.close()
            rows = store.ledger()
        leases = [r.lease_until for r in rows if r.lease_until is not None]
        assert leases
        assert early == []
        handler.stall = False
        while datetime.now(UTC) <= max(leases):
            time.sleep(0.05)
        done = subprocess.run(digest_cmd(cfg, "send"), env=ENV, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith(f"{len(people)} sent, 0 temporary, 0 permanent")
    copies = Counter(r for m in handler.received for r in m.rcpt_tos)
    assert copies == Counter(people)  # each once after the kill: none missing, none doubled
    for rcpt, message_id in handler.held:  # in flight at the kill: resent as the same message
        assert [m.message["Message-ID"] for m in handler.to(rcpt)] == [message_id]
    with Store.open(store_url) as store:
        rows = store.ledger()
        emails = {s.id: s.email for s in store.subscribers()}
    assert {r.status for r in rows} == {"sent"}
    sent_ids = {m.message["To"]: m.message["Message-ID"] for m in handler.received}
    assert {emails[r.subscriber_id]: r.message_id for r in rows} == sent_ids
