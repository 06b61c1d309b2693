"""Ranking by liked papers: the TF-IDF model, the combined score and its explanation,
through the CLI on the real listings and a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.feature_extraction.text import TfidfVectorizer

from digest.cli import cli
from digest.reasons import total
from digest.selection.similar import tfidf

LIKED = [
    "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
    "An Empirical Model of Large-Batch Training",
    "Large Batch Training of Convolutional Networks",
]


def profile(extra: str = "") -> str:
    likes = "\n".join(f'  - "{t}"' for t in LIKED)
    cap = "" if "max_items:" in extra else "max_items: 15\n"  # a key given twice is an error
    return f"name: liked\ntitle: Liked\nlike:\n{likes}\n  - '9999.99999'\n{cap}{extra}"


@pytest.fixture
def store(listings_config: Path) -> Path:
    return listings_config


def preview(cfg: Path, text: str, fmt: str = "json") -> tuple[str, str]:
    (cfg.parent / "profiles" / "liked.yaml").write_text(text)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "preview", "liked", "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def test_tfidf_equals_scikit_learns_vectorizer() -> None:
    texts = ["Scaling laws for neural language models", "Large batch training of networks",
             "Neural networks: training with large batches and the laws of scaling",
             "the a of"]  # fmt: skip
    mine = tfidf(texts)
    theirs = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts)
    assert np.allclose((mine @ mine.T).toarray(), (theirs @ theirs.T).toarray())


@pytest.mark.shared
def test_like_only_ranks_by_similarity_and_names_the_nearest_liked_paper(store: Path) -> None:
    out, err = preview(store, profile())
    picks = json.loads(out)
    assert len(picks) == 15  # min_score 1 reached by 15 or more: capped by max_items
    titles = [p["title"] for p in picks]
    assert not set(titles) & set(LIKED)  # the liked papers themselves are not picked
    assert "How Does Critical Batch Size Scale in Pre-training?" in titles[:10]
    assert [p["score"] for p in picks] == sorted((p["score"] for p in picks), reverse=True)
    for p in picks:
        assert p["like"]["title"] in LIKED
        assert 0 < p["like"]["similarity"] <= 1
        assert p["reasons"][-1]["field"] == "like"
        assert sum(r["value"] for r in p["reasons"]) == pytest.approx(p["score"])
        assert p["score"] >= 1
    assert "9999.99999" in err
    assert "liked.yaml:3" in err
    again, _ = preview(store, profile())
    assert again == out  # deterministic


@pytest.mark.shared
def test_hybrid_adds_keywords_exclude_wins_and_min_score_is_the_combined_score(store: Path) -> None:
    picks = json.loads(preview(store, profile("keywords: [batch size]\nmin_score: 0\n"))[0])
    assert len(picks) == 15
    top = picks[0]
    assert top["matched"]
    assert top["like"]
    assert [m["term"] for m in top["matched"]] == ["batch size"]
    excluded = json.loads(preview(store, profile("keywords: [batch size]\nexclude: [batch]\n"))[0])
    assert excluded
    assert all("batch" not in p["title"].lower() for p in excluded)
    cut = picks[7]["score"]  # min_score at the 8th pick's combined score: 8 or so pass
    high = json.loads(preview(store, profile(f"keywords: [batch size]\nmin_score: {cut}\n"))[0])
    assert 8 <= len(high) < 15
    assert all(p["score"] >= cut for p in high)
    assert [p["title"] for p in high] == [p["title"] for p in picks[: len(high)]]
    everything = json.loads(preview(store, profile("min_score: 0\nmax_items: 1000\n"))[0])
    assert len(everything) == 383 - len(LIKED)  # min_score 0: every candidate, ranked


@pytest.mark.shared
def test_every_output_explains_the_like(store: Path) -> None:
    text, _ = preview(store, profile(), "text")
    assert "like “" in text
    (store.parent / "profiles" / "liked.yaml").write_text(profile())
    for fmt in ("html", "text", "markdown"):
        result = CliRunner().invoke(
            cli, ["--config", str(store), "render", "liked", "--format", fmt]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.count("like “") >= 15, fmt


def test_reasons_total_matches_the_score_of_a_blend() -> None:
    from datetime import UTC, datetime

    from digest.models import Candidate, Pool, Profile, Term, Window
    from digest.selection.rank import pick_all

    when = datetime(2025, 1, 1, tzinfo=UTC)
    papers = [
        Candidate(1, "a", "Batch size scaling", "Large batch size training.", (), "u1", when),
        Candidate(2, "b", "Protein folding", "Proteins fold into shapes.", (), "u2", when),
        Candidate(3, "c", "Large batch training", "Training with a large batch.", (), "u3", when),
    ]  # fmt: skip
    p = Profile("p", "P", keywords=(Term("batch size"),), min_score=0.0)
    got = pick_all([p], Pool(tuple(papers), {"p": Window()}), {"p": [papers[2]]})["p"].picks
    assert [x.candidate.item_id for x in got] == [1, 2]
    assert all(total(x.reasons) == x.score for x in got)
    assert got[0].reasons[-1].term == "Large batch training"


def test_disliked_papers_count_against() -> None:
    from datetime import UTC, datetime

    from digest.models import Candidate, Pool, Profile, Window
    from digest.selection.rank import pick_all

    when = datetime(2025, 1, 1, tzinfo=UTC)
    papers = [
        Candidate(1, "a", "Large batch vision", "Large batch of image nets.", (), "u1", when),
        Candidate(2, "b", "Large batch text", "Large batch of text models.", (), "u2", when),
        Candidate(3, "c", "Large batch training", "Training with a large batch.", (), "u3", when),
        Candidate(4, "d", "Image pixels", "Vision image pixels.", (), "u4", when),
    ]  # fmt: skip
    p = Profile("p", "P", min_score=-10.0)
    pool = Pool(tuple(papers), {"p": Window()})
    plain = pick_all([p], pool, {"p": [papers[2]]})["p"].picks
    against = pick_all([p], pool, {"p": [papers[2]]}, {"p": [papers[3]]})["p"].picks
    sim = {x.candidate.item_id: x.score for x in plain}
    less = {x.candidate.item_id: x.score for x in against}
    assert less[1] < sim[1]  # like the disliked image paper: lower
    assert less[2] == sim[2]  # nothing in common with it: unchanged
    assert against[0].candidate.item_id == 2
    assert all(total(x.reasons) == x.score for x in against)


@pytest.mark.shared
def test_like_weight_0_scores_as_the_keywords_alone(listings_dir: Path) -> None:
    """The blend's keyword scores (one array pass) are `rank`'s: titles, abstracts,
    a term given twice in two cases, a regex, authors, excludes, on the real listings."""
    from dataclasses import replace
    from datetime import UTC, datetime

    from digest.models import Candidate, Pool, Profile, Term, Window
    from digest.selection.match import Matcher
    from digest.selection.rank import pick_all
    from digest.sources.listing import parse_listing

    when = datetime(2025, 1, 1, tzinfo=UTC)
    entries = {e.title: e for f in sorted(listings_dir.iterdir())
               for e in parse_listing(f.read_bytes()).entries}  # fmt: skip
    names = ("Ada Lovelace", "Alan Turing", "Grace Hopper")
    papers = [Candidate(n, f"k{n}", e.title, e.summary, (names[n % 3],), f"u{n}", when)
              for n, e in enumerate(entries.values(), 1)]  # fmt: skip
    terms = (Term("batch size", 2.0), Term("Batch Size", 1.0), Term("language model"),
             Term("scaling law", 3.0), Term("/diffusion (model|process)/", 0.5))  # fmt: skip
    plain = Profile("k", "K", keywords=terms, authors=("grace hopper",), exclude=("vision",),
                    min_score=0.0, max_items=400, title_weight=3.0)  # fmt: skip
    liked = replace(plain, name="l", like_weight=0.0)
    pool = Pool(tuple(papers), {"k": Window(), "l": Window()})
    got = pick_all([plain, liked], pool, {"l": papers[:2]})
    keyword = {x.candidate.item_id: x.score for x in got["k"].picks}
    blended = {x.candidate.item_id: x.score for x in got["l"].picks if x.score > 0}
    assert len(keyword) > 100
    assert blended == {i: s for i, s in keyword.items() if i not in {1, 2}}
    matcher = Matcher([plain])
    out = {c.item_id for c in papers if matcher.owners(c.title, c.summary).excluded}
    assert out
    assert not out & {x.candidate.item_id for x in got["l"].picks}
    assert all(total(x.reasons) == x.score for x in got["l"].picks)


def test_dislikes_count_against_a_keyword_profile_and_are_explained() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from digest.models import Candidate, Pool, Profile, Term, Window
    from digest.reasons import UNLIKE, explain
    from digest.selection.rank import pick_all

    when = datetime(2025, 1, 1, tzinfo=UTC)
    papers = [
        Candidate(1, "a", "Batch size for vision", "Batch size in image nets.", (), "u1", when),
        Candidate(2, "b", "Batch size for text", "Batch size in language models.", (), "u2", when),
        Candidate(3, "c", "Protein folding", "Proteins fold.", (), "u3", when),
        Candidate(4, "d", "Image nets", "Vision image nets.", (), "u4", when),
    ]  # fmt: skip
    p = Profile("p", "P", keywords=(Term("batch size"),), min_score=-100.0)
    pool = Pool(tuple(papers), {"p": Window()})
    plain = pick_all([p], pool)["p"].picks
    assert {x.candidate.item_id: x.score for x in plain} == {1: 2.0, 2: 2.0}
    got = pick_all([p], pool, None, {"p": [papers[3]]})["p"].picks
    assert [x.candidate.item_id for x in got] == [2, 1]  # only keyword hits, the vision one lower
    assert got[0].score == 2.0
    assert got[1].score < 2.0
    last = got[1].reasons[-1]
    assert (last.term, last.field) == ("Image nets", UNLIKE)
    assert last.value < 0
    assert all(total(x.reasons) == x.score for x in got)
    assert "less like “Image nets” -" in explain(got[1].reasons)
    high = pick_all([replace(p, min_score=got[1].score + 0.01)], pool, None, {"p": [papers[3]]})
    assert [x.candidate.item_id for x in high["p"].picks] == [2]  # min_score: the combined score


def test_word_vectors_come_from_the_installed_wheel_and_mean_something() -> None:
    pytest.importorskip("wordllama")  # the optional extra digest[embed]
    from digest.selection.embed import word_vectors

    got = word_vectors(["quantization", "quantisation", "banana"])
    assert got is not None
    assert got.shape == (3, 256)
    unit = got / np.linalg.norm(got, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # the spelling, not the fruit
    again = word_vectors(["quantization", "quantisation", "banana"])
    assert again is not None
    assert np.array_equal(got, again)


@pytest.mark.shared
def test_word_vectors_join_tfidf_in_units_of_the_liked_papers(
    listings_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wordllama")
    from datetime import UTC, datetime

    from digest.models import Candidate
    from digest.selection import similar
    from digest.sources.listing import parse_listing

    when = datetime(2025, 1, 1, tzinfo=UTC)
    entries = {e.title: e for f in sorted(listings_dir.iterdir())
               for e in parse_listing(f.read_bytes()).entries}  # fmt: skip
    papers = [Candidate(n, f"k{n}", e.title, e.summary, (), f"u{n}", when)
              for n, e in enumerate(entries.values())]  # fmt: skip
    liked = {"p": [c for c in papers if c.title in LIKED]}
    both = similar.Model(papers, liked).likeness("p")
    assert both is not None
    rows = [c.item_id for c in liked["p"]]
    assert both.similarity[rows].mean() == pytest.approx(1.0)  # 1: as close as the liked
    assert (both.similarity >= 0).all()
    again = similar.Model(papers, liked).likeness("p")
    assert again is not None
    assert np.array_equal(both.similarity, again.similarity)
    monkeypatch.setattr(similar, "word_vectors", lambda words: None)  # as without the extra
    alone = similar.Model(papers, liked).likeness("p")
    assert alone is not None
    assert alone.similarity[rows].mean() == pytest.approx(1.0)
    assert not np.allclose(alone.similarity, both.similarity)
