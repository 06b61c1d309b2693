"""Publish: each profile's new issue pages, its archive index and its feeds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from digest import service, wiring
from digest.settings import Settings
from digest.store import Store

RECENT_ISSUES = 30  # issues a profile's archive index lists (at least the feed's worth)


def publish(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    names: Sequence[str] | None = None,
    rebuild: bool = False,
) -> list[Path]:
    """Write each profile's new issue pages, its index and its feeds.

    Issue pages already on disk are kept as they are (a missing one, say after a
    failed publish, is written again); `rebuild` rewrites every recorded issue, for
    a template change."""
    from digest.deliver.files import write_files
    from digest.render import page_name, publication

    written: list[Path] = []
    render = wiring.renderer(settings)
    for profile in service.chosen(settings, names):
        folder = settings.web.output_dir / "archive" / profile.name
        limit = None if rebuild else max(settings.web.feed_items, RECENT_ISSUES)
        # Heads for the index and the feed of issues; full digests only for the new
        # pages and the items feed, so the cost stays flat as the history grows.
        heads = store.issue_heads(profile, limit=limit)
        done = set() if rebuild else {p.name for p in folder.glob("*.html")}
        new = [h.id for h in heads if h.id and page_name(h) not in done]
        digests = store.recent_digests(profile, papers=settings.web.feed_items, also=new)
        if digests:
            digests[0] = service.with_notices(store, digests[0])
        files = publication(
            profile,
            digests,
            render,
            site_url=settings.web.site_url,
            now=now,
            feed_items=settings.web.feed_items,
            skip=done,
            issues=heads,
        )
        written += write_files(folder, files)
    return written
