"""Score and rank matched candidates. Pure: no I/O, no clock.

`pick_all` is a cycle's selection: one matcher pass over the shared candidates
for every profile, then each profile's window, score and rank (`select`).

Scoring (see `score`): each DISTINCT keyword term counts once, with its weight
times `profile.title_weight` when it matched in the title, or times 1 when it
matched only in the abstract. Each distinct author hit counts 1 (an author's
weight is 1; there is no per-author weight). Hits name a term as the profile
writes it (`Term.text`, a regex with its slashes); terms and authors are
compared case-insensitively, and a term the profile does not know counts 1.

A pick keeps only the hits that counted (one per term and author) and a
`Reason` for each, whose values add up to its score (`_explain`).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from digest.models import Candidate, Hit, Pick, Pool, Profile, Selection, Window
from digest.reasons import Reason
from digest.selection.match import Matcher, Owners

_FIELD_ORDER = {"title": 0, "abstract": 1, "author": 2}
_DIGITS = 9  # scores are rounded so that 0.1 + 0.2 reaches a min_score of 0.3


class _Weights:
    """Weight and position in the profile of each keyword and author."""

    def __init__(self, profile: Profile) -> None:
        self.terms: dict[str, tuple[float, int]] = {}
        for n, term in enumerate(profile.keywords):
            self.terms.setdefault(term.text.casefold(), (term.weight, n))
        self.authors = {a.casefold(): (1.0, n) for n, a in enumerate(profile.authors)}
        self.title_weight = profile.title_weight
        # hit -> (is author, folded term), weight x factor: hits recur, so kept
        self._values: dict[Hit, tuple[tuple[bool, str], float]] = {}

    def of(self, hit: Hit) -> tuple[float, int]:
        known = self.authors if hit.field == "author" else self.terms
        return known.get(hit.term.casefold(), (1.0, len(known)))

    def value(self, hit: Hit) -> tuple[tuple[bool, str], float]:
        got = self._values.get(hit)
        if got is None:
            # With title_weight >= 1 (the usual case) this is: title_weight if the
            # term matched in the title, else 1. A term in both fields never scores
            # below 1.
            factor = self.title_weight if hit.field == "title" else 1.0
            got = (hit.field == "author", hit.term.casefold()), self.of(hit)[0] * factor
            self._values[hit] = got
        return got


def _score(hits: Sequence[Hit], weights: _Weights) -> float:
    best: dict[tuple[bool, str], float] = {}  # (is author, folded term) -> weight x factor
    for hit in hits:
        key, value = weights.value(hit)
        if key not in best or value > best[key]:
            best[key] = value
    return round(sum(best.values()), _DIGITS)


def score(profile: Profile, hits: Sequence[Hit]) -> float:
    """The weighted sum over distinct terms; see the module docstring."""
    return _score(hits, _Weights(profile))


def _explain(hits: Sequence[Hit], weights: _Weights) -> tuple[tuple[Hit, ...], tuple[Reason, ...]]:
    """The hits that count, one per term or author (the highest value, as in
    `_score`; of equals, the title), and what each adds. Shown title first, then
    abstract, then author; within a field by term weight (higher first), then
    the order of the profile."""
    best: dict[tuple[bool, str], tuple[Hit, float]] = {}
    for hit in hits:
        key, value = weights.value(hit)
        if (was := best.get(key)) is None or (value, was[0].field != "title") > (was[1], False):
            best[key] = (hit, value)

    def order(chosen: tuple[Hit, float]) -> tuple[int, float, int, str]:
        hit = chosen[0]
        weight, position = weights.of(hit)
        return _FIELD_ORDER.get(hit.field, 3), -weight, position, hit.term

    counted = sorted(best.values(), key=order)
    title = weights.title_weight
    reasons = (Reason(h.term, h.field, v, title if h.field == "title" else 1.0) for h, v in counted)
    return tuple(h for h, _ in counted), tuple(reasons)


def explainer(
    profile: Profile,
) -> tuple[
    Callable[[Sequence[Hit]], float],
    Callable[[Sequence[Hit]], tuple[tuple[Hit, ...], tuple[Reason, ...]]],
]:
    """For `blend`: `score`, and the hits that count with their reasons, with
    the profile's weights worked out once."""
    weights = _Weights(profile)
    return (lambda hits: _score(hits, weights)), (lambda hits: _explain(hits, weights))


