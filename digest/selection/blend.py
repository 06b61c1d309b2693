"""Selection for a profile with liked papers: keyword score plus similarity.

    score = keyword score + like_weight x similarity

The keyword score is `rank.score`'s (0 without hits); `similarity` is the mean
cosine to the profile's liked papers (`similar`), 0 to 1; `like_weight`
(default 10) is the profile's balance: 0 ranks by keywords alone, a large one
by likeness. A candidate is picked when no exclude term matched, it was seen in
one of the profile's `sources` (when it lists any), it is not itself a liked
paper, and its combined score reaches `min_score` (with `min_score: 0` every
candidate of the window is ranked). Ties go as in `rank.select`: recency, then
upvotes, then id. Each pick's reasons end with a `Reason(title of the nearest
liked paper, "like", what the similarity adds, factor = the cosine to that paper)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from digest.models import Candidate, Hit, Pick, Profile, Window
from digest.reasons import LIKE, Reason
from digest.selection.match import Matcher, Owners
from digest.selection.similar import Likeness, Model

# rank.explainer: profile -> (hits -> keyword score, hits -> (the hits that count, reasons))
Explain = Callable[[Sequence[Hit]], tuple[tuple[Hit, ...], tuple[Reason, ...]]]
Scorer = Callable[[Profile], tuple[Callable[[Sequence[Hit]], float], Explain]]

_DIGITS = 9  # as rank: 0.1 + 0.2 reaches a min_score of 0.3


class Blend:
    """What every liked profile's selection needs of one cycle, worked out once:
    the similarity model, the candidates each profile has hits (or an exclude)
    in, and the arrays that decide windows without a call per candidate."""

    def __init__(
        self,
        cands: Sequence[Candidate],
        found: Sequence[Owners],
        matcher: Matcher,
        liked: Mapping[str, Sequence[Candidate]],
        scorer: Scorer,
        disliked: Mapping[str, Sequence[Candidate]] | None = None,
    ) -> None:
        self.cands, self.found, self.matcher, self.scorer = cands, found, matcher, scorer
        self.model = Model(cands, liked, disliked)
        owner_name = [name for name, _ in matcher.keyword_owners]
        self.touched: dict[str, list[int]] = {}
        for i, f in enumerate(found):
            names = {owner_name[o] for o in (*f.title, *f.abstract)}
            names.update(n for n, _ in f.authors)
            names.update(f.excluded)
            for name in names:
                self.touched.setdefault(name, []).append(i)
        self.ids = np.fromiter((c.item_id for c in cands), dtype=np.int64, count=len(cands))
        self.seen_at = np.fromiter(
            (_stamp(c.first_seen) for c in cands), dtype=np.float64, count=len(cands)
        )

    def held(self, window: Window) -> npt.NDArray[np.bool_]:
        """Which candidates `window` holds (as `Window.holds`)."""
        mask = self.ids > window.after_id
        if window.since is not None:
            mask &= self.seen_at >= _stamp(window.since)
        if window.given:
            mask &= ~np.isin(self.ids, np.fromiter(window.given, dtype=np.int64))
        return mask

    def select(self, profile: Profile, window: Window, order: Sequence[int]) -> list[Pick] | None:
        """`profile`'s picks, or None when it has no liked paper (`rank` selects)."""
        likeness = self.model.likeness(profile.name)
        return None if likeness is None else select(profile, self, window, likeness, order)


def _stamp(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def select(
    profile: Profile,
    shared: Blend,
    window: Window,
    likeness: Likeness,
    order: Sequence[int],
) -> list[Pick]:
    """`profile`'s picks in `window`, best first (see the module docstring).
    `order[i]`: candidate i's place at equal score (recency, upvotes, id)."""
    cands, n = shared.cands, len(shared.cands)
    combined = likeness.similarity * profile.like_weight
    allowed = shared.held(window)
    allowed &= ~np.isin(shared.ids, np.fromiter((c.item_id for c in likeness.liked), np.int64))
    if profile.sources:
        wanted = set(profile.sources)
        allowed &= np.fromiter(
            (not wanted.isdisjoint(c.sources) for c in cands), dtype=np.bool_, count=n
        )
    hits_at: dict[int, Sequence[Hit]] = {}
    score, explain = shared.scorer(profile)
    for i in shared.touched.get(profile.name, ()):
        if not allowed[i]:
            continue
        if profile.name in shared.found[i].excluded:
            allowed[i] = False  # exclude wins over any likeness
            continue
        hits = shared.matcher.hits_of(shared.found[i], profile.name)
        if hits:
            combined[i] += score(hits)
            hits_at[i] = hits
    combined = np.round(combined, _DIGITS)
    allowed &= combined >= profile.min_score
    chosen = np.flatnonzero(allowed)
    keep = max(profile.max_items, 0)
    if len(chosen) > keep:  # only those that can reach the top need sorting
        cut = np.partition(combined[chosen], len(chosen) - keep)[len(chosen) - keep]
        chosen = chosen[combined[chosen] >= cut]
    ranked = sorted(chosen.tolist(), key=lambda i: (-combined[i], order[i]))[:keep]
    picks = []
    for i in ranked:
        nearest = likeness.liked[int(likeness.nearest[i])]
        counted, reasons = explain(hits_at[i]) if i in hits_at else ((), ())
        adds = round(float(combined[i]) - sum(r.value for r in reasons), _DIGITS)
        like = Reason(nearest.title, LIKE, adds, round(float(likeness.nearest_cosine[i]), 2))
        picks.append(Pick(cands[i], float(combined[i]), counted, (*reasons, like)))
    return picks
