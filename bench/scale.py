"""Scale past this machine, simulated: worker processes sending one day's mail.

An aiosmtpd sink in a process of its own answers each message after 50 ms, as a
remote server does. A PostgreSQL store holds the digests of 20 profiles with
1,000 subscribers each: 20,000 pending deliveries. Then, on a fresh copy of that
store each time, 1, 2 and 4 `digest serve --role worker --until-idle` processes
(the product's own entry point, 4 SMTP connections each, the default) are
started, and once all are polling, one `send` job per profile becomes due; the
workers claim them from the store's queue and run `pipeline.send` for each.
Timed from the jobs becoming due to the last worker exiting. The sink records
every (recipient, Message-ID) it accepted, so lost (never received, or not
marked sent) and doubled (received twice) are counted from what the server saw.

Baseline: the 1-worker run, in the same run against the same sink.
Target: 4 workers >= 3x the throughput of 1; 0 lost, 0 doubled.

    python bench/scale.py                  # 20,000 deliveries
    python bench/scale.py --quick          # 2,000
PostgreSQL: $DIGEST_TEST_PG_URL's server, else a throwaway cluster (tests/pg.py).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/pg.py: the test suite's PostgreSQL helper

from digest import pipeline, wiring  # noqa: E402
from digest.config import load_settings  # noqa: E402
from tests import pg  # noqa: E402

LATENCY = 0.05  # seconds the sink takes to answer each message
CONNECTIONS = 4  # SMTP connections per worker: the default
PROFILES = 20
WORKERS = (1, 2, 4)
TARGET = 3.0


def _sink(ports: Any, log_path: str) -> None:
    """Accepts each message after LATENCY; appends `recipient message-id` to log_path."""
    from aiosmtpd.smtp import SMTP

    out = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    class Slow:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            await asyncio.sleep(LATENCY)
            mid = ""
            for line in envelope.content.split(b"\r\n"):
                if line.lower().startswith(b"message-id:"):
                    mid = line.split(b":", 1)[1].strip().decode()
                    break
                if not line:
                    break
            for rcpt in envelope.rcpt_tos:
                out.write(f"{rcpt} {mid}\n")
            return "250 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Slow(), hostname="sink.test", loop=loop), "127.0.0.1", 0, backlog=512
        )
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(serve())


def _config(folder: Path, port: int) -> Path:
    """The bundled samples as sources; PROFILES profiles, each sending even an empty digest."""
    (folder / "profiles").mkdir(parents=True)
    samples = ROOT / "config" / "samples"
    for p in range(PROFILES):
        (folder / "profiles" / f"p{p:02d}.yaml").write_text(
            f"name: p{p:02d}\nkeywords: [diffusion, scaling, language model]\n"
            "max_items: 10\nsend_empty: true\n"
        )
    sources = "".join(f"  - name: {p.stem}\n    path: {p}\n" for p in sorted(samples.iterdir()))
    path = folder / "digest.yaml"
    path.write_text(
        "profiles: profiles\noutput: out\n"
        "email:\n  sender: Digest <digest@example.org>\n  domain: example.org\n"
        "  unsubscribe_url: https://digest.example.org/unsubscribe/{token}\n"
        f"  smtp: {{host: 127.0.0.1, port: {port}, security: plain, "
        f"connections: {CONNECTIONS}, timeout: 60}}\n"
        f"sources:\n{sources}"
    )
    return path


def _seed(config: Path, url: str, n: int) -> None:
    """n subscribers spread over the profiles (one bulk insert: setup, not timed),
    then their digests through the pipeline: n pending deliveries."""
    from digest.store import schema

    settings = load_settings(config)
    now = datetime.now(UTC)
    with wiring.open_store(url) as store:
        people = [
            {"id": i + 1, "email": f"r{i:06d}@example.org", "status": "active",
             "secret": f"s{i:031d}", "created_at": now, "confirmed_at": now}
            for i in range(n)
        ]  # fmt: skip
        links = [{"subscriber_id": i + 1, "profile": f"p{i % PROFILES:02d}"} for i in range(n)]
        with store.engine.begin() as conn:
            conn.execute(schema.subscribers.insert(), people)
            conn.execute(schema.subscriptions.insert(), links)
        pipeline.ingest(settings, store, now)
        reports = pipeline.create_digests(settings, store, now)
        assert all(r.digest_id is not None for r in reports)
        pending = sum(d.pending for d in store.deliveries())
        assert pending == n, pending


def _run(config: Path, url: str, workers: int) -> float:
    """Seconds from the send jobs being queued (all workers polling) to the last done."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DIGEST_SECRET_KEY": "b" * 32}
    cmd = [sys.executable, "-m", "digest", "--config", str(config), "--db", url,
           "serve", "--role", "worker", "--poll", "0.05"]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, cwd=config.parent)
        for _ in range(workers)
    ]
    try:
        for p in procs:  # each says when it polls
            assert p.stderr is not None
            for line in p.stderr:
                if "worker_started" in line:
                    break
            threading.Thread(target=p.stderr.read, daemon=True).start()  # keep the pipe drained
        with wiring.open_store(url) as store:
            now = datetime.now(UTC)
            started = time.monotonic()
            for p in range(PROFILES):
                store.coordination.enqueue("send", f"p{p:02d}", now, now)
            while len(store.coordination.jobs("done")) < PROFILES:
                assert not store.coordination.jobs("failed"), store.coordination.jobs("failed")
                time.sleep(0.02)
            seconds = time.monotonic() - started
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(timeout=60) for p in procs]
    assert codes == [0] * workers, codes
    return seconds


