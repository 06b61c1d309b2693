"""Score and rank matched candidates. Pure: no I/O, no clock.

`pick_all` is a cycle's selection: one matcher pass over the shared candidates
for every profile, then each profile's window, score and rank (`select`).

Scoring (see `score`): each DISTINCT keyword term counts once, with its weight
times `profile.title_weight` when it matched in the title, or times 1 when it
matched only in the abstract. Each distinct author hit counts 1 (an author's
weight is 1; there is no per-author weight). Hits name a term as the profile
writes it (`Term.text`, a regex with its slashes); terms and authors are
compared case-insensitively, and a term the profile does not know counts 1.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from digest.models import Candidate, Hit, Pick, Pool, Profile, Selection, Window
from digest.selection.match import Matcher

_FIELD_ORDER = {"title": 0, "abstract": 1, "author": 2}
_DIGITS = 9  # scores are rounded so that 0.1 + 0.2 reaches a min_score of 0.3


class _Weights:
    """Weight and position in the profile of each keyword and author."""

    def __init__(self, profile: Profile) -> None:
        self.terms: dict[str, tuple[float, int]] = {}
        for n, term in enumerate(profile.keywords):
            self.terms.setdefault(term.text.casefold(), (term.weight, n))
        self.authors = {a.casefold(): (1.0, n) for n, a in enumerate(profile.authors)}

    def of(self, hit: Hit) -> tuple[float, int]:
        known = self.authors if hit.field == "author" else self.terms
        return known.get(hit.term.casefold(), (1.0, len(known)))


def _score(profile: Profile, hits: Sequence[Hit], weights: _Weights) -> float:
    best: dict[tuple[bool, str], float] = {}  # (is author, folded term) -> weight x factor
    for hit in hits:
        key = (hit.field == "author", hit.term.casefold())
        factor = profile.title_weight if hit.field == "title" else 1.0
        # With title_weight >= 1 (the usual case) this is: title_weight if the term
        # matched in the title, else 1. A term in both fields never scores below 1.
        value = weights.of(hit)[0] * factor
        best[key] = max(best.get(key, value), value)
    return round(sum(best.values()), _DIGITS)


def score(profile: Profile, hits: Sequence[Hit]) -> float:
    """The weighted sum over distinct terms; see the module docstring."""
    return _score(profile, hits, _Weights(profile))


def _ordered(hits: Sequence[Hit], weights: _Weights) -> tuple[Hit, ...]:
    """One hit per (term, field): title first, then abstract, then author; within
    a field by term weight (higher first), then the order of the profile."""
    unique = list(dict.fromkeys(hits))

    def key(hit: Hit) -> tuple[int, float, int, str]:
        weight, position = weights.of(hit)
        return _FIELD_ORDER.get(hit.field, 3), -weight, position, hit.term

    return tuple(sorted(unique, key=key))


def _timestamp(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _rank(pick: Pick) -> tuple[float, float, int, int, int]:
    c = pick.candidate
    recency = _timestamp(c.published or c.first_seen)
    known = 0 if c.upvotes is not None else 1
    return -pick.score, -recency, known, -(c.upvotes or 0), c.item_id


def select(
    profile: Profile,
    candidates: Sequence[Candidate],
    results: Mapping[int, tuple[tuple[Hit, ...], bool]],
) -> list[Pick]:
    """The candidates worth a place in `profile`'s digest, best first.

    `results` maps `Candidate.item_id` to (this profile's hits, excluded?); a
    candidate missing from it has no hits. A candidate is picked when it is not
    excluded, was seen in one of `profile.sources` (when the profile lists any),
    has at least one hit and scores at least `profile.min_score`. Picks are ranked
    by score, then recency (`published`, else `first_seen`; newer first), then
    upvotes (more first; unknown after known), then `item_id`; at most
    `profile.max_items` are returned.
    """
    weights = _Weights(profile)
    wanted = set(profile.sources)
    picks: list[Pick] = []
    for candidate in candidates:
        hits, excluded = results.get(candidate.item_id, ((), False))
        if excluded or not hits:
            continue
        if wanted and wanted.isdisjoint(candidate.sources):
            continue
        value = _score(profile, hits, weights)
        if value >= profile.min_score:
            picks.append(Pick(candidate, value, _ordered(hits, weights)))
    picks.sort(key=_rank)
    return picks[: max(profile.max_items, 0)]


def _extent(pool: Pool, ids: Sequence[int], known: set[int], window: Window) -> tuple[int, int]:
    """How many of the pool's candidates `window` holds, and the newest one's id."""
    if window.since is not None:  # a preview's look-back: not an id range
        inside = [c.item_id for c in pool.candidates if window.holds(c)]
        return len(inside), max(inside, default=0)
    start = bisect_right(ids, window.after_id)
    given = {i for i in window.given if i > window.after_id and i in known}
    upto = next((i for i in reversed(ids[start:]) if i not in given), 0)
    return len(ids) - start - len(given), upto


def pick_all(profiles: Sequence[Profile], pool: Pool) -> dict[str, Selection]:
    """Each profile's next digest from the shared pool: every candidate is
    matched once against all profiles (one `Matcher`), then each profile
    selects among the matches its window holds. Records nothing."""
    matcher = Matcher(profiles)
    matched: dict[str, list[tuple[Candidate, tuple[Hit, ...], bool]]] = {
        p.name: [] for p in profiles
    }
    for c in pool.candidates:
        result = matcher.match(c.title, c.summary, c.authors)
        for name, hits in result.hits.items():
            matched[name].append((c, hits, name in result.excluded))
    ids = [c.item_id for c in pool.candidates]
    known = set(ids)
    out: dict[str, Selection] = {}
    for p in profiles:
        window = pool.windows[p.name]
        mine = [m for m in matched[p.name] if window.holds(m[0])]
        results = {c.item_id: (hits, excluded) for c, hits, excluded in mine}
        count, upto = _extent(pool, ids, known, window)
        out[p.name] = Selection(select(p, [m[0] for m in mine], results), count, upto)
    return out
