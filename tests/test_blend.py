"""The fusion of keyword score and similarity (selection.blend): each signal as a
share of the window's best, so the balance does not hang on the keyword
weights' scale, and every pick's reasons add up to its score."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import ConfigError
from digest.models import Candidate, Pick, Pool, Profile, Term, Window
from digest.reasons import LIKE, total
from digest.selection.profiles import NO_KEYWORDS, load_profile
from digest.selection.rank import pick_all

WHEN = datetime(2025, 1, 1, tzinfo=UTC)
PAPERS = [
    Candidate(1, "a", "Batch size scaling", "Large batch size training of nets.", (), "u1", WHEN),
    Candidate(2, "b", "Large batch size rules", "Batch size and learning rate.", (), "u2", WHEN),
    Candidate(3, "c", "Training large batches", "Large batch training of nets.", (), "u3", WHEN),
    Candidate(4, "d", "Protein folding", "Proteins fold into shapes.", (), "u4", WHEN),
    Candidate(5, "e", "Large batch training", "Training nets with a large batch.", (), "u5", WHEN),
]  # fmt: skip
LIKED = {"p": [PAPERS[4]]}
KEYWORDS = (Term("batch size", 2.0), Term("learning rate"))


def picks(p: Profile) -> list[Pick]:
    return pick_all([p], Pool(tuple(PAPERS), {"p": Window()}), LIKED)["p"].picks


def like_part(x: Pick) -> float:
    return next(r.value for r in x.reasons if r.field == LIKE)


def test_the_most_similar_candidate_adds_like_weight_times_the_best_keyword_score() -> None:
    p = Profile("p", "P", keywords=KEYWORDS, min_score=0.0)
    got = picks(p)
    assert all(total(x.reasons) == x.score for x in got)
    keyword = {x.candidate.item_id: x.score - like_part(x) for x in got}
    assert keyword == {1: 4.0, 2: 5.0, 3: 0.0, 4: 0.0}  # title x2; the liked paper never picked
    adds = {x.candidate.item_id: like_part(x) for x in got}
    best = max(adds, key=adds.__getitem__)
    assert adds[best] == pytest.approx(p.like_weight * 5.0)  # the window's best keyword score
    assert all(0 <= v <= adds[best] for v in adds.values())
    # At the default share, no paper without a hit outranks the best keyword hit.
    assert got[0].candidate.item_id == 2


def test_the_balance_does_not_hang_on_the_scale_of_the_keyword_weights() -> None:
    p = Profile("p", "P", keywords=KEYWORDS, min_score=0.0)
    tripled = replace(p, keywords=tuple(replace(t, weight=t.weight * 3) for t in KEYWORDS))
    one, three = picks(p), picks(tripled)
    assert [x.candidate.item_id for x in one] == [x.candidate.item_id for x in three]
    assert [x.score * 3 for x in one] == pytest.approx([x.score for x in three])


def test_like_weight_is_the_share_0_is_keywords_alone_and_large_is_likeness() -> None:
    p = Profile("p", "P", keywords=KEYWORDS, min_score=0.0)
    alone = picks(replace(p, like_weight=0.0))
    assert [(x.candidate.item_id, x.score) for x in alone if x.score > 0] == [(2, 5.0), (1, 4.0)]
    assert picks(replace(p, like_weight=100.0))[0].candidate.item_id == 3  # nearest the liked


def test_likes_alone_score_on_a_fixed_unit_and_the_window_decides_the_best() -> None:
    p = Profile("p", "P", min_score=0.0)
    got = picks(p)
    assert got[0].candidate.item_id == 3
    assert got[0].score == pytest.approx(p.like_weight * NO_KEYWORDS)
    # The best is the best of what the window holds: without paper 3, the next one.
    pool = Pool(tuple(PAPERS), {"p": Window(given=frozenset({3}))})
    rest = pick_all([p], pool, LIKED)["p"].picks
    assert rest[0].score == pytest.approx(p.like_weight * NO_KEYWORDS)
    assert 3 not in {x.candidate.item_id for x in rest}


def test_profiles_check_knows_the_best_combined_score(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    # The best keyword score, plus like_weight times it (or NO_KEYWORDS on a day with no hit).
    path.write_text("name: p\nkeywords: {a: 6, b: 6}\nlike: [X]\nmin_score: 36\n")  # 24 x 1.5
    assert load_profile(path).min_score == 36.0
    path.write_text("name: p\nkeywords: {a: 6, b: 6}\nlike: [X]\nmin_score: 36.5\n")
    with pytest.raises(ConfigError, match="unreachable: the best score is 36"):
        load_profile(path)
    path.write_text("name: p\nkeywords: {a: 2}\nlike: [X]\nmin_score: 14.5\n")  # 4 + 0.5 x 20
    with pytest.raises(ConfigError, match="unreachable: the best score is 14"):
        load_profile(path)
    path.write_text("name: p\nlike: [X]\nmin_score: 10.5\n")  # likes alone: 0.5 x NO_KEYWORDS
    with pytest.raises(ConfigError, match="unreachable: the best score is 10"):
        load_profile(path)
