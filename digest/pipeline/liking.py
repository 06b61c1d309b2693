"""Each profile's liked papers, found in the store; the rest reported as `file:line`."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from digest.models import Candidate, Profile
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
