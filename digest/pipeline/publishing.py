"""Publish: each profile's new issue pages, its archive index and its feeds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from digest import service, wiring
from digest.settings import Settings
from digest.store import Store

if TYPE_CHECKING:
    from digest.render.feeds import Format, Published

RECENT_ISSUES = 30  # issues a profile's archive index lists (at least the feed's worth)


def _kept_feeds(folder: Path, limit: int) -> Published | None:
    """The profile's items feeds as on disk, if their entries can be kept."""
    from digest.render.feeds import published

    files: dict[Format, Path] = {"rss": folder / "feed.xml", "atom": folder / "feed.atom"}
    return published({f: p.read_bytes() for f, p in files.items() if p.is_file()}, limit)


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
    failed publish, is written again), but for the one before a new issue: only its
    links to its neighbours are replaced. `rebuild` rewrites every recorded issue,
    for a template change."""
    from digest.deliver.files import write_behind
    from digest.render import page_name, publication, relinked, site_index, to_write

    written: list[Path] = []
    render = wiring.renderer(settings)
    web = settings.web
    with write_behind() as out:  # each profile's files written while the next is rendered
        for profile in service.chosen(settings, names):
            folder = web.output_dir / "archive" / profile.name
            listed = None if rebuild else max(web.feed_items, RECENT_ISSUES)
            # Heads for the index and the feed of issues (one more: the neighbour of the
            # oldest listed); full digests only for the pages to write and the items
            # feed, so the cost stays flat as the history grows.
            heads = store.issue_heads(profile, limit=listed and listed + 1)
            done = set() if rebuild else {p.name for p in folder.glob("*.html")}
            pages = to_write(heads, done, listed)
            if pages is None:  # many unpublished issues: a page needs an older neighbour
                heads = store.issue_heads(profile, limit=None)
                pages = to_write(heads, done) or []
            # A published page whose "next" link is new is patched, not rendered again.
            stale = {n: (folder / n).read_bytes() for h in pages if (n := page_name(h)) in done}
            patched = relinked(render, stale, heads)
            fresh = [h for h in pages if page_name(h) not in patched]
            # The items feeds as published keep their entries: only newer picks are read.
            kept = None if rebuild else _kept_feeds(folder, web.feed_items)
            newer = [h for h in heads if kept and h.created > kept.newest]
            if heads and len(newer) == len(heads):  # all newer: those not read may be too
                kept, newer = None, []
            also = [h.id for h in [*fresh, *newer] if h.id]
            papers = 0 if kept else web.feed_items
            digests = store.recent_digests(profile, papers=papers, also=also)
            if digests:
                digests[0] = service.with_notices(store, digests[0])
            files = publication(
                profile,
                digests,
                render,
                site_url=web.site_url,
                now=now,
                feed_items=web.feed_items,
                pages={page_name(h) for h in fresh},
                issues=heads,
                listed=listed,
                subscribe_url=web.subscribe_url,
                kept=kept,
            )
            written += out.write_files(folder, [*files, *patched.items()])
        # The site index lists every profile, published in this run or before.
        out.flush()  # this run's files on disk: the index looks there
        every = service.profiles(settings)
        latest = [(p, next(iter(store.issue_heads(p, limit=1)), None)) for p in every]
        archive = web.output_dir / "archive"
        shown = {p.name for p in every if (archive / p.name / "index.html").is_file()}
        index = site_index(
            render, latest, site_url=web.site_url, subscribe_url=web.subscribe_url, published=shown
        )
        written += out.write_files(archive, [("index.html", index)])
    return written
