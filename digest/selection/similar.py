"""Similarity to a profile's liked papers: TF-IDF over title and abstract, and
word vectors when `digest[embed]` is installed.

The method (chosen on bench/judged, see bench/relevance.py and the README):
- a paper's text is its title twice, then its abstract; tokens are runs of two
  or more word characters, lower-cased, without English stop words (scikit-learn's
  `TfidfVectorizer(sublinear_tf=True, stop_words="english")`, whose matrix this
  one equals: tests/test_similar.py checks it);
- weights are (1 + log tf) x idf, idf = 1 + log((1 + n) / (1 + df)) over the
  cycle's candidates and the liked papers together; rows have unit length;
- the profile's query is the centroid of its liked papers with each word's
  weight times the square root of the share of liked papers that have it (a
  word most of them share says more than one paper's own), at unit length;
- a candidate's `similarity` is its cosine to the query divided by the liked
  papers' mean cosine to it: 1 for a paper as close as the liked ones are, on
  the same scale for every profile and vocabulary. Its `nearest` is the liked
  paper with the highest cosine, which the explanation names with that cosine;
- with `digest[embed]`, each paper is also the mean of the vectors
  (`embed.word_vectors`) of its words that another paper has too, less the
  cycle's mean, at unit length; the query is its
  liked papers' mean; that cosine (0 when below), in units of the liked papers'
  own, joins the TF-IDF one: similarity = (TF-IDF + EMBED x vectors) / (1 +
  EMBED), still 1 for a paper as close as the liked ones are. The words are
  TF-IDF's own, each tokenised once per cycle;
- disliked papers make a query the same way, and `DISLIKE` times a candidate's
  similarity to them counts against it (Rocchio's negative part).

Deterministic: the same texts give the same floats. Nothing is fetched: the
vocabulary is the cycle's own text, the word vectors ship in the wheel.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from digest.models import Candidate
from digest.selection.embed import word_vectors

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_STOP = ENGLISH_STOP_WORDS
DISLIKE = 0.5  # Rocchio's usual weight of the negative examples
EMBED = 0.25  # the word-vector similarity's share next to TF-IDF's 1 (bench/relevance.py)


def text_of(c: Candidate) -> str:
    """What a paper is compared by: the title counts twice, as the title says most."""
    return f"{c.title}\n{c.title}\n{c.summary}"


def tokens(text: str) -> list[str]:
    """The words the model counts, in order."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOP]


def counts(texts: Sequence[str]) -> tuple[sparse.csr_matrix, list[str]]:
    """Each text's word counts (stop words left out), and the word of each column."""
    words = [_TOKEN.findall(t.lower()) for t in texts]
    # Word -> column in C (map over a dict whose missing keys get the next number);
    # the stop words take the first columns, dropped after, so no test per token.
    vocab: defaultdict[str, int] = defaultdict()
    vocab.default_factory = vocab.__len__
    for w in sorted(_STOP):
        vocab[w]
    cols = np.fromiter(map(vocab.__getitem__, chain.from_iterable(words)), dtype=np.int64)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    rows = np.repeat(np.arange(len(texts)), lengths)
    kept = cols >= len(_STOP)
    rows, cols = rows[kept], cols[kept] - len(_STOP)
    n, width = len(texts), max(len(vocab) - len(_STOP), 1)
    matrix = sparse.csr_matrix(
        (np.ones(len(cols), dtype=np.float64), (rows, cols)), shape=(n, width)
    )
    matrix.sum_duplicates()
    return matrix, list(vocab)[len(_STOP) :]


