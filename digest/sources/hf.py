"""Hugging Face Daily Papers (https://huggingface.co/api/daily_papers) -> `Entry` records.

The API is a JSON list of listings, each wrapping a `paper` object whose `id`
is the arXiv id. Every field is type-checked: the shape is not promised.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

from digest.identity import parse_arxiv_id
from digest.models import Entry, ParsedDocument
from digest.sources.feed import clean_text
from digest.sources.sniff import describe, json_name, lead

# Paper ids go into URLs: accept only arXiv-shaped tokens (2410.17243v2, hep-th/9901001).
_SAFE_ID_RE = re.compile(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9.\-]{0,40}(?:/[0-9]{7}(?:v[0-9]+)?)?")


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _when(value: object) -> datetime | None:
    try:
        dt = datetime.fromisoformat(_str(value))
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _who(value: object) -> str:
    """A user or organisation: an object with fullname/name/user, or a plain string."""
    if isinstance(value, dict):
        for key in ("fullname", "name", "user"):
            if _str(value.get(key)):
                return _str(value[key])
        return ""
    return _str(value)


def _entry(item: dict[str, Any]) -> Entry | None:
    paper = _dict(item.get("paper"))
    pid = _str(paper.get("id")) or _str(item.get("id"))
    title = clean_text(_str(paper.get("title")) or _str(item.get("title")))
    if not (pid or title):
        return None
    if pid and not _SAFE_ID_RE.fullmatch(pid):
        pid = ""
    parsed = parse_arxiv_id(pid) if pid else None
    arxiv_id, version = parsed if parsed else ("", None)
    authors = paper.get("authors")
    names = (
        tuple(dict.fromkeys(n for a in authors if (n := clean_text(_str(_dict(a).get("name"))))))
        if isinstance(authors, list)
        else ()
    )
    listed = _when(item.get("publishedAt")) or _when(paper.get("submittedOnDailyAt"))
    listed_on: date | None = listed.date() if listed else None
    return Entry(
        title=title,
        summary=clean_text(_str(paper.get("summary")) or _str(item.get("summary"))),
        authors=names,
        link=f"https://huggingface.co/papers/{pid}" if pid else "",
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}" if arxiv_id else "",
        arxiv_id=arxiv_id,
        version=version,
        guid=pid,
        published=_when(paper.get("publishedAt")),
        listed_on=listed_on,
        upvotes=_int(paper.get("upvotes")),
        author_count=len(names) or None,
        organization=_who(paper.get("organization")) or _who(item.get("organization")),
        num_comments=_int(item.get("numComments")),
        submitted_by=_who(item.get("submittedBy")) or _who(paper.get("submittedOnDailyBy")),
    )


def parse_hf(data: bytes) -> ParsedDocument:
    """Entries of a Daily Papers response. Raises ValueError for empty or
    non-JSON bytes, and for JSON that is not a list."""
    if not lead(data):
        raise ValueError("empty document")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        if lead(data)[:1] in (b"[", b"{"):
            raise ValueError(f"not JSON: {exc}") from None
        raise ValueError(f"{describe(data)}, not JSON") from None
    if not isinstance(obj, list):  # an error object from the API is a failed fetch, not a quiet day
        raise ValueError(f"{json_name(obj)}, not a list of papers")
    entries: list[Entry] = []
    skipped = 0
    for item in obj:
        entry = _entry(item) if isinstance(item, dict) else None
        if entry is None:
            skipped += 1
        else:
            entries.append(entry)
    warnings = (f"{skipped} item(s) skipped: not a paper object, or no id and no title",)
    return ParsedDocument(tuple(entries), skipped, warnings if skipped else ())
