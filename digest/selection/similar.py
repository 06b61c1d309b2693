"""Similarity to a profile's liked papers: TF-IDF over title and abstract, cosine.

The method (chosen on bench/judged, see bench/relevance.py and the README):
- a paper's text is its title twice, then its abstract; tokens are runs of two
  or more word characters, lower-cased, without English stop words (scikit-learn's
  `TfidfVectorizer(sublinear_tf=True, stop_words="english")`, whose matrix this
  one equals: tests/test_similar.py checks it);
- weights are (1 + log tf) x idf, idf = 1 + log((1 + n) / (1 + df)) over the
  cycle's candidates and the liked papers together; rows have unit length;
- a candidate's `similarity` is its cosine to the centroid of the liked papers
  (steadier than the nearest one alone; 1 for a paper like their average), and its `nearest`
  is the liked paper with the highest cosine, which the explanation names.

Deterministic: the same texts give the same floats. Nothing is fetched: the
vocabulary is the cycle's own text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from digest.models import Candidate

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_STOP = ENGLISH_STOP_WORDS
DISLIKE = 0.5  # how much the cosine to the disliked papers' centroid counts against


def text_of(c: Candidate) -> str:
    """What a paper is compared by: the title counts twice, as the title says most."""
    return f"{c.title}\n{c.title}\n{c.summary}"


def tokens(text: str) -> list[str]:
    """The words the model counts, in order."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


def tfidf(texts: Sequence[str]) -> sparse.csr_matrix:
    """Unit-length rows of sublinear TF-IDF, one per text (see the module docstring)."""
    words = list(map(tokens, texts))
    vocab: dict[str, int] = {}
    cols = np.fromiter(
        (vocab.setdefault(t, len(vocab)) for t in chain.from_iterable(words)), dtype=np.int64
    )
    lengths = np.fromiter((len(t) for t in words), dtype=np.int64, count=len(words))
    rows = np.repeat(np.arange(len(texts)), lengths)
    n, width = len(texts), max(len(vocab), 1)
    counts = sparse.csr_matrix(
        (np.ones(len(cols), dtype=np.float64), (rows, cols)), shape=(n, width)
    )
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=width)
    idf = 1.0 + np.log((1.0 + n) / (1.0 + df))
    counts.data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    norms = np.sqrt(np.asarray(counts.multiply(counts).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ counts)


@dataclass(frozen=True, slots=True)
class Likeness:
    """Each candidate's similarity to one profile's liked papers (index-aligned
    with the candidates): the mean cosine, the nearest liked paper and its cosine."""

    similarity: npt.NDArray[np.float64]
    nearest: npt.NDArray[np.int64]  # index into the profile's liked papers
    nearest_cosine: npt.NDArray[np.float64]
    liked: tuple[Candidate, ...]


class Model:
    """One cycle's vectors: the candidates and every profile's liked (and disliked)
    papers, weighted together, so the cosines of all profiles come from one product."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        liked: Mapping[str, Sequence[Candidate]],
        disliked: Mapping[str, Sequence[Candidate]] | None = None,
    ) -> None:
        self.liked = {name: tuple(papers) for name, papers in liked.items() if papers}
        against = {n: tuple(p) for n, p in (disliked or {}).items() if p and n in self.liked}
        self.size = len(candidates)
        row = {c.item_id: i for i, c in enumerate(candidates)}
        extra = {
            c.item_id: c
            for ps in chain(self.liked.values(), against.values())
            for c in ps
            if c.item_id not in row
        }  # papers outside the cycle get rows after the candidates, each once
        row.update((item_id, self.size + k) for k, item_id in enumerate(extra))
        matrix = tfidf([text_of(c) for c in chain(candidates, extra.values())])
        self.columns: dict[str, list[int]] = {}  # profile -> its liked papers' columns
        picked: list[int] = []
        for name, papers in self.liked.items():
            self.columns[name] = list(range(len(picked), len(picked) + len(papers)))
            picked += [row[c.item_id] for c in papers]
        self.cosines = np.zeros((self.size, len(picked)))
        if picked and self.size:
            self.cosines = np.asarray((matrix[: self.size] @ matrix[picked].T).todense())
        self.centroid_norm: dict[str, float] = {}  # |mean of the liked rows|
        for name, papers in self.liked.items():
            centroid = matrix[[row[c.item_id] for c in papers]].mean(axis=0)
            self.centroid_norm[name] = max(float(np.sqrt(np.square(centroid).sum())), 1e-12)
        self.against: dict[str, npt.NDArray[np.float64]] = {}  # cosine to the disliked centroid
        for name, papers in against.items():
            centroid = np.asarray(matrix[[row[c.item_id] for c in papers]].mean(axis=0)).ravel()
            norm = max(float(np.sqrt(np.square(centroid).sum())), 1e-12)
            self.against[name] = np.asarray(matrix[: self.size] @ centroid).ravel() / norm

    def likeness(self, profile: str) -> Likeness | None:
        """`profile`'s likeness, or None when it has no liked papers."""
        cols = self.columns.get(profile)
        if not cols:
            return None
        block = self.cosines[:, cols]
        nearest = np.argmax(block, axis=1) if self.size else np.zeros(0, dtype=np.int64)
        similarity = block.mean(axis=1) / self.centroid_norm[profile]
        if profile in self.against:  # Rocchio's negative part: what is like the dislikes drops
            similarity = similarity - DISLIKE * self.against[profile]
        return Likeness(
            similarity=similarity,
            nearest=nearest.astype(np.int64),
            nearest_cosine=block[np.arange(self.size), nearest],
            liked=self.liked[profile],
        )
