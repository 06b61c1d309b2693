"""Frozen records, named for the direction they flow.

One paper: `Entry` flows *in* from a source (one source's report of it); the store
merges its entries into one row (`digest.store.merge`, inside the store) and hands
it *out* as a `Candidate`, which selection wraps in a `Pick` and rendering shows.
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from digest.selection.likes import Like

from digest.reasons import Reason, explain

SourceKind = Literal["listing", "feed", "hf"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("listing", "feed", "hf")
PROFILE_ID_CHARS = 200  # the longest profile id: every table naming a profile holds this many


@dataclass(frozen=True, slots=True)
class Entry:
    """One paper as one source reported it, before identity is decided."""

    title: str
    summary: str = ""
    authors: tuple[str, ...] = ()
    link: str = ""  # the page the source points at
    pdf_url: str = ""
    arxiv_id: str = ""  # without version
    version: int | None = None  # arXiv version, when the source says
    doi: str = ""
    guid: str = ""
    published: datetime | None = None  # timezone-aware UTC when known
    listed_on: date | None = None  # listing page date (dumps, HF)
    categories: tuple[str, ...] = ()
    announce_type: str = ""  # arXiv RSS: new, cross, replace, replace-cross
    upvotes: int | None = None
    author_count: int | None = None
    organization: str = ""
    num_comments: int | None = None
    submitted_by: str = ""


@dataclass(slots=True)
class DocumentNotes:
    """What reading a document found besides its entries. Filled in as the
    entries are read: complete once they are exhausted (see `read_document`)."""

    skipped: int = 0
    warnings: list[str] = field(default_factory=list)
    feed_title: str = ""


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """What a parser made of one document."""

    entries: tuple[Entry, ...]
    skipped: int = 0  # entries without any usable identity
    warnings: tuple[str, ...] = ()
    feed_title: str = ""

    @classmethod
    def read_whole(cls, entries: Iterable[Entry], notes: DocumentNotes) -> ParsedDocument:
        """A document read lazily, read to the end: the notes are complete after."""
        whole = tuple(entries)
        return cls(whole, notes.skipped, tuple(notes.warnings), notes.feed_title)

    def reading(self) -> tuple[Iterator[Entry], DocumentNotes]:
        """This document as a lazy reader gives one."""
        return iter(self.entries), DocumentNotes(self.skipped, list(self.warnings), self.feed_title)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """Bytes from a location, or `not_modified` with no bytes."""

    content: bytes | None
    url: str
    etag: str | None = None
    last_modified: str | None = None
    content_type: str = ""

    @property
    def not_modified(self) -> bool:
        return self.content is None


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """A configured source. `kind` None means: sniff it from the bytes."""

    name: str
    location: str
    kind: SourceKind | None = None
    reference_date: date | None = None  # for year-less dates in dumps


@dataclass(frozen=True, slots=True)
class IngestCounts:
    """What storing one source's entries did: papers new to the store, and the rest."""

    new: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class SourceReport:
    """The outcome of ingesting one source in one run."""

    source: str
    entries: int = 0
    new: int = 0
    duplicates: int = 0
    skipped: int = 0
    not_modified: bool = False
    error: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IngestReport:
    run_id: int | None
    started: datetime
    sources: tuple[SourceReport, ...] = field(default_factory=tuple)

    @property
    def new(self) -> int:
        return sum(s.new for s in self.sources)

    @property
    def duplicates(self) -> int:
        return sum(s.duplicates for s in self.sources)

    @property
    def entries(self) -> int:
        return sum(s.entries for s in self.sources)

    @property
    def errors(self) -> int:
        return sum(1 for s in self.sources if s.error is not None)


@dataclass(frozen=True, slots=True)
class ProfileReport:
    """What one run did for one profile."""

    profile: str
    candidates: int
    picked: int
    digest_id: int | None  # None: nothing to send, no digest recorded
    sent: int = 0  # messages accepted in this run
    failed: int = 0  # messages that failed in this run (temporarily or for good)
    recorded_elsewhere: bool = False  # another process recorded this window's digest first
    publish_error: str = ""  # why its archive and feeds could not be written (mail still went)


@dataclass(frozen=True, slots=True)
class RunReport:
    ingest: IngestReport
    profiles: tuple[ProfileReport, ...]
    written: tuple[str, ...]  # files published
    sent: dict[str, int] = field(default_factory=dict)  # totals: sent, failed
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Term:
    """One interest term. `text` is as written; `/…/` means a regular expression."""

    text: str
    weight: float = 1.0

    @property
    def is_regex(self) -> bool:
        return len(self.text) > 2 and self.text.startswith("/") and self.text.endswith("/")


