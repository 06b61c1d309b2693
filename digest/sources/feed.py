"""RSS, Atom, RDF/CDF (via feedparser) and JSON Feed documents -> `Entry` records.

feedparser does the XML; this module only maps its dicts to frozen entries, and
none of them leaves it. feedparser's sanitizer and URI rewriting are off (slow,
and moot): summaries are reduced to plain text here with one regex, and
everything shown is escaped or sanitized again at render time.
"""

from __future__ import annotations

import html
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import feedparser

from digest.identity import find_arxiv_id, find_doi
from digest.models import DocumentNotes, Entry, ParsedDocument
from digest.sources.sniff import (
    decode_head,
    describe,
    feed_after_junk,
    is_feed_root,
    json_name,
    lead,
    markup_name,
    root_element,
)
from digest.sources.xmlsplit import pieces

# Unclosed comments and scripts run to the end, as in browsers; that, and no
# `[^>]*` reaching past the next `<`, keeps every match linear on hostile input.
_TAG_RE = re.compile(
    r"<(?:(?P<raw>script|style)\b[^<>]*>.*?(?:</(?P=raw)\s*>|\Z)|!--.*?(?:-->|\Z)"
    r"|/?(?P<name>[A-Za-z][\w:-]*)(?:\s[^<>]*)?/?>)",
    re.I | re.S,
)
# Inline tags vanish; any other tag separates words.
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "em", "font", "i", "kbd", "mark", "q"}
    | {"s", "small", "span", "strong", "sub", "sup", "tt", "u", "var"}
)
# rss.arxiv.org: "arXiv:2410.17243v2 Announce Type: replace \nAbstract: ..."
_ARXIV_PREFIX_RE = re.compile(r"\s*arXiv:\S+\s+Announce Type:\s*([\w-]+)\s*(?:Abstract:\s*)?")
_AND_RE = re.compile(r"\s+and\s+")
_PARTICLES = {"al", "bin", "da", "de", "del", "der", "di", "dos", "du", "la", "le", "van", "von"}
_SEP_RE = re.compile(r"[,;]")
_SEP_PAREN_RE = re.compile(r"[,;](?![^()]*\))")
_SUFFIX_RE = re.compile(r"(?i)(?:jr|sr|ii|iii|iv)\.?")
_ET_AL_RE = re.compile(r"(?i)\s*\bet\.? al\.?$")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_API_ERROR = "arxiv.org/api/errors"
_JSON_FEED = "https://jsonfeed.org/version/"
# Bytes of items feedparser reads at a time: its dicts take several times the
# bytes they come from, so a big feed is read in pieces (see xmlsplit).
PIECE = 4 << 20


# FeedParserDict.get remaps legacy keys on every call; the stored keys are
# read straight from the underlying dict, several times faster.
_get = dict.get


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _url(value: object) -> str:
    s = _str(value).strip()
    return s if s[:8].lower().startswith(("http://", "https://")) else ""


def _tag_space(m: re.Match[str]) -> str:
    name = m.group("name")
    return "" if name and name.lower() in _INLINE else " "


def clean_text(text: str, is_html: bool = False) -> str:
    """Plain text on one line: tags dropped (when HTML), entities decoded, whitespace collapsed."""
    if is_html:
        if "<" in text:
            text = _TAG_RE.sub(_tag_space, text)
        if "&" in text:
            text = html.unescape(text)
    # Fast path (most abstracts): a C scan instead of splitting a kilobyte into words.
    if text.isascii() and not ("  " in text or "\n" in text or "\t" in text or "\r" in text):
        return text.strip()
    return " ".join(text.split())


def _name_like(part: str) -> bool:
    words = part.split()
    return len(words) > 1 and all(w[0].isupper() or w in _PARTICLES for w in words)


def _split_names(raw: str) -> list[str]:
    """'A Smith, B Jones, and C Wu' -> three names; 'Smith, John' stays one."""
    raw = clean_text(raw)
    if raw.endswith(("et al.", "et al")):
        raw = _ET_AL_RE.sub("", raw)
    has_and = " and " in raw
    if not has_and and "," not in raw and ";" not in raw:
        return [raw] if raw else []  # the common case: one name
    # Affiliations may hold commas: split only outside parentheses.
    paren = "(" in raw and len(raw) < 4000  # the lookahead is quadratic on huge strings
    pieces = (_SEP_PAREN_RE if paren else _SEP_RE).split(raw)
    pieces = [p.strip() for p in pieces]
    if "" in pieces:
        pieces = [p for p in pieces if p]
    if len(pieces) == 2 and " " not in pieces[0] and " " not in pieces[1]:
        return [raw]  # "Smith, John": one person, last name first
    if not has_and and min(map(len, pieces), default=9) > 4:
        return pieces  # a plain comma list: the arXiv RSS dc:creator
    names: list[str] = []
    for piece in pieces:
        if len(piece) <= 4 and names and _SUFFIX_RE.fullmatch(piece):
            names[-1] = f"{names[-1]}, {piece}"  # "King, Jr."
            continue
        if not has_and:
            names.append(piece)
            continue
        if piece.startswith("and "):  # Oxford comma
            piece = piece[4:]
        parts = _AND_RE.split(piece)
        # "and" splits only between names: "Physics and Astronomy" stays one.
        if len(parts) > 1 and all(map(_name_like, parts)):
            names.extend(parts)
        elif piece:
            names.append(piece)
    return names


