"""One cycle: ingest -> select -> record -> send, and publish.

The one place that wires the adapters (fetcher, store, transport: built in
`digest.wiring`) to the decisions (parsing, identity, matching, rendering). The
faces call this package, and `digest.service`, and nothing below them. Here:
ingest, select, record and the run; `publishing` writes the archive and feeds,
`sending` mails what is due.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from digest import service, wiring
from digest.errors import DigestError, OutputError, ParseError, SourceError, StoreError
from digest.models import (
    Candidate,
    Entry,
    IngestReport,
    Pool,
    Profile,
    ProfileReport,
    RunReport,
    Selection,
    SourceConfig,
    SourceReport,
)
from digest.pipeline.liking import suggest
from digest.pipeline.personal import personalise
from digest.pipeline.publishing import publish
from digest.pipeline.sending import send, total
from digest.settings import Settings
from digest.store import Store
from digest.store.merge import RANK
from digest.wiring import Fetcher

# The faces' door: the steps in their own modules are called through here.
__all__ = [
    "create_digests",
    "dry_run",
    "ensure_recipients",
    "ingest",
    "ingest_source",
    "pick",
    "publish",
    "run_once",
    "run_profiles",
    "select_due",
    "send",
    "sources_for",
    "suggest",
    "total",
]

log = logging.getLogger("digest.pipeline")


def _where(location: str) -> str:
    """A location compared as the config resolves it: a file by its absolute path."""
    if location.startswith("file://"):
        location = location[len("file://") :]
    elif "://" in location:
        return location
    return str(Path(location).expanduser().resolve())


def sources_for(
    locations: Sequence[str], configured: Sequence[SourceConfig] = ()
) -> list[SourceConfig]:
    """Ad-hoc sources from command-line locations; a directory means each file in it
    and below it (hidden files and folders, and LICENSE files, left out). A location
    that is a configured source's is that source (its name and kind: the store and
    every output know it by the configured name)."""
    known = {_where(c.location): c for c in configured}
    out: list[SourceConfig] = []
    for loc in locations:
        path = Path(loc)
        if "://" not in loc and path.is_dir():
            out.extend(
                known.get(_where(str(p))) or SourceConfig(name=str(p), location=str(p))
                for p in files_below(path)
            )
        else:
            out.append(known.get(_where(loc)) or SourceConfig(name=loc, location=loc))
    return out


def files_below(folder: Path) -> list[Path]:
    """The files in `folder` and its subfolders, sorted; symlinked folders not followed."""
    found: list[Path] = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += (Path(top) / f for f in sorted(files) if not f.startswith(".") and f != "LICENSE")
    return found


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cycle collector off while one source is parsed and stored, and while the
    digests are selected, published and sent. Their many new objects hold no
    cycles, yet every full collection would walk them all: 12-25% of a
    100,000-entry ingest's CPU, a fifth of selecting and publishing 50 digests (the
    peak memory of a cycle is the same). Whoever found it on turns it back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Reading:
    """A source's entries as the store takes them: counted, and a document
    found broken further on reported as the source's ParseError."""

    def __init__(self, entries: Iterator[Entry], source: str, kind: str) -> None:
        self.entries = entries
        self.source = source
        self.kind = kind
        self.count = 0

    def __iter__(self) -> Iterator[Entry]:
        return self

    def __next__(self) -> Entry:
        try:
            entry = next(self.entries)
        except ValueError as exc:
            raise ParseError(self.source, f"{self.kind}: {exc}") from exc
        self.count += 1
        return entry


