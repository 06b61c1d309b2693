"""End-to-end ingest through the `digest` CLI, on a real SQLite file and PostgreSQL (`both`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.store import Store
from tests.httpserver import LoopbackServer
from tests.pg import store_url_at

NOW = "2026-11-23T07:00:00"
both = pytest.mark.usefixtures("store_engine")  # once on each engine

ARXIV_RSS = """<?xml version='1.0' encoding='UTF-8'?>
<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"
     xmlns:atom="http://www.w3.org/2005/Atom" version="2.0">
<channel><title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG</link>
<description>cs.LG updates</description>
<item>
  <title>Batch Size Scaling Without Tears</title>
  <link>https://arxiv.org/abs/2511.01234</link>
  <description>arXiv:2511.01234v{version} Announce Type: {announce}
Abstract: We study how the critical batch size grows with model size.</description>
  <guid isPermaLink="false">oai:arXiv.org:2511.01234v{version}</guid>
  <category>cs.LG</category>
  <arxiv:announce_type>{announce}</arxiv:announce_type>
  <dc:rights>http://creativecommons.org/licenses/by/4.0/</dc:rights>
  <dc:creator>Ada Lovelace, Émile Borel, Grace Hopper</dc:creator>
</item>
</channel></rss>
"""

ARXIV_API = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/x</id><title>arXiv Query</title><updated>2026-11-20T00:00:00Z</updated>
  <entry>
    <id>http://arxiv.org/abs/2511.01234v1</id>
    <title>Batch Size Scaling
  Without Tears</title>
    <updated>2026-11-18T10:00:00Z</updated><published>2026-11-18T10:00:00Z</published>
    <summary>We study how the critical batch size
  grows with model size.</summary>
    <author><name>Ada Lovelace</name></author>
    <link href="https://arxiv.org/abs/2511.01234v1" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/2511.01234v1" rel="related" type="application/pdf"
          title="pdf"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>
"""

HF_JSON = json.dumps(
    [
        {
            "paper": {
                "id": "2511.01234",
                "title": "Batch Size Scaling\n  Without Tears",
                "summary": "We study how the critical batch size\ngrows with model size.",
                "authors": [{"name": "Ada Lovelace"}, {"name": "Grace Hopper"}],
                "publishedAt": "2026-11-18T10:00:00.000Z",
                "upvotes": 42,
            },
            "publishedAt": "2026-11-19T08:00:00.000Z",
            "title": "Batch Size Scaling Without Tears",
            "numComments": 3,
            "submittedBy": {"name": "akhaliq", "fullname": "AK"},
        }
    ]
)

LISTING = """new

Get trending papers in your email inbox!

Subscribe

byAK and the research community

Nov 20

Batch Size Scaling Without Tears

We study how the critical batch size grows with model size.

  • 3 authors
·
Nov 18 42

A Paper Only The Page Knows About

An abstract that appears nowhere else, long enough to read like a real one.
"""


def invoke(tmp_path: Path, *args: str, db: str = "d.db") -> Any:
    runner = CliRunner()
    return runner.invoke(cli, ["--db", store_url_at(tmp_path, db), *args], catch_exceptions=False)


def ingest_json(tmp_path: Path, *locations: str, db: str = "d.db") -> tuple[int, dict[str, Any]]:
    result = invoke(tmp_path, "ingest", "--json", "--now", NOW, *locations, db=db)
    return result.exit_code, json.loads(result.stdout)


def open_store(tmp_path: Path, db: str = "d.db") -> Store:
    return Store.open(store_url_at(tmp_path, db))


