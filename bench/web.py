"""Web benchmark: a profile's feed and the subscribe page over real HTTP.

The app runs on uvicorn on 127.0.0.1 in its own process (this script, `--serve`),
over a store and an archive built from the bundled samples (ingest, one digest,
publish). The client, in this process, sends 10,000 GETs with httpx.AsyncClient,
at most 32 in flight over keep-alive connections, alternating between
`/feeds/scaling.xml` (a file, ETag and all) and `/` (the subscribe form: Jinja,
a CSRF field). After a warm-up it reports requests per second and latency
percentiles, overall and per path, and the CPU time per request of the server and
of the client (from /proc). On a 2-core machine the two share the cores, and httpx
spends about twice the server's CPU per request, so requests per second measure the
pair, not the server alone. Any error (a status other than 200, a failed connection)
is a MISS; otherwise PASS.

    python bench/web.py                 # 10,000 requests, 32 in flight
    python bench/web.py --quick         # 2,000 requests
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from digest import pipeline
from digest.settings import Settings, WebSettings
from digest.store import Store

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("/feeds/scaling.xml", "/")
KEY = "bench-web-key-0123456789abcdef-0123"


def settings_for(folder: Path, port: int) -> Settings:
    return Settings(
        store_url=f"sqlite:///{folder / 'digest.db'}",
        profiles_dir=ROOT / "config" / "profiles",
        web=WebSettings(output_dir=folder / "out", site_url=f"http://127.0.0.1:{port}/"),
    )


def prepare(folder: Path, port: int) -> None:
    """A store with the samples ingested and the scaling digest published."""
    settings = settings_for(folder, port)
    now = datetime.now(UTC)
    with Store.open(settings.store_url) as store:
        sources = pipeline.sources_for([str(ROOT / "config" / "samples")])
        pipeline.ingest(settings, store, now, sources=sources)
        pipeline.create_digests(settings, store, now, names=["scaling"])
        pipeline.publish(settings, store, now, names=["scaling"])
    assert (folder / "out" / "archive" / "scaling" / "feed.xml").is_file()


def serve(folder: Path, port: int) -> None:
    """The server process: the app on uvicorn until terminated."""
    import uvicorn

    from digest.web import create_app

    settings = settings_for(folder, port)
    store = Store.open(settings.store_url)
    app = create_app(settings, store)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=1, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not start within 30 s")


async def load(
    base: str, total: int, concurrency: int
) -> tuple[float, dict[str, list[float]], list[str]]:
    """(seconds, latencies per path, errors) of `total` GETs, `concurrency` in flight.

    Each of the `concurrency` workers has its own AsyncClient holding one keep-alive
    connection: one shared pool of 32 costs the client several times the CPU of the
    server per request (httpx scans and locks its pool), and measures httpx."""
    latencies: dict[str, list[float]] = {p: [] for p in PATHS}
    errors: list[str] = []
    todo = iter(range(total))
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def worker() -> None:
        async with httpx.AsyncClient(
            base_url=base, limits=limits, timeout=30, trust_env=False
        ) as client:
            for n in todo:  # one shared iterator: each request is taken once
                path = PATHS[n % len(PATHS)]
                start = time.perf_counter()
                try:
                    response = await client.get(path)
                except httpx.HTTPError as exc:
                    errors.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                latencies[path].append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors.append(f"{path}: HTTP {response.status_code}")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies, errors


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) of a process so far, from /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="2,000 requests")
    parser.add_argument("--serve", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), int(args.serve[1]))
        return
    total = 2_000 if args.quick else args.requests
    os.environ.setdefault("DIGEST_SECRET_KEY", KEY)

    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
        folder = Path(tmp)
        port = free_port()
        prepare(folder, port)
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([sys.executable, __file__, "--serve", str(folder), str(port)])
        try:
            wait_ready(base, proc)
            asyncio.run(load(base, min(500, total), args.concurrency))  # warm-up
            server_before, client_before = cpu_seconds(proc.pid), time.process_time()
            seconds, latencies, errors = asyncio.run(load(base, total, args.concurrency))
            server_after, client_cpu = cpu_seconds(proc.pid), time.process_time() - client_before
        finally:
            proc.terminate()
            proc.wait(timeout=15)

    every = [x for values in latencies.values() for x in values]
    print(f"{total:,} requests, {args.concurrency} in flight, in {seconds:.2f} s")
    print(f"  {total / seconds:,.0f} requests/s")
    print(
        f"  all   p50 {percentile(every, 0.5) * 1000:6.1f} ms   p99 "
        f"{percentile(every, 0.99) * 1000:6.1f} ms"
    )
    for path, values in latencies.items():
        print(
            f"  {path:<20} p50 {percentile(values, 0.5) * 1000:6.1f} ms   p99 "
            f"{percentile(values, 0.99) * 1000:6.1f} ms   ({len(values):,} answered)"
        )
    if server_before is not None and server_after is not None:
        server_ms = (server_after - server_before) / total * 1000
        client_ms = client_cpu / total * 1000
        print(f"  CPU per request: server {server_ms:.2f} ms, client {client_ms:.2f} ms")
    print(f"  errors: {len(errors)}")
    for line in errors[:10]:
        print(f"    {line}")
    print("PASS" if not errors else "MISS")
    sys.exit(0 if not errors else 1)


if __name__ == "__main__":
    main()