def ingest_source(
    store: Store, src: SourceConfig, now: datetime, fetcher: Fetcher, run_id: int | None
) -> SourceReport:
    """Fetch, parse and store one source. Its failure is recorded, never raised
    (a failing store is not the source's failure: StoreError ends the run)."""
    from digest.sources import read_document, sniff_kind

    state = store.source(src.name, location=src.location, kind=src.kind or "")
    error: str | None
    try:
        fetched = fetcher(
            src.name, src.location, etag=state.etag, last_modified=state.last_modified
        )
        if fetched.content is None:
            store.record_fetch(
                state.id,
                now,
                etag=fetched.etag or state.etag,
                last_modified=fetched.last_modified or state.last_modified,
            )
            return SourceReport(src.name, not_modified=True)
        kind = src.kind or sniff_kind(fetched.content, url=fetched.url)
        with _gc_paused():
            try:
                entries, notes = read_document(
                    kind,
                    fetched.content,
                    url=fetched.url,
                    reference_date=src.reference_date or now.date(),
                )
            except ValueError as exc:
                raise ParseError(src.name, f"{kind}: {exc}") from exc
            reading = _Reading(entries, src.name, kind)
            counts = store.add_entries(state.id, reading, rank=RANK[kind], now=now, run_id=run_id)
    except SourceError as exc:
        error = exc.message
    except StoreError:
        raise
    except Exception as exc:  # a bug in a parser must not end the run for the others
        log.exception("unexpected failure in source %s", src.name)
        error = f"unexpected {type(exc).__name__}: {exc}"
    else:
        warnings = tuple(notes.warnings)
        error = None
        if notes.skipped:
            warnings += (f"skipped {notes.skipped} entries without a title, link, id or text",)
            if not reading.count:
                error = f"no usable entries ({notes.skipped} without a title, link, id or text)"
        store.record_fetch(
            state.id,
            now,
            error=error,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            new=counts.new,
            entries=reading.count,
        )
        return SourceReport(
            src.name,
            entries=reading.count,
            new=counts.new,
            duplicates=counts.duplicates,
            skipped=notes.skipped,
            error=error,
            warnings=warnings,
        )
    store.record_fetch(state.id, now, error=error)
    return SourceReport(src.name, error=error)


def ingest(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    sources: Iterable[SourceConfig] | None = None,
    fetcher: Fetcher | None = None,
    progress: Callable[[SourceReport], None] | None = None,
) -> IngestReport:
    """Ingest the given sources, or every configured one, as one recorded run."""
    chosen = list(settings.sources if sources is None else sources)
    fetcher = fetcher or wiring.fetcher(settings)
    with store.run("ingest", now) as run_id:
        reports = []
        for src in chosen:
            rep = ingest_source(store, src, now, fetcher, run_id)
            log.info("source %s: %s", src.name, rep)
            reports.append(rep)
            if progress:
                progress(rep)
        report = IngestReport(run_id=run_id, started=now, sources=tuple(reports))
        status = "ok" if report.errors == 0 else "partial"
        store.finish_run(run_id, now, status, service.ingest_report(report))
    return report


def select_due(
    store: Store, profiles: Sequence[Profile], *, since: datetime | None = None
) -> dict[str, Selection]:
    """What each profile's next digest would hold, in one pass: the candidates
    read once for all of them, one matcher. `run`, `render` and `preview` all
    select here. Records nothing."""
    return _selected(store, profiles, since)[2]


def _selected(
    store: Store, profiles: Sequence[Profile], since: datetime | None = None
) -> tuple[Pool, dict[str, list[Candidate]], dict[str, Selection]]:
    """`select_due`, with the pool and the liked papers it selected from."""
    from digest.pipeline.liking import liked_papers
    from digest.selection.rank import pick_all

    liked, _ = liked_papers(store, profiles)  # missing ones are logged there
    pool = store.pool(profiles, since=since)
    return pool, liked, pick_all(profiles, pool, liked)


def pick(store: Store, profile: Profile, *, since: datetime | None = None) -> Selection:
    """One profile's `select_due`."""
    return select_due(store, [profile], since=since)[profile.name]