@both
def test_one_paper_from_four_kinds_of_source_is_one_item(tmp_path: Path) -> None:
    files = {
        "rss.xml": ARXIV_RSS.format(version=1, announce="new"),
        "api.atom": ARXIV_API,
        "hf.json": HF_JSON,
        "page.txt": LISTING,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    code, out = ingest_json(tmp_path, *(str(tmp_path / n) for n in files))
    assert code == 0, out
    assert (out["new"], out["duplicates"], out["errors"]) == (2, 3, 0)
    assert [s["entries"] for s in out["sources"]] == [1, 1, 1, 2]
    with open_store(tmp_path) as store:
        items = {i.title: i for i in store.items()}
        assert set(items) == {
            "Batch Size Scaling Without Tears",
            "A Paper Only The Page Knows About",
        }
        paper = items["Batch Size Scaling Without Tears"]
        assert paper.arxiv_id == "2511.01234"
        assert paper.version == 1
        assert paper.upvotes == 42
        assert paper.authors == ("Ada Lovelace", "Émile Borel", "Grace Hopper")
        sightings = store.sightings(paper.item_id)
        assert sorted(s.source.rsplit("/", 1)[-1] for s in sightings) == sorted(files)
        by_file = {s.source.rsplit("/", 1)[-1]: s for s in sightings}
        assert by_file["rss.xml"].announce_type == "new"
        assert by_file["hf.json"].upvotes == 42
        assert by_file["hf.json"].num_comments == 3
        assert by_file["page.txt"].author_count == 3
        assert by_file["page.txt"].upvotes == 42


@both
def test_v2_after_v1_updates_one_item(tmp_path: Path) -> None:
    feed = tmp_path / "rss.xml"
    feed.write_text(ARXIV_RSS.format(version=1, announce="new"), encoding="utf-8")
    assert ingest_json(tmp_path, str(feed))[1]["new"] == 1
    feed.write_text(
        ARXIV_RSS.format(version=2, announce="replace").replace("Without Tears", "With Tears"),
        encoding="utf-8",
    )
    code, out = ingest_json(tmp_path, str(feed))
    assert (code, out["new"], out["duplicates"]) == (0, 0, 1)
    with open_store(tmp_path) as store:
        [item] = store.items()
        assert (item.title, item.version) == ("Batch Size Scaling With Tears", 2)
        assert [(s.version, s.announce_type) for s in store.sightings(item.item_id)] == [
            (1, "new"),
            (2, "replace"),
        ]


@pytest.mark.shared
@both
def test_listings_give_402_entries_and_383_papers(tmp_path: Path, listings_dir: Path) -> None:
    code, out = ingest_json(tmp_path, str(listings_dir))
    assert code == 0, out
    assert (out["entries"], out["new"], out["duplicates"], out["errors"]) == (402, 383, 19, 0)
    assert len(out["sources"]) == 4
    assert all(s["error"] is None for s in out["sources"])
    code, again = ingest_json(tmp_path, str(listings_dir))
    assert (code, again["entries"], again["new"], again["duplicates"]) == (0, 402, 0, 402)
    with open_store(tmp_path) as store:
        assert store.count_items() == 383


@pytest.mark.shared
@both
def test_arxiv_api_corpus_one_item_per_id(tmp_path: Path, arxiv_api_corpus: Path) -> None:
    import re

    ids: set[str] = set()
    versions: dict[str, set[int]] = {}
    for f in arxiv_api_corpus.glob("*.xml"):
        for m in re.finditer(r"<id>https?://arxiv\.org/abs/(\S+?)v(\d+)</id>", f.read_text()):
            ids.add(m.group(1))
            versions.setdefault(m.group(1), set()).add(int(m.group(2)))
    code, out = ingest_json(tmp_path, str(arxiv_api_corpus))
    by_name = {Path(s["source"]).name: s for s in out["sources"]}
    assert out["new"] == len(ids)
    bad = by_name["id_abc_s0_m100_b79c8dcf6bc3.xml"]
    assert bad["entries"] == 0
    assert "incorrect id format for abc" in json.dumps(bad)
    assert by_name["id_0000.0000_s0_m100_8b51d9633a68.xml"]["entries"] == 0
    assert not any((s["error"] or "").startswith("unexpected") for s in out["sources"])
    with open_store(tmp_path) as store:
        items = store.items(limit=None)
        assert sorted(i.arxiv_id for i in items) == sorted(ids)
        for item in items:
            assert item.version == max(versions[item.arxiv_id])
        old_style = [i for i in items if "/" in i.arxiv_id]
        assert old_style, "old-style ids such as astro-ph/0601001 are kept"
    assert code in (0, 3)


@pytest.mark.shared
@both
def test_every_feedparser_corpus_file_goes_through_ingest(
    tmp_path: Path, feedparser_corpus: Path
) -> None:
    from datetime import UTC, datetime

    from digest import pipeline
    from digest.settings import Settings

    files = sorted(p for p in feedparser_corpus.rglob("*") if p.is_file() and p.name != "LICENSE")
    assert len(files) > 2000
    sources = pipeline.sources_for([str(p) for p in files])
    with open_store(tmp_path) as store:
        report = pipeline.ingest(
            Settings(), store, datetime(2026, 11, 23, tzinfo=UTC), sources=sources
        )
    assert len(report.sources) == len(files)
    unexpected = [s for s in report.sources if (s.error or "").startswith("unexpected")]
    assert unexpected == []
    with_items = [s for s in report.sources if s.entries > 0]
    failed = [s for s in report.sources if s.error]
    quiet = [s for s in report.sources if s.entries == 0 and not s.error]
    # Exactly one of: items, a clear error, or a feed that holds no entries at all.
    assert len(with_items) + len(failed) + len(quiet) == len(files)
    assert not any(s.error for s in with_items)
    assert all(s.skipped == 0 for s in quiet)
    for s in failed:
        assert s.error is not None
        assert "no usable entries" in s.error or ("not a feed" in s.error and ":" in s.error)
    assert len(with_items) > 500
    sanitize = [s for s in with_items if "/sanitize/" in s.source]
    assert len(sanitize) > 100  # entries with only content become items too
    assert report.new > 0


def serve_feed(server: LoopbackServer) -> None:
    server.add(
        "/rss",
        ARXIV_RSS.format(version=1, announce="new"),
        headers={"Content-Type": "application/rss+xml"},
        etag='"v1"',
        last_modified="Mon, 23 Nov 2026 06:00:00 GMT",
    )
    server.add("/hf", HF_JSON, headers={"Content-Type": "application/json"})
    server.add("/slow", "never mind", delay=3.0)
    server.add("/broken", "oops", status=500)
    server.add("/huge", b"x" * 3_000_000)
    server.add("/garbage", b"\x00\x01\x02\xff\xfe" * 100)
    server.add("/empty", b"")


def write_config(tmp_path: Path, server: LoopbackServer) -> Path:
    cfg = tmp_path / "digest.yaml"
    names = ["rss", "hf", "slow", "broken", "huge", "garbage", "empty"]
    lines = [
        f"store: {store_url_at(tmp_path)}",
        "fetch:",
        "  timeout: 0.5",
        "  max_bytes: 1MB",
        "sources:",
    ]
    for n in names:
        lines += [f"  - name: {n}", f"    url: {server.url('/' + n)}"]
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return cfg


@both
def test_live_fetch_with_failures_and_304(tmp_path: Path, loopback_server: LoopbackServer) -> None:
    serve_feed(loopback_server)
    cfg = write_config(tmp_path, loopback_server)
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(cfg), "ingest", "--json", "--now", NOW])
    assert result.exit_code == 3
    out = json.loads(result.stdout)
    by = {s["source"]: s for s in out["sources"]}
    assert (by["rss"]["new"], by["rss"]["error"]) == (1, None)
    assert (by["hf"]["duplicates"], by["hf"]["error"]) == (1, None)
    assert "timed out" in by["slow"]["error"]
    assert "HTTP 500" in by["broken"]["error"]
    assert "larger than" in by["huge"]["error"]
    assert by["garbage"]["error"]
    assert "empty" in by["empty"]["error"]
    assert out["errors"] == 5
    # The validators came back, so the second fetch is conditional and costs nothing.
    result = runner.invoke(cli, ["--config", str(cfg), "ingest", "--json", "--now", NOW])
    again = {s["source"]: s for s in json.loads(result.stdout)["sources"]}
    assert again["rss"]["not_modified"] is True
    assert again["rss"]["error"] is None
    rss_requests = [r for r in loopback_server.requests if r.path == "/rss"]
    assert rss_requests[-1].headers.get("if-none-match") == '"v1"'
    assert "digest/" in rss_requests[-1].headers["user-agent"]
    with open_store(tmp_path) as store:
        state = {s.name: s for s in store.sources()}
        assert state["broken"].consecutive_failures == 2
        assert "HTTP 500" in (state["broken"].last_error or "")
        assert state["rss"].consecutive_failures == 0
        assert state["rss"].etag == '"v1"'
        assert store.count_items() == 1
        run = store.last_run("ingest")
        assert run is not None
        assert run.status == "partial"


