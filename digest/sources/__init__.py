"""Source documents -> entries: sniff what the bytes are, then parse them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from digest.models import DocumentNotes, Entry, ParsedDocument, SourceKind
from digest.sources.feed import parse_feed, read_feed
from digest.sources.hf import parse_hf
from digest.sources.listing import parse_listing, read_listing
from digest.sources.sniff import describe, sniff_kind

__all__ = ["describe", "parse_document", "parse_feed", "parse_hf", "read_document", "sniff_kind"]


def parse_document(
    kind: SourceKind, data: bytes, *, url: str = "", reference_date: date | None = None
) -> ParsedDocument:
    """Parse `data` as `kind`. Raises ValueError when the bytes are not such a document."""
    if kind == "feed":
        return parse_feed(data, url=url)
    if kind == "hf":
        return parse_hf(data)
    if kind == "listing":
        return parse_listing(data, reference_date=reference_date)
    raise ValueError(f"unknown source kind: {kind!r}")


def read_document(
    kind: SourceKind, data: bytes, *, url: str = "", reference_date: date | None = None
) -> tuple[Iterator[Entry], DocumentNotes]:
    """`parse_document`, with the entries read as they are used: a big feed is
    never all in memory at once, and storing starts before parsing ends. The
    notes are complete once the entries are exhausted. ValueError comes before
    the first entry for bytes that are not such a document, and may come while
    reading for a document broken further on."""
    if kind == "feed":
        return read_feed(data, url=url)
    if kind == "listing":
        return read_listing(data, reference_date=reference_date)
    return parse_document(kind, data, url=url, reference_date=reference_date).reading()
