"""A full cycle on the bundled samples: ingest, digests, archive and feeds on disk, on
SQLite and PostgreSQL (a dry run on SQLite only: it copies the file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import load_settings
from tests.conftest import demo_config_at

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> Path:
    """The bundled config on each engine in turn."""
    return demo_config_at(tmp_path, store_url)


def run(cfg: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_full_cycle_writes_archive_and_feeds(config: Path, tmp_path: Path) -> None:
    report = run(config, "--now", "2026-11-23T06:00:00")
    assert report["ingest"]["errors"] == 0
    assert report["ingest"]["new"] > 10
    profiles = {p["profile"]: p for p in report["profiles"]}
    assert set(profiles) == {"scaling", "diffusion"}
    assert all(p["picked"] > 0 and p["digest_id"] for p in profiles.values())
    out = tmp_path / "out" / "archive"
    for name, p in profiles.items():
        base = out / name
        index = (base / "index.html").read_text()
        assert "<script" not in index
        pages = sorted(base.glob("2026-11-23-*.html"))
        assert len(pages) == 1
        for feed in ("feed.xml", "feed.atom", "digests.xml", "digests.atom"):
            parsed = feedparser.parse((base / feed).read_bytes())
            assert parsed.bozo == 0, (feed, parsed.get("bozo_exception"))
            expected = p["picked"] if feed.startswith("feed") else 1
            assert len(parsed.entries) == expected, feed
        assert str(base / "index.html") in report["written"]

    # Nothing new arrived: the next run makes no digest and repeats nothing.
    again = run(config, "--now", "2026-11-24T06:00:00")
    assert again["ingest"]["new"] == 0
    assert all(p["picked"] == 0 and p["digest_id"] is None for p in again["profiles"])
    for name in profiles:
        assert len(list((out / name).glob("2026-11-2*-*.html"))) == 1


def test_publish_and_render_commands(config: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "render", "scaling", "--format", "text"])
    assert result.exit_code == 0, result.output
    assert "Scaling laws" in result.stdout
    result = runner.invoke(
        cli,
        [
            "--config",
            str(config),
            "render",
            "scaling",
            "--format",
            "html",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r" / "digest.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    run(config, "--now", "2026-11-23T06:00:00")
    shutil.rmtree(tmp_path / "out")
    result = runner.invoke(cli, ["--config", str(config), "publish", "diffusion"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "archive" / "diffusion" / "index.html").is_file()
    assert not (tmp_path / "out" / "archive" / "scaling").exists()
    result = runner.invoke(cli, ["--config", str(config), "publish", "nope"])
    assert result.exit_code == 2  # a usage error
    assert "no profile named 'nope'" in result.stderr


def test_dry_run_records_and_sends_nothing(demo_config: Path, tmp_path: Path) -> None:
    config = demo_config  # a dry run copies a SQLite file
    report = run(config, "--dry-run", "--now", "2026-11-23T06:00:00")
    assert report["dry_run"] is True
    assert report["ingest"]["new"] > 10
    assert all(p["picked"] > 0 for p in report["profiles"])
    assert report["sent"]["sent"] > 0  # into a throwaway outbox
    assert not (tmp_path / "out").exists()
    from digest.store import Store

    with Store.open(f"sqlite:///{tmp_path}/d.db") as store:
        assert store.count_items() == 0
        assert store.last_run() is None
    # The real run afterwards still finds everything new.
    real = run(config, "--now", "2026-11-23T06:00:00")
    assert real["ingest"]["new"] == report["ingest"]["new"]
    assert real["dry_run"] is False


def test_profile_option_and_the_stored_run_report(config: Path, tmp_path: Path) -> None:
    report = run(config, "--profile", "diffusion", "--now", "2026-11-23T06:00:00")
    assert [p["profile"] for p in report["profiles"]] == ["diffusion"]
    assert (tmp_path / "out" / "archive" / "diffusion").is_dir()
    assert not (tmp_path / "out" / "archive" / "scaling").exists()
    from digest.store import Store

    with Store.open(load_settings(config).store_url) as store:
        stored = store.last_run("cycle")
    assert stored is not None
    assert stored.status == "ok"
    assert stored.report is not None
    assert stored.report["profiles"] == report["profiles"]
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--profile", "nope"])
    assert result.exit_code == 2  # a usage error
    assert "no profile named 'nope'" in result.stderr


def test_publish_writes_an_issue_page_once(config: Path, tmp_path: Path) -> None:
    run(config, "--now", "2026-11-23T06:00:00")
    base = tmp_path / "out" / "archive" / "scaling"
    (page,) = base.glob("2026-11-23-*.html")
    page.write_bytes(b"published earlier")  # stands for a page made by an older template

    def publish(*args: str) -> list[str]:
        result = CliRunner().invoke(cli, ["--config", str(config), "publish", "scaling", *args])
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    written = publish()
    assert str(page) not in written
    assert page.read_bytes() == b"published earlier"
    assert {Path(p).name for p in written} == {
        "index.html", "feed.xml", "feed.atom", "digests.xml", "digests.atom"
    }  # fmt: skip

    page.unlink()  # as after a publish that failed halfway
    assert str(page) in publish()
    assert b"<html" in page.read_bytes()

    page.write_bytes(b"published earlier")
    assert str(page) in publish("--all")
    assert b"<html" in page.read_bytes()


def test_the_index_lists_every_issue_with_its_count_and_top_titles(
    config: Path, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from markupsafe import escape

    from digest import pipeline, service, wiring
    from digest.config import load_settings
    from digest.render.views import count_papers, local_date, page_name

    run(config, "--now", "2026-11-23T06:00:00")
    settings = load_settings(config)
    profile = next(p for p in service.profiles(settings) if p.name == "scaling")
    monday = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    with wiring.open_store(settings.store_url) as store:
        (first,) = store.digests(profile)
        picks = first.picks
        assert len(picks) >= 4
        top = max(p.candidate.item_id for p in picks)
        for day, k in ((1, 0), (2, 1), (3, len(picks))):  # none, one, more than three
            chosen = picks[-k:] if k else ()
            store.record_digest(profile, chosen, upto_item_id=top, now=monday + timedelta(days=day))
        pipeline.publish(settings, store, monday + timedelta(days=4))
        digests = store.digests(profile)
    index = (settings.web.output_dir / "archive" / "scaling" / "index.html").read_text()
    lines = index.split('<li class="issue">')[1:]
    assert len(lines) == len(digests) == 4
    for line, d in zip(lines, digests, strict=True):  # newest first
        assert f'href="{page_name(d)}"' in line
        assert local_date(d.created, profile.timezone) in line
        assert count_papers(len(d.picks)) in line
        titles = [str(escape(p.candidate.title)) for p in d.picks]
        assert [t in line for t in titles] == [True] * min(3, len(titles)) + [False] * (
            len(titles) - 3
        )
        assert f'href="{page_name(d)}#item-{min(3, len(titles))}"' in line or not titles


# -- feeds as a feed reader reads them (issue 15) --------------------------------

TRICKY = 'Token Budgets < 1T & "Quoted" Scaling Laws 🚀'
MARKUP = 'Sub-<1B Models & "Why" They Scale: a scaling law 🧪'


def _feed_sources(folder: Path) -> list[str]:
    """An arXiv RSS feed (versioned links, several authors in one dc:creator) and a
    listing dump whose one paper has no link at all; the config lines naming them."""
    from xml.sax.saxutils import escape

    items = [
        ("2511.00001", TRICKY, "Ada Lovelace, Alan Turing, Grace Hopper"),
        ("2511.00002", MARKUP, "Émilie du Châtelet"),
    ]
    body = "".join(
        f"<item><title>{escape(t)}</title><link>https://arxiv.org/abs/{i}v2</link>"
        f"<description>arXiv:{i}v2 Announce Type: replace \nAbstract: A scaling law "
        f"study of token budgets.</description>"
        f'<guid isPermaLink="false">oai:arXiv.org:{i}v2</guid><category>cs.LG</category>'
        f"<pubDate>Mon, 23 Nov 2026 00:00:00 -0500</pubDate>"
        f"<dc:creator>{escape(a)}</dc:creator></item>"
        for i, t, a in items
    )
    (folder / "arxiv.rss").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>cs.LG</title>'
        f"<link>https://arxiv.org/</link><description>new</description>{body}</channel></rss>",
        encoding="utf-8",
    )
    (folder / "listing.txt").write_text(
        "Nov 23\n\nA Listing-Only Scaling Law Paper\n\n"
        "We study a scaling law for token budgets in a paper that no source links to, "
        "and find that the listing is all there is of it anywhere.\n\n  • 2 authors\n·\nNov 22 7\n",
        encoding="utf-8",
    )
    return [
        "sources:",
        "  - {name: arxiv-feed, kind: feed, path: arxiv.rss}",
        "  - {name: trending, kind: listing, path: listing.txt}",
    ]


def test_feeds_read_back_as_written_in_a_feed_reader(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "budgets.yaml").write_text(
        "title: Token budgets\nkeywords:\n  scaling law: 2\n  token budget: 2\nmin_score: 1\n",
        encoding="utf-8",
    )
    lines = ["profiles: profiles", "output: out", "site_url: https://papers.example.org/"]
    lines += [f"store: sqlite:///{tmp_path}/feeds.db", "email:", "  outbox: out/outbox"]
    cfg = root / "digest.yaml"
    cfg.write_text("\n".join(lines + _feed_sources(root)) + "\n", encoding="utf-8")
    report = run(cfg, "--now", "2026-11-23T06:00:00")
    assert report["profiles"][0]["picked"] == 3, report
    base = root / "out" / "archive" / "budgets"
    (page,) = base.glob("2026-11-23-*.html")
    page_html = page.read_text(encoding="utf-8")
    for feed in ("feed.xml", "feed.atom"):
        fp = feedparser.parse((base / feed).read_bytes())
        assert fp.bozo == 0, (feed, fp.get("bozo_exception"))
        by_title = {
            e.title if e.title_detail.type == "text/plain" else html_unescape(e.title): e
            for e in fp.entries
        }
        assert set(by_title) == {TRICKY, MARKUP, "A Listing-Only Scaling Law Paper"}, feed
        tricky = by_title[TRICKY]
        assert tricky.title == TRICKY  # plain text, escaped once: nothing left to undo
        assert [a["name"] for a in tricky.authors] == [
            "Ada Lovelace",
            "Alan Turing",
            "Grace Hopper",
        ]
        assert tricky.link == "https://arxiv.org/abs/2511.00001"  # no version
        assert by_title[MARKUP].link == "https://arxiv.org/abs/2511.00002"
        assert [a["name"] for a in by_title[MARKUP].authors] == ["Émilie du Châtelet"]
        terms = {t.term for t in tricky.tags if t.scheme.endswith("/terms")}
        assert terms == {"scaling law", "token budget"}
        assert {t.term for t in tricky.tags if "arxiv.org" in (t.scheme or "")} == {"cs.LG"}
        assert not any("arxiv-feed" in t.term for e in fp.entries for t in e.get("tags", []))
        # The listing-only paper links to its place on the issue page, which has it.
        listing = by_title["A Listing-Only Scaling Law Paper"]
        url, _, anchor = listing.link.partition("#")
        assert url == f"https://papers.example.org/archive/budgets/{page.name}"
        assert anchor.startswith("item-")
        article = page_html.split(f'id="{anchor}"', 1)[1].split("</article>", 1)[0]
        assert "A Listing-Only Scaling Law Paper" in article


def html_unescape(s: str) -> str:
    import html

    return html.unescape(s)


def test_the_items_feeds_keep_their_published_entries_and_match_a_rebuild(
    config: Path,
) -> None:
    """A full items feed keeps its entries as published and renders only the newer
    picks (a paper picked again moves up, once): the same feeds as a rebuild."""
    from datetime import UTC, datetime, timedelta

    from digest import pipeline, service, wiring
    from digest.config import load_settings

    config.write_text(config.read_text().replace("feed_items: 50", "feed_items: 3"))
    monday = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    run(config, "--now", monday.isoformat())
    settings = load_settings(config)
    (profile,) = service.chosen(settings, ["scaling"])
    base = settings.web.output_dir / "archive" / "scaling"
    feeds = [base / "feed.xml", base / "feed.atom"]
    mark = "kept as published"
    with wiring.open_store(settings.store_url) as store:
        (first,) = store.digests(profile)
        top = max(p.candidate.item_id for p in first.picks)
        assert len(first.picks) >= 5
        for day, (a, b) in enumerate([(0, 2), (2, 4), (1, 2)], start=1):
            if day == 3:  # the two of day 2 stay: mark them to see they are not rendered
                for f in feeds:
                    f.write_text(f.read_text().replace("</title>", f" {mark}</title>"))
            now = monday + timedelta(days=day)
            store.record_digest(profile, first.picks[a:b], upto_item_id=top, now=now)
            pipeline.publish(settings, store, now, names=["scaling"])
        kept = [f.read_text() for f in feeds]
        pipeline.publish(settings, store, now, names=["scaling"], rebuild=True)
    for f, text in zip(feeds, kept, strict=True):
        got = feedparser.parse(text)
        titles = [e.title for e in got.entries]
        assert len(titles) == 3
        assert mark not in titles[0]
        assert all(t.endswith(mark) for t in titles[1:])
        assert text.replace(f" {mark}", "") == f.read_text()


def test_files_written_behind_stop_at_the_first_that_fails(tmp_path: Path) -> None:
    from digest.deliver.files import write_behind
    from digest.errors import OutputError

    (tmp_path / "blocker").write_text("a file, not a folder")
    given: list[Path] = []

    def publish() -> None:
        with write_behind() as out:
            given.extend(out.write_files(tmp_path / "a", [("1.html", b"1"), ("2.html", b"2")]))
            out.write_files(tmp_path / "blocker", [("3.html", b"3")])
            out.write_files(tmp_path / "b", [("4.html", b"4")])

    with pytest.raises(OutputError, match="is a file, not a folder"):
        publish()
    assert given == [tmp_path / "a" / "1.html", tmp_path / "a" / "2.html"]
    assert (tmp_path / "a" / "2.html").read_bytes() == b"2"
    assert not (tmp_path / "b").exists()  # given after the failure: not written