@dataclass(frozen=True, slots=True)
class Profile:
    """An interest profile, as loaded from YAML."""

    name: str
    title: str
    keywords: tuple[Term, ...] = ()
    exclude: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # empty: every source
    min_score: float = 1.0
    max_items: int = 20
    title_weight: float = 2.0  # a title match counts this many times an abstract match
    schedule: str | None = None
    timezone: str = "UTC"
    send_empty: bool = False
    admin: bool = False  # its digest also reports sources that keep failing
    path: str = ""  # the file it came from, for messages
    recipients: tuple[str, ...] = ()  # fixed email recipients
    first_digest_days: int = 7  # a new profile's first digest: items first seen this far back
    description: str = ""  # Markdown, shown at the top of its digest and archive
    likes: tuple[Like, ...] = ()  # `like:` and `like_file:` papers (digest.selection.likes)
    like_weight: float = 0.5  # most similar paper adds this share of the best keyword score


@dataclass(frozen=True, slots=True)
class Hit:
    """A term matched in one field of an item."""

    term: str
    field: Literal["title", "abstract", "author"]


@dataclass(frozen=True, slots=True)
class Seen:
    """One source an item was seen in, with what that source said of it."""

    source: str
    upvotes: int | None = None
    num_comments: int | None = None
    announce_type: str = ""
    categories: tuple[str, ...] = ()
    link: str = ""  # that source's own link to it


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored paper, merged from all its sightings, as the store hands it out:
    to selection, rendering and listings."""

    item_id: int
    key: str  # the item's identity, e.g. "arxiv:2410.17243"
    title: str
    summary: str
    authors: tuple[str, ...]
    url: str
    first_seen: datetime
    published: datetime | None = None
    upvotes: int | None = None
    seen: tuple[Seen, ...] = ()
    arxiv_id: str = ""
    pdf_url: str = ""
    categories: tuple[str, ...] = ()
    version: int | None = None  # the newest arXiv version seen
    doi: str = ""

    @property
    def sources(self) -> tuple[str, ...]:
        """Names of the sources it was seen in."""
        return tuple(sorted({s.source for s in self.seen}))


@dataclass(frozen=True, slots=True)
class Pick:
    """A candidate chosen for a profile: its score, the hits that counted (one per
    term) and the `Reason`s that add up to the score (none in old records)."""

    candidate: Candidate
    score: float
    matched: tuple[Hit, ...]
    reasons: tuple[Reason, ...] = ()

    def because(self) -> str:
        """`reasons.explain`, or "matched: batch size (title), …" without reasons."""
        words = ", ".join(f"{h.term} ({h.field})" for h in self.matched)
        return explain(self.reasons) if self.reasons else "matched: " + words


@dataclass(frozen=True, slots=True)
class Window:
    """Which of a cycle's candidates are new to one profile: a higher id than
    `after_id` (how far its last digest reached; for a new profile, the start of
    its look-back), first seen at or after `since` when set, never given before."""

    after_id: int = 0
    since: datetime | None = None
    given: frozenset[int] = frozenset()

    def holds(self, c: Candidate) -> bool:
        return (
            c.item_id > self.after_id
            and (self.since is None or c.first_seen >= self.since)
            and c.item_id not in self.given
        )


@dataclass(frozen=True, slots=True)
class Pool:
    """A cycle's candidates, loaded once for all the profiles it selects for (in
    id order), and each profile's window on them."""

    candidates: tuple[Candidate, ...]
    windows: Mapping[str, Window]


@dataclass(frozen=True, slots=True)
class Selection:
    """What one profile's next digest would hold."""

    picks: list[Pick]
    candidates: int  # how many items its window held
    upto_item_id: int  # the newest item considered: how far the window may move


@dataclass(frozen=True, slots=True)
class Digest:
    """One issue of a profile's digest: its picks, in order."""

    profile: Profile
    picks: tuple[Pick, ...]
    created: datetime  # aware UTC; shown in the profile's time zone
    id: int | None = None  # the store's number for it, once recorded
    notices: tuple[str, ...] = ()  # for the admin: e.g. sources gone stale


# -- what the store keeps of sources and runs (people and deliveries: digest/mailing.py)


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source as the store knows it: its validators and how its fetches went."""

    id: int
    name: str
    location: str
    kind: str
    etag: str | None
    last_modified: str | None
    last_fetch_at: datetime | None
    last_success_at: datetime | None
    last_new_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    empty_fetches: int = 0  # documents in a row that held no entries
    last_entries_at: datetime | None = None  # the last fetch that held some


@dataclass(frozen=True, slots=True)
class Sighting:
    """One source's report of an item (one row per source and version)."""

    item_id: int
    source_id: int
    source: str  # the source's name
    version: int  # 0: the source gave none
    run_id: int | None
    first_seen: datetime
    last_seen: datetime
    times_seen: int
    link: str = ""
    announce_type: str = ""
    categories: tuple[str, ...] = ()
    upvotes: int | None = None
    num_comments: int | None = None
    author_count: int | None = None
    organization: str = ""
    submitted_by: str = ""
    listed_on: str | None = None  # ISO date of the listing page


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One stored run (an ingest or a cycle) and the report it finished with."""

    id: int
    kind: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running, ok, partial, failed
    report: dict[str, Any] | None  # the report as stored (JSON); None while running
