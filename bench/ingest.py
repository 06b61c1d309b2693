"""Ingest benchmark: synthetic dump and RSS entries into a store that is already large.

Each source goes through the pipeline's own ingest (read the file, parse, store)
in a process of its own. Prints entries per second (and the parser's share),
peak memory of the ingesting process, and the ratio of the whole RSS ingest to
`feedparser.parse` alone on the same bytes, measured in the same run. Targets
(2-core machine): dump >= 50,000 entries/s, RSS ingest <= 1.3x feedparser, peak
memory < 500 MB.

    python bench/ingest.py             # 100,000 entries, 1,000,000-item store
    python bench/ingest.py --quick     # 10,000 entries, 50,000-item store
    python bench/ingest.py --only dump # one source kind (the RSS part takes minutes)
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import resource
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from digest.models import Entry, SourceKind
from digest.store import Store

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
WORDS = (
    "scaling",
    "law",
    "batch",
    "size",
    "learning",
    "rate",
    "diffusion",
    "transformer",
    "attention",
    "token",
    "model",
    "training",
    "inference",
    "data",
    "reasoning",
    "agent",
    "benchmark",
    "optimizer",
    "sparse",
    "memory",
    "vision",
)


def words(i: int, n: int) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n))


def abstract(i: int) -> str:
    return f"We study {words(i, 12)} in setting {i}. " * 8  # about 900 characters


def dump_text(n: int, offset: int) -> str:
    lines = [
        "new",
        "",
        "Get trending papers in your email inbox!",
        "",
        "Subscribe",
        "",
        "byAK and the research community",
        "",
        "Nov 20",
        "",
    ]
    for i in range(offset, offset + n):
        day = date(2026, 11, 20) - timedelta(days=i % 300)
        lines += [
            f"Synthetic dump paper {i}: {words(i, 5).title()}",
            "",
            abstract(i),
            "",
            f"  • {i % 12 + 1} authors",
            "·",
            f"{day:%b} {day.day} {i % 50}",
            "",
        ]
    return "\n".join(lines)


def rss_bytes(n: int, offset: int) -> bytes:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>',
        "<title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link>",
        "<description>synthetic</description>",
    ]
    for i in range(offset, offset + n):
        aid = f"26{(i // 100000) % 12 + 1:02d}.{i % 100000:05d}"
        out.append(
            f"<item><title>Synthetic feed paper {i}: {words(i, 5).title()}</title>"
            f"<link>https://arxiv.org/abs/{aid}</link>"
            f"<description>arXiv:{aid}v1 Announce Type: new \nAbstract: {abstract(i)}"
            "</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{aid}v1</guid>'
            "<category>cs.LG</category><arxiv:announce_type>new</arxiv:announce_type>"
            "<dc:creator>Ada Lovelace, Grace Hopper, Alan Turing</dc:creator></item>"
        )
    out.append("</channel></rss>")
    return "\n".join(out).encode()


def build_base(url: str, n: int, now: datetime = NOW) -> float:
    """`n` items, all first seen at `now`, in the store at `url`; returns seconds."""
    store = Store.open(url)
    src = store.source("base", location="synthetic", kind="feed")
    t = time.perf_counter()
    step = 50_000
    for start in range(0, n, step):
        batch = [
            Entry(
                title=f"Base paper {i} {words(i, 4)}",
                summary=words(i, 20),
                arxiv_id=f"1{(i // 100000) % 9 + 1}{(i // 10000) % 12 + 1:02d}.{i % 10000:04d}"
                if i < 900_000
                else "",
            )
            for i in range(start, min(n, start + step))
        ]
        store.add_entries(src.id, batch, rank=3, now=now)
    store.close()
    return time.perf_counter() - t


def _peak_mb() -> float:
    """Peak resident memory of this process's own address space.

    Not ru_maxrss: on Linux a spawned child's ru_maxrss starts at the parent's
    resident size when it forked (exec records the old address space's peak), so
    it would report the parent.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: SourceKind, url: str, path: Path, queue: Any) -> None:
    """One source through the pipeline's own ingest: read, parse, store."""
    from digest.models import FetchResult, SourceConfig
    from digest.pipeline import ingest_source
    from digest.sources import parse_document

    def read_file(source: str, location: str, **_: Any) -> FetchResult:  # no size cap here
        return FetchResult(Path(location).read_bytes(), location)

    store = Store.open(url)
    src = SourceConfig(f"bench-{kind}", str(path), kind=kind, reference_date=date(2026, 11, 23))
    t = time.perf_counter()
    report = ingest_source(store, src, NOW, read_file, None)
    total = time.perf_counter() - t
    store.close()  # waits for the WAL checkpoint the commit left to its own thread
    checkpoint = time.perf_counter() - t - total
    peak = _peak_mb()
    assert report.error is None, report.error
    t = time.perf_counter()  # the parser's share, measured on its own afterwards
    parse_document(kind, path.read_bytes(), reference_date=date(2026, 11, 23))
    queue.put(
        {
            "entries": report.entries,
            "new": report.new,
            "parse": time.perf_counter() - t,
            "total": total,
            "checkpoint": checkpoint,
            "peak_mb": peak,
        }
    )