def weigh(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Unit-length rows of sublinear TF-IDF from counts (see the module docstring)."""
    n, width = matrix.shape
    df = np.bincount(matrix.indices, minlength=width)
    idf = 1.0 + np.log((1.0 + n) / (1.0 + df))
    out = matrix.copy()
    out.data = (1.0 + np.log(out.data)) * idf[out.indices]
    return _unit_rows(out)


def tfidf(texts: Sequence[str]) -> sparse.csr_matrix:
    """Unit-length rows of sublinear TF-IDF, one per text."""
    return weigh(counts(texts)[0])


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)


def embeddings(matrix: sparse.csr_matrix, words: Sequence[str]) -> npt.NDArray[np.float64] | None:
    """Each row's mean vector of the words it shares with another row, at unit
    length, less the mean of the rows, at unit length again (None without
    `digest[embed]`). A word of one paper alone links it to no other, and leaving
    those out halves the words to look up; the direction all papers share says
    nothing about any one of them."""
    shared = np.flatnonzero(np.bincount(matrix.indices, minlength=matrix.shape[1]) >= 2)
    vectors = word_vectors([words[i] for i in shared.tolist()])
    if vectors is None:
        return None
    rows = _unit(np.asarray(matrix[:, shared] @ vectors.astype(np.float64)))
    return _unit(rows - rows.mean(axis=0))


def _unit(rows: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray(rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12))


def query(rows: sparse.csr_matrix) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The words (columns) and weights of the query of these papers' rows, not
    yet at unit length: mean weight x sqrt(share of the rows that have the word)."""
    words = np.unique(rows.indices)
    block = rows[:, words].toarray()
    share = (block > 0).mean(axis=0)
    return words, block.mean(axis=0) * np.sqrt(share)


@dataclass(frozen=True, slots=True)
class Likeness:
    """Each candidate's similarity to one profile's liked papers and, times
    `DISLIKE`, to its disliked ones (index-aligned with the candidates; zeros
    where it has none), and what names the nearest paper of each for a few."""

    similarity: npt.NDArray[np.float64]
    against: npt.NDArray[np.float64]
    liked: tuple[Candidate, ...]
    disliked: tuple[Candidate, ...]
    rows: sparse.csr_matrix  # the candidates' vectors
    liked_rows: sparse.csr_matrix
    disliked_rows: sparse.csr_matrix

    def nearest(
        self, picked: Sequence[int], disliked: bool = False
    ) -> list[tuple[Candidate, float]]:
        """Each picked candidate's nearest liked (or disliked) paper and its cosine
        (for the picks only: all candidates x all those papers is most of a cycle)."""
        papers, rows = (
            (self.disliked, self.disliked_rows) if disliked else (self.liked, self.liked_rows)
        )
        if not picked or not papers:
            return []
        cosines = np.asarray((self.rows[list(picked)] @ rows.T).todense())
        best = np.argmax(cosines, axis=1)
        return [(papers[b], float(cosines[k, b])) for k, b in enumerate(best)]


class Model:
    """One cycle's vectors: the candidates and every profile's liked and disliked
    papers, weighted together, so all profiles' scores come from one product."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        liked: Mapping[str, Sequence[Candidate]],
        disliked: Mapping[str, Sequence[Candidate]] | None = None,
    ) -> None:
        self.liked = {name: tuple(papers) for name, papers in liked.items() if papers}
        self.disliked = {name: tuple(ps) for name, ps in (disliked or {}).items() if ps}
        self.size = len(candidates)
        row = {c.item_id: i for i, c in enumerate(candidates)}
        extra = {
            c.item_id: c
            for ps in chain(self.liked.values(), self.disliked.values())
            for c in ps
            if c.item_id not in row
        }  # papers outside the cycle get rows after the candidates, each once
        row.update((item_id, self.size + k) for k, item_id in enumerate(extra))
        counted, vocabulary = counts([text_of(c) for c in chain(candidates, extra.values())])
        self.matrix = weigh(counted)
        # One query per (profile, liked or disliked): its papers' rows and its column.
        self.rows: dict[tuple[str, bool], list[int]] = {}
        for against, papers_of in ((False, self.liked), (True, self.disliked)):
            for name, papers in papers_of.items():
                self.rows[name, against] = [row[c.item_id] for c in papers]
        q_rows, q_cols, q_vals = [], [], []
        for k, rows in enumerate(self.rows.values()):
            words, weights = query(self.matrix[rows])
            q_rows.append(np.full(len(words), k))
            q_cols.append(words)
            q_vals.append(weights / max(float(np.sqrt(np.square(weights).sum())), 1e-12))
        queries = sparse.csr_matrix(
            (np.concatenate(q_vals or [np.zeros(0)]),
             (np.concatenate(q_rows or [np.zeros(0, np.int64)]),
              np.concatenate(q_cols or [np.zeros(0, np.int64)]))),
            shape=(len(self.rows), self.matrix.shape[1]),
        )  # fmt: skip
        self.column = {key: k for k, key in enumerate(self.rows)}
        # A dense product: the queries' words are few, the candidates many.
        self.scores = np.asarray(self.matrix @ queries.T.toarray())  # every row, liked too
        self.scores /= self._units(self.scores)
        vectors = embeddings(counted, vocabulary)
        if vectors is not None:  # the same in word vectors: each query its papers' mean
            means = [vectors[rows].mean(axis=0) for rows in self.rows.values()]
            near = vectors @ _unit(np.stack(means)).T if means else np.zeros((len(vectors), 0))
            near = np.maximum(near, 0.0)  # as a TF-IDF cosine: 0 for the unlike, never below
            self.scores = (self.scores + EMBED * near / self._units(near)) / (1 + EMBED)

    def _units(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Each query's own papers' mean score: the unit of its similarity."""
        return np.array(
            [max(float(scores[rows, k].mean()), 1e-12) for k, rows in enumerate(self.rows.values())]
        )

    def _part(self, profile: str, against: bool) -> npt.NDArray[np.float64]:
        key = (profile, against)
        if key not in self.column:
            return np.zeros(self.size)
        return np.asarray(self.scores[: self.size, self.column[key]])

    def likeness(self, profile: str) -> Likeness | None:
        """`profile`'s likeness, or None when it has no liked and no disliked papers."""
        if profile not in self.liked and profile not in self.disliked:
            return None
        return Likeness(
            similarity=self._part(profile, False),
            against=DISLIKE * self._part(profile, True),
            liked=self.liked.get(profile, ()),
            disliked=self.disliked.get(profile, ()),
            rows=self.matrix,
            liked_rows=self.matrix[self.rows.get((profile, False), [])],
            disliked_rows=self.matrix[self.rows.get((profile, True), [])],
        )
