"""What people ask for, for the faces (CLI, web, daemon) to call.

- profiles: the configured ones, one by name;
- subscriptions: request (the web form, double opt-in), confirm, unsubscribe (by
  signed token), add, remove, import (a CSV);
- status: each source's health (one classification: ok, failing, stale, empty) and the
  summary `digest status` prints;
- reports: the JSON form of ingest and run reports (stored as the run's record,
  and printed by `--json`), and of items, subscribers and previews.

The pipeline uses the profiles, the health notices and the report form from here.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from digest.addresses import normalize
from digest.errors import DigestError, TokenError
from digest.mailing import DigestDeliveries, Subscriber
from digest.models import Candidate, Digest, IngestReport, Pick, Profile, RunReport, SourceState
from digest.settings import Settings

if TYPE_CHECKING:
    from digest.store import Store

# -- profiles ----------------------------------------------------------------


def profiles(settings: Settings) -> list[Profile]:
    """The configured profiles; none when no profiles folder is configured or there."""
    from digest.selection.profiles import load_profiles

    if settings.profiles_dir is None or not settings.profiles_dir.is_dir():
        return []
    return load_profiles(settings.profiles_dir, {s.name for s in settings.sources})


def profile(settings: Settings, name: str) -> Profile:
    for p in profiles(settings):
        if p.name == name:
            return p
    raise DigestError(f"no profile named {name!r} in {settings.profiles_dir}")


def check_profiles(settings: Settings, target: Path) -> list[Profile]:
    """The profiles in a file or folder, validated (ConfigError: file:line problems)."""
    from digest.selection.profiles import load_profile, load_profiles

    sources = {s.name for s in settings.sources}
    return [load_profile(target, sources)] if target.is_file() else load_profiles(target, sources)


def chosen(settings: Settings, names: Sequence[str] | None) -> list[Profile]:
    """The profiles named (all of them when `names` is empty); an unknown name is an error."""
    found = profiles(settings)
    if names:
        known = {p.name for p in found}
        missing = [n for n in names if n not in known]
        if missing:
            raise DigestError(f"no profile named {missing[0]!r} in {settings.profiles_dir}")
        found = [p for p in found if p.name in names]
    return found


# -- subscriptions -----------------------------------------------------------


def address(raw: str) -> str:
    """`addresses.normalize`, lower-cased; ValueError when it is not an address."""
    email = normalize(raw, fold_local=True)
    if email is None:
        raise ValueError(f"not an email address: {raw!r}")
    return email


def add(
    settings: Settings, store: Store, email: str, names: Sequence[str], now: datetime
) -> Subscriber:
    """Add (or re-activate) a confirmed subscriber of the named profiles."""
    email = address(email)
    chosen(settings, names)
    return store.add_subscriber(email, names, now=now)


def remove(store: Store, email: str, now: datetime) -> Subscriber:
    """Unsubscribe an address: it is kept, marked, and never mailed again."""
    email = address(email)
    sub = store.subscriber(email)
    if sub is None:
        raise DigestError(f"no subscriber {email}")
    store.set_subscriber_status(sub.id, "unsubscribed", now)
    return sub


def request(
    store: Store, email: str, names: Sequence[str], now: datetime
) -> tuple[Subscriber, bool]:
    """A subscription asked for on the web: (the subscriber, whether it needs a
    confirmation mail). An active subscription never changes from here."""
    sub = store.subscriber(email)
    if sub is not None and sub.status == "active":
        return sub, False
    # Unsubscribed or bounced: pending again, so only the new link activates.
    return store.add_subscriber(email, names, now=now, status="pending", reactivate=True), True


Purpose = Literal["confirm", "unsubscribe"]


def holder(store: Store, key: bytes, token: str, purpose: Purpose, now: datetime) -> Subscriber:
    """The subscriber a signed link was made for; TokenError when it is not valid."""
    from digest.tokens import check_token

    def secret(subscriber_id: int) -> str | None:
        sub = store.subscriber_by_id(subscriber_id)
        return sub.secret if sub else None

    sub = store.subscriber_by_id(check_token(key, token, purpose, secret, now=now))
    if sub is None:  # deleted between the two reads
        raise TokenError("unknown subscriber")
    return sub


def confirm(store: Store, key: bytes, token: str, now: datetime) -> tuple[Subscriber, bool]:
    """Activate the subscription a confirmation link is for: (it, whether it changed)."""
    sub = holder(store, key, token, "confirm", now)
    if sub.status == "active":
        return sub, False
    if sub.status != "pending":
        # Unsubscribed (or bounced) since this link was sent: it may not undo that.
        raise TokenError("superseded")
    store.set_subscriber_status(sub.id, "active", now)
    return sub, True


def unsubscribe(store: Store, key: bytes, token: str, now: datetime) -> tuple[Subscriber, bool]:
    """Unsubscribe whoever an unsubscribe link is for: (them, whether it changed)."""
    sub = holder(store, key, token, "unsubscribe", now)
    if sub.status == "unsubscribed":
        return sub, False
    store.set_subscriber_status(sub.id, "unsubscribed", now)
    return sub, True


@dataclass(frozen=True, slots=True)
class Import:
    """A CSV of subscribers, read and checked: the good rows and why others were not."""

    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (address, profiles)
    problems: tuple[str, ...]  # "file:line: why", one per rejected row


def read_import(settings: Settings, path: Path) -> Import:
    """Subscribers from a CSV with columns `email` and `profiles` (separated by `;`
    or spaces). ValueError when it has no `email` column."""
    known = {p.name for p in profiles(settings)}
    good: list[tuple[str, tuple[str, ...]]] = []
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "email" not in reader.fieldnames:
            raise ValueError(f"{path}: needs a header row with an `email` column")
        for row in reader:
            line = reader.line_num
            try:
                email = address(row.get("email") or "")
            except ValueError as exc:
                problems.append(f"{path}:{line}: {exc}")
                continue
            names = [n for n in re.split(r"[;\s]+", (row.get("profiles") or "").strip()) if n]
            unknown = [n for n in names if n not in known]
            if not names or unknown:
                why = f"unknown profile {unknown[0]!r}" if unknown else "no profiles"
                problems.append(f"{path}:{line}: {email}: {why}")
                continue
            good.append((email, tuple(names)))
    return Import(tuple(good), tuple(problems))


def import_subscribers(store: Store, rows: Import, now: datetime) -> int:
    """Add (or re-activate) the good rows of an import; how many there were."""
    for email, names in rows.rows:
        store.add_subscriber(email, names, now=now)
    return len(rows.rows)


def subscriber_dict(s: Subscriber) -> dict[str, Any]:
    return {
        "email": s.email,
        "status": s.status,
        "profiles": list(s.profiles),
        "created": s.created_at.isoformat(),
        "confirmed": s.confirmed_at.isoformat() if s.confirmed_at else None,
    }


def deliveries_dict(d: DigestDeliveries) -> dict[str, Any]:
    return {
        "digest": d.digest_id,
        "profile": d.profile,
        "created": d.created.isoformat(),
        "papers": d.papers,
        "pending": d.pending,
        "sent": d.sent,
        "failed-temporary": d.failed_temporary,
        "failed-permanent": d.failed_permanent,
    }


# -- status ------------------------------------------------------------------

STALE_AFTER = 3  # consecutive failures before a source is called stale
EMPTY_AFTER = 2  # fetches in a row with no entries, from a source that had some
Health = Literal["ok", "failing", "stale", "empty"]


def health(source: SourceState) -> Health:
    if source.consecutive_failures >= STALE_AFTER:
        return "stale"
    if source.consecutive_failures:
        return "failing"
    # A source that never gave entries is new or quiet, not broken: only a change is news.
    if source.empty_fetches >= EMPTY_AFTER and source.last_entries_at is not None:
        return "empty"
    return "ok"


def _notice(s: SourceState) -> str | None:
    state = health(s)
    if state == "stale":
        return (
            f"source {s.name} is stale: {s.consecutive_failures} failed fetches in a row"
            f" (last error: {s.last_error})"
        )
    if state == "empty" and s.last_entries_at is not None:
        return (
            f"source {s.name} gave no entries {s.empty_fetches} runs in a row"
            f" (last entries {s.last_entries_at.date().isoformat()})"
        )
    return None


def health_notices(store: Store) -> tuple[str, ...]:
    """What the admin should hear about: sources that keep failing or went empty."""
    return tuple(n for n in map(_notice, store.sources()) if n)


def with_notices(store: Store, digest: Digest) -> Digest:
    """An admin profile's digest carries the health notices; others go as recorded."""
    if not digest.profile.admin:
        return digest
    return replace(digest, notices=health_notices(store))