def _published(value: Any) -> datetime | None:
    try:
        y, mo, d, h, mi, sec = value[:6]
        return datetime(y, mo, d, h, mi, min(sec, 59), tzinfo=UTC)  # no leap seconds
    except (TypeError, ValueError, OverflowError):
        return None


def _iso(value: object) -> datetime | None:
    try:
        dt = datetime.fromisoformat(_str(value).strip())
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _entry(guid: str, link: str, pdf: str, id_text: str, **fields: Any) -> Entry:
    """An Entry with its arXiv id and version found in the guid, link or summary start."""
    texts = (guid, link, id_text[:120])
    found = find_arxiv_id(*texts)
    if found and found[1] is None:  # the id may carry its version elsewhere
        again = (find_arxiv_id(t) for t in texts)
        found = next((f for f in again if f and f[0] == found[0] and f[1]), found)
    arxiv_id, version = found or ("", None)
    pdf = pdf or (f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else "")
    return Entry(guid=guid, link=link, pdf_url=pdf, arxiv_id=arxiv_id, version=version, **fields)


def _from_feedparser(e: Any) -> Entry:
    title_d = _get(e, "title_detail") or {}
    title = clean_text(_str(_get(e, "title")), _str(_get(title_d, "type")) in _HTML_TYPES)
    # feedparser copies Atom content into `summary` without a summary_detail.
    detail = _get(e, "summary_detail")
    raw = _str(_get(e, "summary"))
    if not detail or not raw:
        content = _get(e, "content")
        if isinstance(content, list) and content and isinstance(content[0], dict):
            detail = content[0]
            raw = raw or _str(_get(detail, "value"))
    is_html = isinstance(detail, dict) and _str(_get(detail, "type")) in _HTML_TYPES
    announce = _str(_get(e, "arxiv_announce_type")).strip().lower()
    m = _ARXIV_PREFIX_RE.match(raw)
    if m:  # arXiv RSS: the description is plain text behind a fixed prefix
        announce = announce or m.group(1).lower()
        summary = clean_text(raw[m.end() :])
    else:
        summary = clean_text(raw, is_html)
    names: list[str] = []
    for a in _get(e, "authors") or ():
        if isinstance(a, dict):
            names.extend(_split_names(_str(_get(a, "name"))))
    if not names:
        names = _split_names(_str(_get(e, "author")))
    guid = _str(_get(e, "id")).strip()
    link = _url(_get(e, "link"))
    pdf = ""
    doi_texts = [_str(_get(e, k)) for k in ("arxiv_doi", "prism_doi", "dc_identifier")]
    for ln in _get(e, "links") or ():
        if not isinstance(ln, dict):
            continue
        href = _url(_get(ln, "href"))
        if not pdf and (
            _str(_get(ln, "type")) == "application/pdf" or _str(_get(ln, "title")).lower() == "pdf"
        ):
            pdf = href
        if "doi.org/" in href:
            doi_texts.append(href)
    if guid.lower().startswith(("doi:", "10.")):
        doi_texts.append(guid)
    cats: list[str] = []
    for t in _get(e, "tags") or ():
        term = _get(t, "term") if isinstance(t, dict) else None
        if isinstance(term, str) and (term := term.strip()) and term not in cats:
            cats.append(term)
    return _entry(
        guid,
        link,
        pdf,
        raw,
        title=title,
        summary=summary,
        authors=tuple(dict.fromkeys(names)),
        doi=find_doi(*doi_texts),
        published=_published(_get(e, "published_parsed") or _get(e, "updated_parsed")),
        categories=tuple(cats),
        announce_type=announce,
    )


def _from_json_item(item: dict[str, Any]) -> Entry:
    summary = clean_text(_str(item.get("summary")) or _str(item.get("content_text")))
    if not summary:
        summary = clean_text(_str(item.get("content_html")), True)
    people = item.get("authors")
    if not isinstance(people, list):
        people = [item.get("author")]
    names = [n for p in people if isinstance(p, dict) for n in _split_names(_str(p.get("name")))]
    pdf = ""
    for att in item.get("attachments") or ():
        if isinstance(att, dict) and att.get("mime_type") == "application/pdf":
            pdf = _url(att.get("url"))
            break
    guid = item.get("id")
    guid = str(guid).strip() if isinstance(guid, str | int) else ""
    tags = item.get("tags")
    tags = tags if isinstance(tags, list) else []
    link = _url(item.get("url")) or _url(item.get("external_url"))
    return _entry(
        guid,
        link,
        pdf,
        summary,
        title=clean_text(_str(item.get("title"))),
        summary=summary,
        authors=tuple(dict.fromkeys(names)),
        doi=find_doi(link) if "doi.org/" in link else "",
        published=_iso(item.get("date_published")) or _iso(item.get("date_modified")),
        categories=tuple(
            dict.fromkeys(t.strip() for t in tags if isinstance(t, str) and t.strip())
        ),
    )


