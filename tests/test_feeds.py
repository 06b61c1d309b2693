"""RSS and Atom feeds of picks and digests: they parse back, stay stable, and stay inert.

Regenerate the golden feeds with `UPDATE_GOLDEN=1 pytest tests/test_feeds.py`.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from digest.models import Candidate, Digest, Hit, Pick, Profile, Seen
from digest.render.feeds import (
    ARXIV_SCHEME,
    FEED_AUTHORS,
    FeedLinks,
    digest_uri,
    digests_feeds,
    item_uri,
    items_feeds,
)
from digest.render.sanitize import clean
from digest.settings import WebSettings
from digest.sources.feed import parse_feed

SITE = "https://digest.example.org/archive/scaling/"
LINKS = FeedLinks(site_url=SITE, rss_url=SITE + "feed.xml", atom_url=SITE + "feed.atom")
PROFILE = Profile(name="scaling", title="Scaling laws")
NOW = datetime(2026, 11, 23, 7, 30, 15, 123456, tzinfo=UTC)
RFC822 = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|[+-]\d{2}:\d{2})$")
ON_ATTR = re.compile(r"<[^>]*\son\w+\s*=", re.I)
JS_IN_TAG = re.compile(r"<[^>]*javascript:", re.I)

ItemsBuilder = Callable[..., bytes]


def one_format(feeds: Callable[..., dict[str, bytes]], fmt: str, **given: Any) -> ItemsBuilder:
    """One format of the product's feeds (it builds both from entries made once)."""
    return lambda *a, **kw: feeds(*a, formats=(fmt,), **{**given, **kw})[fmt]


FEED_ITEMS = WebSettings().feed_items  # what publishing passes by default
items_rss, items_atom = (one_format(items_feeds, f, limit=FEED_ITEMS) for f in ("rss", "atom"))
digests_rss, digests_atom = (one_format(digests_feeds, f) for f in ("rss", "atom"))
ITEMS: list[tuple[str, ItemsBuilder]] = [("rss", items_rss), ("atom", items_atom)]
DIGESTS: list[tuple[str, ItemsBuilder]] = [("rss", digests_rss), ("atom", digests_atom)]


def pick(
    key: str,
    title: str = "A paper",
    *,
    url: str | None = None,
    summary: str = "An abstract.",
    **kw: Any,
) -> Pick:
    c = Candidate(
        item_id=1,
        key=key,
        title=title,
        summary=summary,
        authors=kw.pop("authors", ("Ada Lovelace", "Alan Turing")),
        url=f"https://arxiv.org/abs/{key.partition(':')[2]}" if url is None else url,
        first_seen=NOW,
        seen=kw.pop("seen", (Seen("arxiv"), Seen("hf", upvotes=3))),
        **kw,
    )
    return Pick(c, 3.25, (Hit("scaling law", "title"), Hit("batch size", "abstract")))


def picks_at(n: int) -> list[tuple[Pick, datetime]]:
    """n picks, one a day, given oldest first."""
    return [
        (pick(f"arxiv:2410.{i:05d}", f"Paper {i}"), NOW - timedelta(days=n - i)) for i in range(n)
    ]


def parse(data: bytes) -> Any:
    fp = feedparser.parse(data, sanitize_html=False)
    assert fp.bozo == 0, fp.get("bozo_exception")
    return fp


def shown_title(e: Any) -> str:
    """The title as a reader shows it: plain text as is, HTML (an RSS title that
    would read as markup is written as HTML) unescaped."""
    t = str(e.title)
    return html.unescape(t) if e.title_detail.type == "text/html" else t


def self_links(fp: Any) -> list[str]:
    return [ln["href"] for ln in fp.feed.get("links", []) if ln.get("rel") == "self"]


def when(fmt: str, raw: str) -> datetime:
    if fmt == "rss":
        assert RFC822.match(raw), raw
        return parsedate_to_datetime(raw)
    assert RFC3339.match(raw), raw
    return datetime.fromisoformat(raw)


