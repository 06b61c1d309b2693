"""Rendering: golden files, escaping, hostile input, the feedparser sanitize corpus,
the email size cap, text wrapping, helpers and personalisation.

Regenerate the golden files with `UPDATE_GOLDEN=1 pytest tests/test_render.py`.
"""

from __future__ import annotations

import html as _html
import importlib
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from digest.models import Candidate, Digest, Hit, Pick, Profile, Seen, Term
from digest.reasons import number, total
from digest.render import (
    WIDTH,
    Links,
    Renderer,
    clean,
    highlight,
    local_date,
    md_escape,
    paper_links,
    safe_url,
    short_authors,
    snippet,
    sources_line,
    wrap,
)
from digest.render.views import SNIPPET_CHARS, source_label
from digest.selection.match import Matcher
from digest.selection.rank import select
from digest.sources.feed import parse_feed

_markdown: Any = importlib.import_module("markdown")  # no type stubs installed
GOLDEN = Path(__file__).parent / "data" / "golden"
ARCHIVE = "https://digest.example.org/archive/scaling/"
UNSUB = "https://digest.example.org/unsubscribe?token=abc123&profile=scaling"
CREATED = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
RTL_AR = "نماذج اللغة الكبيرة"
RTL_HE = "מודלים של שפה"
HF = "https://huggingface.co/papers/"

PROFILE = Profile(
    name="scaling",
    title="Scaling laws & training dynamics",
    keywords=(
        Term("scaling law", 3),
        Term("batch size", 2),
        Term("/\\bmu-?P\\b/", 2),
        Term("attention", 0.75),
        Term("learning rate", 1),
    ),
    authors=("Ada Lovelace", "<b>Mallory</b>"),
    timezone="Europe/Berlin",
)


def _cand(n: int, **kw: object) -> Candidate:
    base: dict[str, object] = {
        "item_id": n,
        "key": f"item:{n}",
        "title": f"Paper {n}",
        "summary": "",
        "authors": (),
        "url": f"https://example.org/papers/{n}",
        "first_seen": CREATED - timedelta(hours=n),
    }
    base.update(kw)
    return Candidate(**base)  # type: ignore[arg-type]


def _picks() -> tuple[Pick, ...]:
    rich = _cand(
        1,
        key="arxiv:2611.01234",
        title="Scaling Laws for Batch Sizes in Language-Model Pretraining",
        summary=(
            "We study how the critical batch size grows with compute and data. Across 300 "
            "training runs, e.g. from 10M to 7B parameters, the optimal batch-sizes follow a "
            "power law in the loss. These scaling laws predict the best learning rate. We "
            "release code at https://github.com/example/batch-scaling-laws-with-a-long-name. "
            "On held-out tasks the fitted law transfers across tokenizers, optimizers and "
            "data mixtures, and the error left is mostly the choice of warmup, which a second "
            "set of runs varies from none to a tenth of training. The law also predicts when "
            "a larger batch stops paying for itself, and how much compute that wastes."
        ),
        authors=("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger W. Dijkstra", "Liskov"),
        url="https://arxiv.org/abs/2611.01234v2",
        pdf_url="https://arxiv.org/pdf/2611.01234v2",
        arxiv_id="2611.01234",
        seen=(
            Seen("arxiv-cs-lg", announce_type="new", categories=("cs.LG", "cs.CL")),
            Seen("hf-daily", upvotes=12, num_comments=1, link=f"{HF}2611.01234"),
            Seen("hf-daily", upvotes=42, num_comments=3, link=f"{HF}2611.01234"),
            Seen("trending-page", upvotes=42),  # the same votes, shown once
        ),
    )
    listing = _cand(
        2,
        title="muP transfer without tears",
        summary="Hyperparameter transfer with mu-P works across widths; we show why.",
        authors=("Greg Yang", "Edward Hu"),
        url="https://example.org/papers/mup?ref=feed&lang=en",
        seen=(Seen("trending-page", upvotes=7),),
    )
    intl = _cand(
        3,
        title=f'Fast <attention> & "quotes" 🚀 — {RTL_AR} / {RTL_HE}',
        summary=f"Text with a < b && c > d, 'single' quotes, émoji 🤖 and {RTL_AR}. {RTL_HE}.",
        url="https://example.org/papers/(3)",
        pdf_url="https://example.org/papers/3.pdf",
        seen=(Seen("arxiv-cs-cl", announce_type="cross", categories=("cs.CL",)),),
    )
    hostile = _cand(
        4,
        title="<script>alert(1)</script> [click](https://evil.example/) *bold* # _x_",
        summary="An abstract with <img src=x onerror=alert(1)> inside.",
        authors=("<b>Mallory</b>",),
        url="javascript:alert(1)",
        pdf_url="data:text/html,<script>alert(1)</script>",
        seen=(Seen("<i>evil</i>-feed"),),
    )
    # Picked as a cycle picks them: the real matcher and ranking make scores and reasons.
    cands = (rich, listing, intl, hostile)
    matcher = Matcher([PROFILE])
    results = {}
    for c in cands:
        found = matcher.match(c.title, c.summary, c.authors)
        results[c.item_id] = (found.for_profile(PROFILE.name), False)
    picks = tuple(select(PROFILE, cands, results))
    assert [p.candidate for p in picks] == list(cands)
    return picks


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(archive_url=ARCHIVE)


