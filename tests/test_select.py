from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digest.models import Candidate, Hit, Profile, Seen, Term
from digest.reasons import Reason, total
from digest.selection.rank import score, select

T0 = datetime(2025, 1, 10, 8, 0, tzinfo=UTC)


def profile(**kw: object) -> Profile:
    base: dict[str, object] = {
        "name": "scaling",
        "title": "Scaling",
        "keywords": (Term("scaling law", 3), Term("batch size", 2), Term("learning rate", 1)),
        "authors": ("Jared Kaplan",),
    }
    base.update(kw)
    return Profile(**base)  # type: ignore[arg-type]


def cand(
    item_id: int,
    *,
    published: datetime | None = None,
    first_seen: datetime = T0,
    upvotes: int | None = None,
    sources: tuple[str, ...] = ("arxiv",),
) -> Candidate:
    return Candidate(
        item_id=item_id,
        key=f"arxiv:2501.{item_id:05d}",
        title=f"Paper {item_id}",
        summary="",
        authors=(),
        url=f"https://arxiv.org/abs/2501.{item_id:05d}",
        first_seen=first_seen,
        published=published,
        upvotes=upvotes,
        seen=tuple(Seen(s) for s in sources),
    )


TITLE = Hit("scaling law", "title")
ABSTRACT = Hit("scaling law", "abstract")
BATCH = Hit("batch size", "abstract")
LR_TITLE = Hit("learning rate", "title")
AUTHOR = Hit("Jared Kaplan", "author")


def test_each_distinct_term_counts_once() -> None:
    p = profile()
    assert score(p, [ABSTRACT]) == 3
    assert score(p, [ABSTRACT, ABSTRACT, ABSTRACT]) == 3
    assert score(p, [TITLE]) == 6  # title_weight 2
    assert score(p, [TITLE, ABSTRACT]) == 6  # the title wins, not 6 + 3
    assert score(p, [ABSTRACT, TITLE]) == 6
    assert score(p, [TITLE, BATCH, LR_TITLE]) == 6 + 2 + 2
    assert score(p, []) == 0


def test_title_factor_is_configurable() -> None:
    assert score(profile(title_weight=1), [TITLE, BATCH]) == 3 + 2
    assert score(profile(title_weight=3.5), [TITLE, BATCH]) == 3 * 3.5 + 2
    # Below 1 a title match counts less, but a term also in the abstract keeps 1.
    assert score(profile(title_weight=0.5), [TITLE]) == 1.5
    assert score(profile(title_weight=0.5), [TITLE, ABSTRACT]) == 3


def test_author_hits_count_one_each() -> None:
    p = profile(title_weight=5)
    assert score(p, [AUTHOR]) == 1
    assert score(p, [AUTHOR, Hit("jared kaplan", "author")]) == 1
    assert score(p, [AUTHOR, Hit("Sam McCandlish", "author")]) == 2
    assert score(p, [AUTHOR, BATCH]) == 3


def test_terms_compare_without_case_and_unknown_terms_weigh_one() -> None:
    p = profile()
    assert score(p, [Hit("Scaling Law", "abstract"), ABSTRACT]) == 3
    assert score(p, [Hit("not in the profile", "abstract")]) == 1


def test_fractional_weights_reach_an_equal_min_score() -> None:
    p = profile(keywords=(Term("a", 0.1), Term("b", 0.2)), min_score=0.3)
    picks = select(p, [cand(1)], {1: ((Hit("a", "abstract"), Hit("b", "abstract")), False)})
    assert [x.score for x in picks] == [0.3]


def test_exclude_wins_over_any_score() -> None:
    p = profile()
    results = {1: ((TITLE, BATCH, AUTHOR), True), 2: ((BATCH,), False)}
    assert [x.candidate.item_id for x in select(p, [cand(1), cand(2)], results)] == [2]


def test_candidates_without_hits_or_results_are_not_picked() -> None:
    p = profile(min_score=0)
    picks = select(p, [cand(1), cand(2), cand(3)], {1: ((), False), 3: ((BATCH,), False)})
    assert [x.candidate.item_id for x in picks] == [3]


def test_sources_filter() -> None:
    results = {n: ((TITLE,), False) for n in (1, 2, 3)}
    cands = [cand(1, sources=("hf",)), cand(2, sources=("arxiv", "hf")), cand(3, sources=())]
    only_arxiv = select(profile(sources=("arxiv",)), cands, results)
    assert [x.candidate.item_id for x in only_arxiv] == [2]
    either = select(profile(sources=("arxiv", "hf")), cands, results)
    assert [x.candidate.item_id for x in either] == [1, 2]
    assert len(select(profile(), cands, results)) == 3  # no sources listed: all


@pytest.mark.parametrize(("min_score", "picked"), [(4.9, True), (5, True), (5.01, False)])
def test_min_score_boundary(min_score: float, picked: bool) -> None:
    p = profile(min_score=min_score)
    picks = select(p, [cand(1)], {1: ((ABSTRACT, BATCH), False)})  # 3 + 2
    assert bool(picks) is picked