def test_bad_config_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "digest.yaml"
    cfg.write_text(f"store: sqlite:///{tmp_path / 'x.db'}\nsources:\n  - nmae: a\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "ingest"])
    assert result.exit_code == 2
    assert f"{cfg}:3: sources[0].nmae: unknown key" in result.stderr
    assert not (tmp_path / "x.db").exists()


@both
def test_human_summary_and_items_listing(tmp_path: Path) -> None:
    (tmp_path / "page.txt").write_text(LISTING, encoding="utf-8")
    result = invoke(tmp_path, "ingest", str(tmp_path / "page.txt"), "--now", NOW)
    assert result.exit_code == 0
    assert "1 sources, 2 entries: 2 new, 0 duplicates, 0 failed" in result.stdout
    result = invoke(tmp_path, "items", "--json", "--limit", "1")
    [item] = json.loads(result.stdout)
    assert item["title"] in {
        "Batch Size Scaling Without Tears",
        "A Paper Only The Page Knows About",
    }
    result = invoke(tmp_path, "items")
    assert "A Paper Only The Page Knows About" in result.stdout


def test_missing_path_is_a_source_error_not_a_crash(tmp_path: Path) -> None:
    code, out = ingest_json(tmp_path, (tmp_path / "nope.xml").as_uri())  # a path: exit 2
    assert code == 3
    assert "not found" in out["sources"][0]["error"]


def test_cli_import_stays_light() -> None:
    # `digest --help` must be quick: the CLI module may not pull in the heavy stack.
    code = (
        "import sys, digest.cli; heavy = [m for m in ('sqlalchemy', 'feedparser', 'httpx', "
        "'jinja2', 'yaml') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- documents read as they are stored -------------------------------------------


@both
def test_a_document_found_broken_further_on_stores_nothing_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    import digest.sources
    from digest.models import DocumentNotes, Entry, FetchResult, SourceConfig
    from digest.pipeline import ingest
    from digest.settings import Settings

    real = digest.sources.read_document

    def read_document(kind: Any, data: bytes, **kw: Any) -> Any:
        if data != b"broken":
            return real(kind, data, **kw)

        def entries() -> Any:
            for i in range(4500):  # past two chunks, so some were already written
                yield Entry(title=f"Paper {i}")
            raise ValueError("bad piece at byte 123")

        return entries(), DocumentNotes()

    monkeypatch.setattr(digest.sources, "read_document", read_document)
    good = (Path(__file__).parents[1] / "config" / "samples" / "arxiv-cs-lg.rss").read_bytes()

    def fetcher(source: str, location: str, **kw: Any) -> FetchResult:
        return FetchResult(b"broken" if source == "bad" else good, location)

    store = open_store(tmp_path)
    report = ingest(
        Settings(),
        store,
        datetime(2026, 11, 23, tzinfo=UTC),
        sources=[SourceConfig("bad", "x", kind="feed"), SourceConfig("good", "y", kind="feed")],
        fetcher=fetcher,
    )
    bad, ok = report.sources
    assert bad.error == "feed: bad piece at byte 123"
    assert bad.new == 0
    assert ok.error is None
    assert ok.new == ok.entries > 0
    assert store.count_items() == ok.new  # none of the 4,500 read before the failure
    assert {s.name: s.consecutive_failures for s in store.sources()} == {"bad": 1, "good": 0}
    store.close()


def test_a_big_feed_is_read_a_piece_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import feedparser

    from digest.sources import feed

    items = "".join(
        f"<item><title>Paper {i}</title><link>https://example.org/{i}</link></item>"
        for i in range(300)
    )
    data = f"<rss version='2.0'><channel><title>T</title>{items}</channel></rss>".encode()
    calls: list[int] = []
    real = feedparser.parse
    monkeypatch.setattr(feedparser, "parse", lambda f, **kw: calls.append(1) or real(f, **kw))
    monkeypatch.setattr(feed, "PIECE", 2000)
    entries, notes = feed.read_feed(data)
    assert len(calls) == 1  # the head piece: it says whether this is a feed at all
    assert notes.feed_title == "T"
    first = [next(entries) for _ in range(5)]
    assert len(calls) == 1
    rest = list(entries)
    assert len(calls) > 10
    assert [e.title for e in first + rest] == [f"Paper {i}" for i in range(300)]


def test_the_cycle_collector_is_paused_only_while_a_source_is_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    from datetime import UTC, datetime

    from digest.models import FetchResult, SourceConfig
    from digest.pipeline import ingest
    from digest.settings import Settings

    sample = (Path(__file__).parents[1] / "config" / "samples" / "listing.txt").read_bytes()
    store = open_store(tmp_path)
    seen: list[bool] = []
    real = store.add_entries

    def add_entries(*args: Any, **kw: Any) -> Any:
        seen.append(gc.isenabled())
        if len(seen) == 2:
            raise RuntimeError("a bug while storing")
        return real(*args, **kw)

    monkeypatch.setattr(store, "add_entries", add_entries)

    def run() -> Any:
        return ingest(
            Settings(),
            store,
            datetime(2026, 11, 23, tzinfo=UTC),
            sources=[SourceConfig("a", "x", kind="listing"), SourceConfig("b", "y", "listing")],
            fetcher=lambda source, location, **kw: FetchResult(sample, location),
        )

    assert gc.isenabled()
    report = run()
    assert seen == [False, False]
    assert report.sources[0].new == report.sources[0].entries > 0  # a new store: all new
    assert report.sources[1].error == "unexpected RuntimeError: a bug while storing"
    assert gc.isenabled()  # back on, after a failure too
    gc.disable()  # a caller that keeps it off: left off
    try:
        run()
        assert not gc.isenabled()
    finally:
        gc.enable()
    store.close()