def inert(data: bytes, *, strict: bool = True) -> Any:
    """No active script in the raw bytes, nor in any parsed, unsanitised value.

    `strict`: not even the text `javascript:`. Without it, that text may appear
    as escaped text (a title quoting markup), but in no tag and no link.
    """
    raw = data.lower()
    assert b"<script" not in raw
    assert not ON_ATTR.search(data.decode())
    if strict:
        assert b"javascript:" not in raw
    fp = parse(data)
    hrefs = [ln.get("href", "") for ln in fp.feed.get("links", [])]
    for e in fp.entries:
        hrefs += [e.get("link", "")] + [ln.get("href", "") for ln in e.get("links", [])]
        values = [e.get("summary", "")]
        if e.get("title_detail", {}).get("type") != "text/plain":  # plain text is inert
            values.append(e.get("title", ""))
        values += [c.get("value", "") for c in e.get("content", [])]
        for v in values:
            assert "<script" not in v.lower()
            assert not ON_ATTR.search(v), v
            assert not JS_IN_TAG.search(v), v
            if strict:
                assert "javascript:" not in v.lower()
    assert all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    return fp


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_items_parse_back(fmt: str, build: ItemsBuilder) -> None:
    picks = picks_at(3)
    data = build(PROFILE, picks, LINKS, now=NOW)
    fp = parse(data)
    assert fp.version == ("rss20" if fmt == "rss" else "atom10")
    assert fp.feed.title == "Scaling laws"
    assert fp.feed.language == "en"
    assert self_links(fp) == [LINKS.rss_url if fmt == "rss" else LINKS.atom_url]
    assert fp.feed.link == SITE
    assert when(fmt, fp.feed.updated) == NOW.replace(microsecond=0)
    assert len(fp.entries) == 3
    newest_first = list(reversed(picks))
    for e, (p, t) in zip(fp.entries, newest_first, strict=True):
        c = p.candidate
        assert e.id == item_uri(PROFILE, c.key)
        assert e.id == f"tag:digest,2026:scaling/item/{c.key}"
        assert e.title == c.title
        assert e.title_detail.type == "text/plain"
        assert e.link == c.url
        assert [a["name"] for a in e.authors] == ["Ada Lovelace", "Alan Turing"]
        assert [(t.scheme, t.term) for t in e.tags] == [
            ("tag:digest,2026:scaling/terms", "scaling law"),
            ("tag:digest,2026:scaling/terms", "batch size"),
        ]
        assert when(fmt, e.published) == t.replace(microsecond=0)
        body = e.content[0].value if fmt == "atom" else e.summary
        for part in ("Ada Lovelace, Alan Turing", "An abstract.", "score 3.25"):
            assert part in body
        assert "matched: scaling law (title), batch size (abstract)" in body
        assert "seen in arxiv, hf" in body
    if fmt == "rss":
        assert b'<guid isPermaLink="false">tag:digest,2026:scaling/item/' in data
        assert all(e.guidislink is False for e in fp.entries)


