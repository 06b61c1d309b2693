"""Selection for a profile with liked papers: keyword score plus similarity.

    score = K + like_weight x K* x (S / S* - DISLIKE x D / D*)

(the README's "Ranking by liked papers" documents it for readers). K is the
keyword score (`rank.score`'s, 0 without hits), S the similarity to the liked
papers and D to the disliked ones (`similar.Model`'s); K*, S* and D* are the
best of each among the candidates the profile may be given this cycle (its
window, less excluded, other sources' and its own liked or disliked papers).
Each signal counts as a share of the window's best, so the balance does not
hang on the scale of the keyword weights (one profile's best hit scores 4,
another's 13) nor on how close today's candidates are to the liked papers:
the most similar candidate adds `like_weight` times the best keyword score.
`like_weight` is the profile's balance: 0 ranks by keywords alone, the default
0.5 lets similarity reorder the keyword hits and add close papers without
hits below the best of them, a large one ranks by likeness. A window without
keyword hits (a profile of likes alone) takes `NO_KEYWORDS` as K*.

A candidate is picked when no exclude term matched, it was seen in one of the
profile's `sources` (when it lists any), it is not itself a liked paper, and its
combined score reaches `min_score` (with `min_score: 0` every candidate of the
window is ranked). Ties go as in `rank.select`: recency, then upvotes, then id.
Each pick's reasons end with a `Reason(title of the nearest liked paper, "like",
what the similarity adds, factor = the cosine to that paper)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain

import numpy as np
import numpy.typing as npt

from digest.models import Candidate, Hit, Pick, Profile, Window
from digest.reasons import LIKE, UNLIKE, Reason
from digest.selection.match import Matcher, Owners
from digest.selection.profiles import NO_KEYWORDS
from digest.selection.similar import DISLIKE, Likeness, Model

# rank.explainer: profile -> (hits -> keyword score, hits -> (the hits that count, reasons))
Explain = Callable[[Sequence[Hit]], tuple[tuple[Hit, ...], tuple[Reason, ...]]]
Scorer = Callable[[Profile], tuple[Callable[[Sequence[Hit]], float], Explain]]

Ints = npt.NDArray[np.int64]
_DIGITS = 9  # as rank: 0.1 + 0.2 reaches a min_score of 0.3


class Blend:
    """What every liked profile's selection needs of one cycle, worked out once:
    the similarity model, each field's (candidate, keyword owner) matches sorted
    by owner (a profile's owners are one run of ids, so its matches one slice),
    the excludes and author hits, and the arrays that decide windows."""

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
        self.owners = matcher.keyword_owners
        self.fields = [_pairs([f.title for f in found]), _pairs([f.abstract for f in found])]
        self.span: dict[str, tuple[int, int]] = {}  # profile -> its owner ids [lo, hi)
        for owner, (name, _) in enumerate(self.owners):
            self.span[name] = (self.span.get(name, (owner, owner))[0], owner + 1)
        self.excluded: dict[str, list[int]] = {}
        self.authors: dict[str, list[tuple[int, str]]] = {}  # (candidate, folded name)
        for i, f in enumerate(found):
            for name in f.excluded:
                self.excluded.setdefault(name, []).append(i)
            for name, hit in f.authors:
                self.authors.setdefault(name, []).append((i, hit.term.casefold()))
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

    def keyword_scores(
        self, profile: Profile
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Each candidate's keyword score (`rank.score`'s: each term or author once,
        at its best field), 0 without hits; and which candidates have hits."""
        n = len(self.cands)
        lo, hi = self.span.get(profile.name, (0, 0))
        weights: dict[str, tuple[int, float]] = {}  # folded term -> (its key, weight)
        for t in profile.keywords:
            weights.setdefault(t.text.casefold(), (len(weights), t.weight))
        key = np.array([weights[text.casefold()][0] for _, text in self.owners[lo:hi]], np.int64)
        weight = np.array([weights[text.casefold()][1] for _, text in self.owners[lo:hi]])
        cand_parts, key_parts, value_parts = [], [], []
        for (owners, at), factor in zip(self.fields, (profile.title_weight, 1.0), strict=True):
            start, stop = np.searchsorted(owners, (lo, hi))
            cand_parts.append(at[start:stop])
            key_parts.append(key[owners[start:stop] - lo])
            value_parts.append(weight[owners[start:stop] - lo] * factor)
        cand: Ints = np.concatenate(cand_parts)
        keys: Ints = np.concatenate(key_parts)
        values: npt.NDArray[np.float64] = np.concatenate(value_parts)
        pair = cand * max(len(weights), 1) + keys
        last = np.lexsort((values, pair))  # by pair, then value: the best is each run's last
        best = last[np.r_[pair[last][1:] != pair[last][:-1], True]] if len(last) else last
        out = np.bincount(cand[best], values[best], minlength=n).astype(np.float64)
        hit = set(self.authors.get(profile.name, ()))  # an author counts 1, once
        by_author = np.fromiter((i for i, _ in hit), np.int64, len(hit))
        np.add.at(out, by_author, 1.0)
        has = np.zeros(n, dtype=np.bool_)
        has[cand] = has[by_author] = True
        return np.round(out, _DIGITS), has

    def select(self, profile: Profile, window: Window, order: Sequence[int]) -> list[Pick] | None:
        """`profile`'s picks, or None when it has no liked or disliked paper
        (`rank` selects)."""
        likeness = self.model.likeness(profile.name)
        return None if likeness is None else select(profile, self, window, likeness, order)


def _pairs(
    owners: Sequence[tuple[int, ...]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each (keyword owner, candidate) of one field, sorted by owner."""
    lengths = np.fromiter(map(len, owners), np.int64, len(owners))
    flat = np.fromiter(chain.from_iterable(owners), np.int64, int(lengths.sum()))
    at = np.repeat(np.arange(len(owners)), lengths)
    by = np.argsort(flat, kind="stable")
    return flat[by], at[by]


def _best(values: npt.NDArray[np.float64], allowed: npt.NDArray[np.bool_]) -> float:
    """The highest of `values` among the `allowed` candidates, 0 when none is above 0."""
    return max(float(values[allowed].max()), 0.0) if allowed.any() else 0.0


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
    allowed = shared.held(window)
    own = (c.item_id for c in chain(likeness.liked, likeness.disliked))
    allowed &= ~np.isin(shared.ids, np.fromiter(own, np.int64))
    if profile.sources:
        wanted = set(profile.sources)
        allowed &= np.fromiter(
            (not wanted.isdisjoint(c.sources) for c in cands), dtype=np.bool_, count=n
        )
    _, explain = shared.scorer(profile)
    keyword, has_hits = shared.keyword_scores(profile)
    if not likeness.liked:  # dislikes alone: the keyword profile's candidates, lowered
        allowed &= has_hits
    allowed[shared.excluded.get(profile.name, [])] = False  # exclude wins over any likeness
    unit = profile.like_weight * (_best(keyword, allowed) or NO_KEYWORDS)
    more = likeness.similarity * (unit / (_best(likeness.similarity, allowed) or 1.0))
    less = likeness.against * (unit / (_best(likeness.against, allowed) / DISLIKE or 1.0))
    combined = np.round(keyword + more - less, _DIGITS)
    allowed &= combined >= profile.min_score
    chosen = np.flatnonzero(allowed)
    keep = max(profile.max_items, 0)
    if len(chosen) > keep:  # only those that can reach the top need sorting
        cut = np.partition(combined[chosen], len(chosen) - keep)[len(chosen) - keep]
        chosen = chosen[combined[chosen] >= cut]
    ranked = sorted(chosen.tolist(), key=lambda i: (-combined[i], order[i]))[:keep]
    near = dict(zip(ranked, likeness.nearest(ranked), strict=False))
    far = dict(zip(ranked, likeness.nearest(ranked, disliked=True), strict=False))
    picks = []
    for i in ranked:
        hits = shared.matcher.hits_of(shared.found[i], profile.name)
        counted, reasons = explain(hits) if hits else ((), ())
        left = float(combined[i]) - sum(r.value for r in reasons)  # what the likeness adds
        if i in far:  # the last reason takes the rounding, so that they add up
            value = round(left + float(less[i]), _DIGITS) if i in near else 0.0
            paper, cosine = far[i]
            minus = Reason(paper.title, UNLIKE, round(left - value, _DIGITS), round(cosine, 2))
            left = value
        if i in near:
            paper, cosine = near[i]
            reasons = (*reasons, Reason(paper.title, LIKE, round(left, _DIGITS), round(cosine, 2)))
        if i in far:
            reasons = (*reasons, minus)
        picks.append(Pick(cands[i], float(combined[i]), counted, reasons))
    return picks
