"""Source documents -> `ParsedDocument`: sniff what the bytes are, then parse them."""

from __future__ import annotations

import json
from datetime import date

from digest.models import ParsedDocument, SourceKind
from digest.sources.feed import lead, parse_feed
from digest.sources.hf import parse_hf

__all__ = ["parse_document", "parse_feed", "parse_hf", "sniff_kind"]


def sniff_kind(data: bytes, *, url: str = "") -> SourceKind:
    """ "feed" for markup or JSON Feed, "hf" for a JSON list, else "listing".

    Only the bytes decide; `url` is accepted so callers need not change when
    a hint from it is ever wanted.
    """
    head = lead(data)[:1]
    if head == b"<":
        return "feed"
    if head not in (b"[", b"{"):
        return "listing"
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return "listing"
    if isinstance(obj, list):
        return "hf"
    if isinstance(obj, dict):
        version = obj.get("version")
        if "items" in obj or (
            isinstance(version, str) and version.startswith("https://jsonfeed.org")
        ):
            return "feed"
    return "listing"


def parse_document(
    kind: SourceKind, data: bytes, *, url: str = "", reference_date: date | None = None
) -> ParsedDocument:
    """Parse `data` as `kind`. Raises ValueError when the bytes are not such a document."""
    if kind == "feed":
        return parse_feed(data, url=url)
    if kind == "hf":
        return parse_hf(data)
    if kind == "listing":
        # Imported late: the listing parser is developed separately and may be absent.
        from digest.sources.listing import parse_listing  # type: ignore[import-not-found,unused-ignore]

        doc: ParsedDocument = parse_listing(data, reference_date=reference_date)
        return doc
    raise ValueError(f"unknown source kind: {kind!r}")