@pytest.fixture(scope="module")
def digest() -> Digest:
    return Digest(PROFILE, _picks(), CREATED, id=7)


class _Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    handle_startendtag = handle_starttag


def assert_inert(html: str, *, email: bool = False) -> None:
    """No script, no event handler, no URL but http(s), mailto or relative; in email
    no external assets at all."""
    assert "<script" not in html.lower()
    assert not re.search(r"<[^>]*\son\w+\s*=", html, re.I)
    parser = _Tags()
    parser.feed(html)
    parser.close()
    for tag, attrs in parser.tags:
        assert tag not in {"script", "iframe", "object", "embed", "form", "base"}
        if email:
            assert tag not in {"link", "img", "video", "audio", "source"}
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in {"href", "src", "action", "formaction", "background", "poster"}:
                scheme = re.match(r"\s*([a-zA-Z][\w+.-]*):", value or "")
                assert scheme is None or scheme[1].lower() in {"http", "https", "mailto"}, value


def md_html(md: str) -> str:
    """The Markdown digest as a Markdown renderer shows it, cleaned by render's allow-list:
    what a reader of `digest render --format markdown` would see."""
    conv = _markdown.Markdown(output_format="html")
    conv.ESCAPED_CHARS.extend(c for c in "<|~{}=" if c not in conv.ESCAPED_CHARS)
    return clean(conv.convert(md))


def _check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(actual.encode())
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1"
    assert actual == path.read_bytes().decode(), f"{name} differs (UPDATE_GOLDEN=1 rewrites it)"


# -- golden files --------------------------------------------------------------


def test_golden_markdown(renderer: Renderer, digest: Digest) -> None:
    _check_golden("digest.md", renderer.markdown(digest))


def test_golden_text(renderer: Renderer, digest: Digest) -> None:
    _check_golden("digest.txt", renderer.text(digest, unsubscribe_url=UNSUB))


def test_golden_html(renderer: Renderer, digest: Digest) -> None:
    _check_golden("digest.html", renderer.html(digest, unsubscribe_url=UNSUB))


_PART = re.compile(r"^(?P<term>.+) (?P<value>\d+(?:\.\d+)?) \((?P<field>title|abstract|author)")


def _explanations(text: str) -> list[tuple[float, list[tuple[str, str, float]]]]:
    """Each "Score N = term v (field) + ..." line of a text or Markdown digest,
    unwrapped: (N, [(term, field, v), ...])."""
    out = []
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if not line.strip().startswith("Score "):
            continue
        whole = line.strip()
        for more in lines[n + 1 :]:  # a wrapped line goes on, indented, until a blank one
            if not more.strip():
                break
            whole += " " + more.strip()
        score, _, parts = whole.removeprefix("Score ").partition(" = ")
        found = []
        for part in parts.split(" + "):
            m = _PART.match(part)
            assert m, (part, whole)
            found.append((m["term"], m["field"], float(m["value"])))
        out.append((float(score), found))
    return out


@pytest.mark.parametrize("name", ["digest.txt", "digest.md"])
def test_golden_explanations_add_up_to_the_score(name: str) -> None:
    """The golden files' explanation lines: what is shown adds up to the score shown,
    for keyword (title, abstract) and author contributions, each term once."""
    lines = _explanations((GOLDEN / name).read_text(encoding="utf-8"))
    assert len(lines) == 4  # one per pick
    fields = set()
    for score, parts in lines:
        assert parts, score
        assert round(sum(v for _, _, v in parts), 2) == score
        terms = [t.casefold() for t, _, _ in parts]
        assert len(terms) == len(set(terms)), parts  # each term once
        fields |= {f for _, f, _ in parts}
    assert fields == {"title", "abstract", "author"}
    # The first pick: "scaling law" is in its title and abstract and counts once, from the title.
    assert lines[0] == (
        12.0,
        [
            ("scaling law", "title", 6.0),
            ("batch size", "title", 4.0),
            ("learning rate", "abstract", 1.0),
            ("Ada Lovelace", "author", 1.0),
        ],
    )


def test_every_pick_in_every_output_is_explained(renderer: Renderer, digest: Digest) -> None:
    for p in digest.picks:
        assert p.reasons
        assert total(p.reasons) == p.score
    why = [f"Score {number(p.score)} = {p.because()}" for p in digest.picks]
    text = " ".join(renderer.text(digest).split())
    md = renderer.markdown(digest)
    html = renderer.html(digest)
    page = renderer.archive_page(digest)
    for line in why:
        assert line in text
        assert md_escape(line) in md
        for out in (html, page):
            assert _html.escape(line, quote=False).replace(" = ", "</span> = ", 1) in out


def test_a_recorded_pick_without_reasons_still_says_what_matched(renderer: Renderer) -> None:
    old = Pick(_cand(1), 7.0, (Hit("scaling law", "title"), Hit("batch size", "abstract")))
    text = renderer.text(Digest(PROFILE, (old,), CREATED))
    assert "Score 7 · matched: scaling law (title), batch size (abstract)" in text


