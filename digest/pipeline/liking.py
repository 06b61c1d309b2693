"""Each profile's liked papers, found in the store; the rest reported as `file:line`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from digest.models import Candidate, Pick, Profile
from digest.selection.likes import Like, resolve, unresolved_message
from digest.store import Store

log = logging.getLogger("digest.pipeline")


def liked_papers(
    store: Store, profiles: Sequence[Profile]
) -> tuple[dict[str, list[Candidate]], list[Like]]:
    """The stored liked papers of each profile with `like:` / `like_file:`, and
    the likes no stored item answers (each logged as a warning)."""
    wanted = [p for p in profiles if p.likes]
    if not wanted:
        return {}, []
    found = store.items_by_key({key for p in wanted for like in p.likes for key in like.keys})
    out: dict[str, list[Candidate]] = {}
    missing: list[Like] = []
    for p in wanted:
        out[p.name], lost = resolve(p.likes, found)
        for like in lost:
            log.warning("%s", unresolved_message(like))
        missing += lost
    return out, missing


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
