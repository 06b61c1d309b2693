"""Big feeds are read in pieces; what comes out must not depend on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.sources import feed
from digest.sources.feed import parse_feed
from digest.sources.xmlsplit import item_spans, pieces

RSS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" version="2.0"><channel>'
    "<title>cs.LG updates</title><link>https://rss.arxiv.org/rss/cs.LG</link>"
    "{items}</channel></rss>"
)
RSS_ITEM = (
    "<item><title>Paper {i}: caf\u00e9 &amp; bits</title>"
    "<link>https://arxiv.org/abs/2411.{i:05d}</link>"
    "<description>arXiv:2411.{i:05d}v1 Announce Type: new \nAbstract: Text {i}.</description>"
    '<guid isPermaLink="false">oai:arXiv.org:2411.{i:05d}v1</guid>'
    "<category>cs.LG</category><arxiv:announce_type>new</arxiv:announce_type>"
    "<dc:creator>Ada Lovelace, Grace Hopper</dc:creator></item>"
)
ATOM = (
    '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
    "<title>API</title><id>urn:x</id>{items}</feed>"
)
ATOM_ENTRY = (
    "<entry><id>http://arxiv.org/abs/2411.{i:05d}v2</id><title>Entry {i}</title>"
    "<summary>About {i}</summary><author><name>A B</name></author></entry>"
)
RDF = (
    '<?xml version="1.0"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>RDF</title>'
    "<items><rdf:Seq><rdf:li rdf:resource='a'/></rdf:Seq></items></channel>"
    "{items}<textinput rdf:about='t'><title>Search</title></textinput></rdf:RDF>"
)
RDF_ITEM = '<item rdf:about="https://example.org/{i}"><title>RDF item {i}</title></item>'


def make(template: str, item: str, n: int) -> bytes:
    return template.format(items="\n".join(item.format(i=i) for i in range(n))).encode()


def whole_and_pieces(data: bytes, monkeypatch: pytest.MonkeyPatch, size: int) -> tuple:
    monkeypatch.setattr(feed, "PIECE", 1 << 40)
    whole = parse_feed(data)
    monkeypatch.setattr(feed, "PIECE", size)
    return whole, parse_feed(data)


@pytest.mark.parametrize(
    ("template", "item"), [(RSS, RSS_ITEM), (ATOM, ATOM_ENTRY), (RDF, RDF_ITEM)]
)
def test_a_feed_read_in_pieces_gives_what_it_gives_whole(
    template: str, item: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make(template, item, 50)
    size = len(data) // 8
    parts = list(pieces(data, size))
    assert 3 < len(parts) < 50  # really cut, several items a piece
    whole, cut = whole_and_pieces(data, monkeypatch, size)
    assert len(whole.entries) == 50
    assert cut == whole


def test_each_piece_is_the_head_some_whole_items_and_the_tail() -> None:
    data = make(RSS, RSS_ITEM, 40)
    spans = item_spans(data)
    assert spans is not None
    assert len(spans) == 40
    assert all(data[a:b].startswith(b"<item>") and data[a:b].endswith(b"</item>") for a, b in spans)
    head, tail = data[: spans[0][0]], data[spans[-1][1] :]
    parts = list(pieces(data, 3000))
    longest_item = max(b - a for a, b in spans)
    for part in parts:
        assert part.startswith(head)
        assert part.endswith(tail)
        assert len(part) <= len(head) + len(tail) + 3000 + longest_item + 1
    assert sum(part.count(b"<item>") for part in parts) == 40


def test_empty_and_nested_items() -> None:
    data = (
        b"<rss><channel><item/><item><title>x</title>"
        b"<item>not an item of the channel</item></item><item /></channel></rss>"
    )
    spans = item_spans(data)
    assert spans is not None
    assert [data[a:b] for a, b in spans] == [
        b"<item/>",
        b"<item><title>x</title><item>not an item of the channel</item></item>",
        b"<item />",
    ]


@pytest.mark.parametrize(
    "data",
    [
        make(RSS, RSS_ITEM, 30).replace(b"&amp;", b"&nbsp;"),  # an entity XML does not define
        make(RSS, RSS_ITEM, 30).replace(b"</item>", b"", 1),  # ill-formed
        make(RSS, RSS_ITEM, 30).decode().encode("utf-16"),
        make(RSS, RSS_ITEM, 30).replace(b'"UTF-8"', b'"x-no-such-encoding"'),
    ],
    ids=["undefined-entity", "ill-formed", "utf-16", "unknown-encoding"],
)
def test_what_expat_cannot_read_stays_whole_for_feedparser(
    data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert item_spans(data) is None
    assert list(pieces(data, 100)) == [data]
    whole, cut = whole_and_pieces(data, monkeypatch, 100)
    assert cut == whole
    assert whole.entries


def test_a_small_feed_is_not_scanned() -> None:
    data = b"<rss><channel><item><title>x" + b"</title></item></channel></rss>"
    assert list(pieces(data, len(data))) == [data]


@pytest.mark.shared
def test_every_corpus_feed_parses_the_same_in_pieces(
    feedparser_corpus: Path, arxiv_api_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cut_count = 0
    for corpus in (feedparser_corpus, arxiv_api_corpus):
        for path in sorted(corpus.rglob("*")):
            data = path.read_bytes() if path.is_file() else b""
            if len(list(pieces(data, 1))) < 2:
                continue
            cut_count += 1
            whole, cut = whole_and_pieces(data, monkeypatch, 1)  # one item a piece
            assert cut == whole, path
    assert cut_count >= 20  # the multi-item feeds expat can read
