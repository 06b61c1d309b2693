"""What bytes are: the source kind to parse them as, and a name for them when
they turn out to be no such document ("an HTML page titled '502 Bad Gateway'").

Sniffing routes by syntax only: markup and JSON objects to the feed parser, a
JSON list to the Daily Papers parser, any other text to the listing parser.
Each parser then checks that the document has its own structure, and names what
it got instead with `describe`; sniffing never raises.
"""

from __future__ import annotations

import codecs
import html
import json
import re
from typing import Any

from digest.models import SourceKind

# Leading bytes that carry no content: whitespace, NULs of UTF-16/32, BOM bytes.
_LEAD_JUNK = b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"
HEAD = 1 << 16  # characters looked at to name a document, as file(1) does
# Root elements of RSS, Atom, RDF (RSS 1.0 and 0.90) and CDF, by local name.
FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
# XML that feeds get mistaken for, by the root's lower-cased local name.
_XML_KINDS = {
    "opml": "OPML",
    "kml": "KML",
    "opensearchdescription": "an OpenSearch description",
    "svg": "SVG",
    "urlset": "a sitemap",
    "sitemapindex": "a sitemap index",
    "gpx": "GPX",
    "plist": "a property list",
    "envelope": "a SOAP envelope",
    "stylesheet": "an XSLT stylesheet",
    "xrds": "an XRDS document",
}
# An error page is often a fragment: these roots make it HTML all the same.
_HTML_ROOTS = frozenset(
    {"html", "head", "body", "title", "meta", "div", "p", "pre", "center", "table", "script"}
    | {"style", "link", "a", "span", "br", "hr", "b", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_NAME_RE = re.compile(r"[A-Za-z_][\w.:-]*")
# `[^<]*` stops at the next tag, so every attempt is bounded and the search linear.
_TITLE_RE = re.compile(r"<title\b[^<>]*>([^<]*)<", re.I)
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts the same
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL = frozenset(chr(c) for c in (*range(9), 11, 12, *range(14, 32), 127)) | {"\ufffd"}


def lead(data: bytes) -> bytes:
    """`data` without leading whitespace, BOMs and UTF-16/32 NULs: for sniffing."""
    return data.lstrip(_LEAD_JUNK)


def sniff_kind(data: bytes, *, url: str = "") -> SourceKind:
    """ "feed" for markup or a JSON object, "hf" for a JSON list, else "listing".

    Only the bytes decide; `url` is accepted so callers need not change when
    a hint from it is ever wanted.
    """
    head = lead(data)[:1]
    if head == b"<":
        return "feed"
    if head not in (b"[", b"{"):
        return "feed" if feed_after_junk(decode_head(data)) else "listing"
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return "listing"  # text that starts with a bracket; the listing parser decides
    if isinstance(obj, list):
        return "hf"
    return "feed" if isinstance(obj, dict) else "listing"


def decode_head(data: bytes) -> str:
    """The first `HEAD` characters or so of `data` as text, its BOM dropped:
    UTF-32 and UTF-16 told by BOM or by where the NULs of ASCII fall, else UTF-8."""
    head = data[: HEAD * 4]
    for bom, codec in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(codec, "replace")[:HEAD]
    q = head[:4]
    codec = "utf-8"
    if b"\x00" in q:
        if q[:3] == b"\x00\x00\x00":
            codec = "utf-32-be"
        elif q[1:4] == b"\x00\x00\x00":
            codec = "utf-32-le"
        else:
            codec = "utf-16-be" if q[:1] == b"\x00" else "utf-16-le"
    return head.decode(codec, "replace")[:HEAD]


def root_element(text: str) -> str | None:
    """The name of the first element of markup `text`, past the XML declaration,
    processing instructions, comments and a DOCTYPE; None when `text` has other
    text first, or no element in it. One pass: hostile prologs cost linear time."""
    i = 0
    while True:
        at = text.find("<", i)
        if at < 0 or text[i:at].strip():
            return None
        if text.startswith("<?", at):
            end, skip = text.find("?>", at + 2), 2
        elif text.startswith("<!--", at):
            end, skip = text.find("-->", at + 4), 3
        elif text.startswith("<!", at):  # DOCTYPE, perhaps with an internal subset
            end, skip = text.find(">", at), 1
            subset = text.find("[", at, end if end >= 0 else len(text))
            if subset >= 0:
                close = text.find("]", subset)
                end = text.find(">", close) if close >= 0 else -1
        else:
            m = _NAME_RE.match(text, at + 1)
            return m.group() if m else None
        if end < 0:
            return None
        i = end + skip


def is_feed_root(root: str) -> bool:
    """Whether a root element `rss`, `feed`, `rdf:RDF` or `CHANNEL` (CDF) starts a feed."""
    return root.rpartition(":")[2].lower() in FEED_ROOTS


def feed_after_junk(text: str) -> str | None:
    """The root element of a feed that other text comes before (a PHP warning
    printed ahead of `<?xml`), or None. feedparser still reads such a feed."""
    at = text.find("<?xml", 1)
    root = root_element(text[at:]) if at > 0 else None
    return root if root and is_feed_root(root) else None


def _one_line(text: str) -> str:
    return " ".join(html.unescape(text).split())


def quote(text: str, limit: int = 80) -> str:
    """Untrusted text for a message: one line, cut, quoted with its escapes (repr)."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def markup_name(text: str, root: str) -> str:
    """What markup `text`, whose first element is `root`, is: "an HTML page
    titled '502 Bad Gateway'", "OPML", "XML with the root element <note>"."""
    local = root.rpartition(":")[2].lower()
    if local in FEED_ROOTS:
        return f"a feed (<{root}>)"
    if local in _HTML_ROOTS:
        m = _TITLE_RE.search(text)
        title = _one_line(m.group(1)) if m else ""
        return f"an HTML page titled {quote(title)}" if title else "an HTML page"
    return _XML_KINDS.get(local) or f"XML with the root element <{root[:60]}>"


def json_name(obj: Any) -> str:
    """What a parsed JSON value is: "a JSON object with error 'rate limited'"."""
    if isinstance(obj, dict):
        for key in ("error", "message", "detail"):
            if isinstance(obj.get(key), str) and obj[key].strip():
                return f"a JSON object with {key} {quote(_one_line(obj[key]))}"
        return "a JSON object"
    if isinstance(obj, list):
        return "a JSON list"
    return {str: "a JSON string", bool: "JSON true or false", type(None): "JSON null"}.get(
        type(obj), "a JSON number"
    )


def is_binary(text: str) -> bool:
    """More than 1% control characters or undecodable bytes: not text."""
    return sum(c in _CONTROL for c in text) > len(text) // 100


def format_name(data: bytes) -> str | None:
    """The name of what `data` is when that is not plain text: "an empty
    document", "binary data", "an HTML page titled 'x'", "OPML", "a JSON object"
    and the like; None for plain text (bracketed text that is no JSON included)."""
    if not lead(data):
        return "an empty document"
    text = decode_head(data)
    if is_binary(text):
        return "binary data"
    start = text.lstrip()[:1]
    if start == "<" and (root := root_element(text)):
        return markup_name(text, root)
    if start in ("{", "["):
        try:
            return json_name(json.loads(data))
        except (ValueError, RecursionError):
            return None
    return None


def describe(data: bytes) -> str:
    """A name for `data` in an error about bytes that proved no document of the
    kind expected: `format_name`, or "plain text"."""
    return format_name(data) or "plain text"