def _sqlite_floor_child(url: str, path: Path, queue: Any) -> None:
    """The same three rows per paper (item, key, sighting) inserted by plain
    sqlite3 executemany in one transaction, with the store's pragmas and the
    checkpoint left out as the store leaves it: what SQLite itself costs, with no
    parsing, no identity work and no Python per entry beyond the driver's."""
    import sqlite3

    from digest.identity import entry_keys
    from digest.sources import parse_document
    from digest.store.merge import first_values, stored_row

    doc = parse_document("listing", path.read_bytes(), reference_date=date(2026, 11, 23))
    con = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        con.execute(f"PRAGMA {pragma}")
    con.execute("PRAGMA cache_size=-65536")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("INSERT INTO sources (name) VALUES ('floor')")
    source_id = con.execute("SELECT max(id) FROM sources").fetchone()[0]
    top = con.execute("SELECT max(id) FROM items").fetchone()[0]
    stamp = "2026-11-23T07:00:00.000000Z"
    items, keys, sightings = [], [], []
    for i, e in enumerate(doc.entries, top + 1):
        items.append((i, *stored_row(first_values(e, 1)), stamp, stamp))
        keys.append((entry_keys(e)[0], i))
        sighting = (i, source_id, 0, None, stamp, stamp, 1, "", "", "[]", e.upvotes, None)
        sightings.append((*sighting, e.author_count, e.organization, "", "2026-11-20"))
    t = time.perf_counter()
    con.execute("BEGIN IMMEDIATE")
    for table, rows in (("items", items), ("item_keys", keys), ("sightings", sightings)):
        sql = f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})"
        for start in range(0, len(rows), 2000):
            con.executemany(sql, rows[start : start + 2000])
    con.execute("COMMIT")
    queue.put({"total": time.perf_counter() - t})
    con.close()


def _feedparser_child(path: Path, queue: Any) -> None:
    import feedparser

    payload = path.read_bytes()
    t = time.perf_counter()
    d = feedparser.parse(payload)
    queue.put({"entries": len(d.entries), "total": time.perf_counter() - t})


def fresh_copy(base: Path) -> str:
    """A store URL for one measurement: a copy of the base, so every run ingests
    into the same 1,000,000 items and its entries are new, not seen before."""
    work = base.with_name("work.db")
    for path in (work, work.with_name("work.db-wal"), work.with_name("work.db-shm")):
        path.unlink(missing_ok=True)
    shutil.copyfile(base, work)
    os.sync()  # or the kernel writes the copy back during the measurement
    return f"sqlite:///{work}"


def in_child(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    while True:  # a child that dies before it reports must not leave us waiting
        try:
            result: dict[str, Any] = q.get(timeout=1)
            break
        except queue.Empty:
            if not p.is_alive():
                raise SystemExit(f"{target.__name__} failed (exit code {p.exitcode})") from None
    p.join()
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--base", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dir", help="keep the store here (reused if it exists)")
    ap.add_argument("--only", choices=("dump", "rss"), help="measure one source kind")
    args = ap.parse_args()
    if args.quick:
        args.entries, args.base = 10_000, 50_000
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="digest-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / f"base-{args.base}.db"
    url = f"sqlite:///{db}"
    if not db.exists():
        secs = build_base(url, args.base)
        print(f"built a {args.base:,}-item store in {secs:.1f}s ({args.base / secs:,.0f} items/s)")
    with Store.open(url) as s:
        print(f"store holds {s.count_items():,} items (each measurement ingests into a copy)")

    n = args.entries
    verdict = {}
    if args.only != "rss":
        verdict["dump >= 50,000 entries/s"] = measure_dump(workdir, db, n)
    if args.only != "dump":
        ratio, peak = measure_rss(workdir, db, n)
        verdict["rss ingest <= 1.30x feedparser"] = ratio <= 1.30
        verdict["peak memory < 500 MB (rss)"] = peak < 500
    for name, ok in verdict.items():
        print(f"  {'PASS' if ok else 'MISS'}  {name}")


def measure_dump(workdir: Path, db: Path, n: int) -> bool:
    dump_file = workdir / "dump.txt"
    dump_file.write_text(dump_text(n, 10_000_000))
    dump = in_child(_child, "listing", fresh_copy(db), dump_file)
    rate = dump["entries"] / dump["total"]
    print(
        f"dump: {dump['entries']:,} entries ({dump['new']:,} new) in {dump['total']:.2f}s "
        f"= {rate:,.0f} entries/s, peak {dump['peak_mb']:.0f} MB "
        f"(parsing alone takes {dump['parse']:.2f}s)"
    )
    print(
        f"      then the WAL checkpoint: {dump['checkpoint']:.2f}s on its own thread "
        f"({dump['entries'] / (dump['total'] + dump['checkpoint']):,.0f} entries/s counting it)"
    )
    floor = in_child(_sqlite_floor_child, fresh_copy(db), dump_file)
    serial = dump["parse"] + floor["total"]
    print(
        f"      baseline: plain sqlite3 inserting the same rows takes {floor['total']:.2f}s; "
        f"with parsing alone that is {serial:.2f}s ({n / serial:,.0f} entries/s) "
        f"before any identity work; ingest/(parse + inserts) = {dump['total'] / serial:.2f}x"
    )

    print(f"  {'PASS' if dump['peak_mb'] < 500 else 'MISS'}  peak memory < 500 MB (dump)")
    return bool(rate >= 50_000)


def measure_rss(workdir: Path, db: Path, n: int) -> tuple[float, float]:
    rss_file = workdir / "feed.xml"
    rss_file.write_bytes(rss_bytes(n, 20_000_000))
    fp = in_child(_feedparser_child, rss_file)
    rss = in_child(_child, "feed", fresh_copy(db), rss_file)
    ratio = rss["total"] / fp["total"]
    print(
        f"rss:  {rss['entries']:,} entries ({rss['new']:,} new) in {rss['total']:.2f}s "
        f"= {rss['entries'] / rss['total']:,.0f} entries/s, peak {rss['peak_mb']:.0f} MB"
    )
    print(
        f"      feedparser.parse alone {fp['total']:.2f}s on the same bytes; "
        f"ingest/feedparser = {ratio:.2f}x (target <= 1.30)"
    )
    return ratio, rss["peak_mb"]


if __name__ == "__main__":
    main()
