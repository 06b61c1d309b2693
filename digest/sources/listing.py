"""Parser for plain-text dumps of a daily paper-listing page.

A dump is a few header lines (with the page's year-less date), then one
entry after another: a title line, an abstract line, and optionally
metadata lines (`• N authors`, an organisation, a lone `·`, and a date
line `Mon DD[, YYYY][ UPVOTES]`). Blank lines may or may not separate
them. Lines are classified by position first; metadata is recognised only
by its exact shape and place, so a title that looks like a date stays a title.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from functools import lru_cache

from digest.identity import find_arxiv_id, find_doi
from digest.models import DocumentNotes, Entry, ParsedDocument
from digest.sources.sniff import format_name, quote

_INBOX = "Get trending papers in your email inbox"
_HEADERS = frozenset(("new", "Subscribe", "Daily Papers", "byAK and the research community"))
_HEADERS |= {f"{_INBOX}!", f"{_INBOX} once a day!"}
# Headers a title may be glued to (`SubscribeNGAME: ...`); "new" is too short to trust.
_GLUE = tuple(sorted(_HEADERS - {"new"}, key=len, reverse=True))
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, 1)}
# Strict on purpose: `Mon DD[, YYYY][ UPVOTES]` and nothing else is a date line.
_DATE_RE = re.compile(rf"({'|'.join(_MONTH_NAMES)}) (\d{{1,2}})(?:, (\d{{4}}))?(?: (\d{{1,7}}))?")
_DOT = "·"
_META_START = "·•h"  # first characters of metadata lines: cheap pre-check before the real one
_LONG = 300  # no title is this long; every abstract in the real dumps is longer
_SNIFF = 1 << 16
_PROBE = 60  # lines after the header that show whether headerless text is a listing
# Bytes decoded at a time. Small blocks reuse the memory the last one freed; a
# big one is a fresh mapping each time, and its page faults cost more than decoding.
_BLOCK = 1 << 16
_CONTROL = bytes(b for b in range(32) if b not in b"\t\n\r\f\v") + b"\x7f"


def _check_text(head: bytes, has_nul: bool) -> None:
    if has_nul:
        raise ValueError("binary data, not a text listing: contains NUL bytes")
    # Only the head is sniffed, as file(1) does: scanning 100 MB costs more than parsing it.
    if len(head) - len(head.translate(None, _CONTROL)) > len(head) // 100:
        raise ValueError("binary data, not a text listing: too many control characters")


def _lines(data: bytes | str) -> tuple[list[str], list[str]]:
    """Non-blank stripped lines and decoding warnings; ValueError unless text."""
    if isinstance(data, str):
        _check_text(data[:_SNIFF].encode("utf-8", "replace"), "\x00" in data)
        nl = "\n" if "\n" in data or "\r" not in data else "\r"  # lone CR: old Mac files
        return [s for s in map(str.strip, data.lstrip("\ufeff").split(nl)) if s], []
    _check_text(data[:_SNIFF], b"\x00" in data)
    raw = data.removeprefix(codecs.BOM_UTF8)
    nlb = b"\n" if b"\n" in raw or b"\r" not in raw else b"\r"
    try:
        return _decoded_lines(raw, nlb), []
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
    # A few stray bytes (a Latin-1 accent) are tolerable; a binary blob is not.
    bad = text.count("\ufffd")
    if bad > len(text) // 100:
        raise ValueError(f"binary data, not a text listing: {bad} undecodable bytes")
    lines = [s for s in map(str.strip, text.split(nlb.decode())) if s]
    return lines, [f"{bad} invalid UTF-8 sequences replaced"]


def _decoded_lines(raw: bytes, nlb: bytes) -> list[str]:
    """Non-blank stripped lines of UTF-8 `raw`, decoded a block of whole lines at a
    time: memory holds the bytes, the lines and one block, not a split copy of
    all the bytes as well. A block with one `•` decodes wide, but the lines split
    from it are each as narrow as their own text. Blocks end just after a newline
    byte, which never falls inside a UTF-8 sequence."""
    lines: list[str] = []
    nl = nlb.decode()
    view = memoryview(raw)
    start, size = 0, len(raw)
    while start < size:
        end = raw.find(nlb, start + _BLOCK) + 1 or size
        lines += [s for s in map(str.strip, str(view[start:end], "utf-8").split(nl)) if s]
        start = end
    return lines


def _is_url(line: str) -> bool:  # a link line: the only trusted place for ids
    return line.startswith(("http://", "https://")) and " " not in line


@lru_cache(maxsize=1024)  # few distinct lines; parsing each one again is the slow part
def _authors(line: str) -> int | None:
    """`• 8 authors` -> 8; None for any other line."""
    if line[:1] != "•":
        return None
    count, _, word = line[1:].strip().partition(" ")
    ok = word in ("authors", "author") and count.isdecimal() and count.isascii()
    return int(count) if ok else None


def _is_meta(line: str) -> bool:
    """An authors line, the `·` separator or a link: never a title or an abstract."""
    return line == _DOT or _is_url(line) or _authors(line) is not None


def _unglue(line: str) -> str:
    """`SubscribeNGAME: ...` -> `NGAME: ...`. Glued text starts with a capital or a
    digit right away, so titles like `Subscriber churn` or `Daily Papers: X` stay whole."""
    for head in _GLUE:
        rest = line[len(head) :]
        if line.startswith(head) and (rest in _HEADERS or rest[:1].isupper() or rest[:1].isdigit()):
            return rest
    return line


_When = tuple[datetime | None, int | None, bool]  # published, upvotes, date is invalid


@lru_cache(maxsize=4096)
def _date_line(line: str, anchor: date | None) -> _When | None:
    """`Sep 11 4` -> (2024-09-11, 4, False) for a 2024 anchor; None if not a date line.
    A year-less date is the latest such day not after `anchor`."""
    m = _DATE_RE.fullmatch(line)
    if m is None:
        return None
    month, day, upvotes = _MONTHS[m[1]], int(m[2]), int(m[4]) if m[4] else None
    if m[3]:
        years = [int(m[3])]
    elif anchor:
        last = anchor.year - ((month, day) > (anchor.month, anchor.day))
        years = list(range(last, last - 8, -1)) if (month, day) == (2, 29) else [last]
    else:
        years = []  # year-less and nothing to anchor it: not guessed
    for year in years:  # only Feb 29 may look back further, for a leap year
        try:
            return datetime(year, month, day, tzinfo=UTC), upvotes, False
        except ValueError:
            pass
    return None, upvotes, bool(years)


def parse_listing(data: bytes | str, *, reference_date: date | None = None) -> ParsedDocument:
    """Parse a plain-text listing dump into entries.

    Year resolution: the page date (`Dec 26`) becomes `listed_on`, the latest
    such day on or before `reference_date`. Year-less entry dates resolve the
    same way against `listed_on` (or `reference_date` when the page has no
    date). Without `reference_date` year-less dates are not guessed (a dated
    entry only bounds the page's year from below): they stay None. An explicit
    year is always used. `published` is midnight UTC.

    Raises ValueError for binary data, an empty document, text without a
    listing's header or title and abstract blocks (see `_has_blocks`), or a
    listing without entries.
    """
    return ParsedDocument.read_whole(*read_listing(data, reference_date=reference_date))


def read_listing(
    data: bytes | str, *, reference_date: date | None = None
) -> tuple[Iterator[Entry], DocumentNotes]:
    """`parse_listing`, with the entries made as they are read. Binary data, an
    empty document and text that is no listing raise ValueError here; a listing
    without entries raises it once they are exhausted."""
    lines, warnings = _lines(data)
    if not lines:
        raise ValueError("empty document")

    i, n = 0, len(lines)
    listed_on: date | None = None
    page: _When | None = None
    year_less = False  # some year-less date could not be resolved
    header = False  # a line only a listing page has ("new" alone is any text's word)
    while i < n:  # header
        line = lines[i]
        if line in _HEADERS:
            header = header or line != "new"
            i += 1
        elif page is None and (page := _date_line(line, reference_date)) is not None:
            listed_on = page[0].date() if page[0] else None
            year_less = listed_on is None and not page[2]
            if page[2]:
                warnings.append(f"invalid page date {line!r}")
            i += 1
        elif (rest := _unglue(line)) is not line:
            lines[i] = rest
            header = True
        else:
            break
    if not header:
        # Markup and JSON are never a listing, whatever their line shapes.
        other = _format_name(data) if lines[0][:1] in ("<", "{", "[") else None
        if other:
            raise ValueError(f"{other}, not a listing")
        if not _has_blocks(lines[i : i + _PROBE], listed_on or reference_date):
            first = quote(lines[0])
            raise ValueError(f"plain text with no listing structure, starting {first}")
    notes = DocumentNotes(warnings=warnings)
    return _entries(lines, i, listed_on, listed_on or reference_date, year_less, notes), notes


def _has_blocks(lines: list[str], anchor: date | None) -> bool:
    """Whether text without a listing header still has a listing's structure:
    at least half of its first entries are title and abstract blocks (an
    abstract a paragraph long) or carry metadata lines. A `Rate limit exceeded`
    page or an `.htaccess` file has neither."""
    seen = blocks = 0
    try:
        for e in _entries(lines, 0, None, anchor, False, DocumentNotes()):
            seen += 1
            blocks += (
                len(e.summary) >= _LONG
                or bool(e.link or e.organization or e.published)
                or e.author_count is not None
                or e.upvotes is not None
            )
    except ValueError:  # no entries at all
        return False
    return 2 * blocks >= seen


def _format_name(data: bytes | str) -> str | None:
    return format_name(data.encode("utf-8", "replace") if isinstance(data, str) else data)


def _entries(
    lines: list[str],
    i: int,
    listed_on: date | None,
    anchor: date | None,
    year_less: bool,  # some year-less date could not be resolved
    notes: DocumentNotes,
) -> Iterator[Entry]:
    n = len(lines)
    warnings = notes.warnings
    count = 0
    # The hot loop: plain string checks on each line, cached answers for the few
    # distinct metadata lines (`_authors` is cached too).
    dates: dict[str, _When | None] = {}
    while i < n:
        title = lines[i]
        i += 1
        if len(title) >= _LONG or (title[0] in _META_START and _is_meta(title)):
            notes.skipped += 1  # nothing to attach it to
            warnings.append(f"stray line without a title: {title[:60]!r}")
            continue
        summary = ""
        if i < n:
            cand = lines[i]
            # A short line followed by a long one is the next title, not an abstract.
            if (cand[0] in _META_START and _is_meta(cand)) or (
                len(cand) < _LONG and i + 1 < n and len(lines[i + 1]) >= _LONG
            ):
                warnings.append(f"no abstract for {title!r}")
            else:
                summary = cand
                i += 1
                while i < n and len(lines[i]) >= _LONG:  # further paragraphs
                    summary = f"{summary}\n\n{lines[i]}"
                    i += 1
        authors: int | None = None
        link = org = ""
        when: _When | None = None
        if i < n and (lines[i][0] in _META_START or (i + 1 < n and lines[i + 1] == _DOT)):
            # Metadata: [• N authors] [link] [organisation] [· [date]], in that order.
            line = lines[i]
            if line[0] == "•" and (authors := _authors(line)) is not None:
                i += 1
                line = lines[i] if i < n else ""
            if line[:1] == "h" and _is_url(line):
                link = line
                i += 1
                line = lines[i] if i < n else ""
            if line != _DOT and i + 1 < n and lines[i + 1] == _DOT:
                org = line  # the organisation line sits right before the `·`
                i += 1
                line = _DOT
            if line == _DOT:
                i += 1
                if i < n:
                    line = lines[i]
                    if line in dates:
                        when = dates[line]
                    else:
                        when = dates[line] = _date_line(line, anchor)
                    if when is not None:
                        i += 1
        published: datetime | None = None
        upvotes: int | None = None
        if when is not None:
            published, upvotes, invalid = when
            year_less = year_less or (published is None and not invalid)
            if invalid:
                warnings.append(f"invalid date in the entry {title!r}")
        ids = find_arxiv_id(link) if link else None
        count += 1
        yield Entry(
            title=title,
            summary=summary,
            link=link,
            arxiv_id=ids[0] if ids else "",
            version=ids[1] if ids else None,
            doi=find_doi(link) if link else "",
            published=published,
            listed_on=listed_on,
            upvotes=upvotes,
            author_count=authors,
            organization=org,
        )
    if not count:
        raise ValueError("no paper entries found")
    if year_less:
        warnings.append("year-less dates left unresolved: no reference_date given")
