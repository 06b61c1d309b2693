"""Each profile's liked papers, found in the store, else looked up by arXiv id
in a configured arXiv API source; the rest reported as `file:line`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

from digest.errors import SourceError
from digest.models import Candidate, Pick, Profile, SourceConfig
from digest.selection.likes import Like, resolve, unresolved_message
from digest.store import Store
from digest.store.merge import RANK
from digest.wiring import Fetcher

log = logging.getLogger("digest.pipeline")


_BATCH = 100  # ids per arXiv API request (its own page size)


def liked_papers(
    store: Store, profiles: Sequence[Profile], *, quiet: bool = False
) -> tuple[dict[str, list[Candidate]], list[Like]]:
    """The stored liked papers of each profile with `like:` / `like_file:`, and
    the likes no stored item answers (each logged as a warning unless `quiet`)."""
    wanted = [p for p in profiles if p.likes]
    if not wanted:
        return {}, []
    found = store.items_by_key({key for p in wanted for like in p.likes for key in like.keys})
    out: dict[str, list[Candidate]] = {}
    missing: list[Like] = []
    for p in wanted:
        out[p.name], lost = resolve(p.likes, found)
        for like in lost if not quiet else ():
            log.warning("%s", unresolved_message(like))
        missing += lost
    return out, missing


def api_query(location: str) -> str | None:
    """The arXiv API query URL of a source at one (`…/api/query`, whatever its
    search), or None: only such a source can be asked for papers by id."""
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.path.endswith("/api/query"):
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def look_up(
    store: Store,
    profiles: Sequence[Profile],
    sources: Sequence[SourceConfig],
    fetcher: Fetcher,
    now: datetime,
) -> int:
    """Ask the configured arXiv API sources for the liked papers the store lacks
    that have an arXiv id (`id_list`), and store what they answer as that source
    saw it. Returns how many it stored; a source that fails is logged and the
    next one asked; what none has stays reported by `liked_papers`."""
    from digest.sources import read_document

    _, missing = liked_papers(store, profiles, quiet=True)
    ids = sorted({k[6:] for like in missing for k in like.keys if k.startswith("arxiv:")})
    stored = 0
    for src in sources:
        base = api_query(src.location)
        if base is None or not ids:
            continue
        state = store.source(src.name, location=src.location, kind=src.kind or "")
        for start in range(0, len(ids), _BATCH):
            chunk = ids[start : start + _BATCH]
            url = f"{base}?id_list={','.join(chunk)}&max_results={len(chunk)}"
            try:
                fetched = fetcher(src.name, url, etag=None, last_modified=None)
                entries, _ = read_document("feed", fetched.content or b"", url=fetched.url)
                stored += store.add_entries(state.id, entries, rank=RANK["feed"], now=now).new
            except (SourceError, ValueError) as exc:
                log.warning("source %s: looking up liked papers: %s", src.name, exc)
        known = store.items_by_key({f"arxiv:{i}" for i in ids})
        ids = [i for i in ids if f"arxiv:{i}" not in known]
    return stored


def suggest(
    store: Store, profile: Profile, since: datetime, limit: int = 10
) -> tuple[list[tuple[str, int]], list[Like]]:
    """`profiles suggest`: phrases of the profile's liked papers that it lacks,
    each with how many of its picks among the items first seen since `since`
    would change; and the likes the store does not hold. Records nothing."""
    from digest.selection.rank import pick_all
    from digest.selection.suggest import candidates, changes

    liked, missing = liked_papers(store, [profile])
    papers = liked.get(profile.name, [])
    if not papers:
        return [], missing
    pool = store.pool([profile], since=since)

    def select(p: Profile) -> list[Pick]:
        return pick_all([p], replace(pool, windows={p.name: pool.windows[profile.name]}), liked)[
            p.name
        ].picks

    terms = candidates(profile, papers, pool.candidates, limit)
    return changes(profile, terms, select), missing
