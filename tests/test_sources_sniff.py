"""Sniffing, and what is not a source document: each gets an error that names it.

NON_FEEDS are the files a misconfigured or failing source really serves (error
pages, rate-limit notes, server files, other XML and JSON formats). Whatever
kind they are read as, none becomes an entry; test_corpus_feedparser.py runs
them with the feedparser corpus too.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.models import SOURCE_KINDS
from digest.sources import describe, parse_document, sniff_kind
from digest.sources.listing import parse_listing
from digest.sources.sniff import root_element

SAMPLES = Path(__file__).resolve().parent.parent / "config" / "samples"
ABSTRACT = "We study a problem at length, and then we study it again. " * 6
NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
# One long minified line: shaped like a title and an abstract, if markup could be one.
MINIFIED = (
    "<!DOCTYPE html>\n<!-- served by a CDN -->\n<html lang=en><head><meta charset=utf-8>"
    "<title>Too Many  Requests &amp; more</title><style>"
    + "body{font:14px sans-serif}" * 20
    + "</style></head><body>slow down</body></html>\n"
)
OPML = (
    '<?xml version="1.0"?>\n<opml version="2.0"><head><title>My feeds</title></head><body>'
    '<outline text="arXiv" type="rss" xmlUrl="https://rss.arxiv.org/rss/cs.LG"/></body></opml>'
)
KML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">'
    "<Document><name>Labs</name><Placemark><name>Lab</name><Point>"
    "<coordinates>8.5,47.3</coordinates></Point></Placemark></Document></kml>"
)
OPENSEARCH = (
    '<?xml version="1.0"?>\n<OpenSearchDescription xmlns="http://a9.com/-/spec/opensearch/1.1/">'
    '<ShortName>arXiv</ShortName><Description>Search</Description><Url type="text/html"'
    ' template="https://arxiv.org/a?q={searchTerms}"/></OpenSearchDescription>'
)
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><title>logo</title>'
    '<rect width="8" height="8"/></svg>'
)
XHTML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 '
    'Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Maintenance</title></head>'
    "<body><p>Back soon.</p></body></html>"
)
FOAF = (
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
    ' xmlns:foaf="http://xmlns.com/foaf/0.1/"><foaf:Person><foaf:name>Ada</foaf:name>'
    "</foaf:Person></rdf:RDF>"
)
SITEMAP = (
    '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "<url><loc>https://example.org/</loc></url></urlset>"
)
S3_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Access Denied</Message></Error>"
)
HTACCESS = (
    "# Rewrite everything to the app\nRewriteEngine On\n"
    "RewriteCond %{REQUEST_FILENAME} !-f\nRewriteRule ^ index.php [QSA,L]\n"
)
# name -> (bytes, the error when sniffed: a regex)
NON_FEEDS: dict[str, tuple[bytes, str]] = {
    "502.html": (NGINX_502.encode(), r"^feed: an HTML page titled '502 Bad Gateway', not a feed$"),
    "429.html": (MINIFIED.encode(), r"^feed: an HTML page titled 'Too Many Requests & more'"),
    "utf16.html": (NGINX_502.encode("utf-16"), r"an HTML page titled '502 Bad Gateway'"),
    "rate-limit.txt": (b"Rate limit exceeded\n", r"^listing: plain text with no listing structure"),
    "retry.txt": (
        b"Rate limit exceeded.\r\nRetry after 60 seconds.\r\nRequest id: 9f2c\r\n",
        r"^listing: plain text with no listing structure, starting 'Rate limit exceeded.'$",
    ),
    ".htaccess": (HTACCESS.encode(), r"plain text with no listing structure, starting '# Rewrite"),
    "robots.txt": (b"User-agent: *\nDisallow: /private/\n", r"plain text with no listing"),
    "error.json": (
        json.dumps({"error": "rate limited", "status": 429}).encode(),
        r"^feed: a JSON object with error 'rate limited', not a feed$",
    ),
    "search.json": (
        json.dumps({"total_count": 0, "items": []}).encode(),
        r"^feed: a JSON object, not a feed$",
    ),
    "subscriptions.opml": (OPML.encode(), r"^feed: OPML, not a feed$"),
    "labs.kml": (KML.encode(), r"^feed: KML, not a feed$"),
    "opensearch.xml": (OPENSEARCH.encode(), r"^feed: an OpenSearch description, not a feed$"),
    "logo.svg": (SVG.encode(), r"^feed: SVG, not a feed$"),
    "maintenance.xhtml": (XHTML.encode(), r"^feed: an HTML page titled 'Maintenance', not a feed$"),
    "sitemap.xml": (SITEMAP.encode(), r"^feed: a sitemap, not a feed$"),
    "s3-error.xml": (S3_ERROR.encode(), r"^feed: XML with the root element <Error>, not a feed$"),
    "person.rdf": (FOAF.encode(), r"^feed: RDF without an RSS channel or items, not a feed$"),
    "empty.txt": (b"", r"^listing: empty document$"),
    "blank.txt": (b" \r\n\n\t\n", r"^listing: empty document$"),
    "logo.png": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        r"^listing: binary data, not a text listing",
    ),
    "page.gz": (gzip.compress(NGINX_502.encode() * 20, mtime=0), r"^listing: binary data"),
}


def _error(kind: str, data: bytes) -> str:
    """The error a source of `kind` reports, as the pipeline words it."""
    try:
        doc = parse_document(kind, data, reference_date=date(2025, 11, 20))  # type: ignore[arg-type]
    except ValueError as exc:
        return f"{kind}: {exc}"
    pytest.fail(f"read as {kind}: {len(doc.entries)} entries, warnings {doc.warnings}")


@pytest.mark.parametrize("name", sorted(NON_FEEDS))
def test_a_sniffed_non_feed_is_an_error_that_names_it(name: str) -> None:
    data, expected = NON_FEEDS[name]
    message = _error(sniff_kind(data), data)
    assert re.search(expected, message), message
    assert "\n" not in message
    assert "\r" not in message


@pytest.mark.parametrize("name", sorted(NON_FEEDS))
@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_no_non_feed_becomes_an_entry_whatever_its_configured_kind(name: str, kind: str) -> None:
    message = _error(kind, NON_FEEDS[name][0])
    assert len(message) > len(kind) + 12, message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"<?xml version='1.0'?><rss/>", "feed"),
        (b"\xef\xbb\xbf  \n<feed/>", "feed"),
        ("<rss/>".encode("utf-16"), "feed"),
        (b'{"version": "https://jsonfeed.org/version/1", "title": "x"}', "feed"),
        (b'{"items": []}', "feed"),
        (b'{"error": "rate limited"}', "feed"),  # the feed parser names it
        (b'  [{"paper": {"id": "2511.04217"}}]', "hf"),
        (b"[]", "hf"),
        (b"[not json", "listing"),  # may be a title; the listing parser decides
        (b"new\n\nGet trending papers in your email inbox!\n", "listing"),
        (b"Rate limit exceeded", "listing"),
        (b"", "listing"),
    ],
)
def test_sniff_kind(data: bytes, kind: str) -> None:
    assert sniff_kind(data) == kind


def test_samples_sniff_and_parse() -> None:
    expected = {
        "arxiv-cs-lg.rss": ("feed", 8),
        "arxiv-api.atom": ("feed", 5),
        "hf-daily-papers.json": ("hf", 6),
        "listing.txt": ("listing", 7),
        "lab-blog.json": ("feed", 2),
    }
    assert sorted(p.name for p in SAMPLES.iterdir()) == sorted(expected)
    for name, (kind, count) in expected.items():
        data = (SAMPLES / name).read_bytes()
        assert sniff_kind(data) == kind, name
        doc = parse_document(kind, data, reference_date=date(2025, 11, 20))
        assert len(doc.entries) == count, name
        assert all(e.title for e in doc.entries)


def test_parse_document_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown source kind"):
        parse_document("pdf", b"x")  # type: ignore[arg-type]


# --- real documents without entries stay quiet, valid documents ---------------------


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title>'
        b"<link>https://example.org/</link><description>d</description></channel></rss>",
        b"<rss version='2.0'><channel></channel></rss>",
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>Quiet</title></feed>',
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        b' xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>Quiet</title>'
        b"</channel></rdf:RDF>",
        b'<CHANNEL HREF="https://example.org/"><TITLE>Quiet</TITLE></CHANNEL>',  # CDF
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "Quiet", "items": []}',
        b'{"version": "https://jsonfeed.org/version/1", "title": "Quiet"}',
    ],
)
def test_a_real_feed_without_entries_is_valid_and_empty(data: bytes) -> None:
    assert sniff_kind(data) == "feed"
    doc = parse_document("feed", data)
    assert (doc.entries, doc.skipped) == ((), 0)


@pytest.mark.parametrize(
    "version", ["https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1"]
)
def test_json_feed_objects_are_read(version: str) -> None:
    feed = {"version": version, "items": [{"id": "1", "title": "A note", "url": "https://e.org/1"}]}
    data = json.dumps(feed).encode()
    assert sniff_kind(data) == "feed"
    assert [e.title for e in parse_document("feed", data).entries] == ["A note"]


@pytest.mark.parametrize(
    "junk",
    [
        "Warning: Undefined variable $x in /var/www/feed.php on line 3\n",
        "<br />\n<b>Warning</b>:  Undefined variable $x in <b>feed.php</b><br />\n",
    ],
)
def test_a_feed_behind_a_php_warning_is_still_read_with_a_warning(junk: str) -> None:
    rss = "<?xml version='1.0'?><rss version='2.0'><channel><title>Lab</title>"
    data = f"{junk}{rss}<item><title>A note</title></item></channel></rss>".encode()
    assert sniff_kind(data) == "feed"
    doc = parse_document("feed", data)
    assert [e.title for e in doc.entries] == ["A note"]
    assert doc.warnings[0].startswith("feed is not well-formed: ")


def test_headerless_text_with_listing_blocks_is_a_listing() -> None:
    text = "\n".join(
        [
            *("Video Diffusion Models", ABSTRACT),
            *("Layer Normalization", "A short abstract.", "·", "Jan 6 2"),
            *("Lonely Title", "Next Paper", ABSTRACT),
        ]
    )
    doc = parse_listing(text.encode(), reference_date=date(2025, 1, 10))
    assert [e.title for e in doc.entries] == [
        "Video Diffusion Models",
        "Layer Normalization",
        "Lonely Title",
        "Next Paper",
    ]
    assert doc.entries[1].published == datetime(2025, 1, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "Title one\nshort line\nTitle two\nanother short line\n",  # no abstracts, no metadata
        "Mar 11\nRate limit exceeded\n",  # a date first is no header
        "new\nRate limit exceeded\n",  # nor is a lone "new"
        f"<p>\n{ABSTRACT}\n",  # markup, however its lines are shaped
        f'{{"title": "{ABSTRACT}"}}\n',
    ],
)
def test_text_without_listing_structure_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match=r"no listing structure|not a listing"):
        parse_listing(text)


@pytest.mark.shared
def test_real_dumps_without_their_header_are_still_listings(listings_dir: Path) -> None:
    for path in sorted(listings_dir.glob("*.txt")):
        whole = parse_listing(path.read_bytes())
        text = path.read_text(encoding="utf-8")
        body = text[text.index(whole.entries[0].title) :]  # the header, page date and glue cut
        cut = parse_listing(body)
        assert cut.entries[1:] == whole.entries[1:], path.name
        assert cut.entries[0].title == whole.entries[0].title


# --- naming what bytes are -----------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", "an empty document"),
        (b"\x00\x01\x02\x03" * 64, "binary data"),
        (b"<html><title>\n  Bad &amp;\tGateway </title>", "an HTML page titled 'Bad & Gateway'"),
        (b"<h1>Service Unavailable</h1>", "an HTML page"),
        (
            b"<title>" + b"x" * 300 + b"</title>",
            "an HTML page titled '" + "x" * 79 + "…'",
        ),
        (b"<?xml version='1.0'?><kml:kml xmlns:kml='k'/>", "KML"),
        (b"<rss/>", "a feed (<rss>)"),
        (b'{"message": "Not Found"}', "a JSON object with message 'Not Found'"),
        (b"[1]", "a JSON list"),
        (b"[1", "plain text"),
        (b"hello", "plain text"),
    ],
)
def test_describe(data: bytes, name: str) -> None:
    assert describe(data) == name


def test_a_title_with_control_characters_stays_inert() -> None:
    name = describe(b"<html><title>Evil\x1b[31m\r\nBcc: x@y</title></html>")
    assert "\x1b" not in name
    assert "\n" not in name
    assert "\r" not in name


@pytest.mark.parametrize(
    ("text", "root"),
    [
        ("<?xml version='1.0'?>\n<!-- c -->\n<?pi x?>\n<rss version='2.0'>", "rss"),
        ('<!DOCTYPE rss [<!ENTITY x "<y>">]><rss>', "rss"),
        ("<!DOCTYPE html><html>", "html"),
        ("  \n<rdf:RDF>", "rdf:RDF"),
        ("text first <rss>", None),
        ("<!-- never closed <rss>", None),
        ("<<<>>>", None),
        ("", None),
    ],
)
def test_root_element(text: str, root: str | None) -> None:
    assert root_element(text) == root


@pytest.mark.timeout(10)  # each construct is skipped once: no backtracking, no rescans
@pytest.mark.parametrize("unit", ["<!---->", "<?a?>", "<!x>", "<!DOCTYPE [", "<!-- "])
def test_hostile_prologs_are_named_in_linear_time(unit: str) -> None:
    data = (unit * 200_000 + "<x>").encode()
    assert describe(data) in ("XML with the root element <x>", "plain text")
    with pytest.raises(ValueError, match="not a feed"):
        parse_document("feed", data)


# --- the error reaches the store and `status` ----------------------------------------


def test_a_non_feed_source_fails_in_status_and_stores_nothing(tmp_path: Path) -> None:
    pages = {"gateway.html": NGINX_502, "limit.txt": "Rate limit exceeded\n", "subs.opml": OPML}
    served = tmp_path / "served"
    served.mkdir()
    for name, text in pages.items():
        (served / name).write_text(text, encoding="utf-8")
    # Configured sources (`status` lists those; a path given to `ingest` is read once).
    listed = "".join(f"  - name: {n}\n    path: served/{n}\n" for n in pages)
    (tmp_path / "digest.yaml").write_text(f"store: sqlite:///d.db\nsources:\n{listed}")
    db = ["--config", str(tmp_path / "digest.yaml")]
    runner = CliRunner()
    now = ["--now", "2026-11-23T07:00:00+00:00"]
    for _ in range(2):
        ingest = runner.invoke(cli, [*db, "ingest", "--json", *now])
        report = json.loads(ingest.stdout)
        assert report["entries"] == 0
        assert report["errors"] == 3
    status = runner.invoke(cli, [*db, "status", "--json"])
    sources = {Path(s["name"]).name: s for s in json.loads(status.stdout)["sources"]}
    assert sorted(sources) == sorted(pages)
    assert all(s["state"] == "failing" and s["consecutive_failures"] == 2 for s in sources.values())
    assert "an HTML page titled '502 Bad Gateway'" in sources["gateway.html"]["last_error"]
    assert "plain text with no listing structure" in sources["limit.txt"]["last_error"]
    assert sources["subs.opml"]["last_error"] == "feed: OPML, not a feed"
    items = runner.invoke(cli, [*db, "items", "--json"])
    assert json.loads(items.stdout) == []
