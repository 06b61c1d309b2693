"""digest.selection.match: normalisation, the one-pass matcher, on inline text and real listings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.models import Entry, Hit, Profile, Term
from digest.selection.match import (
    Matcher,
    MatchResult,
    _needles,
    check_regex,
    normalize_name,
    normalize_text,
    singularize,
)


def profile(name: str, *keywords: str, exclude: tuple[str, ...] = (), authors=()) -> Profile:
    return Profile(
        name=name,
        title=name,
        keywords=tuple(Term(k) for k in keywords),
        exclude=exclude,
        authors=tuple(authors),
    )


def terms(result: MatchResult, name: str = "p") -> set[tuple[str, str]]:
    return {(h.term, h.field) for h in result.for_profile(name)}


def matches(term: str, text: str) -> bool:
    """Whether `term` matches `text` given as an abstract."""
    return bool(Matcher([profile("p", term)]).match("", text).for_profile("p"))


# --- normalisation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "singular"),
    [
        ("sizes", "size"),
        ("laws", "law"),
        ("batches", "batch"),
        ("approaches", "approach"),
        ("meshes", "mesh"),
        ("boxes", "box"),
        ("processes", "process"),
        ("studies", "study"),
        ("ties", "tie"),  # 4 letters: not "ty"
        ("caches", "cach"),
        ("cache", "cach"),  # so that cache and caches agree
        ("llms", "llm"),
        ("gpus", "gpu"),
        ("loss", "loss"),
        ("analysis", "analysis"),
        ("corpus", "corpus"),
        ("status", "status"),
        ("gas", "gas"),
        ("its", "its"),
        ("size", "size"),
        ("law", "law"),
    ],
)
def test_singularize(word: str, singular: str) -> None:
    assert singularize(word) == singular


def test_normalize_text() -> None:
    assert normalize_text("Scaling Laws for Batch-Sizes") == " scaling law for batch size "
    assert normalize_text("GPT-4o in C++ (v2.1)") == " gpt 4o in c v2 1 "
    assert normalize_text("hard\nwrapped_text") == " hard wrapped text "
    assert normalize_text("  --  ") == ""
    assert normalize_text("") == ""


def test_normalize_text_unicode() -> None:
    assert normalize_text("Naïve Schrödinger CAFÉ") == " naive schrodinger cafe "
    assert normalize_text("ﬁne-tuning") == " fine tuning "  # NFKD splits the ligature
    assert normalize_text("Straße") == " strasse "  # casefold, not lower
    assert normalize_text("Ｆｕｌｌｗｉｄｔｈ") == " fullwidth "


def test_normalize_name() -> None:
    assert normalize_name("José  García") == "jose garcia"
    assert normalize_name("JOSE GARCIA") == "jose garcia"
    assert normalize_name("Chloé Müller-Lüdenscheidt") == "chloe muller ludenscheidt"


# --- matching semantics, inline -----------------------------------------------


@pytest.mark.parametrize(
    ("term", "text", "expected"),
    [
        # word boundaries
        ("RL", "offline RL optimizes the policy", True),
        ("RL", "RL-based fine-tuning", True),
        ("RL", "reinforcement learning (RL).", True),
        ("RL", "a URL to the code", False),
        ("RL", "we use CURL and curl", False),
        ("RL", "RLHF", False),
        ("law", "a power law", True),
        ("law", "these laws hold", True),
        ("law", "mow the lawn", False),
        ("law", "a flaw, flawed, flawless", False),
        # singular and plural, both directions
        ("batch size", "larger batch sizes help", True),
        ("batch sizes", "the batch size", True),
        ("scaling law", "Scaling Laws for Neural Language Models", True),
        ("scaling laws", "a scaling law", True),
        ("LLM", "LLMs are large", True),
        ("GPU", "trained on 8 GPUs", True),
        ("KV cache", "compressing KV caches", True),
        ("study", "case studies", True),
        # hyphen, space, nothing
        ("step size", "the step-size schedule", True),
        ("step size", "a unit stepsize", True),
        ("step size", "stepsizes and step sizes", True),
        ("step-size", "the step size", True),
        ("pre-training", "pretraining data", True),
        ("pre-training", "pre training data", True),
        ("pre-training", "Pre-Training data", True),
        ("pretraining", "pre-training data", False),  # the documented asymmetry
        ("stepsize", "the step size", False),
        ("stepsize", "the step-size", False),
        # phrases: adjacent and in order
        ("batch size", "the size of the batch", False),
        ("batch size", "a batch of large size", False),
        ("batch size", "size batch", False),
        ("batch size", "minibatch size", False),  # one token "minibatch"
        ("batch size", "mini-batch size", True),
        ("large language model", "large language models (LLMs)", True),
        ("large language model", "large models of language", False),
        # accents and case
        ("Schrödinger bridge", "SCHRODINGER BRIDGES", True),
        ("naive bayes", "a naïve Bayes classifier", True),
        ("fine-tuning", "ﬁne-tuning", True),
        # terms without any letter or digit never match
        ("++", "C++ and ++", False),
    ],
)
def test_term_semantics(term: str, text: str, expected: bool) -> None:
    assert matches(term, text) is expected
    assert matches(term, text.upper()) is expected
    # the title field follows the same rules
    got = Matcher([profile("p", term)]).match(text, "").for_profile("p")
    assert bool(got) is expected
    assert all(h.field == "title" for h in got)


def test_hits_report_the_term_as_written_and_the_field() -> None:
    m = Matcher([profile("p", "Batch-Size", "scaling laws")])
    r = m.match("Scaling Law for Batch Sizes", "The batch size matters.")
    assert r.for_profile("p") == (
        Hit("Batch-Size", "title"),
        Hit("scaling laws", "title"),
        Hit("Batch-Size", "abstract"),
    )
    assert r.excluded == frozenset()


def test_one_hit_per_term_and_field() -> None:
    # "step size" registers "step size" and "stepsize"; both occur, one hit
    m = Matcher([profile("p", "step size")])
    r = m.match("", "a stepsize, the step size, step-sizes and stepsizes")
    assert r.for_profile("p") == (Hit("step size", "abstract"),)


def test_hits_in_term_order_within_each_field() -> None:
    m = Matcher([profile("p", "zeta", "alpha", "/b[e]ta/", "gamma")])
    r = m.match("gamma beta alpha zeta", "alpha gamma")
    assert [(h.term, h.field) for h in r.for_profile("p")] == [
        ("zeta", "title"),
        ("alpha", "title"),
        ("/b[e]ta/", "title"),
        ("gamma", "title"),
        ("alpha", "abstract"),
        ("gamma", "abstract"),
    ]


def test_many_profiles_one_pass() -> None:
    profiles = [
        profile("opt", "step size", "learning rate", "Adam"),
        profile("scale", "scaling law", "batch size", "learning rate"),
        profile("vision", "ViT", "segmentation"),
        profile("empty"),
    ]
    m = Matcher(profiles)
    r = m.match(
        "Learning Rates as a Function of Batch Size",
        "We derive scaling laws for the learning rate with Adam.",
    )
    assert terms(r, "opt") == {
        ("learning rate", "title"),
        ("learning rate", "abstract"),
        ("Adam", "abstract"),
    }
    assert terms(r, "scale") == {
        ("learning rate", "title"),
        ("batch size", "title"),
        ("scaling law", "abstract"),
        ("learning rate", "abstract"),
    }
    assert set(r.hits) == {"opt", "scale"}  # only profiles with hits
    assert r.for_profile("vision") == ()
    assert r.for_profile("empty") == ()
    assert r.for_profile("no such profile") == ()


def test_exclude_terms() -> None:
    m = Matcher(
        [
            profile("p", "language model", exclude=("survey", "/\\bv\\d+\\.\\d+\\b/")),
            profile("q", "language model"),
        ]
    )
    r = m.match("A Survey of Large Language Models", "")
    assert r.excluded == frozenset({"p"})
    assert terms(r, "p") == {("language model", "title")}  # hits are still reported
    assert terms(r, "q") == {("language model", "title")}
    assert m.match("", "Two surveys of language models").excluded == {"p"}  # plural too
    assert m.match("", "we release v2.1 of the language model").excluded == {"p"}
    assert m.match("", "surveyed language models").excluded == frozenset()
    assert m.match("", "language model surveillance").excluded == frozenset()


def test_exclude_only_profile() -> None:
    m = Matcher([profile("p", exclude=("quantum",))])
    r = m.match("Quantum Advantage", "")
    assert r.excluded == {"p"}
    assert r.hits == {}


def test_regex_terms_match_original_text_case_insensitively() -> None:
    m = Matcher([profile("p", "/O\\(n\\^?2\\)/", "/GPT-?4o?\\b/"), profile("q", "attention")])
    r = m.match("Attention in O(n^2)", "unlike gpt4o, we ...")
    assert terms(r, "p") == {("/O\\(n\\^?2\\)/", "title"), ("/GPT-?4o?\\b/", "abstract")}
    # normalisation would have lost the brackets: the regex sees the original
    assert normalize_text("O(n^2)") == " o n 2 "
    assert m.match("o(n2)", "GPT-4o").for_profile("p") == (
        Hit("/O\\(n\\^?2\\)/", "title"),
        Hit("/GPT-?4o?\\b/", "abstract"),
    )
    assert m.match("O(n log n)", "GPT-4omni GPT-3").for_profile("p") == ()


def test_regex_shared_by_profiles_and_non_ascii_text() -> None:
    m = Matcher([profile("a", "/caf[eé]/"), profile("b", "/caf[eé]/"), profile("c", "/é+t/")])
    r = m.match("", "CAFÉ ÉTÉ")
    assert terms(r, "a") == terms(r, "b") == {("/caf[eé]/", "abstract")}
    assert terms(r, "c") == {("/é+t/", "abstract")}
    assert m.match("", "the cafeteria").for_profile("a")  # no word boundary in the regex
    assert not m.match("", "a caff").hits


def test_regex_needles() -> None:
    assert _needles(r"\bLLa?MA-?\d") == ("ll", "ma")
    assert _needles(r"GPT-?4o?\b") == ("gpt", "4")
    assert _needles(r"foo|bar") == ()  # one top-level branch: nothing required
    assert _needles(r"(?x) batch \s size") == ("batch", "size")
    assert _needles(r"x(?:yz)+w") == ("x", "w")
    assert _needles(r"caf[eé]") == ("caf",)
    assert _needles(r"é+t") == ("t",)
    # Needles must never hide a match: these all match in ASCII text
    m = Matcher([profile("p", "/\\bLLa?MA-?\\d/", "/foo|bar/", "/x(?:yz)+w/")])
    r = m.match("LLAMA-3 and LlaMa2", "BAR xYZyzW")
    assert len(r.for_profile("p")) == 3


def test_check_regex() -> None:
    assert check_regex("/scaling laws?/") is None
    assert check_regex("plain term") is None
    assert check_regex("/") is None  # not a regex term (too short)
    problem = check_regex("/(unclosed/")
    assert problem is not None
    assert "invalid regular expression /(unclosed/" in problem
    empty = check_regex("/a*/")
    assert empty is not None
    assert "empty string" in empty
    with pytest.raises(ValueError, match=r"profile p: invalid regular expression"):
        Matcher([profile("p", "/[a-/")])
    with pytest.raises(ValueError, match=r"profile p: invalid regular expression"):
        Matcher([profile("p", "ok", exclude=("/(?P<x/",))])


def test_authors_whole_names_case_and_accent_insensitive() -> None:
    m = Matcher(
        [
            profile("p", authors=("José García", "Yann LeCun")),
            profile("q", "diffusion", authors=("jose garcia",)),
        ]
    )
    r = m.match("Diffusion", "", ["JOSE GARCIA", "Ada Lovelace"])
    assert r.for_profile("p") == (Hit("José García", "author"),)
    assert r.for_profile("q") == (Hit("diffusion", "title"), Hit("jose garcia", "author"))
    assert m.match("", "", ["Yann  Lecun"]).for_profile("p") == (Hit("Yann LeCun", "author"),)
    assert m.match("", "", ["José García-López"]).hits == {}  # whole names only
    assert m.match("", "", ["García"]).hits == {}
    assert m.match("", "", ["José García", "Jose Garcia"]).for_profile("p") == (
        Hit("José García", "author"),
    )


def test_profile_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Matcher([profile("p", "a"), profile("p", "b")])


def test_no_profiles() -> None:
    r = Matcher([]).match("Anything", "at all", ["Someone"])
    assert r.hits == {}
    assert r.excluded == frozenset()


def test_term_weights_do_not_change_matching() -> None:
    p = Profile(name="p", title="p", keywords=(Term("batch size", 3.0),))
    assert terms(Matcher([p]).match("Batch Sizes", "")) == {("batch size", "title")}


# --- real listings -------------------------------------------------------------


@pytest.fixture(scope="module")
def listing_entries(listings_dir: Path) -> dict[str, list[Entry]]:
    from digest.sources.listing import parse_listing

    files = sorted(listings_dir.glob("*.txt"))
    assert files, listings_dir
    return {f.name[:3]: list(parse_listing(f.read_bytes()).entries) for f in files}


def by_title(entries: list[Entry], start: str) -> Entry:
    found = [e for e in entries if e.title.startswith(start)]
    assert len(found) == 1, start
    return found[0]


@pytest.mark.shared
def test_listing_000_size_profile(listing_entries: dict[str, list[Entry]]) -> None:
    entries = listing_entries["000"]
    m = Matcher([profile("size", "batch size", "step size", "model size")])

    def hits(start: str) -> set[tuple[str, str]]:
        e = by_title(entries, start)
        return terms(m.match(e.title, e.summary), "size")

    assert hits("Bellman Optimal Step-size Straightening of Flow-Matching Models") == {
        ("step size", "title"),  # "Step-size"
        ("step size", "abstract"),  # "the step sizes of the pretrained network"
    }
    assert hits("Power Scheduler: A Batch Size and Token Number Agnostic") == {
        ("batch size", "title"),
        ("batch size", "abstract"),
        ("model size", "abstract"),  # "model size", "model sizes"
    }
    assert hits("AdAdaGrad: Adaptive Batch Size Schemes") == {
        ("batch size", "title"),
        ("batch size", "abstract"),
    }
    assert ("model size", "title") in hits("Distilling Step-by-Step!")  # "Model Sizes"
    assert hits("From Logistic Regression to the Perceptron Algorithm") == {
        ("step size", "title"),  # "Large Step Sizes"
        ("step size", "abstract"),
    }
    # "size" alone, or with other words, is not any of the phrases
    assert hits("Size and Shape Constraints of (486958) Arrokoth") == set()
    assert hits("Magic sizes enable minimal-complexity") == set()
    assert hits("Scaling the Codebook Size of VQGAN") == set()
    assert hits("POA: Pre-training Once for Models of All Sizes") == set()  # "Models of All Sizes"
    assert hits("VSA: Learning Varied-Size Window Attention") == set()
    # Every token is singularised, so "Models Size up" reads as "model size".
    assert hits("When Neural Code Completion Models Size up the Situation") == {
        ("model size", "title")
    }

    matched = {e.title for e in entries if m.match(e.title, e.summary).hits}
    assert len(matched) == 9
    assert len(entries) - len(matched) == 15


def oracle(pattern: str) -> re.Pattern[str]:
    """An independent regex for a term, on the matcher's token boundaries."""
    return re.compile(rf"(?<![a-z0-9]){pattern}(?![a-z0-9])", re.IGNORECASE)


