"""Three `digest send` processes at once on one store's recorded digests, against
one real SMTP server, on SQLite and PostgreSQL: the claims hand each (recipient,
digest) to one of them, so each gets exactly one message."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from digest import pipeline, wiring
from digest.config import load_settings
from tests.smtpserver import Recorder, serve
from tests.test_claims import ENV, NOW, digest_cmd, make_config

PEOPLE = 60


@pytest.mark.slow
def test_senders_at_once_send_each_digest_to_each_recipient_once(
    tmp_path: Path, store_url: str
) -> None:
    recorder = Recorder()
    with serve(recorder) as server:
        cfg = make_config(tmp_path, store_url, server.port, lease=60, batch=10)
        settings = load_settings(cfg)
        with wiring.open_store(store_url) as store:
            for n in range(PEOPLE):
                store.add_subscriber(f"r{n:03d}@example.org", ["scaling", "diffusion"], now=NOW)
            pipeline.ingest(settings, store, NOW)
            made = pipeline.create_digests(settings, store, NOW)
            assert all(p.digest_id for p in made), made
        procs = [
            subprocess.Popen(
                digest_cmd(cfg, "send"), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(3)
        ]
        outs = [p.communicate(timeout=300) for p in procs]
        for proc, (_out, err) in zip(procs, outs, strict=True):
            assert proc.returncode == 0, err.decode()[-3000:]
    with wiring.open_store(store_url) as store:
        rows = store.ledger()
        emails = {s.id: s.email for s in store.subscribers()}
    wanted = {(emails[r.subscriber_id], r.message_id) for r in rows}
    assert len(wanted) == len(rows) >= PEOPLE * 2
    got = Counter((rcpt, m.message["Message-ID"]) for m in recorder.received for rcpt in m.rcpt_tos)
    assert set(got) == wanted  # 0 missing
    assert max(got.values()) == 1  # 0 doubled
    assert {r.status for r in rows} == {"sent"}