def status(store: Store) -> dict[str, Any]:
    """Health at a glance: sources, the last run, subscribers and deliveries."""
    last = store.last_run()
    ledger = store.deliveries()
    return {
        "sources": [
            {
                "name": s.name,
                "state": health(s),
                "consecutive_failures": s.consecutive_failures,
                "last_error": s.last_error,
                "last_success": s.last_success_at.isoformat() if s.last_success_at else None,
                "last_new": s.last_new_at.isoformat() if s.last_new_at else None,
                "empty_fetches": s.empty_fetches,
                "last_entries": s.last_entries_at.isoformat() if s.last_entries_at else None,
            }
            for s in store.sources()
        ],
        "last_run": None
        if last is None
        else {
            "id": last.id,
            "kind": last.kind,
            "status": last.status,
            "started": last.started_at.isoformat(),
        },
        "subscribers": dict(Counter(s.status for s in store.subscribers())),
        "deliveries": {
            "sent": sum(r.sent for r in ledger),
            "pending": sum(r.pending for r in ledger),
            "failed-temporary": sum(r.failed_temporary for r in ledger),
            "failed-permanent": sum(r.failed_permanent for r in ledger),
        },
    }


def store_label(store: Store) -> str:
    """The store's URL (password hidden) and how many papers it holds."""
    url = store.engine.url.render_as_string(hide_password=True)
    return f"{url} ({store.count_items()} papers)"


