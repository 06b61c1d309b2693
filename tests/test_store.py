from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam

from digest.errors import StoreError
from digest.mailing import Delivery, DigestDeliveries
from digest.models import Entry, IngestCounts, Profile, RunRecord
from digest.store import Store
from digest.store.schema import SCHEMA_VERSION

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


@pytest.fixture
def store(store_url: str) -> Store:
    s = Store.open(store_url)
    yield s
    s.close()


def add(store: Store, source: str, entries: list[Entry], rank: int = 3, now: datetime = NOW):
    src = store.source(source, location=source, kind="feed")
    return store.add_entries(src.id, entries, rank=rank, now=now)


def test_open_creates_a_wal_sqlite_file_at_the_current_schema(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "d.db"
    with Store.open(f"sqlite:///{db}") as s:
        assert s.schema_version() == SCHEMA_VERSION
    assert db.is_file()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA page_size").fetchone()[0] == 16384
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"items", "item_keys", "sightings", "sources", "runs", "meta"} <= tables
    con.close()


def test_reopen_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    with Store.open(url) as s:
        add(s, "a", [Entry(title="A paper about things")])
    with Store.open(url) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.count_items() == 1


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    Store.open(f"sqlite:///{db}").close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="schema version 999, newer"):
        Store.open(f"sqlite:///{db}")


def test_bad_urls_are_store_errors() -> None:
    with pytest.raises(StoreError, match="bad store URL"):
        Store.open("not a url")
    with pytest.raises(StoreError, match="cannot use store URL"):
        Store.open("nosuchdb://x/y")


def test_title_only_joins_an_id_bearing_item_and_the_reverse(store: Store) -> None:
    c1 = add(store, "dump", [Entry(title="Scaling Laws for  Neural\nLanguage Models")], rank=1)
    c2 = add(
        store,
        "api",
        [
            Entry(
                title="Scaling Laws for Neural Language Models",
                arxiv_id="2001.08361",
                version=1,
                summary="We study",
            )
        ],
    )
    c3 = add(store, "dump2", [Entry(title="scaling laws for neural language models.")], rank=1)
    assert (c1.new, c2.new, c3.new) == (1, 0, 0)
    assert (c2.duplicates, c3.duplicates) == (1, 1)
    [item] = store.items()
    assert item.arxiv_id == "2001.08361"
    assert item.summary == "We study"
    # The feed's text outranks the dump's.
    assert item.title == "Scaling Laws for Neural Language Models"
    assert set(store.item_keys(item.item_id)) == {
        "arxiv:2001.08361",
        "title:scaling laws for neural language models",
    }
    assert [s.source for s in store.sightings(item.item_id)] == ["dump", "api", "dump2"]


def test_v2_updates_the_item_and_records_both_versions(store: Store) -> None:
    add(store, "rss", [Entry(title="Old title", arxiv_id="2410.17243", version=1, summary="first")])
    later = NOW + timedelta(days=3)
    c = add(
        store,
        "rss",
        [
            Entry(
                title="New title",
                arxiv_id="2410.17243",
                version=2,
                summary="second",
                announce_type="replace",
            )
        ],
        now=later,
    )
    assert (c.new, c.duplicates) == (0, 1)
    [item] = store.items()
    assert (item.title, item.summary, item.version) == ("New title", "second", 2)
    assert item.first_seen == NOW
    sightings = store.sightings(item.item_id)
    assert [(s.version, s.announce_type) for s in sightings] == [(1, ""), (2, "replace")]
    # The new title is a key too, so a dump with it joins the same item.
    assert add(store, "dump", [Entry(title="New title")], rank=1).new == 0
    assert add(store, "dump", [Entry(title="Old title")], rank=1).new == 0