def test_outputs_agree_on_content(renderer: Renderer, digest: Digest) -> None:
    text = renderer.text(digest, unsubscribe_url=UNSUB)
    html = renderer.html(digest, unsubscribe_url=UNSUB)
    md = renderer.markdown(digest)
    for out in (text, html, md):
        assert "Monday, 23 November 2026" in out
        assert "4 new papers" in out
        assert "Ada Lovelace, Alan Turing, Grace Hopper and 2 others" in out
        flat = " ".join(out.split())  # the text part is wrapped
        assert "from arxiv-cs-lg (new), hf-daily, trending-page · ▲ 42, 3 comments" in flat
        assert flat.count("▲ 42") == 1  # two sources said 42: one fact, shown once
        assert "scaling law 6 (title ×2) + batch size 4 (title ×2)" in flat
        assert "https://arxiv.org/pdf/2611.01234" in out
        assert "https://huggingface.co/papers/2611.01234" in out
        assert "v2" not in out  # versioned arXiv links are not shown
        assert "Score 12" in out
        assert "Score 1.5" in out
        assert "“scaling” digest" in out
    assert '<mark class="hit"' in html
    assert ">batch size</mark>" in html
    assert "**batch size**" in md
    assert "**batch-sizes**" in md
    assert "**mu-P**" in md
    assert "<mark" not in text
    assert "**" not in text
    assert "Unsubscribe" in text
    assert "Unsubscribe" in html
    assert "Unsubscribe" not in md


# -- escaping, RTL and hostile input -------------------------------------------


def test_special_characters_in_every_format(renderer: Renderer, digest: Digest) -> None:
    text = renderer.text(digest)
    md = renderer.markdown(digest)
    html = renderer.html(digest)
    shown_md = md_html(md)
    page = renderer.archive_page(digest)
    # intact in plain text
    assert f'Fast <attention> & "quotes" 🚀 — {RTL_AR} / {RTL_HE}' in " ".join(text.split())
    assert f"a < b && c > d, 'single' quotes, émoji 🤖 and {RTL_AR}. {RTL_HE}." in " ".join(
        text.split()
    )
    # Markdown: metacharacters escaped, the rest as is; shown right once rendered
    assert f'Fast \\<attention\\> & "quotes" 🚀 — {RTL_AR} / {RTL_HE}' in md
    for out in (html, shown_md, page):
        assert "Fast &lt;attention&gt; &amp;" in out
        assert RTL_AR in out
        assert RTL_HE in out
        assert "🚀" in out
        assert "🤖" in out
        assert "a &lt; b &amp;&amp; c &gt; d" in out
        assert "<attention>" not in out
    for out in (html, page):
        assert re.search(r'<h2 class="title" dir="auto"[^>]*><a[^>]*>Fast &lt;attention', out)
        assert out.count('dir="auto"') >= 4 * 4
        assert 'href="https://example.org/papers/%283%29"' in out


def test_hostile_input(renderer: Renderer, digest: Digest) -> None:
    outputs = {
        "html": renderer.html(digest, unsubscribe_url=UNSUB),
        "markdown_html": md_html(renderer.markdown(digest)),
        "archive_page": renderer.archive_page(digest, feed_urls={"RSS": ARCHIVE + "feed.xml"}),
        "archive_index": renderer.archive_index(PROFILE, [digest]),
    }
    for name, out in outputs.items():
        assert "<script" not in out, name
        assert "javascript:" not in out, name
        assert "data:text" not in out, name
        assert not re.search(r"<[^>]*\bonerror\s*=", out), name
        assert not any("evil" in h for h in re.findall(r'href="([^"]*)"', out)), name
        assert_inert(out, email=name == "html")
    # the hostile title is shown as text, its Markdown link is not a link
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt; [click](https://evil.example/)"
        in (outputs["markdown_html"])
    )
    assert 'href="https://evil.example/' not in outputs["markdown_html"]
    md = renderer.markdown(digest)
    assert "\\<script\\>alert(1)\\</script\\> \\[click\\](https://evil.example/) \\*bold\\*" in md
    assert "javascript:" not in md
    assert "javascript:" not in renderer.text(digest)
    # an item whose URL was dropped has its title unlinked
    assert re.search(r'<h2 class="title" dir="auto"[^>]*>&lt;script', outputs["html"])


def test_email_has_no_external_assets(renderer: Renderer, digest: Digest) -> None:
    html = renderer.html(digest, unsubscribe_url=UNSUB)
    assert "<link" not in html
    assert "<img" not in html
    assert "@import" not in html
    assert "url(" not in html
    assert "prefers-color-scheme: dark" in html  # @media survives inlining
    assert "max-width: 640px" in html
    assert 'style="' in html
    assert "<style>" in html


def _sanitize_corpus(corpus: Path) -> tuple[list[Pick], list[str]]:
    folder = corpus / "wellformed" / "sanitize"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    picks: list[Pick] = []
    feed_titles: list[str] = []
    for path in sorted(folder.iterdir()):
        try:
            doc = parse_feed(path.read_bytes())
        except ValueError:
            continue
        feed_titles.append(doc.feed_title)
        for e in doc.entries:
            n = len(picks) + 1
            cand = _cand(n, title=e.title, summary=e.summary, url=e.link, authors=e.authors)
            picks.append(Pick(cand, 1.0, (Hit("safe", "title"),)))
    return picks, feed_titles


