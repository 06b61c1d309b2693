"""parse_feed on the shipped samples and small inline documents (sniffing: test_sources_sniff)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.identity import normalize_title
from digest.models import Entry, ParsedDocument
from digest.sources import parse_document
from digest.sources.feed import parse_feed

SAMPLES = Path(__file__).resolve().parent.parent / "config" / "samples"
WRAPPED_OR_PADDED = ("\n", "\t", "  ")


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _rss(items: str, channel: str = "<title>t</title>") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:arxiv="http://arxiv.org/schemas/atom"><channel>'
        f"{channel}{items}</channel></rss>"
    ).encode()


def _atom(entries: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"'
        ' xmlns:arxiv="http://arxiv.org/schemas/atom"><title>a</title>'
        f"{entries}</feed>"
    ).encode()


def _one(data: bytes, **kw: str) -> Entry:
    doc = parse_feed(data, **kw)
    assert len(doc.entries) == 1, doc
    return doc.entries[0]


def _plain(entry: Entry) -> None:
    """Only plain Python values: no feedparser dict or struct_time leaks out."""
    for f in dataclasses.fields(entry):
        value = getattr(entry, f.name)
        if isinstance(value, tuple):
            assert all(type(v) is str for v in value), (f.name, value)
        else:
            assert value is None or type(value) in (str, int, datetime, date), (f.name, value)


# --- arXiv RSS sample -------------------------------------------------------


@pytest.fixture(scope="module")
def rss() -> ParsedDocument:
    return parse_feed(_sample("arxiv-cs-lg.rss"))


def _by_id(doc: ParsedDocument, arxiv_id: str) -> Entry:
    (hit,) = [e for e in doc.entries if e.arxiv_id == arxiv_id]
    return hit


def test_rss_sample_entries_and_announce_types(rss: ParsedDocument) -> None:
    assert rss.feed_title == "cs.LG updates on arXiv.org"
    assert rss.skipped == 0
    assert rss.warnings == ()
    assert len(rss.entries) == 8
    assert {e.announce_type for e in rss.entries} == {"new", "cross", "replace", "replace-cross"}
    assert len({e.arxiv_id for e in rss.entries}) == 8
    for e in rss.entries:
        _plain(e)
        assert e.arxiv_id.startswith("2511.")
        assert e.version is not None
        assert e.published == datetime(2025, 11, 20, 5, 0, tzinfo=UTC)  # 00:00 -0500
        assert e.link == f"https://arxiv.org/abs/{e.arxiv_id}"
        assert e.pdf_url == f"https://arxiv.org/pdf/{e.arxiv_id}"
        assert e.guid == f"oai:arXiv.org:{e.arxiv_id}v{e.version}"


def test_rss_summary_is_the_abstract_alone(rss: ParsedDocument) -> None:
    for e in rss.entries:
        assert not e.summary.startswith(("arXiv:", "Abstract")), e.summary[:40]
        assert "Announce Type" not in e.summary
        assert not any(w in e.summary for w in WRAPPED_OR_PADDED)
    first = _by_id(rss, "2511.04217")
    assert first.summary.startswith("The critical batch size marks the point")
    assert first.summary.endswith("rather than to parameter count.")


def test_rss_replace_items_keep_version_and_doi(rss: ParsedDocument) -> None:
    replaced = _by_id(rss, "2511.02291")
    assert (replaced.announce_type, replaced.version) == ("replace", 2)
    assert replaced.doi == "10.5555/swa.2025.0117"
    cross = _by_id(rss, "2511.01873")
    assert (cross.announce_type, cross.version) == ("replace-cross", 3)
    assert cross.categories == ("cs.RO", "cs.LG")


def test_rss_creators_are_split_and_accents_kept(rss: ParsedDocument) -> None:
    assert _by_id(rss, "2511.05402").authors == (
        "Nadia Haddad",
        "Oskar Nilsson",
        "Thandiwe Mokoena",
        "Luis Ortega",
        "Grace Park",
    )
    assert _by_id(rss, "2511.05377").authors[0] == "José Ñúñez-García"
    # "... Ravi Shankar and Elif Demir": the last two names are split on "and".
    assert _by_id(rss, "2511.05140").authors == (
        "Léa Moreau",
        "Jonas Ekström",
        "Ravi Shankar",
        "Elif Demir",
    )


def test_rss_title_with_markup_characters_is_text(rss: ParsedDocument) -> None:
    e = _by_id(rss, "2511.05140")
    assert e.title == (
        'When Does "Bigger Batch" Beat More Steps? Token Budgets < 1T & the Critical Regime'
    )
    assert "D < 10^12" in e.summary
    assert '"free" & where' in e.summary


# --- arXiv API sample --------------------------------------------------------


@pytest.fixture(scope="module")
def api() -> ParsedDocument:
    return parse_feed(_sample("arxiv-api.atom"))


def test_api_sample_fields(api: ParsedDocument) -> None:
    assert len(api.entries) == 5
    assert api.skipped == 0
    assert api.warnings == ()
    for e in api.entries:
        _plain(e)
        assert not any(w in e.title + e.summary for w in WRAPPED_OR_PADDED), e.title
        assert e.pdf_url == f"https://arxiv.org/pdf/{e.arxiv_id}v{e.version}"
        assert e.link == f"https://arxiv.org/abs/{e.arxiv_id}v{e.version}"
        assert e.announce_type == ""
    wrapped = _by_id(api, "2511.03105")
    assert wrapped.title == (
        "Adaptive Gradient Clipping Stabilizes Large-Batch Training of Vision Transformers"
    )
    assert wrapped.authors == ("Ines Duarte", "Björn Halvorsen")
    assert wrapped.published == datetime(2025, 11, 5, 9, 2, 17, tzinfo=UTC)
    assert _by_id(api, "2511.04954").doi == "10.5555/csel.2026.0042"
    assert _by_id(api, "2511.00642").version == 2


def test_api_and_rss_samples_share_a_paper_at_different_versions(
    api: ParsedDocument, rss: ParsedDocument
) -> None:
    in_api, in_rss = _by_id(api, "2511.02291"), _by_id(rss, "2511.02291")
    assert (in_api.version, in_rss.version) == (3, 2)
    assert in_api.title == in_rss.title
    assert in_api.doi == in_rss.doi


def test_samples_overlap_by_id_and_title() -> None:
    hf = parse_document("hf", _sample("hf-daily-papers.json"))
    rss = parse_feed(_sample("arxiv-cs-lg.rss"))
    api = parse_feed(_sample("arxiv-api.atom"))
    hf_ids = {e.arxiv_id for e in hf.entries}
    assert hf_ids & {e.arxiv_id for e in rss.entries}
    assert hf_ids & {e.arxiv_id for e in api.entries}
    listing = (SAMPLES / "listing.txt").read_text(encoding="utf-8").splitlines()
    known = {normalize_title(e.title) for e in (*hf.entries, *rss.entries, *api.entries)}
    assert len(known & {normalize_title(line) for line in listing if line.strip()}) >= 4
    assert "arXiv" not in "\n".join(listing)
    assert "2511." not in "\n".join(listing)


# --- arXiv API quirks (inline) ------------------------------------------------

API_ERROR = _atom(
    "<entry><id>https://arxiv.org/api/errors#incorrect_id_format_for_xyz</id>"
    "<title>Error</title><summary>incorrect id format for xyz</summary>"
    '<link href="https://arxiv.org/api/errors#incorrect_id_format_for_xyz" rel="alternate"/>'
    "<author><name>arXiv api core</name></author></entry>"
)


def test_api_error_entry_is_a_warning_not_a_paper() -> None:
    doc = parse_feed(API_ERROR)
    assert doc.entries == ()
    assert doc.skipped == 0
    assert doc.warnings == ("arXiv API error: incorrect id format for xyz",)


@pytest.mark.parametrize(
    ("atom_id", "arxiv_id", "version"),
    [
        ("http://arxiv.org/abs/hep-th/9901001v2", "hep-th/9901001", 2),
        ("http://arxiv.org/abs/math.GT/0309136v1", "math/0309136", 1),  # class dropped
        ("http://arxiv.org/abs/0704.0001v12", "0704.0001", 12),
        ("http://arxiv.org/abs/2406.19956", "2406.19956", None),
    ],
)
def test_api_ids_old_and_new_style(atom_id: str, arxiv_id: str, version: int | None) -> None:
    e = _one(_atom(f"<entry><id>{atom_id}</id><title>T</title></entry>"))
    assert (e.arxiv_id, e.version) == (arxiv_id, version)


# --- generic feeds -------------------------------------------------------------


@pytest.mark.parametrize(
    ("creator", "names"),
    [
        ("Alice Smith, Bob Jones, Carol Wu", ("Alice Smith", "Bob Jones", "Carol Wu")),
        ("Alice Smith, Bob Jones, and Carol Wu", ("Alice Smith", "Bob Jones", "Carol Wu")),
        ("Alice Smith and Bob Jones", ("Alice Smith", "Bob Jones")),
        ("Alexander Sandrason", ("Alexander Sandrason",)),
        ("Department of Physics and Astronomy", ("Department of Physics and Astronomy",)),
        ("Smith, John", ("Smith, John",)),
        ("Martin Luther King, Jr., Ann Lee", ("Martin Luther King, Jr.", "Ann Lee")),
        ("A Smith (MIT, CSAIL), B Jones", ("A Smith (MIT, CSAIL)", "B Jones")),
        ("Prabhat, Alice Smith", ("Prabhat", "Alice Smith")),
        ("Ann  Lee,\n  Bo Chen, Ann Lee", ("Ann Lee", "Bo Chen")),
    ],
)
def test_creator_strings_are_split_into_names(creator: str, names: tuple[str, ...]) -> None:
    item = f"<item><title>T</title><dc:creator>{creator}</dc:creator></item>"
    assert _one(_rss(item)).authors == names


def test_html_description_becomes_plain_text() -> None:
    desc = (
        "&lt;p&gt;Light &amp;amp; &lt;b&gt;matter&lt;/b&gt;,&lt;br/&gt;H&lt;sub&gt;2&lt;/sub&gt;O"
        "&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;p&gt;n &amp;lt; m&lt;/p&gt;"
    )
    e = _one(_rss(f"<item><title>T</title><description>{desc}</description></item>"))
    assert e.summary == "Light & matter, H2O n < m"


def test_plain_text_atom_summary_keeps_angle_brackets() -> None:
    e = _one(_atom("<entry><id>x:1</id><title>T</title><summary>a &lt;b&gt; c</summary></entry>"))
    assert e.summary == "a <b> c"
    html_title = _one(
        _atom('<entry><id>x:2</id><title type="html">A &lt;i&gt;B&lt;/i&gt;</title></entry>')
    )
    assert html_title.title == "A B"


def test_generic_item_fields() -> None:
    item = (
        "<item><title>  A\n   wrapped   title </title>"
        "<link>https://example.org/p/1</link><guid>urn:x:1</guid>"
        "<category>ml</category><category> ml </category><category>opt</category>"
        "<pubDate>Tue, 02 Jan 2024 10:00:00 +0200</pubDate>"
        "<dc:identifier>doi:10.1234/ABC.5</dc:identifier>"
        '<enclosure url="https://example.org/p/1.pdf" type="application/pdf" length="1"/>'
        "</item>"
    )
    e = _one(_rss(item))
    _plain(e)
    assert e.title == "A wrapped title"
    assert (e.link, e.guid, e.arxiv_id, e.version) == (
        "https://example.org/p/1",
        "urn:x:1",
        "",
        None,
    )
    assert e.pdf_url == "https://example.org/p/1.pdf"
    assert e.categories == ("ml", "opt")
    assert e.published == datetime(2024, 1, 2, 8, 0, tzinfo=UTC)
    assert e.doi == "10.1234/abc.5"


def test_arxiv_id_and_doi_from_links() -> None:
    entry = (
        "<entry><id>tag:blog,2024:1</id><title>Post</title><updated>2024-03-01T12:00:00Z</updated>"
        '<link rel="alternate" href="https://arxiv.org/abs/2401.01234v4"/>'
        '<link rel="related" title="doi" href="https://doi.org/10.1145/3600006.3613155"/></entry>'
    )
    e = _one(_atom(entry))
    assert (e.arxiv_id, e.version) == ("2401.01234", 4)
    assert e.doi == "10.1145/3600006.3613155"
    assert e.published == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # from <updated>


def test_relative_links_resolve_against_the_url_or_are_dropped() -> None:
    data = _rss("<item><title>T</title><link>/p/7</link></item>")
    assert _one(data).link == ""
    assert _one(data, url="https://example.org/feed.xml").link == "https://example.org/p/7"


def test_entries_without_identity_are_counted() -> None:
    items = (
        "<item><category>nothing to show</category></item>"
        "<item><description>only text</description></item><item><title>Kept</title></item>"
    )
    doc = parse_feed(_rss(items))
    # Text alone is enough to show (and key) an entry; a bare category is not.
    assert [(e.title, e.summary) for e in doc.entries] == [("", "only text"), ("Kept", "")]
    assert doc.skipped == 1


@pytest.mark.parametrize(
    "desc",
    ["&lt;script&gt;" * 20000, "&lt;!--" * 20000, "&lt;style x&gt;" * 20000, "&lt;script" * 20000],
)
@pytest.mark.timeout(30)  # a guard against catastrophic backtracking (it took minutes)
def test_hostile_markup_is_stripped_in_linear_time(desc: str) -> None:
    e = _one(_rss(f"<item><title>T</title><description>{desc}</description></item>"))
    assert "script>" not in e.summary
    assert "<!--" not in e.summary


@pytest.mark.timeout(30)  # exponential backtracking would never finish
def test_many_comments_before_a_non_feed_do_not_backtrack() -> None:
    with pytest.raises(ValueError, match="not a feed"):
        parse_feed(b"<!---->" * 40 + b"<x>")


# --- documents that are not feeds, or broken ones ----------------------------------


@pytest.mark.parametrize("data", [b"", b"   \n\t ", b"\xef\xbb\xbf \n", b"\x00\x00"])
def test_empty_documents(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"^empty document$"):
        parse_feed(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello world, this is not XML", "^plain text, not a feed$"),
        (b"<<<>>>", "not a feed: SAXParseException"),
        (b"<html><head><title>503</title></head><body></body></html>", "HTML page titled '503'"),
        (b'<?xml version="1.0"?><note><to>x</to></note>', "root element <note>, not a feed"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "^binary data, not a feed$"),
        (b"{not json", "not JSON"),
        (b'{"title": "no items"}', "^a JSON object, not a feed$"),
        (b'{"items": []}', "^a JSON object, not a feed$"),  # no JSON Feed version
        (b"[1, 2]", "^a JSON list, not a feed$"),
    ],
)
def test_garbage_raises_value_error_with_reason(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_feed(data)


def test_bytes_are_never_read_as_a_file_name(tmp_path: Path) -> None:
    # feedparser.parse(b"/some/path") would open that file; parse_feed must not.
    path = tmp_path / "feed.xml"
    path.write_bytes(_sample("arxiv-cs-lg.rss"))
    with pytest.raises(ValueError, match="not a feed"):
        parse_feed(str(path).encode())


def test_well_formed_feed_without_entries_is_quiet() -> None:
    doc = parse_feed(_rss("", "<title>Quiet  feed</title>"))
    assert doc == ParsedDocument(entries=(), skipped=0, warnings=(), feed_title="Quiet feed")


def test_ill_formed_feed_with_entries_returns_them_with_a_warning() -> None:
    data = _rss("<item><title>One</title></item><item><title>Two &bogus; </title></item>")
    data = data.replace(b"</channel></rss>", b"")  # truncated download
    doc = parse_feed(data)
    assert [e.title for e in doc.entries][:1] == ["One"]
    assert len(doc.warnings) == 1
    assert doc.warnings[0].startswith("feed is not well-formed: ")


# --- JSON Feed (feedparser 6 does not read it) -----------------------------------------


def test_json_feed() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Lab  notes",
        "items": [
            {
                "id": 7,
                "url": "https://example.org/n/7",
                "title": "Batch size note",
                "content_html": "<p>See <a href='https://arxiv.org/abs/2511.04217v1'>it</a></p>",
                "date_published": "2025-11-20T08:00:00+01:00",
                "authors": [{"name": "Ann Lee, Bo Chen"}],
                "tags": ["ml", "ml", 3],
            },
            {"tags": ["nothing to show"]},
            "not an object",
        ],
    }
    doc = parse_feed(json.dumps(feed).encode())
    assert doc.feed_title == "Lab notes"
    assert doc.skipped == 2
    (e,) = doc.entries
    _plain(e)
    assert (e.guid, e.title, e.summary) == ("7", "Batch size note", "See it")
    assert e.authors == ("Ann Lee", "Bo Chen")
    assert e.categories == ("ml",)
    assert e.published == datetime(2025, 11, 20, 7, 0, tzinfo=UTC)