def test_an_older_version_does_not_overwrite_a_newer_one(store: Store) -> None:
    add(store, "a", [Entry(title="T two", arxiv_id="2410.00001", version=2, summary="v2")])
    add(store, "b", [Entry(title="T one", arxiv_id="2410.00001", version=1, summary="v1")])
    [item] = store.items()
    assert (item.title, item.version) == ("T two", 2)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Qwen2.5 Technical Report", "Qwen2.5-1M Technical Report"),
        ("Attention Is All You Need", "Attention Is Not All You Need"),
    ],
)
def test_similar_titles_stay_apart(store: Store, a: str, b: str) -> None:
    c = add(store, "x", [Entry(title=a), Entry(title=b)], rank=1)
    assert (c.new, c.duplicates) == (2, 0)
    assert sorted(i.title for i in store.items()) == sorted([a, b])


def test_same_title_different_arxiv_ids_stay_apart(store: Store) -> None:
    c = add(
        store,
        "x",
        [
            Entry(title="Introduction", arxiv_id="2401.00001"),
            Entry(title="Introduction", arxiv_id="2401.00002"),
        ],
    )
    assert c.new == 2
    # A title-only sighting joins the first owner of the title and never merges the two.
    assert add(store, "d", [Entry(title="Introduction")], rank=1).new == 0
    assert store.count_items() == 2


def test_same_title_different_dois_stay_apart(store: Store) -> None:
    c = add(
        store, "x", [Entry(title="Erratum", doi="10.1/a"), Entry(title="Erratum", doi="10.1/b")]
    )
    assert c.new == 2


def test_duplicates_within_one_batch(store: Store) -> None:
    e = Entry(title="Same paper", link="https://example.org/p?utm_source=x")
    c = add(store, "x", [e, Entry(title="Same   Paper!"), e])
    assert (c.new, c.duplicates) == (1, 2)
    [item] = store.items()
    assert len(store.sightings(item.item_id)) == 1


def test_canonical_url_joins_across_sources(store: Store) -> None:
    add(store, "blog", [Entry(title="Post A", link="http://www.Example.org/post/#top")])
    c = add(store, "agg", [Entry(title="Post A (repost)", link="https://example.org/post")])
    assert (c.new, c.duplicates) == (0, 1)


def test_entries_without_any_key_are_ignored(store: Store) -> None:
    c = add(store, "x", [Entry(title="   "), Entry(title="Real")])
    assert (c.new, c.duplicates) == (1, 0)


def test_reseeing_updates_sighting_metadata(store: Store) -> None:
    add(store, "hf", [Entry(title="P", arxiv_id="2411.00001", upvotes=3)], rank=2)
    add(
        store,
        "hf",
        [Entry(title="P", arxiv_id="2411.00001", upvotes=9)],
        rank=2,
        now=NOW + timedelta(hours=2),
    )
    [item] = store.items()
    [s] = store.sightings(item.item_id)
    assert (s.upvotes, s.times_seen, s.first_seen, s.last_seen) == (
        9,
        2,
        NOW,
        NOW + timedelta(hours=2),
    )
    assert item.upvotes == 9


def test_fetch_state_counts_failures_and_resets(store: Store) -> None:
    src = store.source("s", location="https://x/feed", kind="feed")
    store.record_fetch(src.id, NOW, etag='"e1"', last_modified="Mon, 23 Nov 2026 06:00:00 GMT")
    store.record_fetch(src.id, NOW, error="HTTP 500")
    store.record_fetch(src.id, NOW, error="timed out")
    s = store.source("s")
    assert (s.consecutive_failures, s.last_error, s.etag) == (2, "timed out", '"e1"')
    store.record_fetch(src.id, NOW, etag='"e2"', last_modified=None, new=1)
    s = store.source("s")
    assert (s.consecutive_failures, s.last_error, s.etag, s.last_new_at) == (0, None, '"e2"', NOW)


def test_runs_are_recorded(store: Store) -> None:
    rid = store.start_run("ingest", NOW)
    store.finish_run(rid, NOW, "partial", {"new": 1, "errors": 1})
    run = store.last_run("ingest")
    assert run is not None
    assert (run.id, run.status, run.report) == (rid, "partial", {"new": 1, "errors": 1})