def _pick(candidate: Candidate, value: float, hits: Sequence[Hit], weights: _Weights) -> Pick:
    return Pick(candidate, value, *_explain(hits, weights))


def _timestamp(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _rank(scored: tuple[float, Candidate, tuple[Hit, ...]]) -> tuple[float, float, int, int, int]:
    value, c, _ = scored
    recency = _timestamp(c.published or c.first_seen)
    known = 0 if c.upvotes is not None else 1
    return -value, -recency, known, -(c.upvotes or 0), c.item_id


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
    keep = max(profile.max_items, 0)
    scored: list[tuple[float, Candidate, tuple[Hit, ...]]] = []
    for candidate in candidates:
        hits, excluded = results.get(candidate.item_id, ((), False))
        if excluded or not hits:
            continue
        if wanted and wanted.isdisjoint(candidate.sources):
            continue
        value = _score(hits, weights)
        if value >= profile.min_score:
            scored.append((value, candidate, hits))
    if len(scored) > keep > 0:  # only those that can reach the top need ranking
        cut = sorted([s[0] for s in scored])[-keep]
        scored = [s for s in scored if s[0] >= cut]
    scored.sort(key=_rank)
    return [_pick(c, value, hits, weights) for value, c, hits in scored[:keep]]


def _extent(pool: Pool, ids: Sequence[int], known: set[int], window: Window) -> tuple[int, int]:
    """How many of the pool's candidates `window` holds, and the newest one's id."""
    if window.since is not None:  # a preview's look-back: not an id range
        inside = [c.item_id for c in pool.candidates if window.holds(c)]
        return len(inside), max(inside, default=0)
    start = bisect_right(ids, window.after_id)
    given = {i for i in window.given if i > window.after_id and i in known}
    upto = next((i for i in reversed(ids[start:]) if i not in given), 0)
    return len(ids) - start - len(given), upto


def _exact(profile: Profile) -> bool:
    """Whether the tally in `pick_all` gives `_score`'s value: it counts each
    term and author once, which `_score` does by case-folded text."""
    terms = [t.text.casefold() for t in profile.keywords]
    authors = [a.casefold() for a in dict.fromkeys(profile.authors)]
    return len(set(terms)) == len(terms) and len(set(authors)) == len(authors)


class _Tally:
    """Each profile's score of each item, added up from the matcher's owners in
    the order `_score` adds them (title terms, abstract-only terms, authors), so
    the sums are the same floats; no Hit is made until an item is picked.

    A value is coded `owner * 3 + k` (k: 0 title, 1 abstract only, 2 both), so
    the usual profile with one term in an item costs a dict write, no sum."""

    def __init__(self, profiles: Sequence[Profile], matcher: Matcher) -> None:
        weights = {p.name: (_Weights(p), p.title_weight) for p in profiles}
        minimum = {p.name: p.min_score for p in profiles}
        self.name: list[str] = []  # keyword owner -> profile
        self.value: list[float] = []  # code -> value
        self.single: list[float | None] = []  # code -> score, or None below min_score
        for name, text in matcher.keyword_owners:
            w, title_weight = weights[name]
            weight = w.terms[text.casefold()][0]
            self.name.append(name)
            title, abstract = weight * title_weight, weight * 1.0
            for value in (title, abstract, max(title, abstract)):
                self.value.append(value)
                score = round(value, _DIGITS)
                self.single.append(score if score >= minimum[name] else None)
        self.minimum = minimum
        self.codes: dict[str, list[int]] = {p.name: [] for p in profiles}  # reaching min_score
        for code, reached in enumerate(self.single):
            if reached is not None:
                self.codes[self.name[code // 3]].append(code)

    def add(
        self,
        found: Owners,
        index: int,
        by_code: list[list[int]],
        into: dict[str, list[tuple[float, int]]],
    ) -> None:
        """Note `index` for each profile that `found` has hits for, no exclude
        matched and whose `min_score` the score reaches: under its one value's
        code in `by_code`, or with its score in `into` when it has several."""
        names = self.name
        first: dict[str, int] = {}
        more: dict[str, list[int]] = {}  # profiles with more than one value
        title, abstract = found.title, found.abstract
        in_abstract = set(abstract) if abstract and title else ()
        for owner in title:
            code = owner * 3 + (2 if owner in in_abstract else 0)
            if (name := names[owner]) in first:
                more.setdefault(name, [first[name]]).append(code)
            else:
                first[name] = code
        in_title = set(title) if abstract and title else ()
        for owner in abstract:
            if owner not in in_title:
                if (name := names[owner]) in first:
                    more.setdefault(name, [first[name]]).append(owner * 3 + 1)
                else:
                    first[name] = owner * 3 + 1
        excluded, single, minimum = found.excluded, self.single, self.minimum
        authors = dict.fromkeys(n for n, _ in found.authors) if found.authors else {}
        for name, code in first.items():
            if name in more or name in authors or name in excluded:
                continue
            if single[code] is not None:
                by_code[code].append(index)
        if not (more or authors):
            return
        value = self.value
        for name in dict.fromkeys([*more, *authors]):
            if name in excluded:
                continue
            codes = more.get(name) or ([first[name]] if name in first else [])
            values = [value[c] for c in codes]
            values += [1.0] * sum(1 for n, _ in dict.fromkeys(found.authors) if n == name)
            if (score := round(sum(values), _DIGITS)) >= minimum[name]:
                into[name].append((score, index))


def pick_all(
    profiles: Sequence[Profile],
    pool: Pool,
    liked: Mapping[str, Sequence[Candidate]] | None = None,
    disliked: Mapping[str, Sequence[Candidate]] | None = None,
) -> dict[str, Selection]:
    """Each profile's next digest from the shared pool: every candidate is
    matched once against all profiles (one `Matcher`), then each profile
    selects among the matches its window holds, as `select` does. A profile
    with papers in `liked` (its resolved `like:`) selects by `blend`, where its
    papers in `disliked` count against. Records nothing."""
    matcher = Matcher(profiles)
    cands = pool.candidates
    found = [matcher.owners(c.title, c.summary, c.authors) for c in cands]
    tally = _Tally(profiles, matcher)
    by_code: list[list[int]] = [[] for _ in tally.single]  # candidate indexes
    scored: dict[str, list[tuple[float, int]]] = {p.name: [] for p in profiles}
    for i, f in enumerate(found):
        tally.add(f, i, by_code, scored)
    ids = [c.item_id for c in cands]
    known = set(ids)
    sources = [frozenset(s.source for s in c.seen) for c in cands]
    # Each candidate's place by `_rank` at equal score, worked out once for all profiles.
    by_rank = sorted(range(len(cands)), key=lambda i: _rank((0.0, cands[i], ())))
    order = [0] * len(cands)
    for place, i in enumerate(by_rank):
        order[i] = place
    out: dict[str, Selection] = {}
    blended = None
    if liked or disliked:  # numpy and scipy are imported only for such profiles
        from digest.selection import blend

        blended = blend.Blend(cands, found, matcher, liked or {}, explainer, disliked)
    for p in profiles:
        window = pool.windows[p.name]
        count, upto = _extent(pool, ids, known, window)
        if blended is not None and (chosen := blended.select(p, window, order)) is not None:
            out[p.name] = Selection(chosen, count, upto)
            continue
        if not _exact(p):
            held = [(c, f) for c, f in zip(cands, found, strict=True) if window.holds(c)]
            results = {
                c.item_id: (matcher.hits_of(f, p.name), p.name in f.excluded) for c, f in held
            }
            out[p.name] = Selection(select(p, [c for c, _ in held], results), count, upto)
            continue
        levels: dict[float, list[int]] = {}  # score -> candidate indexes
        for code in tally.codes[p.name]:
            if by_code[code]:
                levels.setdefault(tally.single[code] or 0.0, []).extend(by_code[code])
        for value, i in scored[p.name]:
            levels.setdefault(value, []).append(i)
        wanted = set(p.sources)
        keep = max(p.max_items, 0)
        mine: list[tuple[float, int]] = []
        for value in sorted(levels, reverse=True):  # best first, until `keep` are held
            mine += [
                (value, i)
                for i in levels[value]
                if window.holds(cands[i]) and (not wanted or not wanted.isdisjoint(sources[i]))
            ]
            if len(mine) >= keep:
                break
        mine.sort(key=lambda m: (-m[0], order[m[1]]))
        weights = _Weights(p)
        picks = [
            _pick(cands[i], value, matcher.hits_of(found[i], p.name), weights)
            for value, i in mine[:keep]
        ]
        out[p.name] = Selection(picks, count, upto)
    return out