ORACLES = {
    "RL": oracle(r"rls?"),
    "law": oracle(r"laws?"),
    "scaling law": oracle(r"scalings?[^a-z0-9]*laws?"),
    "batch size": oracle(r"batch(?:es)?[^a-z0-9]*sizes?"),
    "step size": oracle(r"steps?[^a-z0-9]*sizes?"),
    "pre-training": oracle(r"pre[^a-z0-9]*trainings?"),
    "learning rate": oracle(r"learnings?[^a-z0-9]*rates?"),
}


@pytest.mark.shared
@pytest.mark.parametrize("term", sorted(ORACLES))
def test_listings_agree_with_an_independent_regex(
    listing_entries: dict[str, list[Entry]], term: str
) -> None:
    m = Matcher([profile("p", term)])
    rx = ORACLES[term]
    seen = {True: 0, False: 0}
    for entries in listing_entries.values():
        for e in entries:
            r = m.match(e.title, e.summary)
            got = {h.field for h in r.for_profile("p")}
            want = {
                f for f, text in (("title", e.title), ("abstract", e.summary)) if rx.search(text)
            }
            assert got == want, (term, e.title)
            seen[bool(want)] += 1
    assert seen[True] > 0
    assert seen[False] > 0


@pytest.mark.shared
def test_listings_word_boundaries(listing_entries: dict[str, list[Entry]]) -> None:
    m = Matcher([profile("rl", "RL"), profile("law", "law")])
    every = [e for entries in listing_entries.values() for e in entries]

    # "\url{https://eval.ai/...}" contains "rl" twice, and never the word RL
    e = by_title(every, "Learning to Ground Instructional Articles in Videos")
    assert "url" in e.summary.lower()
    assert m.match(e.title, e.summary).for_profile("rl") == ()
    # "flawed measure of isotropy"
    e = by_title(every, "Stable Anisotropic Regularization")
    assert "flaw" in e.summary
    assert m.match(e.title, e.summary).for_profile("law") == ()
    e = by_title(every, "A Deep Neural Network for SSVEP-based Brain-Computer Interfaces")
    assert "flawless" in e.summary
    assert m.match(e.title, e.summary).for_profile("law") == ()

    e = by_title(every, "Catastrophic Interference is Mitigated in Naturalistic Power-Law")
    assert terms(m.match(e.title, e.summary), "law") >= {("law", "title")}
    rl = [e for e in every if m.match(e.title, e.summary).for_profile("rl")]
    assert any("Offline RL" in e.summary or "offline RL" in e.summary for e in rl)