def test_ranking_score_then_recency_then_upvotes_then_id() -> None:
    p = profile()
    old, new = T0 - timedelta(days=2), T0
    cands = [
        cand(1, published=old, upvotes=50),
        cand(2, published=new, upvotes=None),
        cand(3, published=new, upvotes=10),
        cand(4, published=new, upvotes=3),
        cand(5, published=None, first_seen=new, upvotes=3),  # first_seen stands in
        cand(6, published=old, upvotes=1),
    ]
    results = {c.item_id: ((BATCH,), False) for c in cands}
    results[6] = ((TITLE,), False)  # the best score outranks everything
    picks = select(p, cands, results)
    assert [x.candidate.item_id for x in picks] == [6, 3, 4, 5, 2, 1]
    assert [x.score for x in picks] == [6, 2, 2, 2, 2, 2]


def test_naive_and_aware_times_compare() -> None:
    naive = datetime(2025, 1, 11, 8, 0)  # taken as UTC: a day after T0
    cands = [cand(1, published=T0), cand(2, published=naive)]
    results = {1: ((BATCH,), False), 2: ((BATCH,), False)}
    assert [x.candidate.item_id for x in select(profile(), cands, results)] == [2, 1]


def test_max_items_caps_after_ranking() -> None:
    cands = [cand(n, published=T0 + timedelta(hours=n)) for n in range(1, 8)]
    results = {c.item_id: ((BATCH,), False) for c in cands}
    picks = select(profile(max_items=3), cands, results)
    assert [x.candidate.item_id for x in picks] == [7, 6, 5]


def test_hits_are_ordered_for_display_and_because() -> None:
    p = profile()
    hits = (BATCH, AUTHOR, Hit("learning rate", "abstract"), ABSTRACT, LR_TITLE, TITLE, BATCH)
    (pick,) = select(p, [cand(1)], {1: (hits, False)})
    # Only what counted, once per term: abstract hits of terms also in the title add nothing.
    assert pick.matched == (
        TITLE,  # title first, heavier terms first
        LR_TITLE,
        BATCH,  # once, though reported twice
        AUTHOR,
    )
    assert pick.score == 6 + 2 + 2 + 1
    assert pick.reasons == (
        Reason("scaling law", "title", 6, 2),
        Reason("learning rate", "title", 2, 2),
        Reason("batch size", "abstract", 2),
        Reason("Jared Kaplan", "author", 1),
    )
    assert total(pick.reasons) == pick.score
    assert pick.because() == (
        "scaling law 6 (title ×2) + learning rate 2 (title ×2) + batch size 2 (abstract)"
        " + Jared Kaplan 1 (author)"
    )


def test_because_for_the_simple_case() -> None:
    (pick,) = select(profile(), [cand(1)], {1: ((BATCH, TITLE), False)})
    assert pick.because() == "scaling law 6 (title ×2) + batch size 2 (abstract)"
    assert pick.score == 8


def test_an_author_counts_once_however_often_it_is_reported() -> None:
    p = profile(authors=("Jared Kaplan", "jared kaplan", "Sam McCandlish"))
    hits = (AUTHOR, Hit("jared kaplan", "author"), AUTHOR, Hit("Sam McCandlish", "author"))
    (pick,) = select(p, [cand(1)], {1: (hits, False)})
    assert pick.score == 2
    assert [(r.term, r.field, r.value) for r in pick.reasons] == [
        ("Jared Kaplan", "author", 1),
        ("Sam McCandlish", "author", 1),
    ]
    assert pick.because() == "Jared Kaplan 1 (author) + Sam McCandlish 1 (author)"


def test_the_field_shown_is_the_field_that_counted() -> None:
    # Below 1 a title hit counts less than the abstract: the abstract is what counted.
    p = profile(title_weight=0.5)
    (pick,) = select(p, [cand(1)], {1: ((TITLE, ABSTRACT, LR_TITLE), False)})
    assert pick.reasons == (
        Reason("learning rate", "title", 0.5, 0.5),
        Reason("scaling law", "abstract", 3),
    )
    assert total(pick.reasons) == pick.score == 3.5
    assert pick.because() == "learning rate 0.5 (title ×0.5) + scaling law 3 (abstract)"
    # With a title weight of 1 the two fields tie and the title is named.
    (pick,) = select(profile(title_weight=1), [cand(1)], {1: ((ABSTRACT, TITLE), False)})
    assert pick.reasons == (Reason("scaling law", "title", 3),)
    assert pick.because() == "scaling law 3 (title)"


def test_fractional_reasons_add_up_to_the_score() -> None:
    p = profile(keywords=(Term("a", 0.1), Term("b", 0.2), Term("c", 0.25)), min_score=0)
    hits = (Hit("a", "abstract"), Hit("b", "abstract"), Hit("c", "title"))
    (pick,) = select(p, [cand(1)], {1: (hits, False)})
    assert total(pick.reasons) == pick.score == 0.8
    assert pick.because() == "c 0.5 (title ×2) + b 0.2 (abstract) + a 0.1 (abstract)"


def test_equal_weights_keep_the_profile_order() -> None:
    p = profile(keywords=(Term("zeta", 1), Term("alpha", 1)))
    (pick,) = select(p, [cand(1)], {1: ((Hit("alpha", "title"), Hit("zeta", "title")), False)})
    assert [h.term for h in pick.matched] == ["zeta", "alpha"]