def test_naive_datetimes_are_refused(store: Store) -> None:
    src = store.source("s")
    with pytest.raises(StoreError, match="naive datetime"):
        store.add_entries(src.id, [Entry(title="x")], rank=1, now=datetime(2026, 1, 1))
    assert store.count_items() == 0


def test_large_batches_cross_chunk_boundaries(store: Store) -> None:
    entries = [Entry(title=f"Paper number {i}", arxiv_id=f"2411.{i:05d}") for i in range(4500)]
    c = add(store, "big", entries + entries[:10])
    assert (c.new, c.duplicates) == (4500, 10)
    assert store.count_items() == 4500


def test_profile_window_moves_only_when_a_digest_is_recorded(store: Store) -> None:
    add(store, "x", [Entry(title=f"Paper {i}") for i in range(3)])
    first = store.candidates("p")
    assert len(first) == 3
    # A digest was built but its delivery failed: nothing recorded, all held back.
    assert [c.item_id for c in store.candidates("p")] == [c.item_id for c in first]
    store.record_given("p", [first[0].item_id], upto_item_id=first[-1].item_id, now=NOW)
    assert store.candidates("p") == []
    assert [c.item_id for c in store.candidates("p", since=NOW - timedelta(days=1))] == [
        c.item_id for c in first[1:]
    ]
    add(store, "x", [Entry(title="Paper 3")], now=NOW + timedelta(hours=1))
    assert [c.title for c in store.candidates("p")] == ["Paper 3"]
    # Another profile has its own window.
    assert len(store.candidates("q")) == 4
    assert first[0].key == f"item:{first[0].item_id}"
    assert first[0].sources == ("x",)


# -- the bulk path: chunks, lookup batches, rows built from entries ------------

MIXED = [
    Entry(title="Scaling laws", summary="short"),
    Entry(title="Scaling Laws!", arxiv_id="2411.00001", version=2, summary="long", upvotes=4),
    Entry(title="Other", link="https://example.org/o?utm_source=x", categories=("cs.LG",)),
    Entry(title="Other (repost)", link="https://www.example.org/o", categories=("cs.AI",)),
    Entry(title="Scaling laws", arxiv_id="2411.00001", version=1, authors=("A", "B")),
    Entry(title="Erratum", doi="10.1/a"),
    Entry(title="Erratum", doi="10.1/b"),
    Entry(title="   "),
    Entry(title="Erratum", doi="10.1/a", published=datetime(2026, 1, 2, tzinfo=UTC)),
    *(Entry(title=f"Paper {i}", guid=f"g{i % 4}", listed_on=NOW.date()) for i in range(12)),
]


def _tables(store: Store) -> dict[str, list[tuple[object, ...]]]:
    with store.engine.connect() as c:  # either engine
        return {
            t: [tuple(r) for r in c.exec_driver_sql(f"SELECT * FROM {t} ORDER BY 1, 2")]
            for t in ("items", "item_keys", "sightings")
        }


def test_chunk_and_batch_sizes_do_not_change_what_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.store import resolve, statements

    def run(chunk: int, batch: int) -> tuple[list[object], dict[str, list[tuple[object, ...]]]]:
        monkeypatch.setattr(resolve, "CHUNK", chunk)
        monkeypatch.setattr(statements, "_IN_MAX", batch)
        s = Store.open(f"sqlite:///{tmp_path / f'{chunk}-{batch}.db'}")
        counts: list[object] = [add(s, "a", MIXED, rank=1), add(s, "b", MIXED[::-1], rank=3)]
        tables = _tables(s)
        s.close()
        return counts, tables

    counts, tables = run(2000, 512)
    assert counts[0] == IngestCounts(new=8, duplicates=len(MIXED) - 1 - 8)  # one blank title
    assert len(tables["items"]) == 8
    assert run(2000, 1) == run(2000, 2) == (counts, tables)  # lookups in batches
    for chunk in (1, 3):
        # Items and keys do not depend on chunks. Sightings do, as they always have:
        # repeats within a chunk are one sighting, across chunks they count up.
        other_counts, other = run(chunk, 2)
        assert other_counts == counts
        assert (other["items"], other["item_keys"]) == (tables["items"], tables["item_keys"])