@pytest.mark.shared
def test_listings_scaling_laws_and_pretraining(listing_entries: dict[str, list[Entry]]) -> None:
    every = {e.title: e for entries in listing_entries.values() for e in entries}
    m = Matcher([profile("p", "scaling law", "pre-training", "power law")])

    def title_hits(start: str) -> set[str]:
        e = by_title(list(every.values()), start)
        return {h.term for h in m.match(e.title, e.summary).for_profile("p") if h.field == "title"}

    assert title_hits("Unraveling the Mystery of Scaling Laws: Part I") == {"scaling law"}
    assert title_hits("Scaling Law with Learning Rate Annealing") == {"scaling law"}
    assert title_hits("The case for 4-bit precision: k-bit Inference Scaling Laws") == {
        "scaling law"
    }
    assert title_hits("On the Provable Advantage of Unsupervised Pretraining") == {"pre-training"}
    assert title_hits("Sigmoid Loss for Language Image Pre-Training") == {"pre-training"}
    assert title_hits("Catastrophic Interference is Mitigated in Naturalistic Power-Law") == {
        "power law"
    }
    assert title_hits("Predictable Scale: Part I -- Optimal Hyperparameter Scaling Law") == {
        "scaling law",
        "pre-training",  # "Pretraining"
    }


@pytest.mark.shared
def test_listings_phrase_order(listing_entries: dict[str, list[Entry]]) -> None:
    every = [e for entries in listing_entries.values() for e in entries]
    m = Matcher([profile("p", "batch size")])
    # real sentences with both words, not as the phrase
    assert m.match("", "a matrix which has the size of the mini-batch.").hits == {}
    for start in (
        "Multimodal Optimal Transport-based Co-Attention Transformer",
        "Sparse within Sparse Gaussian Processes using Neighbor Information",
    ):
        e = by_title(every, start)
        assert re.search(r"batch of", e.summary)
        assert m.match(e.title, e.summary).hits == {}


def test_a_catastrophic_regex_cannot_stall_matching() -> None:
    """`(a+)+$` backtracks exponentially in Python's `re` (a 28-character title
    took 90 s); RE2 is linear in the text, so even a long hostile title is quick."""
    import time

    m = Matcher([profile("p", "/(a+)+$/", "/(x|x)*y/"), profile("q", "attention")])
    hostile = "a" * 28 + "!"
    started = time.perf_counter()
    assert m.match(hostile, hostile).hits == {}
    assert m.match("a" * 100_000 + "!", "x" * 100_000 + "!").hits == {}
    assert m.match("baaaa", "").for_profile("p") == (Hit("/(a+)+$/", "title"),)
    assert time.perf_counter() - started < 1.0


def test_regex_features_re2_lacks_are_refused_up_front() -> None:
    for pattern in ("/(a)\\1/", "/foo(?=bar)/", "/(?<!x)y/"):
        problem = check_regex(pattern)
        assert problem is not None
        assert problem.startswith(f"invalid regular expression {pattern}: "), problem
        assert "no backreferences or lookaround" in problem
        with pytest.raises(ValueError, match="invalid regular expression"):
            Matcher([profile("p", pattern)])