def test_sanitize_corpus(feedparser_corpus: Path) -> None:
    picks, feed_titles = _sanitize_corpus(feedparser_corpus)
    assert len(picks) > 100
    r = Renderer(archive_url=ARCHIVE, max_html_bytes=50_000_000)
    d = Digest(PROFILE, tuple(picks), CREATED, id=1)
    outputs = {
        "html": r.html(d, unsubscribe_url=UNSUB),
        "markdown_html": md_html(r.markdown(d)),
        "archive_page": r.archive_page(d),
        "archive_index": r.archive_index(PROFILE, [d]),
    }
    assert r.prepare(d).shown == len(picks)
    for name, out in outputs.items():
        assert "<script" not in out.lower(), name
        assert not re.search(r"\bon\w+=", out), name
        assert "javascript:" not in out.lower(), name
        assert_inert(out, email=name == "html")
    assert r.text(d)
    assert r.markdown(d)
    # Feed titles are raw HTML in the corpus: as source names they must stay text.
    seen = [
        replace(p, candidate=replace(p.candidate, seen=(Seen(t),)))
        for p, t in zip(picks, feed_titles, strict=False)
    ]
    hostile = replace(d, picks=tuple(seen), profile=replace(PROFILE, title=feed_titles[0]))
    for out in (r.html(hostile), md_html(r.markdown(hostile)), r.archive_page(hostile)):
        assert_inert(out)


# -- the size cap --------------------------------------------------------------


def test_size_cap_shows_what_fits() -> None:
    long = " ".join(["Scaling laws with a much longer abstract sentence here."] * 40)
    picks = tuple(
        Pick(
            _cand(
                i,
                title=f"A long title number {i} about scaling laws " * 3,
                summary=long,
                authors=tuple(f"Author {j}" for j in range(30)),
                seen=(Seen("arxiv-cs-lg", announce_type="new", categories=("cs.LG",)),),
                arxiv_id=f"2611.{i:05d}",
            ),
            5.0,
            (Hit("scaling law", "title"),),
        )
        for i in range(400)
    )
    r = Renderer(archive_url=ARCHIVE)
    d = Digest(PROFILE, picks, CREATED)
    prepared = r.prepare(d)
    assert 0 < prepared.shown < 400
    assert prepared.total == 400
    more = 400 - prepared.shown
    text, html = r.personalize(prepared, unsubscribe_url=UNSUB)
    assert len(html.encode()) <= r.max_html_bytes
    assert f'<a class="link" href="{ARCHIVE}"' in html
    assert f"{more} more in the archive" in html
    assert f"{more} more in the archive: {ARCHIVE}" in text
    assert "400 new papers" in html
    assert "400 new papers" in text
    assert text.count("\n    Abstract: ") == prepared.shown  # the same items in both parts
    assert html.count('<td class="item"') == prepared.shown
    assert len(html.encode()) > 0.9 * r.max_html_bytes  # and no room was wasted
    # without an archive URL the line is there, unlinked
    bare = Renderer().html(d)
    assert f"{more} more in the archive" in bare
    assert len(bare.encode()) <= 100_000


def test_size_cap_small_digest_untouched(renderer: Renderer, digest: Digest) -> None:
    assert renderer.prepare(digest).shown == len(digest.picks)
    assert "more in the archive" not in renderer.html(digest)


# -- plain text ----------------------------------------------------------------


def _assert_width(text: str) -> None:
    for line in text.splitlines():
        if len(line) > WIDTH:  # only a URL alone on its line may overflow
            assert re.fullmatch(r"\s*(\w+: )?https?://\S+", line), line


def test_text_width(renderer: Renderer, digest: Digest) -> None:
    _assert_width(renderer.text(digest, unsubscribe_url=UNSUB))
    url = "https://example.org/" + "very-long-path-segment/" * 6 + "?q=" + "x" * 40
    wide = _cand(
        9,
        title="Word " * 40 + "Supercalifragilistic" * 6,
        summary=f"See {url} for details. " + "Another sentence with words. " * 30,
        url=url,
        authors=tuple(f"Person Number {i}" for i in range(3)),
    )
    d = Digest(PROFILE, (Pick(wide, 1.0, ()),), CREATED)
    text = renderer.text(d, unsubscribe_url=UNSUB + "&x=" + "y" * 80)
    _assert_width(text)
    assert url in text.split()  # never broken
    assert "Supercalifragilistic" in text


def test_text_has_no_markup(renderer: Renderer, digest: Digest) -> None:
    text = renderer.text(digest)
    assert "<mark" not in text
    assert "&amp;" not in text
    assert "&lt;" not in text
    assert "<script>alert(1)</script>" in text  # plain text shows text as it is


# -- helpers -------------------------------------------------------------------


def test_short_authors() -> None:
    assert short_authors([]) == ""
    assert short_authors(["A"]) == "A"
    assert short_authors(["A", "B"]) == "A and B"
    assert short_authors(["A", "B", "C"]) == "A, B and C"
    assert short_authors(["A", "B", "C", "D"]) == "A, B, C and D"
    assert short_authors(["A", "B", "C", "D", "E"]) == "A, B, C and 2 others"
    assert short_authors([f"P{i}" for i in range(100)], n=2) == "P0, P1 and 98 others"
    assert short_authors(["  Ada   Lovelace ", " "]) == "Ada Lovelace"


