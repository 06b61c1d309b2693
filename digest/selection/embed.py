"""Word vectors for the similarity to liked papers: WordLlama's static embeddings.

The optional extra `digest[embed]` installs the `wordllama` package, whose wheel
ships its default model (l2_supercat, 256 dimensions, 16 MB of float16 weights)
and tokenizer; this module reads those two files itself, with `safetensors` and
`tokenizers`, so nothing is ever fetched from a model hub. Without the extra,
`word_vectors` returns None and the similarity is TF-IDF alone.

A word's vector is the mean of its sub-word pieces' vectors (the word as it
would appear inside a sentence: after a space). `similar.Model` sums them per
paper, so a paper's embedding is the mean of its words', as WordLlama pools.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

MODEL = "l2_supercat"  # WordLlama's default, the one its wheel ships


@cache
def _model() -> tuple[Any, npt.NDArray[np.float32]] | None:
    """The tokenizer and the token vectors from the installed package, or None."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or spec.origin is None:
        return None
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    home = Path(spec.origin).parent
    tokenizer = Tokenizer.from_file(str(home / "tokenizers" / f"{MODEL}_tokenizer_config.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    weights = load_file(str(home / "weights" / f"{MODEL}_256.safetensors"))
    return tokenizer, np.asarray(weights["embedding.weight"], dtype=np.float32)


def available() -> bool:
    """Whether the optional extra is installed."""
    return _model() is not None


def word_vectors(words: Sequence[str]) -> npt.NDArray[np.float32] | None:
    """One row per word: the mean vector of its pieces (None without the extra)."""
    model = _model()
    if model is None:
        return None
    tokenizer, table = model
    pieces = tokenizer.encode_batch([" " + w for w in words], add_special_tokens=False)
    ids = [p.ids for p in pieces]
    counts = np.fromiter(map(len, ids), np.int64, len(ids))
    flat = np.fromiter((i for row in ids for i in row), np.int64, int(counts.sum()))
    share = np.repeat(1.0 / np.maximum(counts, 1), counts).astype(np.float32)
    rows = np.repeat(np.arange(len(words)), counts)
    mean = sparse.csr_matrix((share, (rows, flat)), shape=(len(words), table.shape[0]))
    return np.asarray(mean @ table, dtype=np.float32)