@pytest.mark.parametrize(("fmt", "build"), ITEMS + DIGESTS)
def test_stable_across_builds(fmt: str, build: ItemsBuilder) -> None:
    if build in (digests_rss, digests_atom):
        ds = [Digest(PROFILE, (pick("arxiv:2410.00001"),), NOW, id=4)]
        kw: dict[str, Any] = {"page_url": lambda d: f"{d.id}.html"}
        a, b = build(PROFILE, ds, LINKS, now=NOW, **kw), build(PROFILE, ds, LINKS, now=NOW, **kw)
    else:
        a = build(PROFILE, picks_at(4), LINKS, now=NOW)
        b = build(PROFILE, picks_at(4), LINKS, now=NOW)
    assert a == b  # no clock inside: the same input gives the same bytes
    assert [e.id for e in parse(a).entries] == [e.id for e in parse(b).entries]


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_limit_keeps_newest(fmt: str, build: ItemsBuilder) -> None:
    picks = picks_at(5)
    shuffled = [picks[2], picks[0], picks[4], picks[1], picks[3]]
    fp = parse(build(PROFILE, shuffled, LINKS, now=NOW, limit=2))
    assert [e.title for e in fp.entries] == ["Paper 4", "Paper 3"]
    assert parse(build(PROFILE, picks, LINKS, now=NOW, limit=0)).entries == []


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_repicked_item_is_one_entry_at_its_newest_pick(fmt: str, build: ItemsBuilder) -> None:
    p = pick("arxiv:2410.00001")
    older, newer = NOW - timedelta(days=3), NOW - timedelta(days=1)
    fp = parse(build(PROFILE, [(p, older), (p, newer)], LINKS, now=NOW))
    assert len(fp.entries) == 1
    assert when(fmt, fp.entries[0].published) == newer.replace(microsecond=0)


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_dates_are_written_in_utc(fmt: str, build: ItemsBuilder) -> None:
    plus2 = timezone(timedelta(hours=2))
    t = datetime(2026, 11, 23, 1, 0, tzinfo=plus2)
    fp = parse(build(PROFILE, [(pick("arxiv:2410.00001"), t)], LINKS, now=t))
    assert when(fmt, fp.feed.updated) == t
    assert when(fmt, fp.entries[0].published).utcoffset() == timedelta(0)


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_naive_datetimes_are_refused(fmt: str, build: ItemsBuilder) -> None:
    with pytest.raises(ValueError, match="naive"):
        build(PROFILE, [], LINKS, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive"):
        build(PROFILE, [(pick("arxiv:1"), datetime(2026, 1, 1))], LINKS, now=NOW)


HOSTILE_TITLE = '<script>alert(1)</script> R&D \x00\x1b"quoted"\ud800\ufffe\x85 שלום עולם 🚀'


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_hostile_item_is_inert(fmt: str, build: ItemsBuilder) -> None:
    p = pick(
        "arxiv:2410.66666",
        HOSTILE_TITLE,
        url="javascript:alert(1)",
        summary="<img src=x onerror=alert(1)> a & b \x08 < c",
        authors=("<b>Eve</b>\x0c", "Ω & Co"),
    )
    data = build(PROFILE, [(p, NOW)], LINKS, now=NOW)
    inert(data)
    e = parse(data).entries[0]
    # Atom says the title is text; an RSS title that reads as markup is written as
    # HTML, escaped, so an HTML reader shows the text too, never a tag.
    assert shown_title(e) == '<script>alert(1)</script> R&D "quoted" שלום עולם 🚀'
    assert e.title_detail.type == ("text/plain" if fmt == "atom" else "text/html")
    assert e.link == SITE  # not a javascript: link
    body = e.content[0].value if fmt == "atom" else e.summary
    assert "&lt;img src=x onerror=alert(1)&gt; a &amp; b &lt; c" in body
    assert "&lt;b&gt;Eve&lt;/b&gt;, Ω &amp; Co" in body
    assert "\x00" not in body
    assert "\x08" not in body
    assert clean(body) == body  # already what the allow-list keeps: no nh3 pass needed


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
@pytest.mark.parametrize(
    "title",
    [
        "Token Budgets < 1T &",
        "a < b > c",
        "AT&T & R&D",
        "\"double\" 'single'",
        "مرحبا بالعالم",
        "🚀🧪 emoji",
        "Plain",
    ],
)
def test_titles_are_escaped_once(fmt: str, build: ItemsBuilder, title: str) -> None:
    data = build(PROFILE, [(pick("arxiv:2410.00001", title), NOW)], LINKS, now=NOW)
    e = parse(data).entries[0]
    assert e.title == title  # as written, no entity left over
    assert e.title_detail.type == "text/plain"
    assert b"&amp;lt;" not in data
    assert b"&amp;amp;" not in data


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
@pytest.mark.parametrize("title", ["R&amp;D as written", "<i>Italic</i> & <sub>2</sub>", "a <b"])
def test_titles_that_read_as_markup_stay_text(fmt: str, build: ItemsBuilder, title: str) -> None:
    e = parse(build(PROFILE, [(pick("arxiv:2410.00001", title), NOW)], LINKS, now=NOW)).entries[0]
    assert shown_title(e) == title
    if fmt == "atom":
        assert e.title == title


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_authors_one_element_each_then_et_al(fmt: str, build: ItemsBuilder) -> None:
    many = tuple(f"Author {i}" for i in range(14))
    picks = [(pick("arxiv:2410.00001", authors=many), NOW)]
    picks.append((pick("arxiv:2410.00002", authors=("Solo <One>",)), NOW - timedelta(days=1)))
    picks.append((pick("arxiv:2410.00003", authors=()), NOW - timedelta(days=2)))
    data = build(PROFILE, picks, LINKS, now=NOW)
    first, solo, none = parse(data).entries
    assert [a["name"] for a in first.authors] == [*many[:FEED_AUTHORS], "et al."]
    assert [a["name"] for a in solo.authors] == ["Solo <One>"]
    assert [a.get("name") for a in none.get("authors", [])] in ([], ["Scaling laws"])
    tag = b"<dc:creator>" if fmt == "rss" else b"<author><name>"
    assert data.count(tag) == FEED_AUTHORS + 2 + (fmt == "atom")  # Atom: the feed's own


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_categories_arxiv_and_terms_apart_from_sources(fmt: str, build: ItemsBuilder) -> None:
    seen = (Seen("lab-blog"), Seen("arxiv-cs-lg", categories=("cs.LG", "stat.ML")))
    p = pick("arxiv:2410.00001", arxiv_id="2410.00001", seen=seen)
    blog = pick("doi:10.1/x", url="https://lab.example.org/post", categories=("news",))
    data = build(PROFILE, [(p, NOW), (blog, NOW - timedelta(days=1))], LINKS, now=NOW)
    arxiv, other = parse(data).entries
    terms = "tag:digest,2026:scaling/terms"
    assert [(t.scheme, t.term) for t in arxiv.tags] == [
        (ARXIV_SCHEME, "cs.LG"),
        (ARXIV_SCHEME, "stat.ML"),
        (terms, "scaling law"),
        (terms, "batch size"),
    ]
    assert [(t.scheme, t.term) for t in other.tags] == [
        (terms, "scaling law"),
        (terms, "batch size"),
    ]
    assert all("lab-blog" not in t.term and "arxiv" not in t.term for t in arxiv.tags)


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_links_arxiv_abs_without_version_else_own_else_anchor(
    fmt: str, build: ItemsBuilder
) -> None:
    versioned = pick(
        "arxiv:2410.00001", url="https://arxiv.org/abs/2410.00001v3", arxiv_id="2410.00001"
    )
    old_style = pick("arxiv:hep-th/9901001", url="", arxiv_id="hep-th/9901001")
    own = pick("doi:10.1/x", url="https://lab.example.org/post?a=1&b=2")
    listing = pick("title:listing-only", url="")
    lost = pick("title:placeless", url="")
    picks = [(p, NOW - timedelta(days=i)) for i, p in enumerate((versioned, old_style, own))]
    picks += [(listing, NOW - timedelta(days=3)), (lost, NOW - timedelta(days=4))]
    anchor = SITE + "2026-11-23-7.html#item-4"
    data = build(PROFILE, picks, LINKS, now=NOW, places={"title:listing-only": anchor})
    links = [e.link for e in parse(data).entries]
    assert links == [
        "https://arxiv.org/abs/2410.00001",
        "https://arxiv.org/abs/hep-th/9901001",
        "https://lab.example.org/post?a=1&b=2",
        anchor,
        SITE,  # no place known: the profile's archive
    ]


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_feed_title_with_markup_and_controls(fmt: str, build: ItemsBuilder) -> None:
    prof = Profile(name="odd name/é", title="Q&A <weekly>\x07")
    fp = parse(build(prof, [(pick("arxiv:2410.00001"), NOW)], LINKS, now=NOW))
    assert fp.feed.title == "Q&A <weekly>"
    assert fp.entries[0].id == "tag:digest,2026:odd%20name%2F%C3%A9/item/arxiv:2410.00001"


def test_bad_site_url_is_refused() -> None:
    bad = FeedLinks("javascript:alert(1)", "feed.xml", "feed.atom")
    with pytest.raises(ValueError, match="site URL"):
        items_rss(PROFILE, [], bad, now=NOW)


def digests_fixture() -> list[Digest]:
    prof = Profile(name="scaling", title="Scaling laws", timezone="Asia/Tokyo")
    one = (pick("arxiv:2410.00001", "First & <best>"),)
    two = (pick("arxiv:2410.00002", "Second"), pick("arxiv:2410.00003", "Third", url="ftp://x"))
    return [
        Digest(prof, one, datetime(2026, 11, 21, 23, 30, tzinfo=UTC), id=1),  # 22 Nov in Tokyo
        Digest(prof, two, datetime(2026, 11, 23, 6, 0, tzinfo=UTC), id=2),
        Digest(prof, (), datetime(2026, 11, 22, 6, 0, tzinfo=UTC), id=None),
    ]


@pytest.mark.parametrize(("fmt", "build"), DIGESTS)
def test_digests_feed(fmt: str, build: ItemsBuilder) -> None:
    ds = digests_fixture()
    prof = ds[0].profile
    data = build(prof, ds, LINKS, page_url=lambda d: f"2026-11-{d.id}.html", now=NOW)
    fp = parse(data)
    assert self_links(fp) == [LINKS.rss_url if fmt == "rss" else LINKS.atom_url]
    assert when(fmt, fp.feed.updated) == NOW.replace(microsecond=0)
    assert [e.title for e in fp.entries] == [
        "Scaling laws — 23 Nov 2026 (2 papers)",
        "Scaling laws — 22 Nov 2026 (0 papers)",
        "Scaling laws — 22 Nov 2026 (1 paper)",
    ]
    newest_first = [ds[1], ds[2], ds[0]]
    assert [e.id for e in fp.entries] == [digest_uri(prof, d) for d in newest_first]
    assert fp.entries[0].id == "tag:digest,2026:scaling/digest/2"
    assert fp.entries[1].id == "tag:digest,2026:scaling/digest/2026-11-22T06:00:00Z"
    assert [e.link for e in fp.entries] == [
        SITE + "2026-11-2.html",
        SITE + "2026-11-None.html",
        SITE + "2026-11-1.html",
    ]
    assert [when(fmt, e.published) for e in fp.entries] == [d.created for d in newest_first]
    body = [e.content[0].value if fmt == "atom" else e.summary for e in fp.entries]
    # A summary: the top titles, each linked to its anchor on the issue page.
    page = SITE + "2026-11-2.html"
    assert f'<a href="{page}#item-1" rel="noopener noreferrer">Second</a>' in body[0]
    assert f'<a href="{page}#item-2" rel="noopener noreferrer">Third</a>' in body[0]
    assert "arxiv.org" not in body[0]
    assert "ftp:" not in body[0]
    assert "No papers in this issue." in body[1]
    assert "First &amp; &lt;best&gt;" in body[2]
    limited = parse(build(prof, ds, LINKS, page_url=lambda d: "x.html", now=NOW, limit=1))
    assert [e.id for e in limited.entries] == ["tag:digest,2026:scaling/digest/2"]


@pytest.mark.parametrize(("fmt", "build"), DIGESTS)
def test_digests_feed_summarises_long_issues(fmt: str, build: ItemsBuilder) -> None:
    picks = tuple(pick(f"arxiv:2410.{i:05d}", f"Paper {i}") for i in range(12))
    ds = [Digest(PROFILE, picks, NOW, id=5)]
    fp = parse(build(PROFILE, ds, LINKS, page_url=lambda d: f"{d.id}.html", now=NOW))
    body = fp.entries[0].content[0].value if fmt == "atom" else fp.entries[0].summary
    assert [f"Paper {i}" in body for i in range(4)] == [True, True, True, False]
    assert "and 9 more papers in this issue" in body
    assert fp.entries[0].title.endswith("(12 papers)")


@pytest.mark.parametrize(("fmt", "build"), DIGESTS)
def test_digest_page_url_must_be_http(fmt: str, build: ItemsBuilder) -> None:
    ds = [Digest(PROFILE, (pick("arxiv:1", HOSTILE_TITLE, url="javascript:alert(1)"),), NOW, id=9)]
    data = build(PROFILE, ds, LINKS, page_url=lambda d: "javascript:alert(1)", now=NOW)
    inert(data)
    assert parse(data).entries[0].link == SITE


def corpus_texts(path: Path) -> tuple[list[tuple[str, str, str]], int]:
    """(title, summary, link) of each entry as `parse_feed` gives it, then the raw,
    unsanitised markup feedparser holds for the same entries and feed fields; and
    how many of them came from `parse_feed`."""
    data = path.read_bytes()
    out: list[tuple[str, str, str]] = []
    try:
        doc = parse_feed(data, url="http://example.org/feed")
        out += [(e.title, e.summary, e.link) for e in doc.entries]
    except ValueError:
        pass
    n_parsed = len(out)
    fp = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=False)
    for e in fp.entries:
        content = " ".join(c.get("value", "") for c in e.get("content", []))
        out.append((e.get("title", ""), e.get("summary", "") + content, e.get("link", "")))
    raw_feed = [str(fp.feed.get(k, "")) for k in ("title", "subtitle", "rights", "info")]
    out += [(v, v, "") for v in raw_feed if v]
    return out, n_parsed