def test_snippet_is_a_paragraph_cut_at_a_word_boundary() -> None:
    """Issue 15: snippets stopped after one or two sentences. Now a sentence end
    near the start is no reason to stop: the cut is the last word that fits."""
    text = "Short first sentence. " * 5 + "A second part that goes on and on " * 30
    out = snippet(text)
    assert SNIPPET_CHARS - 40 <= len(out) <= SNIPPET_CHARS
    assert out.endswith("…")
    body = out[:-1].rstrip()
    assert text.startswith(body)
    assert text[len(body)] == " "  # cut before a space: no word cut in two
    abstract = "We study scaling. " + "The loss falls as a power law in compute. " * 12
    assert len(abstract) > 300
    assert snippet(abstract).count(".") >= 10  # many sentences, not one or two


def test_snippet_keeps_short_text_whole_and_marks_every_cut() -> None:
    assert snippet("Short abstract. Done.") == "Short abstract. Done."
    assert snippet("  spaced\n\tout  ") == "spaced out"
    whole = "word " * (SNIPPET_CHARS // 5)
    assert snippet(whole) == whole.strip()
    assert snippet("x" * 1000) == "x" * (SNIPPET_CHARS - 1) + "…"
    ends = "x" * (SNIPPET_CHARS - 10) + " done. " + "more " * 10
    assert snippet(ends).endswith(" done. …")  # a cut after a full stop is still marked
    commas = "one, two, " * 100
    assert re.search(r"\w…$", snippet(commas))  # no dangling comma before the mark
    assert len(snippet(commas)) <= SNIPPET_CHARS


def test_date_in_profile_time_zone(renderer: Renderer) -> None:
    late = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    assert local_date(late, "America/New_York") == "Sunday, 22 November 2026"
    assert local_date(late, "Asia/Tokyo") == "Monday, 23 November 2026"
    assert local_date(late.replace(tzinfo=None), "UTC") == "Monday, 23 November 2026"
    assert local_date(late, "Not/AZone") == "Monday, 23 November 2026"
    d = Digest(replace(PROFILE, timezone="America/Los_Angeles"), (), late)
    for out in (renderer.markdown(d), renderer.text(d), renderer.html(d)):
        assert "Sunday, 22 November 2026 · No new papers" in out
        assert "Nothing new matched" in out


def test_safe_url() -> None:
    assert safe_url("https://a.org/x?y=1&z=2") == "https://a.org/x?y=1&z=2"
    assert safe_url(" http://a.org/(x) y") == "http://a.org/%28x%29%20y"
    for bad in ("javascript:alert(1)", " JaVaScRiPt:alert(1)", "data:text/html,x", "ftp://a.org/"):
        assert safe_url(bad) == ""
    assert safe_url("java\tscript:alert(1)") == ""
    assert safe_url("https://a.org/\n") != ""
    assert safe_url("//a.org/x") == ""
    assert safe_url("/relative") == ""
    assert safe_url("") == ""
    assert safe_url("mailto:u@a.org") == ""
    assert safe_url("mailto:u@a.org", mailto=True)


def test_highlight_follows_matching_rules() -> None:
    def marked(text: str, *terms: str) -> list[str]:
        return [s for s, hit in highlight(text, terms) if hit]

    assert marked("Batch-Sizes and batchsize and batch size", "batch size") == [
        "Batch-Sizes",
        "batchsize",
        "batch size",
    ]
    assert marked("a URL, CURL and RL here", "RL") == ["RL"]
    assert marked("We use muP and mu-P.", "/\\bmu-?P\\b/") == ["muP", "mu-P"]
    assert marked("Sínkhorn iterations", "sinkhorn") == ["Sínkhorn"]
    assert marked("size of the batch", "batch size") == []
    text = "scaling laws, scaling law"
    assert "".join(s for s, _ in highlight(text, ["scaling law", "law"])) == text


def test_sources_line_merges_sightings() -> None:
    seen = (
        Seen("hf", upvotes=3),
        Seen("arxiv", announce_type="new", categories=("cs.LG",)),
        Seen("hf", upvotes=9, num_comments=1),
        Seen("arxiv", announce_type="replace", categories=("cs.LG", "stat.ML")),
    )
    assert sources_line(seen) == "from hf, arxiv (replace) · ▲ 9, 1 comment · cs.LG, stat.ML"
    assert sources_line(()) == ""
    assert sources_line((), upvotes=4) == "▲ 4"


def test_each_fact_is_shown_once_and_tags_stay_apart_from_names() -> None:
    # Two sources reporting the same votes (a listing copies the daily page's count).
    seen = (Seen("hf-daily", upvotes=41, num_comments=3), Seen("trending-page", upvotes=41))
    assert sources_line(seen) == "from hf-daily, trending-page · ▲ 41, 3 comments"
    # The same arXiv categories from two feeds; a blog's tags that contain spaces.
    arxiv = (
        Seen("arxiv-api", categories=("cs.LG", "cs.AI")),
        Seen("arxiv-cs-lg", categories=("cs.LG", "cs.AI"), announce_type="replace"),
    )
    assert sources_line(arxiv) == "from arxiv-api, arxiv-cs-lg (replace) · cs.LG, cs.AI"
    blog = (Seen("lab-blog", categories=("batch size", "scaling laws")),)
    assert sources_line(blog) == "from lab-blog · batch size, scaling laws"


def test_text_lines_break_between_contributions_and_facts() -> None:
    why = "Score 13 = batch size 4 (title ×2) + critical batch size 2 (title ×2) + model"
    why += " size 2 (title ×2) + scaling law 3 (abstract) + learning rate 2 (abstract)"
    assert wrap(why, indent="    ", sep=" + ").splitlines() == [
        "    Score 13 = batch size 4 (title ×2) + critical batch size 2 (title ×2) +",
        "    model size 2 (title ×2) + scaling law 3 (abstract) +",
        "    learning rate 2 (abstract)",
    ]
    line = "from arxiv-api, arxiv-cs-lg (replace), hf-daily, trending-page · ▲ 28, 5 comments"
    assert wrap(line + " · cs.LG", indent="    ", sep=" · ").splitlines() == [
        "    from arxiv-api, arxiv-cs-lg (replace), hf-daily, trending-page ·",
        "    ▲ 28, 5 comments · cs.LG",
    ]
    long = wrap("a + " + "b" * 90 + " + c", indent="    ", sep=" + ").splitlines()
    assert long == ["    a +", "    " + "b" * 74, "    " + "b" * 16 + " + c"]
    assert all(len(x) <= WIDTH for x in long)


def test_a_separator_ends_its_line_even_after_a_part_too_long_for_one() -> None:
    """The sources line broke badly: a part too long for a line (a long URL, a word
    split in pieces) left its separator alone at the start of the next line, and an
    empty part left a double space."""
    url = "https://example.org/" + "long/" * 14 + "feed.rss"
    lines = wrap(f"from {url} · ▲ 3", indent="    ", sep=" · ").splitlines()
    assert lines == ["    from", f"    {url} ·", "    ▲ 3"]  # the URL whole, the mark after it
    for n in (90, 148):  # the last piece of a split word, with and without room for the mark
        lines = wrap("a · " + "x" * n + " · cs.LG", indent="    ", sep=" · ").splitlines()
        assert lines[0] == "    a ·"
        assert lines[-1].endswith("x · cs.LG")
        assert "".join(x.strip() for x in lines[1:]) == "x" * n + " · cs.LG"
        assert all(len(x) <= WIDTH for x in lines)
    assert wrap("from a ·  · b", indent="    ", sep=" · ") == "    from a · b"
    for text in ("from a · ", " · b", "· · · · · · " * 20):
        out = wrap(text, indent="    ", sep=" · ")
        assert all(x == x.rstrip() for x in out.splitlines()), out  # no trailing space


def test_sources_named_by_their_location_show_a_short_name() -> None:
    assert source_label("arxiv-cs-lg") == "arxiv-cs-lg"
    assert source_label("<i>evil</i>-feed") == "<i>evil</i>-feed"
    assert source_label("/home/me/listings/2025-06-01.txt") == "2025-06-01.txt"
    assert source_label("listings/trending.txt") == "trending.txt"
    assert source_label("https://rss.arxiv.org/rss/cs.LG?x=1") == "rss.arxiv.org/rss/cs.LG"
    seen = (Seen("/srv/feeds/cs-lg.rss", announce_type="new"),)
    assert sources_line(seen) == "from cs-lg.rss (new)"


def test_md_escape() -> None:
    assert md_escape("[a](b) *c* _d_ `e` <f> # g | h ~") == (
        "\\[a\\](b) \\*c\\* \\_d\\_ \\`e\\` \\<f\\> \\# g \\| h \\~"
    )
    assert md_escape("- item") == "\\- item"
    assert md_escape("1. x") == "1\\. x"
    assert md_escape("AT&T &amp; &#60;") == "AT&T &amp;amp; &amp;\\#60;"


def test_markdown_escapes_round_trip(renderer: Renderer) -> None:
    title = "[x](https://evil.example/) <b>bold</b> AT&T &amp; &#60; a_b_c *s* `c` | ~ # = {}"
    d = Digest(PROFILE, (Pick(_cand(1, title=title), 1.0, ()),), CREATED)
    out = md_html(renderer.markdown(d))
    shown = ">[x](https://evil.example/) &lt;b&gt;bold&lt;/b&gt; AT&amp;T &amp;amp; &amp;#60; "
    assert shown + "a_b_c *s* `c` | ~ # = {}<" in out
    assert_inert(out)


# -- personalisation -----------------------------------------------------------


def test_personalize_matches_full_render(renderer: Renderer, digest: Digest) -> None:
    prepared = renderer.prepare(digest)
    for url in (UNSUB, "mailto:unsubscribe@digest.example.org?subject=stop", ""):
        text, html = renderer.personalize(prepared, unsubscribe_url=url)
        assert text == renderer.text(digest, unsubscribe_url=url)
        assert html == renderer.html(digest, unsubscribe_url=url)
    text, html = renderer.personalize(prepared, unsubscribe_url=UNSUB)
    assert 'href="https://digest.example.org/unsubscribe?token=abc123&amp;profile=scaling"' in html
    assert "\n" + UNSUB + "\n" in text
    assert ">Unsubscribe</a>" in html


def test_personalize_without_url_has_no_unsubscribe(renderer: Renderer, digest: Digest) -> None:
    prepared = renderer.prepare(digest)
    for url in ("", "javascript:alert(1)"):
        text, html = renderer.personalize(prepared, unsubscribe_url=url)
        assert "Unsubscribe" not in text
        assert "Unsubscribe" not in html
        assert "unsubscribe.invalid" not in text + html
    assert "“scaling” digest" in text
    assert "“scaling” digest" in html


def test_personalize_escapes_quotes_in_url(renderer: Renderer, digest: Digest) -> None:
    _, html = renderer.personalize(
        renderer.prepare(digest), unsubscribe_url='https://x.org/u?a="><script>&b=1'
    )
    assert_inert(html, email=True)
    assert 'href="https://x.org/u?a=%22%3E%3Cscript%3E&amp;b=1"' in html


# -- archive and templates -----------------------------------------------------


def test_archive_page_and_index(renderer: Renderer, digest: Digest) -> None:
    feeds = {"RSS": ARCHIVE + "feed.xml", "Atom": ARCHIVE + "feed.atom", "Bad": "javascript:x"}
    page = renderer.archive_page(digest, feed_urls=feeds)
    assert '<link rel="alternate" type="application/rss+xml"' in page
    assert '<link rel="alternate" type="application/atom+xml"' in page
    assert "Bad" not in page
    assert "<style>" in page
    assert 'style="' not in page
    assert page.count('<article class="item"') == 4
    older = replace(digest, created=CREATED - timedelta(days=3), id=6, picks=digest.picks[:1])
    index = renderer.archive_index(PROFILE, [older, digest], feed_urls=feeds)
    assert index.index("2026-11-23-7.html") < index.index("2026-11-20-6.html")
    assert "Monday, 23 November 2026" in index
    assert "1 new paper<" in index
    assert_inert(index)
    custom = renderer.archive_index(PROFILE, [digest], href=lambda d: f"issue-{d.id}.html")
    assert 'href="issue-7.html"' in custom


def test_template_override(tmp_path: Path, digest: Digest) -> None:
    (tmp_path / "digest.md.j2").write_text("Custom {{ title|md }}: {{ items|length }}\n")
    r = Renderer(tmp_path)
    assert r.markdown(digest) == "Custom Scaling laws & training dynamics: 4\n"
    assert "<!DOCTYPE html>" in r.html(digest)  # the others still come from templates/
    (tmp_path / "bad.md.j2").write_text("{{ nope }}")
    with pytest.raises(Exception, match="nope"):
        r.env.get_template("bad.md.j2").render()


# -- a profile's Markdown description ------------------------------------------

DESCRIPTION = (
    "Papers on **how models scale**: see [muP](https://arxiv.org/abs/2203.03466).\n\n"
    "Second paragraph, with `code`."
)
HOSTILE_DESCRIPTION = (
    "<script>alert('s')</script>\n\n"
    "[click](javascript:alert('j')) <img src=x onerror=alert('i')>"
    ' <a href="https://ok.example/" onclick="alert(\'c\')">ok</a>'
    " <span onmouseover=\"alert('m')\">hover</span> <iframe src='https://evil.example/'></iframe>"
    "\n\n<p style=\"background:url(javascript:alert('u'))\">styled</p>"
)


def test_description_is_shown_in_every_format(digest: Digest) -> None:
    r = Renderer(archive_url=ARCHIVE)
    d = replace(digest, profile=replace(PROFILE, description=DESCRIPTION))
    html, text, md = r.html(d), r.text(d), r.markdown(d)
    page, index = r.archive_page(d), r.archive_index(d.profile, [d])
    link = '<a href="https://arxiv.org/abs/2203.03466" rel="noopener noreferrer">muP</a>'
    for out in (html, page, index):
        assert '<div class="description" dir="auto">' in out
        assert "<strong>how models scale</strong>" in out
        assert re.search(r'<a href="https://arxiv.org/abs/2203.03466"[^>]*>muP</a>', out), out
        assert "<code>code</code>" in out
    assert link in page  # nh3's rel on the one allow-list's links
    # at the top: before the first item
    assert html.index("how models scale") < html.index("Scaling Laws for Batch Sizes")
    # plain text: the words, one paragraph each, no Markdown left
    assert "\n\nPapers on how models scale: see muP.\n\nSecond paragraph, with code.\n" in text
    assert text.index("how models scale") < text.index("Scaling Laws for Batch Sizes")
    # Markdown: as written
    assert f"\n\n{DESCRIPTION}\n" in md
    assert md.index(DESCRIPTION) < md.index("Scaling Laws for Batch Sizes")
    # A paragraph written over several lines is one paragraph in the text mail too.
    flowing = replace(
        d.profile, description="Papers on scaling,\nbatch sizes\nand more.\n\n- a\n- b"
    )
    head = r.text(replace(d, profile=flowing)).split("\n\n1.")[0]
    assert "\n\nPapers on scaling, batch sizes and more.\n\na\n\nb" in head
    plain = r.html(digest)  # no description: nothing added (the golden files hold this)
    assert 'class="description"' not in plain


def test_hostile_description_is_inert(digest: Digest) -> None:
    r = Renderer(archive_url=ARCHIVE)
    benign = digest.picks[:1]  # the fixture's hostile items would hide what is tested here
    d = replace(digest, picks=benign, profile=replace(PROFILE, description=HOSTILE_DESCRIPTION))
    outputs = {
        "html": r.html(d, unsubscribe_url=UNSUB),
        "archive_page": r.archive_page(d),
        "archive_index": r.archive_index(d.profile, [d]),
    }
    for name, out in outputs.items():
        start = out.index('<div class="description"')
        desc = out[start : out.index("</div>", start)]
        for marker in ("'s'", "'j'", "'c'", "'m'", "'u'"):
            assert f"alert({marker})" not in out, (name, marker)
        assert "<img" not in desc  # Markdown left the unquoted tag as text: shown escaped
        assert "&lt;img src=x onerror=alert('i')&gt;" in desc
        assert "javascript:" not in out, name
        assert "<iframe" not in out, name
        assert "evil.example" not in out, name
        assert_inert(out, email=name == "html")
        # what is harmless stays: the words, and the one http(s) link without its handler
        for word in ("click", "ok", "hover", "styled"):
            assert word in desc, (name, word)
        assert re.search(r'<a href="https://ok.example/"[^>]*>ok</a>', desc), desc
    text = r.text(d)
    head = text.split("\n\n1.")[0]
    assert "<script" not in head  # the script went, with its content
    assert "click" in head
    assert "styled" in head
    assert "javascript:" not in text
    assert "alert('s')" not in text  # nh3 drops a script's content, not only its tags


def test_description_must_be_text(tmp_path: Path) -> None:
    from digest.errors import ConfigError
    from digest.selection.profiles import load_profile

    path = tmp_path / "p.yaml"
    path.write_text("name: p\nkeywords: [scaling law]\ndescription:\n  - not text\n")
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    assert str(err.value) == f"{path}:3: description: must be str, not a list"
    path.write_text("name: p\nkeywords: [scaling law]\ndescription: |\n  Some *Markdown*.\n")
    assert load_profile(path).description == "Some *Markdown*.\n"


def test_one_environment_for_every_template(tmp_path: Path) -> None:
    from digest.render import environment

    env = environment()
    assert Renderer().env is env  # compiled templates shared by digests, archive, web
    assert environment(tmp_path) is environment(tmp_path) is not env
    # autoescape by kind: HTML escapes, Markdown and plain text do not
    probe = {"x": "<b>&</b>"}
    assert env.from_string("{{ x }}").render(probe) == "&lt;b&gt;&amp;&lt;/b&gt;"
    (tmp_path / "probe.html.j2").write_text("{{ x }}")
    (tmp_path / "probe.md.j2").write_text("{{ x }}")
    (tmp_path / "probe.txt.j2").write_text("{{ x }}")
    over = environment(tmp_path)
    assert over.get_template("probe.html.j2").render(probe) == "&lt;b&gt;&amp;&lt;/b&gt;"
    assert over.get_template("probe.md.j2").render(probe) == "<b>&</b>"
    assert over.get_template("probe.txt.j2").render(probe) == "<b>&</b>"
    # the bundled templates come from the package, wherever it is installed
    bundled = env.get_template("web/mail.txt.j2").filename or ""
    assert Path(bundled).parent.parent.name == "templates"
    assert Path(bundled).parent.parent.parent.name == "digest"


# -- links: the one rule ---------------------------------------------------------


def test_links_of_an_arxiv_paper_carry_no_version_and_hf_only_when_seen_there() -> None:
    c = _cand(
        1,
        url="https://arxiv.org/abs/2511.00642v2",
        pdf_url="https://arxiv.org/pdf/2511.00642v2",
        arxiv_id="2511.00642",
        seen=(Seen("arxiv-api", link="https://arxiv.org/abs/2511.00642v2"), Seen("listing")),
    )
    links = paper_links(c)
    assert links == Links("https://arxiv.org/abs/2511.00642", "https://arxiv.org/pdf/2511.00642")
    assert links.labelled() == (
        ("Abstract", "https://arxiv.org/abs/2511.00642"),
        ("PDF", "https://arxiv.org/pdf/2511.00642"),
    )
    seen_on_hf = replace(c, seen=(*c.seen, Seen("hf", link=f"{HF}2511.00642")))
    assert paper_links(seen_on_hf).hugging_face == f"{HF}2511.00642"
    # First seen on Hugging Face: the arXiv id still gives the abstract.
    from_hf = replace(c, url=f"{HF}2511.00642", pdf_url="", seen=(Seen("hf", link=c.url),))
    assert paper_links(from_hf) == Links(
        "https://arxiv.org/abs/2511.00642", "https://arxiv.org/pdf/2511.00642", f"{HF}2511.00642"
    )


def test_links_without_an_arxiv_id_are_the_sources_own() -> None:
    blog = _cand(1, url="https://lab.example.org/notes/x", seen=(Seen("lab-blog"),))
    assert paper_links(blog).labelled() == (("Link", "https://lab.example.org/notes/x"),)
    with_pdf = replace(blog, pdf_url="https://lab.example.org/x.pdf")
    assert paper_links(with_pdf).pdf == "https://lab.example.org/x.pdf"
    hf_only = _cand(2, url=f"{HF}abc", seen=(Seen("hf", link=f"{HF}abc"),))
    assert paper_links(hf_only).labelled() == (("Hugging Face", f"{HF}abc"),)
    doi = _cand(3, url="", doi="10.1000/xyz-1")
    assert paper_links(doi).labelled() == (("DOI", "https://doi.org/10.1000/xyz-1"),)
    hostile = _cand(4, url="javascript:alert(1)", pdf_url="data:text/html,x")
    assert paper_links(hostile).labelled() == ()
    assert paper_links(_cand(5, url="")).url == ""
