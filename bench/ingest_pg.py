"""PostgreSQL ingest benchmark: one source of N entries into an empty store,
on SQLite (the baseline, same run) and on PostgreSQL, through the pipeline's own
ingest (`pipeline.ingest_source`: read, parse, store). Each measurement runs in a
process of its own; the rounds alternate engines and the best of each counts.
Target: PostgreSQL within 3x of SQLite for 100,000 entries.

    python bench/ingest_pg.py                      # a throwaway cluster (initdb/pg_ctl)
    python bench/ingest_pg.py --db postgresql+psycopg://user@host:5432/db
    python bench/ingest_pg.py --entries 20000 --rounds 1

With --db, each measurement creates (and drops) a database of its own on that
server, so the URL's user needs CREATEDB.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

from ingest import NOW, dump_text  # bench/ingest.py: the same synthetic listing dump


def _child(url: str, path: Path, queue: Any) -> None:
    from digest.models import FetchResult, SourceConfig
    from digest.pipeline import ingest_source
    from digest.store import Store

    def read_file(source: str, location: str, **_: Any) -> FetchResult:
        return FetchResult(Path(location).read_bytes(), location)

    store = Store.open(url)
    src = SourceConfig("bench", str(path), kind="listing", reference_date=date(2026, 11, 23))
    t = time.perf_counter()
    report = ingest_source(store, src, NOW, read_file, None)
    took = time.perf_counter() - t
    store.close()
    queue.put(
        {"seconds": took, "entries": report.entries, "new": report.new, "error": report.error}
    )


def measure(url: str, path: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(url, path, q))
    p.start()
    p.join()
    if p.exitcode:
        raise SystemExit(f"ingest into {url} failed (exit code {p.exitcode})")
    result: dict[str, Any] = q.get()
    if result["error"]:
        raise SystemExit(f"ingest into {url} failed: {result['error']}")
    return result


def _pg_helpers() -> ModuleType:
    """tests/pg.py: the throwaway cluster and database helpers the tests use."""
    spec = importlib.util.spec_from_file_location("pg", Path(__file__).parents[1] / "tests/pg.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--db", default=os.environ.get("DIGEST_TEST_PG_URL"), help="a PostgreSQL URL")
    args = ap.parse_args()
    pg = _pg_helpers()
    work = Path(tempfile.mkdtemp(prefix="digest-bench-pg-"))
    source = work / "dump.txt"
    source.write_text(dump_text(args.entries, 0), encoding="utf-8")
    cluster = None
    if args.db:
        server = pg.server_base(args.db)
    else:
        cluster = pg.Cluster()
        server = cluster.start()
        print(f"started a throwaway PostgreSQL cluster on port {cluster.port}")
    best: dict[str, float] = {}
    try:
        for r in range(args.rounds):
            for engine in ("sqlite", "postgresql"):
                url = f"sqlite:///{work / f'{r}.db'}" if engine == "sqlite" else None
                url = url or pg.create_database(server)
                try:
                    got = measure(url, source)
                finally:
                    if engine == "postgresql":
                        pg.drop_database(url)
                rate = got["entries"] / got["seconds"]
                print(
                    f"round {r + 1} {engine:10}: {got['entries']:,} entries ({got['new']:,} new) "
                    f"in {got['seconds']:.2f}s = {rate:,.0f} entries/s"
                )
                best[engine] = min(best.get(engine, float("inf")), got["seconds"])
    finally:
        if cluster is not None:
            cluster.stop()
    ratio = best["postgresql"] / best["sqlite"]
    print(
        f"best: SQLite {best['sqlite']:.2f}s, PostgreSQL {best['postgresql']:.2f}s; "
        f"PostgreSQL/SQLite = {ratio:.2f}x (target <= 3.00)"
    )
    print(f"  {'PASS' if ratio <= 3.0 else 'MISS'}  PostgreSQL ingest within 3x of SQLite")


if __name__ == "__main__":
    main()