@pytest.mark.shared
def test_sanitize_corpus(feedparser_corpus: Path) -> None:
    folder = feedparser_corpus / "wellformed" / "sanitize"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    picks: list[tuple[Pick, datetime]] = []
    parsed: list[tuple[Pick, datetime]] = []  # via parse_feed only: plain text already
    hostile = 0
    for i, path in enumerate(sorted(folder.glob("*.xml"))):
        texts, n_parsed = corpus_texts(path)
        for j, (title, summary, link) in enumerate(texts):
            hostile += "<script" in title + summary or "javascript:" in link
            p = pick(
                f"corpus:{path.stem}/{j}", title, url=link or "https://x.test/", summary=summary
            )
            picks.append((p, NOW - timedelta(seconds=i * 10 + j)))
            if j < n_parsed:
                parsed.append(picks[-1])
    assert len(parsed) > 150
    assert len(picks) > 900
    assert hostile > 50  # the corpus does exercise the escaping
    for build in (items_rss, items_atom):
        inert(build(PROFILE, parsed, LINKS, now=NOW, limit=len(parsed)))
        data = build(PROFILE, picks, LINKS, now=NOW, limit=len(picks))
        # feed_title_unacceptable_uri.xml has a title quoting `<a href="javascript:...">`:
        # as escaped text it is inert, and nh3 keeps its quotes as they are.
        assert len(inert(data, strict=False).entries) == len(picks)
        for e in parse(data).entries:
            body = e.content[0].value if build is items_atom else e.summary
            assert clean(body) == body, e.title
    digests = [
        Digest(PROFILE, tuple(p for p, _ in picks[i : i + 20]), picks[i][1], id=i)
        for i in range(0, len(picks), 20)
    ]
    for dbuild in (digests_rss, digests_atom):
        data = dbuild(
            PROFILE, digests, LINKS, page_url=lambda d: f"{d.id}.html", now=NOW, limit=999
        )
        assert len(inert(data, strict=False).entries) == len(digests)


