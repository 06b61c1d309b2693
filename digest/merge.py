"""Pure: fold a new sighting of a paper into what is known of it.

Sources differ in how much to trust their text: a feed (arXiv API or RSS)
outranks the Hugging Face API, which outranks a page dump. A newer arXiv
version always brings its own title and abstract.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from digest.models import Entry, SourceKind

RANK: dict[SourceKind, int] = {"feed": 3, "hf": 2, "listing": 1}


@dataclass(frozen=True, slots=True)
class ItemState:
    """The mergeable part of a stored item."""

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
    quality: int


# An ItemState's fields as a tuple, in declaration order (ItemState(*t) rebuilds it).
_FIELDS = attrgetter(*ItemState.__dataclass_fields__)


def abs_link(entry: Entry) -> str:
    """The arXiv abstract page of an entry, "" without an arXiv id."""
    return f"https://arxiv.org/abs/{entry.arxiv_id}" if entry.arxiv_id else ""


def new_state(entry: Entry, rank: int) -> ItemState:
    return ItemState(
        title=entry.title,
        summary=entry.summary,
        authors=entry.authors,
        author_count=len(entry.authors) or entry.author_count,
        link=entry.link or abs_link(entry),
        pdf_url=entry.pdf_url,
        arxiv_id=entry.arxiv_id,
        version=entry.version,
        doi=entry.doi,
        published=entry.published,
        categories=entry.categories,
        upvotes=entry.upvotes,
        quality=rank,
    )


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
    # `quality` is the rank of whoever supplied the current text.
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
    return state if values == _FIELDS(state) else ItemState(*values)