def create_digests(
    settings: Settings, store: Store, now: datetime, *, names: Sequence[str] | None = None
) -> list[ProfileReport]:
    """Select and record the next digest of each profile. A profile with no
    picks gets no digest (unless `send_empty`), but its window still moves."""
    from digest.pipeline.liking import look_up

    reports = []
    profiles = service.chosen(settings, names)
    look_up(store, profiles, settings.sources, wiring.fetcher(settings), now)  # liked, not stored
    # Read before selecting: the key of each window, so a second process that
    # selected the same window records nothing.
    marks = store.window_marks([p.name for p in profiles])
    pool, liked, selections = _selected(store, profiles)
    for profile in profiles:
        sel = selections[profile.name]
        digest, elsewhere = None, False
        if sel.picks or profile.send_empty or (profile.admin and service.health_notices(store)):
            window = {"upto_item_id": sel.upto_item_id, "window_after": marks[profile.name]}
            # Subscribers with feedback get their own ranking of the same window,
            # recorded in the digest's transaction so no sender sees one without it.
            mine = personalise(store, profile, pool, liked.get(profile.name, []))
            digest = store.record_digest(profile, sel.picks, now=now, personal=mine, **window)
            if elsewhere := digest is None:
                log.info("profile %s: digest already recorded by another process", profile.name)
        else:
            store.record_given(profile.name, [], upto_item_id=sel.upto_item_id, now=now)
        made = digest.id if digest else None
        found = ProfileReport(profile.name, sel.candidates, len(sel.picks), made)
        reports.append(replace(found, recorded_elsewhere=elsewhere))
        log.info(
            "profile %s: %d candidates, %d picked", profile.name, sel.candidates, len(sel.picks)
        )
    return reports


def ensure_recipients(settings: Settings, store: Store, now: datetime) -> None:
    """Fixed recipients listed in profiles become active subscribers of them. An
    address that unsubscribed stays unsubscribed: a config file never overrides that."""
    for profile in service.profiles(settings):
        for email in profile.recipients:
            store.add_subscriber(email, [profile.name], now=now, reactivate=False, cause="config")


def run_profiles(
    settings: Settings, store: Store, now: datetime, *, names: Sequence[str] | None = None
) -> tuple[list[ProfileReport], list[Path]]:
    """The digest half of a cycle: record each profile's digest, publish, send."""
    ensure_recipients(settings, store, now)
    with _gc_paused():
        profiles = create_digests(settings, store, now, names=names)
        failed = ""
        try:
            written = publish(settings, store, now, names=names)
        except OutputError as exc:  # the mail still goes; the next publish writes what is missing
            log.error(
                "publish failed: %s", exc, extra={"event": "publish_failed", "path": exc.path}
            )
            written, failed = [], str(exc)
        sent = send(settings, store, now, names=names)
    none = {"sent": 0, "temporary": 0, "permanent": 0}
    profiles = [
        replace(
            p,
            sent=sent.get(p.profile, none)["sent"],
            failed=sent.get(p.profile, none)["temporary"] + sent.get(p.profile, none)["permanent"],
            publish_error=failed,
        )
        for p in profiles
    ]
    return profiles, written


def run_once(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    names: Sequence[str] | None = None,
    fetcher: Fetcher | None = None,
) -> RunReport:
    """One cycle: ingest every source, then record, publish and send each
    profile's digest (all profiles, or `names`). The report is stored as a run.
    The profiles are loaded and checked first: a bad one stops it before any write."""
    service.chosen(settings, names)
    with store.run("cycle", now) as run_id:
        ingested = ingest(settings, store, now, fetcher=fetcher)
        profiles, written = run_profiles(settings, store, now, names=names)
        sent = {k: sum(getattr(p, k) for p in profiles) for k in ("sent", "failed")}
        report = RunReport(ingested, tuple(profiles), tuple(str(p) for p in written), sent)
        sound = not any(p.publish_error for p in profiles)
        status = "ok" if ingested.errors == 0 and sent["failed"] == 0 and sound else "partial"
        store.finish_run(run_id, now, status, service.run_report(report))
    return report


def dry_run(
    settings: Settings, store: Store, now: datetime, *, names: Sequence[str] | None = None
) -> RunReport:
    """Everything a cycle does, on a copy: the store, the outputs and the mail go to a
    temporary folder that is thrown away, so nothing is sent and nothing recorded."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="digest-dry-run-") as tmp:
        copy = Path(tmp) / "store.db"
        try:
            store.copy_to(copy)
        except StoreError as exc:
            raise DigestError(
                "--dry-run needs a SQLite store file (it runs on a copy of it)"
            ) from exc
        sandbox = replace(
            settings,
            web=replace(settings.web, output_dir=Path(tmp) / "out"),
            email=replace(settings.email, smtp=None, outbox=Path(tmp) / "outbox"),
        )
        with wiring.open_store(f"sqlite:///{copy}") as scratch:
            report = run_once(sandbox, scratch, now, names=names)
    return replace(report, written=(), dry_run=True)
