"""What must hold on SQLite and PostgreSQL alike: long text, migrations, the
writers, and the same rows for the same ingest."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from digest.models import Entry
from digest.store import Store, schema
from digest.store.resolve import CHUNK
from digest.store.statements import in_batches, statements_for
from digest.store.writer import writer_for
from tests import pg

ROOT = Path(__file__).resolve().parent.parent

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def add(store: Store, entries: list[Entry], source: str = "s", rank: int = 3) -> Any:
    src = store.source(source, location=source, kind="feed")
    return store.add_entries(src.id, entries, rank=rank, now=NOW)


def tables(store: Store) -> dict[str, list[tuple[object, ...]]]:
    with store.engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY {order}"))]
            for t, order in (("items", "1"), ("item_keys", "1"), ("sightings", "1, 2, 3"))
        }


LONG = [
    Entry(title="Scaling " * 250, summary="ascii"),  # 2,000 characters
    Entry(title="尺度定律" * 500, summary="4 bytes? 3 a character"),
    Entry(title="A short title", doi="10.1234/" + "x" * 1992, summary="long DOI"),
    Entry(title="Another one", link="https://example.org/" + "p" * 1980, summary="long link"),
    Entry(title="Arxiv long", arxiv_id="2411." + "1" * 1995),
]


def test_2000_character_titles_dois_and_links_are_stored_whole(store_url: str) -> None:
    with Store.open(store_url) as store:
        assert add(store, LONG).new == len(LONG)
        items = {i.summary: i for i in store.items()}
        assert items["ascii"].title == "Scaling " * 250
        assert items["4 bytes? 3 a character"].title == "尺度定律" * 500
        assert items["long DOI"].doi == "10.1234/" + "x" * 1992
        assert items["long link"].url == "https://example.org/" + "p" * 1980
        for item in items.values():
            keys = store.item_keys(item.item_id)
            assert keys
            assert all(len(k) <= schema.KEY_CHARS for k in keys)
        again = add(store, LONG, source="other")  # found again by their cut keys
        assert (again.new, again.duplicates) == (0, len(LONG))


def test_long_titles_alike_until_their_last_character_stay_apart(store_url: str) -> None:
    a, b = "word " * 399 + "a", "word " * 399 + "b"
    with Store.open(store_url) as store:
        assert add(store, [Entry(title=a), Entry(title=b)]).new == 2
        assert add(store, [Entry(title=b)], source="t").duplicates == 1
        assert sorted(i.title for i in store.items()) == [a, b]


def test_stored_keys_are_cut_and_hashed_only_when_long() -> None:
    short = "title:" + "a" * (schema.KEY_CHARS - 6)
    assert schema.stored_key(short) == short
    cut = schema.stored_key(short + "b")
    assert len(cut) == schema.KEY_CHARS
    assert cut != schema.stored_key(short + "c")
    assert cut.startswith("title:aaa")


OLD_TYPES = {  # what a version-4 store had, which PostgreSQL enforced
    ("items", "arxiv_id"): "VARCHAR(64)",
    ("items", "doi"): "VARCHAR(255)",
    ("item_keys", "key"): "VARCHAR(1000)",
    ("sources", "name"): "VARCHAR(400)",
    ("sightings", "announce_type"): "VARCHAR(32)",
}


def make_v4_store(url: str) -> None:
    with Store.open(url, migrate=False) as store, store.engine.begin() as conn:
        for step in schema.MIGRATIONS[:4]:
            step(conn)
        conn.execute(schema.meta.insert().values(key="schema_version", value="4"))
        if conn.dialect.name == "postgresql":
            for (table, column), kind in OLD_TYPES.items():
                conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {kind}")


def test_a_version_4_store_migrates_and_keeps_finding_long_keys(store_url: str) -> None:
    make_v4_store(store_url)
    title = "Long " * 180  # 900 characters: fit version 4's key column on both engines
    with Store.open(store_url, migrate=False) as old, old.engine.begin() as conn:
        src = conn.execute(schema.sources.insert().values(name="s")).inserted_primary_key[0]
        stamp = {"first_seen": NOW, "updated_at": NOW}
        item = conn.execute(schema.items.insert().values(title=title, **stamp))
        item_id = item.inserted_primary_key[0]
        key = "title:" + title.strip().lower()
        conn.execute(schema.item_keys.insert().values(key=key, item_id=item_id))
        assert src
        assert len(key) > schema.KEY_CHARS
    with Store.open(store_url) as store:
        assert store.schema_version() == schema.SCHEMA_VERSION
        assert store.item_keys(item_id) == [schema.stored_key(key)]
        assert add(store, [Entry(title=title)]).duplicates == 1  # the same item
        assert add(store, [Entry(title="x", doi="10.1/" + "d" * 1000)]).new == 1
        if store.engine.dialect.name == "postgresql":
            with store.engine.connect() as conn:
                types = dict(
                    conn.exec_driver_sql(
                        "SELECT table_name || '.' || column_name, data_type "
                        "FROM information_schema.columns WHERE table_schema = 'public'"
                    ).all()
                )
            assert {types[f"{t}.{c}"] for t, c in OLD_TYPES} == {"text"}


def mixed(n: int) -> list[Entry]:
    """Entries that merge, collide and repeat across chunk boundaries."""
    out = []
    for i in range(n):
        out.append(
            Entry(
                title=f"Paper {i // 2}",
                arxiv_id=f"2411.{i // 3:05d}" if i % 3 else "",
                version=i % 3 or None,
                doi=f"10.1/{i}" if i % 7 == 0 else "",
                link=f"https://example.org/p/{i // 2}",
                summary=f"abstract {i}",
                upvotes=i,
                categories=("cs.LG",) if i % 2 else (),
            )
        )
    return out


def test_the_same_ingest_leaves_the_same_rows_on_both_engines(
    new_store_url: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from digest.store import resolve, writer

    monkeypatch.setattr(resolve, "CHUNK", 700)
    monkeypatch.setattr(writer.PostgresWriter, "STAGE_MIN", 1)  # COPY for every statement
    found = {}
    for engine in ("sqlite", "postgresql"):
        with Store.open(new_store_url(engine)) as store:
            add(store, mixed(3000), source="a", rank=1)
            add(store, mixed(2000)[::-1], source="b", rank=3)
            found[engine] = tables(store)
    assert len(found["sqlite"]["items"]) >= 1000
    assert found["sqlite"] == found["postgresql"]


def test_rows_that_update_one_row_twice_are_written_as_executemany_would(
    store_url: str,
) -> None:
    from digest.store.statements import statements_for
    from digest.store.writer import writer_for

    with Store.open(store_url) as store:
        add(store, [Entry(title="Seen often")])
        [item] = store.items()
        t = schema.db_time(NOW)
        row = (item.item_id, 1, 0, None, t, t, 1, "", "", "[]", None, None, None, "", "", None)
        with store.engine.begin() as conn:
            w = writer_for(conn)
            w.submit(statements_for(conn).upsert_sightings, [row] * 150)
            w.close()
        [seen] = store.sightings(item.item_id)
        assert seen.times_seen == 151  # the ingest saw it once, then 150 updates


@pytest.mark.postgresql
def test_a_big_first_ingest_analyses_what_it_grew(pg_url: str) -> None:
    with Store.open(pg_url) as store:
        add(store, [Entry(title=f"Paper {i}", summary="text") for i in range(3000)])
        with store.engine.connect() as conn:
            counted = dict(
                conn.exec_driver_sql(
                    "SELECT relname, reltuples FROM pg_class "
                    "WHERE relname IN ('items', 'item_keys', 'sightings')"
                ).all()
            )
    # Without ANALYZE inside the ingest they would still be -1 (never analysed).
    assert counted == {"items": CHUNK, "item_keys": CHUNK, "sightings": CHUNK}  # the first chunk


def test_nul_characters_are_taken_out_of_an_entrys_text(store_url: str) -> None:
    """PostgreSQL refuses NUL in text (a JSON feed's \\u0000 gives one): it is taken
    out on both engines, so the ingest goes on and the same paper is found again."""
    nul = Entry(
        title="Scaling\x00 laws",
        summary="An \x00abstract",
        authors=("A. Okafor\x00",),
        guid="urn:\x00x",
        doi="10.1234/\x00nul",
        link="https://example.org/\x00p",
        categories=("cs.\x00LG",),
    )
    with Store.open(store_url) as store:
        assert add(store, [nul, Entry(title="Clean", summary="plain")]).new == 2
        items = {i.summary: i for i in store.items()}
        item = items["An abstract"]
        assert (item.title, item.authors, item.doi) == (
            "Scaling laws",
            ("A. Okafor",),
            "10.1234/nul",
        )
        assert item.url == "https://example.org/p"
        assert item.categories == ("cs.LG",)
        assert all("\x00" not in k for k in store.item_keys(item.item_id))
        again = add(store, [nul], source="other")
        assert (again.new, again.duplicates) == (0, 1)


def test_a_json_feed_with_u0000_ingests(store_url: str, tmp_path: Path) -> None:
    import json

    from digest import pipeline
    from digest.models import SourceConfig
    from digest.settings import Settings
    from digest.wiring import fetcher

    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "nul",
        "items": [{"id": "a\u0000", "title": "Null\u0000 title", "content_text": "x\u0000y"}],
    }
    path = tmp_path / "nul.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    src = SourceConfig(name="nul", location=str(path), kind="feed")
    with Store.open(store_url) as store:
        report = pipeline.ingest_source(store, src, NOW, fetcher(Settings()), None)
        assert (report.error, report.new) == (None, 1)
        assert [(i.title, i.summary) for i in store.items()] == [("Null title", "xy")]


def test_without_a_server_postgresql_tests_skip_with_the_reason_and_fail_under_ci(
    tmp_path: Path,
) -> None:
    """An initdb that cannot make a cluster (as root, run as `postgres`, which may
    not even read it): outside CI each PostgreSQL test skips and says why; with
    CI=true each fails instead."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("initdb", "pg_ctl"):  # found first on PATH, before Debian's
        tool = bin_dir / name
        tool.write_text("#!/bin/sh\necho 'no cluster on this machine' >&2\nexit 1\n")
        tool.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", pg.ENV)}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    cmd = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
           "tests/test_store_create.py", "-m", "postgresql"]  # fmt: skip

    def run(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=ROOT, env={**env, **extra}, capture_output=True,
                              text=True, timeout=300, check=False)  # fmt: skip

    outside = run()
    assert outside.returncode == 0, outside.stdout[-2000:]
    assert " skipped" in outside.stdout
    assert " passed" not in outside.stdout
    assert "PostgreSQL unavailable (initdb failed: " in outside.stdout  # as root: postgres's
    assert f"set {pg.ENV} or install postgresql" in outside.stdout
    ci = run(CI="true")
    assert ci.returncode == 1, ci.stdout[-2000:]
    assert "CI=true but PostgreSQL is unavailable: initdb failed" in ci.stdout


@pytest.mark.postgresql
def test_an_ingests_key_lookups_take_the_index_whatever_the_statistics(pg_url: str) -> None:
    """At some 20k keys the cost model prefers scanning all of item_keys to 512
    index probes (30 times slower in fact, and each chunk again): an ingest's
    transaction plans its lookups without sequential scans."""
    with Store.open(pg_url) as store:
        add(store, [Entry(title=f"Paper number {i}", summary="text") for i in range(20_000)])
        with store.engine.begin() as conn:
            writer_for(conn)  # an ingest's writer: what its transaction plans with
            size, batch = next(in_batches([f"t:not there {i}" for i in range(512)]))
            lookup = statements_for(conn).lookup(size)
            plan = conn.exec_driver_sql(f"EXPLAIN {lookup.sql}", lookup.params([batch])[0])
            lines = [str(line) for line in plan.scalars()]
    assert any("item_keys_pkey" in line for line in lines), lines
    assert not any("Seq Scan" in line for line in lines), lines
