"""A large ingest commits as it goes, so another writer never waits for the
whole source: in one process (the facade, both engines), and as four `digest
ingest` processes at once, one of them with a large source."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from digest.models import Entry, IngestCounts
from digest.store import Store

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def papers(n: int, prefix: str, *, pause_every: int = 0, pause: float = 0.0) -> Iterator[Entry]:
    """`n` distinct papers, read lazily; a slow reader pauses now and then."""
    for i in range(n):
        if pause_every and i and i % pause_every == 0:
            time.sleep(pause)
        yield Entry(
            title=f"{prefix} paper {i} on sparse attention and scaling",
            summary=f"We study {prefix} setting {i}. " * 20,
            link=f"https://example.org/{prefix}/{i}",
        )


def test_a_writer_gets_in_while_a_large_ingest_goes_on(store_url: str) -> None:
    big = Store.open(store_url)
    big.lock_budget = 0.4  # seconds: commits about every chunk of this slow source
    other = Store.open(store_url)
    started = threading.Event()
    ended: dict[str, float] = {}
    counts: dict[str, IngestCounts] = {}

    def slow_source() -> Iterator[Entry]:
        for n, entry in enumerate(papers(12_000, "big", pause_every=500, pause=0.12)):
            if n == 600:
                started.set()  # well inside the first transaction
            yield entry

    def ingest_big() -> None:
        src = big.source("big", location="big", kind="feed")
        counts["big"] = big.add_entries(src.id, slow_source(), rank=3, now=NOW)
        ended["big"] = time.monotonic()

    worker = threading.Thread(target=ingest_big)
    try:
        worker.start()
        assert started.wait(30)
        asked = time.monotonic()
        src = other.source("small", location="small", kind="feed")
        counts["small"] = other.add_entries(src.id, papers(20, "small"), rank=3, now=NOW)
        ended["small"] = time.monotonic()
        worker.join(60)
        assert not worker.is_alive()
        # The small source got the lock at the big one's next commit, not at its end.
        assert ended["small"] < ended["big"]
        assert ended["small"] - asked < 3.0
        assert counts == {"big": IngestCounts(12_000, 0), "small": IngestCounts(20, 0)}
        assert other.count_items() == 12_020
    finally:
        worker.join(60)
        big.close()
        other.close()
