"""The head of a recorded issue: what an index or a feed of issues shows of it.

Kept apart from `digest.models`; it crosses the same rooms
(store -> render)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from digest.models import Profile


@dataclass(frozen=True, slots=True)
class IssueHead:
    """A recorded issue as an index or a feed of issues shows it: no picks, only
    their count and the first few titles (plain text), so listing 30 is cheap."""

    profile: Profile
    id: int | None
    created: datetime
    count: int
    titles: tuple[str, ...]
