"""`digest serve` as a real process: loopback sources in, loopback SMTP out, SIGTERM."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.httpserver import LoopbackServer
from tests.smtpserver import Recorder, free_port, serve

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "config" / "samples"


@pytest.mark.slow
def test_serve_runs_a_due_digest_and_stops_cleanly_on_sigterm(
    tmp_path: Path, loopback_server: LoopbackServer
) -> None:
    for name in ("arxiv-cs-lg.rss", "hf-daily-papers.json"):
        loopback_server.add(f"/{name}", (SAMPLES / name).read_bytes())
    shutil.copytree(ROOT / "config" / "profiles", tmp_path / "profiles")
    scaling = tmp_path / "profiles" / "scaling.yaml"
    recorder = Recorder()
    with serve(recorder) as smtp:
        cfg = tmp_path / "digest.yaml"
        cfg.write_text(
            f"store: sqlite:///{tmp_path}/d.db\n"
            "output: out\n"
            "sources:\n"
            f"  - name: arxiv\n    url: {loopback_server.url('/arxiv-cs-lg.rss')}\n"
            f"  - name: hf\n    kind: hf\n    url: {loopback_server.url('/hf-daily-papers.json')}\n"
            "email:\n"
            "  sender: digest@example.org\n"
            f"  smtp:\n    host: 127.0.0.1\n    port: {smtp.port}\n    security: plain\n"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DIGEST_SECRET_KEY": "k" * 32}
        base = [sys.executable, "-m", "digest", "--config", str(cfg)]
        subprocess.run(
            [*base, "subscribers", "add", "ada@example.org", "--profile", "scaling"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run([*base, "ingest"], env=env, check=True, capture_output=True)

        # The scaling digest falls due 30 to 90 s from now (the daemon keeps real time):
        # set last, so slow set-up on a loaded machine cannot make it miss that minute.
        due = datetime.now(UTC) + timedelta(seconds=90)
        text = scaling.read_text()
        text = re.sub(r"(?m)^schedule: .*$", f'schedule: "daily {due:%H:%M}"', text)
        text = re.sub(r"(?m)^timezone: .*$", "timezone: UTC", text)
        scaling.write_text(text)
        port = free_port()
        proc = subprocess.Popen(
            [*base, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 180
        while not recorder.received and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        time.sleep(0.5)  # anything else it would send, it sends now
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 200
        feed = httpx.get(f"http://127.0.0.1:{port}/feeds/scaling.xml", timeout=5)
        assert feed.status_code == 200
        assert b"<rss" in feed.content
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert recorder.received, err[-3000:]
    assert proc.returncode == 0, err
    # scaling: ada and the fixed recipient; diffusion was not due.
    assert Counter(r for m in recorder.received for r in m.rcpt_tos) == Counter(
        {"ada@example.org": 1, "lab@example.org": 1}
    )
    assert "daemon_stopped" in err
    assert (tmp_path / "out" / "archive" / "scaling" / "index.html").is_file()
    assert loopback_server.count("/arxiv-cs-lg.rss") >= 1
