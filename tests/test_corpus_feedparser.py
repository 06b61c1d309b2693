"""The whole feedparser test corpus, and the non-feeds of test_sources_sniff,
through sniff_kind + parse_document.

Every file must end one of three ways: entries, a ValueError with a reason, or
no entries from a document with a feed's root element (quiet feed, entries
without identity, or a recovered ill-formed feed, which then carries a warning).
Every non-feed ends with a ValueError that names it.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import feedparser
import pytest

from digest.models import ParsedDocument
from digest.sources import parse_document, sniff_kind
from tests.test_sources_sniff import NON_FEEDS

pytestmark = [pytest.mark.shared, pytest.mark.slow]

REASONS = ("empty document", "not a feed: ", "not JSON: ", "feedparser failed: ")
# How the 2,107 files end with feedparser 6.0.14 (a new feedparser may move them:
# re-derive from the Counter this test prints, and say why in CHANGELOG.md).
SPLIT = {
    "entries": 558,
    "only entries without identity": 637,  # the pipeline reports these as "no usable entries"
    "recovered, empty": 258,  # ill-formed (mostly undeclared entities), with a warning
    "well-formed, empty": 653,
    "error": 1,
}


@dataclass
class Outcome:
    path: str
    kind: str
    doc: ParsedDocument | None = None
    error: str = ""
    crash: str = ""


@pytest.fixture(scope="module")
def outcomes(feedparser_corpus: Path) -> list[Outcome]:
    results = []
    for path in sorted(feedparser_corpus.rglob("*")):
        if not path.is_file() or path.name == "LICENSE":
            continue
        results.append(_outcome(str(path.relative_to(feedparser_corpus)), path.read_bytes()))
    return results


def _outcome(name: str, data: bytes) -> Outcome:
    kind = sniff_kind(data)
    try:
        return Outcome(name, kind, doc=parse_document(kind, data))
    except ValueError as exc:
        return Outcome(name, kind, error=str(exc))
    except Exception as exc:  # any other exception is the failure under test
        return Outcome(name, kind, crash=f"{type(exc).__name__}: {exc}")


def _bozo(corpus: Path, name: str) -> bool:
    fp = feedparser.parse(io.BytesIO((corpus / name).read_bytes()))
    return bool(fp.get("bozo"))


def test_corpus_is_complete(outcomes: list[Outcome]) -> None:
    assert len(outcomes) >= 2100
    tops = Counter(o.path.split("/")[0] for o in outcomes)
    assert set(tops) == {"encoding", "entities", "illformed", "json", "wellformed"}
    assert sum(o.path.startswith("wellformed/sanitize/") for o in outcomes) >= 745


def test_nothing_but_value_error_escapes(outcomes: list[Outcome]) -> None:
    crashes = [(o.path, o.crash) for o in outcomes if o.crash]
    assert crashes == []


def test_every_error_names_its_reason(outcomes: list[Outcome]) -> None:
    errors = [o for o in outcomes if o.error]
    assert all(o.error.startswith(REASONS) and len(o.error) > 15 for o in errors), errors
    # Only the empty document of the illformed set is no feed at all.
    assert [o.path for o in errors] == ["illformed/rss_empty_document.xml"]
    assert errors[0].error.startswith("not a feed: SAXParseException")


def test_tri_state(outcomes: list[Outcome], feedparser_corpus: Path) -> None:
    counts: Counter[str] = Counter()
    unexplained = []
    for o in outcomes:
        if o.error or o.crash:
            counts["error"] += 1
            continue
        assert o.doc is not None
        if o.doc.entries:
            counts["entries"] += 1
        elif o.doc.skipped:
            counts["only entries without identity"] += 1
        elif o.doc.warnings:
            counts["recovered, empty"] += 1
            assert _bozo(feedparser_corpus, o.path)
        else:
            counts["well-formed, empty"] += 1
            if _bozo(feedparser_corpus, o.path):
                unexplained.append(o.path)
    assert unexplained == []  # an empty result from a broken feed must say why
    assert dict(counts) == SPLIT, counts
    assert sum(counts.values()) == len(outcomes) == 2107


def test_non_feeds_written_next_to_the_corpus_are_errors(tmp_path: Path) -> None:
    for name, (data, _) in NON_FEEDS.items():
        (tmp_path / name).write_bytes(data)
    outcomes = [_outcome(p.name, p.read_bytes()) for p in sorted(tmp_path.iterdir())]
    assert len(outcomes) == len(NON_FEEDS) >= 20
    assert [o.crash for o in outcomes if o.crash] == []
    assert [o.path for o in outcomes if o.doc is not None] == []  # none became a document
    for o in outcomes:
        assert re.search(NON_FEEDS[o.path][1], f"{o.kind}: {o.error}"), (o.path, o.error)


def test_bozo_feeds_with_entries_carry_a_warning(
    outcomes: list[Outcome], feedparser_corpus: Path
) -> None:
    # json/ is left out: feedparser 6 cannot read JSON Feed, which parse_feed reads itself.
    with_entries = [o for o in outcomes if o.doc and o.doc.entries and o.path.endswith(".xml")]
    bozo = [o for o in with_entries if _bozo(feedparser_corpus, o.path)]
    assert len(bozo) >= 10
    for o in bozo:
        assert o.doc is not None
        assert any(w.startswith("feed is not well-formed: ") for w in o.doc.warnings), o.path


def test_entries_are_clean_text(outcomes: list[Outcome]) -> None:
    script = re.compile(r"<\s*script|javascript:|onerror=|onclick=", re.I)
    entries = [(o.path, e) for o in outcomes if o.doc for e in o.doc.entries]
    assert len(entries) >= 250
    for path, e in entries:
        assert e.title or e.link or e.guid or e.summary, path
        for text in (e.title, e.summary, *e.authors, *e.categories):
            assert type(text) is str, path
            assert text == text.strip(), path
            assert "\n" not in text, path
        if path.startswith("wellformed/sanitize/"):
            assert not script.search(e.summary), (path, e.summary)
        assert e.link == "" or e.link.lower().startswith(("http://", "https://")), path


def test_json_feed_example(outcomes: list[Outcome]) -> None:
    (o,) = [o for o in outcomes if o.path.startswith("json/")]
    assert o.doc is not None
    assert o.doc.feed_title == "My Example Feed"
    assert [e.guid for e in o.doc.entries] == ["2", "1"]
    assert o.doc.entries[0].categories == ("test", "JSON")
    assert o.doc.entries[1].summary == "Hello, world!"  # <script> dropped
    assert o.doc.entries[1].authors == ("you",)


def test_encodings_decode(outcomes: list[Outcome]) -> None:
    # The UTF-16/32 files, with and without BOM, must sniff and parse as feeds.
    encoded = [o for o in outcomes if o.path.startswith("encoding/")]
    assert len(encoded) >= 80
    assert all(o.doc is not None for o in encoded), [o.path for o in encoded if o.error]