def _parse_json_feed(data: bytes) -> ParsedDocument:
    # feedparser 6.0 does not read JSON Feed (https://jsonfeed.org/version/1.1).
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    # The version is what makes a JSON object a feed: `{"items": [...]}` is any API's answer.
    items = obj.get("items", []) if isinstance(obj, dict) else None
    if not isinstance(items, list) or not _str(obj.get("version")).startswith(_JSON_FEED):
        raise ValueError(f"{json_name(obj)}, not a feed")
    entries: list[Entry] = []
    skipped = 0
    for item in items:
        entry = _from_json_item(item) if isinstance(item, dict) else None
        if entry is None or not (entry.title or entry.link or entry.guid or entry.summary):
            skipped += 1
        else:
            entries.append(entry)
    return ParsedDocument(tuple(entries), skipped, (), clean_text(_str(obj.get("title"))))


def _reason(exc: object) -> str:
    return f"{type(exc).__name__}: {exc}"


def _feedparser(data: bytes, headers: dict[str, str] | None) -> Any:
    try:
        # A stream, never raw bytes: feedparser would try bytes as a file name.
        return feedparser.parse(
            io.BytesIO(data),
            sanitize_html=False,
            resolve_relative_uris=False,
            response_headers=headers,
        )
    except Exception as exc:  # a third-party parser on untrusted bytes: report, never crash
        raise ValueError(f"feedparser failed: {_reason(exc)}") from exc


def parse_feed(data: bytes, *, url: str = "") -> ParsedDocument:
    """Entries of an RSS/Atom/RDF/CDF or JSON Feed document.

    Raises ValueError, and nothing else, for bytes that are not a feed. A
    well-formed feed without entries gives an empty document.
    """
    return ParsedDocument.read_whole(*read_feed(data, url=url))


def read_feed(data: bytes, *, url: str = "") -> tuple[Iterator[Entry], DocumentNotes]:
    """`parse_feed`, with the entries read as they are used: a big feed goes
    through feedparser a piece at a time, so its entries are never all in memory.
    Bytes that are not a feed raise ValueError here, before any entry."""
    head = lead(data)
    if not head:
        raise ValueError("empty document")
    if head[:1] in (b"{", b"["):
        return _parse_json_feed(data).reading()
    text = decode_head(data)
    root = root_element(text)
    if root is None or not is_feed_root(root):
        if junk_first := feed_after_junk(text):
            root = junk_first  # feedparser reads it, with a warning
        elif text.lstrip()[:1] != "<":
            raise ValueError(f"{describe(data)}, not a feed")
        elif root is not None:  # HTML, OPML, KML, SVG, ...
            raise ValueError(f"{markup_name(text, root)}, not a feed")
    headers = {"content-location": url} if _url(url) else None
    parts = pieces(data, PIECE)
    fp = _feedparser(next(parts), headers)
    feed = fp.get("feed") or {}
    notes = DocumentNotes(feed_title=clean_text(_str(feed.get("title"))))
    raw_entries = fp.get("entries") or []
    bozo_exc = fp.get("bozo_exception") if fp.get("bozo") else None
    if not raw_entries and not fp.get("version"):
        # RSS 1.0 is RDF, but not every RDF (FOAF, DOAP) is RSS: feedparser tells.
        if root is not None and root.rpartition(":")[2].lower() == "rdf":
            raise ValueError("RDF without an RSS channel or items, not a feed")
        if bozo_exc is not None and not notes.feed_title:
            raise ValueError(f"not a feed: {_reason(bozo_exc)}")
        if not feed:
            raise ValueError("not a feed: no RSS, Atom, RDF or CDF elements")
    if bozo_exc is not None:
        notes.warnings.append(f"feed is not well-formed: {_reason(bozo_exc)}")
    return _entries(raw_entries, parts, headers, notes), notes


def _entries(
    raw_entries: list[Any],
    rest: Iterator[bytes],
    headers: dict[str, str] | None,
    notes: DocumentNotes,
) -> Iterator[Entry]:
    """Entries of the first piece's `raw_entries`, then of each further piece."""
    while True:
        for e in raw_entries:
            guid = _str(_get(e, "id"))
            if _API_ERROR in guid:  # arXiv API reports errors as an entry titled "Error"
                msg = clean_text(_str(_get(e, "summary"))) or guid
                notes.warnings.append(f"arXiv API error: {msg}")
                continue
            entry = _from_feedparser(e)
            if entry.title or entry.link or entry.guid or entry.summary:
                yield entry
            else:
                notes.skipped += 1
        part = next(rest, None)
        if part is None:
            return
        # The next piece (expat found the whole feed well-formed); this one is dropped first.
        raw_entries = []
        raw_entries = _feedparser(part, headers).get("entries") or []
