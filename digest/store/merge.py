"""Pure: fold a new sighting of a paper into what is known of it, and the items row
that holds what is known.

Sources differ in how much to trust their text: a feed (arXiv API or RSS)
outranks the Hugging Face API, which outranks a page dump. A newer arXiv
version always brings its own title and abstract.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from functools import lru_cache
from operator import attrgetter
from typing import Any

from digest.models import Entry, SourceKind
from digest.store.schema import db_time

RANK: dict[SourceKind, int] = {"feed": 3, "hf": 2, "listing": 1}


@dataclass(frozen=True, slots=True)
class ItemState:
    """What is known of a paper: the mergeable columns of its items row."""

    title: str
    summary: str
    authors: tuple[str, ...]
    author_count: int | None
    link: str
    pdf_url: str
    arxiv_id: str
    version: int | None
    doi: str
    published: datetime | None
    categories: tuple[str, ...]
    upvotes: int | None
    quality: int  # the rank of whoever supplied the current text


FIELDS: tuple[str, ...] = tuple(ItemState.__dataclass_fields__)  # = their columns
_VALUES = attrgetter(*FIELDS)  # a state as a tuple; ItemState(*t) rebuilds it


_TEXT = tuple(f.name for f in fields(Entry) if f.type in ("str", str))  # its text fields
_TEXTS = tuple(f.name for f in fields(Entry) if f.type in ("tuple[str, ...]", tuple[str, ...]))
_TEXT_OF = attrgetter(*_TEXT)


def has_nul(entry: Entry) -> bool:
    """Whether any text of `entry` holds a NUL, which PostgreSQL refuses in text.
    One C scan per entry: every entry of every ingest passes here."""
    return (
        "\x00" in "".join(_TEXT_OF(entry))
        or "\x00" in "".join(entry.authors)
        or "\x00" in "".join(entry.categories)
    )


def without_nul(entry: Entry) -> Entry:
    """`entry` with every NUL character taken out of its text (none can matter)."""
    changes: dict[str, Any] = {n: getattr(entry, n).replace("\x00", "") for n in _TEXT}
    for n in _TEXTS:
        changes[n] = tuple(t.replace("\x00", "") for t in getattr(entry, n))
    return replace(entry, **changes)


def abs_link(entry: Entry) -> str:
    """The arXiv abstract page of an entry, "" without an arXiv id."""
    return f"https://arxiv.org/abs/{entry.arxiv_id}" if entry.arxiv_id else ""


def first_values(entry: Entry, rank: int) -> tuple[Any, ...]:
    """What is known of a paper first seen in `entry`, as ItemState's fields.
    A tuple, not a state: most new papers are stored straight from it."""
    authors = entry.authors
    return (
        entry.title,
        entry.summary,
        authors,
        len(authors) or entry.author_count,
        entry.link or abs_link(entry),
        entry.pdf_url,
        entry.arxiv_id,
        entry.version,
        entry.doi,
        entry.published,
        entry.categories,
        entry.upvotes,
        rank,
    )


def new_state(entry: Entry, rank: int) -> ItemState:
    return ItemState(*first_values(entry, rank))


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def merge(state: ItemState, entry: Entry, rank: int) -> ItemState:
    """What is known after `entry` (from a source of `rank`) is seen again.

    Returns `state` itself when the entry adds nothing: seeing a paper again is
    the common case of a big ingest, and it needs no new state.
    """
    version = entry.version
    newer = version is not None and (state.version is None or version > state.version)
    older = version is not None and state.version is not None and version < state.version
    better = newer or (not older and rank > state.quality)
    title = entry.title if entry.title and (better or not state.title) else state.title
    summary = entry.summary if entry.summary and (better or not state.summary) else state.summary
    authors = entry.authors if entry.authors and (better or not state.authors) else state.authors
    published = state.published
    if entry.published is not None and (published is None or entry.published < published):
        published = entry.published
    categories = state.categories
    if entry.categories:
        categories += tuple(c for c in entry.categories if c not in categories)
    values = (
        title,
        summary,
        authors,
        len(authors) if authors else _max(state.author_count, entry.author_count),
        entry.link
        if entry.link and (better or not state.link)
        else (state.link or abs_link(entry)),
        state.pdf_url or entry.pdf_url,
        state.arxiv_id or entry.arxiv_id,
        _max(state.version, version),
        state.doi or entry.doi,
        published,
        categories,
        _max(state.upvotes, entry.upvotes),
        rank if better else state.quality,
    )
    return state if values == _VALUES(state) else ItemState(*values)


# -- the items row -------------------------------------------------------------
# Raw driver values, as the schema's column types would make them (JSON text,
# db_time text): an ingest binds and reads them with no per-row processing.


def json_text(values: tuple[str, ...]) -> str:
    return json.dumps(list(values), ensure_ascii=False) if values else "[]"


def _loads(value: str) -> tuple[str, ...]:
    return () if value == "[]" else tuple(json.loads(value))


_from_db_time = lru_cache(maxsize=4096)(datetime.fromisoformat)  # as UTCDateTime reads it


def stored_row(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """FIELDS as the items table holds them, from `first_values` or `values_of`."""
    title, summary, authors, count, link, pdf, arxiv, version, doi, when, tags, up, q = values
    when = db_time(when) if when is not None else None
    return (
        title,
        summary,
        json_text(authors),
        count,
        link,
        pdf,
        arxiv,
        version,
        doi,
        when,
        json_text(tags),
        up,
        q,
    )


def values_of(state: ItemState) -> tuple[Any, ...]:
    return _VALUES(state)


def from_row(r: Sequence[Any], at: int = 0) -> ItemState:
    """The state in the raw row `r` (what `stored_row` made), whose FIELDS start at `at`."""
    published = r[at + 9]
    return ItemState(
        r[at],
        r[at + 1],
        _loads(r[at + 2]),
        r[at + 3],
        r[at + 4],
        r[at + 5],
        r[at + 6],
        r[at + 7],
        r[at + 8],
        _from_db_time(published) if published is not None else None,
        _loads(r[at + 10]),
        r[at + 11],
        r[at + 12],
    )
