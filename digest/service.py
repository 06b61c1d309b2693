"""What people ask for, for the faces (CLI, web, daemon) to call.

- profiles: the configured ones, one by name;
- subscriptions, per (address, profile): request (the web form, double opt-in),
  confirm, unsubscribe and manage (by signed link), add, remove, show, import (a CSV);
- feedback by signed link: follow one, list and remove them, and the subscriber's own
  page of an issue that carries the links (digest/feedback.py);
- status: each source's health (one classification: ok, failing, stale, empty) and the
  summary `digest status` prints;
- reports: the JSON form of ingest and run reports (stored as the run's record,
  and printed by `--json`), and of items, subscribers and previews.

The pipeline uses the profiles, the health notices and the report form from here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from digest.errors import UsageError
from digest.feedback import Followed as Followed
from digest.feedback import Reading as Reading
from digest.feedback import follow as follow
from digest.feedback import link_tokens as link_tokens
from digest.feedback import listing as listing
from digest.feedback import reading as reading
from digest.feedback import remove_feedback as remove_feedback
from digest.feedback import view_token as view_token
from digest.mailing import DigestDeliveries
from digest.models import Candidate, Digest, IngestReport, Pick, Profile, RunReport, SourceState
from digest.settings import Settings
from digest.subscriptions import (
    MANAGE_FOR as MANAGE_FOR,
)
from digest.subscriptions import (
    Import as Import,
)
from digest.subscriptions import (
    MailTokens as MailTokens,
)
from digest.subscriptions import (
    Purpose as Purpose,
)
from digest.subscriptions import (
    add as add,
)
from digest.subscriptions import (
    address as address,
)
from digest.subscriptions import (
    confirm as confirm,
)
from digest.subscriptions import (
    consent_dict as consent_dict,
)
from digest.subscriptions import (
    holder as holder,
)
from digest.subscriptions import (
    import_subscribers as import_subscribers,
)
from digest.subscriptions import (
    mail_tokens as mail_tokens,
)
from digest.subscriptions import (
    manage as manage,
)
from digest.subscriptions import (
    manage_token as manage_token,
)
from digest.subscriptions import (
    manage_view as manage_view,
)
from digest.subscriptions import (
    reachable as reachable,
)
from digest.subscriptions import (
    read_import as read_import,
)
from digest.subscriptions import (
    remove as remove,
)
from digest.subscriptions import (
    request as request,
)
from digest.subscriptions import (
    show as show,
)
from digest.subscriptions import (
    subscriber_dict as subscriber_dict,
)
from digest.subscriptions import (
    unsubscribe as unsubscribe,
)

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
    raise UsageError(f"no profile named {name!r} in {settings.profiles_dir}")


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
            raise UsageError(f"no profile named {missing[0]!r} in {settings.profiles_dir}")
        found = [p for p in found if p.name in names]
    return found


# -- subscriptions: in digest/subscriptions.py, imported above ----------------


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
                "like": next(
                    (
                        {"title": r.term, "similarity": r.factor, "adds": r.value}
                        for r in p.reasons
                        if r.field == "like"
                    ),
                    None,
                ),
                "key": p.candidate.key,
                "url": p.candidate.url,
                "sources": list(p.candidate.sources),
            }
            for p in picks
        ]
        return json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    if fmt == "markdown":  # feed text escaped, and only safe URLs linked, as `render` does
        from digest.render import md_escape, safe_url

        lines = [f"# {md_escape(profile.title)}\n\n{len(picks)} papers\n"]
        for p in picks:
            title, url = md_escape(p.candidate.title), safe_url(p.candidate.url or "")
            link = f"[{title}]({url})" if url else title
            lines.append(f"- {link} — score {p.score:g}; {md_escape(p.because())}")
        return "\n".join(lines) + "\n"
    lines = [f"{profile.title}: {len(picks)} papers"]
    lines += [f"{p.score:>6g}  {p.candidate.title}\n        {p.because()}" for p in picks]
    return "\n".join(lines) + "\n"