def _check(url: str, log_path: Path, n: int) -> tuple[int, int, int]:
    """(sent in the ledger, lost, doubled), from the ledger and what the sink saw."""
    seen = Counter(line.split()[0] for line in log_path.read_text().splitlines())
    with wiring.open_store(url) as store:
        sent = sum(d.sent for d in store.deliveries())
        emails = {s.email for s in store.subscribers()}
    lost = len(emails - set(seen)) + (n - sent)
    doubled = sum(c - 1 for c in seen.values() if c > 1)
    return sent, lost, doubled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 deliveries")
    parser.add_argument("-n", type=int, help="this many deliveries")
    args = parser.parse_args()
    n = args.n or (2_000 if args.quick else 20_000)
    cluster = None
    server = os.environ.get(pg.ENV)
    if server:
        server = pg.server_base(server)
    else:
        cluster = pg.Cluster()
        server = cluster.start()
    ctx = mp.get_context("spawn")
    try:
        with tempfile.TemporaryDirectory(prefix="digest-scale-") as tmp:
            folder = Path(tmp)
            ports: Any = ctx.Queue()
            results: dict[int, tuple[float, int, int, int]] = {}
            seed = pg.create_database(server)
            config = None
            try:
                for workers in WORKERS:
                    log_path = folder / f"sink-{workers}.log"
                    sink = ctx.Process(target=_sink, args=(ports, str(log_path)), daemon=True)
                    sink.start()
                    port = ports.get(timeout=30)
                    config = _config(folder / f"run-{workers}", port)
                    if workers == WORKERS[0]:
                        started = time.monotonic()
                        _seed(config, seed, n)
                        print(f"seeded {n} deliveries in {time.monotonic() - started:.1f} s")
                    url = _copy(seed, server)
                    try:
                        seconds = _run(config, url, workers)
                        sent, lost, doubled = _check(url, log_path, n)
                    finally:
                        pg.drop_database(url)
                        sink.terminate()
                    results[workers] = (seconds, sent, lost, doubled)
                    print(
                        f"{workers} worker(s): {n} deliveries in {seconds:6.1f} s = "
                        f"{n / seconds:6.1f} msg/s; sent {sent}, lost {lost}, doubled {doubled}",
                        flush=True,
                    )
            finally:
                pg.drop_database(seed)
    finally:
        if cluster is not None:
            cluster.stop()
    base = n / results[1][0]
    ratio = (n / results[4][0]) / base
    clean = all(r[2] == 0 and r[3] == 0 and r[1] == n for r in results.values())
    limit = CONNECTIONS / LATENCY
    print(f"sink limit per worker: {limit:.0f} msg/s ({CONNECTIONS} connections x {LATENCY}s)")
    print(
        f"4 workers / 1 worker: {ratio:.2f}x (target >= {TARGET}x); lost and doubled all 0: {clean}"
    )
    return 0 if ratio >= TARGET and clean else 1


def _copy(seed: str, server: str) -> str:
    """A new database made from the seeded one (PostgreSQL's template copy)."""
    import uuid

    import psycopg
    from sqlalchemy.engine import make_url

    name = f"digest_scale_{uuid.uuid4().hex[:8]}"
    admin = make_url(server).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(seed).database}"')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


if __name__ == "__main__":
    sys.exit(main())