# -- reports -----------------------------------------------------------------


def ingest_report(report: IngestReport) -> dict[str, Any]:
    return {
        "run_id": report.run_id,
        "entries": report.entries,
        "new": report.new,
        "duplicates": report.duplicates,
        "errors": report.errors,
        "sources": [{**asdict(s), "warnings": list(s.warnings)} for s in report.sources],
    }


def run_report(report: RunReport) -> dict[str, Any]:
    return {
        "ingest": ingest_report(report.ingest),
        "profiles": [asdict(p) for p in report.profiles],
        "written": list(report.written),
        "sent": report.sent,
        "dry_run": report.dry_run,
    }


def item_dict(i: Candidate) -> dict[str, Any]:
    return {
        "id": i.item_id,
        "title": i.title,
        "summary": i.summary,
        "authors": list(i.authors),
        "link": i.url,
        "pdf_url": i.pdf_url,
        "arxiv_id": i.arxiv_id or None,
        "version": i.version,
        "doi": i.doi or None,
        "published": i.published.isoformat() if i.published else None,
        "first_seen": i.first_seen.isoformat(),
        "categories": list(i.categories),
        "upvotes": i.upvotes,
    }


def preview(profile: Profile, picks: Sequence[Pick], fmt: str) -> str:
    """What a profile's next digest would hold, as `digest preview` prints it:
    "text" (scores and reasons), "markdown" or "json"."""
    if fmt == "json":
        import json

        out = [
            {
                "title": p.candidate.title,
                "score": p.score,
                "matched": [{"term": h.term, "field": h.field} for h in p.matched],
                "reasons": [
                    {"term": r.term, "field": r.field, "value": r.value} for r in p.reasons
                ],
                "key": p.candidate.key,
                "url": p.candidate.url,
                "sources": list(p.candidate.sources),
            }
            for p in picks
        ]
        return json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":
        lines = [f"# {profile.title}\n\n{len(picks)} papers\n"]
        for p in picks:
            title = p.candidate.title.replace("[", "\\[").replace("]", "\\]")
            lines.append(f"- [{title}]({p.candidate.url}) — score {p.score:g}; {p.because()}")
        return "\n".join(lines) + "\n"
    lines = [f"{profile.title}: {len(picks)} papers"]
    lines += [f"{p.score:>6g}  {p.candidate.title}\n        {p.because()}" for p in picks]
    return "\n".join(lines) + "\n"