def test_a_merge_into_an_item_new_in_the_same_batch_is_stored(store: Store) -> None:
    c = add(store, "x", MIXED[:2], rank=1)
    assert (c.new, c.duplicates) == (1, 1)
    [item] = store.items()
    assert (item.arxiv_id, item.version, item.summary, item.upvotes) == ("2411.00001", 2, "long", 4)
    assert [s.version for s in store.sightings(item.item_id)] == [0, 2]
    # Both keys lead to it: the title, and the arXiv id learnt from the second entry.
    c = add(store, "y", [Entry(title="x", arxiv_id="2411.00001"), Entry(title="scaling LAWS")])
    assert (c.new, c.duplicates) == (0, 2)


def test_a_failing_ingest_stores_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from digest.store import resolve

    calls = []

    def fail_on_the_second_chunk(self: object, *args: object, **kw: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        return real(self, *args, **kw)

    real = resolve.Resolver._sightings
    monkeypatch.setattr(resolve, "CHUNK", 3)
    monkeypatch.setattr(resolve.Resolver, "_sightings", fail_on_the_second_chunk)
    with pytest.raises(RuntimeError, match="disk on fire"):
        add(store, "x", MIXED)
    monkeypatch.undo()
    assert store.count_items() == 0
    assert _tables(store) == {"items": [], "item_keys": [], "sightings": []}
    assert add(store, "x", MIXED) == IngestCounts(new=8, duplicates=12)  # as into a new store


def test_statements_take_rows_in_the_order_they_are_built(tmp_path: Path) -> None:
    from sqlalchemy import select

    from digest.store import schema
    from digest.store.statements import Sql, statements_for

    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")  # positional binding is SQLite's
    with store.engine.connect() as conn:
        st = statements_for(conn)
        for sql in (st.insert_items, st.update_items, st.insert_keys, st.upsert_sightings):
            assert sql.same_order  # no reordering on the hot path
        swapped = Sql(
            conn.dialect,
            select(schema.meta.c.key).where(
                schema.meta.c.key.in_([bindparam("a"), bindparam("b")])
            ),
            ("b", "a"),
        )
        assert swapped.params([(1, 2)]) == [(2, 1)]


def test_a_write_that_fails_on_the_writer_thread_stores_nothing(store: Store) -> None:
    add(store, "x", [Entry(title="Kept from before")])
    with pytest.raises(StoreError, match=r"(?i)foreign key"):  # no source 999: the sightings fail
        store.add_entries(999, MIXED, rank=1, now=NOW)
    assert [i.title for i in store.items()] == ["Kept from before"]
    assert add(store, "x", MIXED).new == 8  # the connection is usable again


def test_a_later_chunk_builds_on_what_an_earlier_one_merged(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.store import resolve

    add(store, "x", [Entry(title="Scaling laws", arxiv_id="2411.00001", summary="short")], rank=1)
    monkeypatch.setattr(resolve, "CHUNK", 1)
    # Chunk 1 reaches the stored item by its arXiv id, chunk 2 by its title alone:
    # the second merge must start from the first one's result, not the stored row.
    c = add(
        store,
        "y",
        [
            Entry(title="Scaling laws", arxiv_id="2411.00001", upvotes=9),
            Entry(title="Scaling Laws", categories=("cs.LG",)),
        ],
    )
    assert (c.new, c.duplicates) == (0, 2)
    [item] = store.items()
    assert (item.upvotes, item.categories, item.summary) == (9, ("cs.LG",), "short")


def test_a_big_ingest_checkpoints_after_its_commit(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    s = Store.open(f"sqlite:///{db}")
    add(s, "x", [Entry(title=f"Paper {i}", summary="text " * 200) for i in range(3000)])
    with s.engine.connect() as a, s.engine.connect() as b:  # both pooled connections
        for conn in (a, b):
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    s.close()  # waits for the checkpoint thread
    con = sqlite3.connect(db)
    # Everything reached the database file: a checkpoint now has no frame left to copy.
    busy, frames, copied = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0
    assert frames == copied
    assert con.execute("SELECT count(*) FROM items").fetchone()[0] == 3000
    con.close()


def test_multi_row_statements_repeat_the_one_values_group() -> None:
    from digest.store.writer import _values_sql

    sql = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT DO NOTHING"
    assert _values_sql(sql, 2, 3) == (
        "INSERT INTO t (a, b) VALUES (?, ?), (?, ?), (?, ?) ON CONFLICT DO NOTHING"
    )
    with pytest.raises(ValueError, match="one-row positional INSERT"):
        _values_sql("UPDATE t SET a = ?", 1, 2)


def test_both_writers_store_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SQLite file's writer thread and the inline writer (in-memory SQLite
    here; PostgreSQL's path) leave identical tables, across chunk boundaries."""
    from sqlalchemy import text

    from digest.store import resolve, writer

    monkeypatch.setattr(resolve, "CHUNK", 3)
    used: list[str] = []
    real = writer.writer_for

    def spy(conn: Any) -> Any:
        w = real(conn)
        used.append(type(w).__name__)
        return w

    monkeypatch.setattr(resolve, "writer_for", spy)

    def tables(url: str) -> dict[str, list[tuple[object, ...]]]:
        s = Store.open(url)
        add(s, "a", MIXED, rank=1)
        add(s, "b", MIXED[::-1], rank=3)
        with s.engine.connect() as conn:
            out = {
                t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY {order}"))]
                for t, order in (("items", "1"), ("item_keys", "1"), ("sightings", "1, 2, 3"))
            }
        s.close()
        return out

    threaded = tables(f"sqlite:///{tmp_path / 'd.db'}")
    inline = tables("sqlite://")
    assert used == ["ThreadWriter", "ThreadWriter", "InlineWriter", "InlineWriter"]
    assert len(threaded["items"]) == 8
    assert inline == threaded


def test_deliveries_and_the_ledger_are_records(store: Store) -> None:
    for email in ("a@example.org", "b@example.org", "c@example.org"):
        store.add_subscriber(email, ["p"], now=NOW)
    store.add_subscriber("other@example.org", ["q"], now=NOW)
    empty = store.record_digest(Profile("q", "Q"), [], upto_item_id=0, now=NOW)
    digest = store.record_digest(Profile("p", "P"), [], upto_item_id=0, now=NOW)
    first, second, third = (d.delivery_id for d in store.due_deliveries(NOW, ["p"]))
    store.mark_delivery(first, "sent", NOW)
    store.mark_delivery(second, "temporary", NOW, "451 later")
    store.mark_delivery(third, "permanent", NOW, "550 no such user")
    assert store.deliveries() == [
        DigestDeliveries(digest.id, "p", NOW, 0, sent=1, failed_temporary=1, failed_permanent=1),
        DigestDeliveries(empty.id, "q", NOW, 0, pending=1),
    ]
    ledger = {d.id: d for d in store.ledger()}
    assert len(ledger) == 4
    assert (ledger[first].status, ledger[first].sent_at) == ("sent", NOW)
    assert ledger[second] == Delivery(
        second,
        digest.id,
        ledger[second].subscriber_id,
        "failed-temporary",
        attempts=1,
        created_at=NOW,
        next_attempt_at=NOW + timedelta(minutes=5),
        last_error="451 later",
    )
    assert (ledger[third].status, ledger[third].last_error) == (
        "failed-permanent",
        "550 no such user",
    )


def test_last_run_is_a_record_with_its_report(store: Store) -> None:
    assert store.last_run() is None
    first = store.start_run("ingest", NOW)
    store.finish_run(first, NOW + timedelta(seconds=3), "ok", {"new": 2})
    second = store.start_run("cycle", NOW + timedelta(minutes=1))
    assert store.last_run() == RunRecord(
        second, "cycle", NOW + timedelta(minutes=1), None, "running", None
    )
    assert store.last_run("ingest") == RunRecord(
        first, "ingest", NOW, NOW + timedelta(seconds=3), "ok", {"new": 2}
    )
