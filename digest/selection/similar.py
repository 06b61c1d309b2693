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
    """One cycle's vectors: the candidates and every profile's liked papers,
    weighted together, so the cosines of all profiles come from one product."""

    def __init__(
        self, candidates: Sequence[Candidate], liked: Mapping[str, Sequence[Candidate]]
    ) -> None:
        self.liked = {name: tuple(papers) for name, papers in liked.items() if papers}
        unique = {c.item_id: c for papers in self.liked.values() for c in papers}
        self.extra = list(unique)  # liked papers' item ids, rows after the candidates
        matrix = tfidf([text_of(c) for c in chain(candidates, unique.values())])
        self.size = len(candidates)
        row = {item_id: self.size + k for k, item_id in enumerate(self.extra)}
        self.columns: dict[str, list[int]] = {}  # profile -> its columns in `cosines`
        picked: list[int] = []
        for name, papers in self.liked.items():
            self.columns[name] = list(range(len(picked), len(picked) + len(papers)))
            picked += [row[c.item_id] for c in papers]
        self.cosines = np.zeros((self.size, len(picked)))
        self.centroid_norm: dict[str, float] = {}  # |mean of the liked rows|
        for name, papers in self.liked.items():
            centroid = matrix[[row[c.item_id] for c in papers]].mean(axis=0)
            self.centroid_norm[name] = max(float(np.sqrt(np.square(centroid).sum())), 1e-12)
        if picked and self.size:
            liked_rows = matrix[picked]
            self.cosines = np.asarray((matrix[: self.size] @ liked_rows.T).todense())

    def likeness(self, profile: str) -> Likeness | None:
        """`profile`'s likeness, or None when it has no liked papers."""
        cols = self.columns.get(profile)
        if not cols:
            return None
        block = self.cosines[:, cols]
        nearest = np.argmax(block, axis=1) if self.size else np.zeros(0, dtype=np.int64)
        return Likeness(
            similarity=block.mean(axis=1) / self.centroid_norm[profile]
            if self.size
            else np.zeros(0),
            nearest=nearest.astype(np.int64),
            nearest_cosine=block[np.arange(self.size), nearest] if self.size else np.zeros(0),
            liked=self.liked[profile],
        )