GOLDEN = Path(__file__).parent / "data" / "golden"


def golden_picks() -> list[tuple[Pick, datetime]]:
    """One of each kind of entry: an arXiv paper seen in two sources under a
    versioned link, a title to escape, many authors, a blog post, a listing-only
    paper with no link."""
    arxiv = pick(
        "arxiv:2511.04217",
        'Token Budgets < 1T & "Critical" Batch Sizes 🚀',
        url="https://arxiv.org/abs/2511.04217v2",
        arxiv_id="2511.04217",
        authors=tuple(f"Author {i}" for i in range(1, 13)),
        seen=(Seen("arxiv-cs-lg", categories=("cs.LG", "cs.CL")), Seen("hf-daily", upvotes=41)),
    )
    blog = pick("doi:10.5555/blog", "A <i>blog</i> post", url="https://lab.example.org/p?a=1&b=2")
    listing = pick("item:7", "Listing-only paper", url="", authors=(), seen=(Seen("trending"),))
    return [(arxiv, NOW), (blog, NOW - timedelta(hours=1)), (listing, NOW - timedelta(hours=2))]


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_bytes(data)
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1"
    assert data == path.read_bytes(), f"{name} differs (UPDATE_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize(("fmt", "build"), ITEMS)
def test_golden_items_feed(fmt: str, build: ItemsBuilder) -> None:
    places = {"item:7": SITE + "2026-11-23-7.html#item-3"}
    data = build(PROFILE, golden_picks(), LINKS, now=NOW, places=places)
    check_golden(f"feed.{'xml' if fmt == 'rss' else 'atom'}", data)


@pytest.mark.parametrize(("fmt", "build"), DIGESTS)
def test_golden_digests_feed(fmt: str, build: ItemsBuilder) -> None:
    ds = digests_fixture()
    kw: dict[str, Any] = {"page_url": lambda d: f"2026-11-{d.id}.html", "now": NOW}
    own = FeedLinks(site_url=SITE, rss_url=SITE + "digests.xml", atom_url=SITE + "digests.atom")
    check_golden(
        f"digests.{'xml' if fmt == 'rss' else 'atom'}", build(ds[0].profile, ds, own, **kw)
    )
