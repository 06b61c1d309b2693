"""Term normalisation and the one-pass, multi-profile matcher. Pure: no I/O.

Text and terms are normalised the same way: NFKD with combining marks dropped,
case-folded, split into tokens on every non-alphanumeric character, each token
singularised, joined by single spaces and padded with a space at each end
(" scaling law "). A term then matches where its padded form occurs in the
padded text: on word boundaries, words adjacent and in order.

A multi-token term also registers its tokens written together ("step size" is
also "stepsize"), so hyphen, space and no separator are equivalent. The one
asymmetry: a single-token term does not match its parts written apart
(`stepsize` does not match "step size"); write the term with the space.

All keyword and exclude terms of all profiles go into one Aho-Corasick
automaton, so an item costs one pass over its title and one over its abstract,
however many profiles there are. `/regex/` terms are run, case-insensitively,
on the original text, only for the profiles that have them.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import ahocorasick

from digest.models import Hit, Profile, Term

_TOKEN_RE = re.compile(r"[^\W_]+")
# ASCII fast path: letters lowered, digits kept, every other byte a separator.
_ASCII = bytes(c | 32 if chr(c).isalpha() else c if chr(c).isdigit() else 32 for c in range(128))
_ASCII += b" " * 128
_parser: Any = importlib.import_module("re._parser")  # private; only for _needles


def _fold(text: str) -> str:
    if not text.isascii():  # the costly Unicode steps only where they can matter
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return text.casefold()


def _raw_tokens(text: str) -> list[str]:
    if text.isascii():
        return text.encode().translate(_ASCII).decode().split()
    return _TOKEN_RE.findall(_fold(text))


def singularize(word: str) -> str:
    """Conservative, and the same on both sides: consistency over linguistics.

    -ies -> -y (not in 4-letter words: "ties" -> "tie"); -ches, -shes, -xes,
    -sses lose "es"; otherwise a final "s" goes unless the word ends in "ss",
    "is" or (5 letters and up) "us", or has at most 3 letters. A final "che"
    loses its "e" so that "cache" and "caches" agree ("cach"), as "batch" and
    "batches" do. Known miss: "bias" -> "bia" but "biases" -> "biase".
    """
    n = len(word)
    if n <= 3:
        return word
    if word.endswith("ies") and n > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("che"):
        return word[:-1]
    if word.endswith(("ss", "is")) or (word.endswith("us") and n > 4):
        return word  # "loss", "analysis", "corpus"; but "gpus" -> "gpu"
    return word[:-1] if word.endswith("s") else word


class _Memo(dict[str, str]):
    """`fn` with its results kept: a C-speed `__getitem__` for words that recur."""

    def __init__(self, fn: Callable[[str], str]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, key: str) -> str:
        value = self.fn(key)
        if len(self) < 200_000:  # a vocabulary, not a leak
            self[key] = value
        return value


_SINGULAR = _Memo(singularize)


def normalize_text(text: str) -> str:
    """ " scaling law for batch size " for "Scaling Laws for Batch-Sizes"; "" if no tokens."""
    toks = _raw_tokens(text)
    return f" {' '.join(map(_SINGULAR.__getitem__, toks))} " if toks else ""


def normalize_name(name: str) -> str:
    """An author name folded for comparison: "José  García" -> "jose garcia"."""
    return " ".join(_raw_tokens(name))


_NAMES = _Memo(normalize_name)


def _patterns(text: str) -> set[str]:
    """The padded patterns a (non-regex) term registers; empty if it has no tokens."""
    raw = _raw_tokens(text)
    if not raw:
        return set()
    pats = {f" {' '.join(map(singularize, raw))} "}
    if len(raw) > 1:
        pats.add(f" {singularize(''.join(raw))} ")
    return pats


def check_regex(text: str) -> str | None:
    """Why the `/regex/` term `text` is unusable, or None (also for plain terms)."""
    if not Term(text).is_regex:
        return None
    try:
        pattern = re.compile(text[1:-1], re.IGNORECASE)
    except re.error as exc:
        return f"invalid regular expression {text}: {exc}"
    if pattern.search(""):
        return f"regular expression {text} matches the empty string, so it matches everything"
    return None


def _needles(pattern: str) -> tuple[str, ...]:
    """Lower-case ASCII strings that every match contains: the runs of literals at
    the pattern's top level. In ASCII text, a regex whose needles are not all in
    the lowered text cannot match, so it is not run (regexes cost ~30 µs a field)."""
    runs: list[str] = []
    run = ""
    for op, av in _parser.parse(pattern, re.IGNORECASE):
        if op is _parser.LITERAL and av < 128:
            run += chr(av).lower()
        elif run:
            runs.append(run)
            run = ""
    return (*runs, run) if run else tuple(runs)


@dataclass(frozen=True, slots=True)
class MatchResult:
    """Hits per profile name (only profiles with hits), and the profiles an
    exclude term matched (their hits are still given). Hits are in field order
    (title, abstract, author), then in the order the profile lists its terms."""

    hits: Mapping[str, tuple[Hit, ...]]
    excluded: frozenset[str]

    def for_profile(self, name: str) -> tuple[Hit, ...]:
        return self.hits.get(name, ())


@dataclass(slots=True)
class _Regex:
    regex: re.Pattern[str]
    needles: tuple[str, ...]
    keywords: list[int]  # keyword owner ids
    excludes: list[int]  # exclude owner ids


class Matcher:
    """All profiles' terms, compiled once; `match` one item against all of them.

    An owner is one (profile, term). Keyword owners are numbered in profile
    order, then term order, so sorted ids come grouped by profile.
    """

    def __init__(self, profiles: Sequence[Profile]) -> None:
        names = [p.name for p in profiles]
        if len(set(names)) != len(names):
            raise ValueError("profile names must be unique")
        self._kw_name: list[str] = []  # keyword owner id -> profile name
        self._kw_hits: tuple[list[Hit], list[Hit]] = ([], [])  # ... -> title, abstract hit
        self._ex_name: list[str] = []  # exclude owner id -> profile name
        self._authors: dict[str, list[tuple[str, Hit]]] = {}
        regexes: dict[str, _Regex] = {}
        by_pattern: dict[str, tuple[list[int], list[int]]] = {}
        for profile in profiles:
            terms = [(t.text, 0) for t in profile.keywords] + [(x, 1) for x in profile.exclude]
            for text, kind in terms:
                if kind == 0:
                    owner = len(self._kw_name)
                    self._kw_name.append(profile.name)
                    self._kw_hits[0].append(Hit(text, "title"))
                    self._kw_hits[1].append(Hit(text, "abstract"))
                else:
                    owner = len(self._ex_name)
                    self._ex_name.append(profile.name)
                if Term(text).is_regex:
                    problem = check_regex(text)
                    if problem:
                        raise ValueError(f"profile {profile.name}: {problem}")
                    if text not in regexes:
                        rx = re.compile(text[1:-1], re.IGNORECASE)
                        regexes[text] = _Regex(rx, _needles(text[1:-1]), [], [])
                    (regexes[text].keywords, regexes[text].excludes)[kind].append(owner)
                    continue
                for pat in _patterns(text):
                    by_pattern.setdefault(pat, ([], []))[kind].append(owner)
            for author in dict.fromkeys(profile.authors):
                key = normalize_name(author)
                if key:
                    self._authors.setdefault(key, []).append((profile.name, Hit(author, "author")))
        self._regexes = list(regexes.values())
        # The automaton's values index these: pattern -> keyword, exclude owners.
        self._pat_kw = [tuple(kw) for kw, _ in by_pattern.values()]
        self._pat_ex = [tuple(ex) for _, ex in by_pattern.values()]
        self._automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for i, pat in enumerate(by_pattern):
            self._automaton.add_word(pat, i)
        self._automaton.make_automaton()

    def _scan(self, text: str) -> tuple[set[int], set[int]]:
        """Keyword and exclude owners whose term occurs in `text` (original form)."""
        norm = normalize_text(text)
        if norm and self._pat_kw:
            pids = {pid for _, pid in self._automaton.iter(norm)}
            kw = set(chain.from_iterable(map(self._pat_kw.__getitem__, pids)))
            ex = set(chain.from_iterable(map(self._pat_ex.__getitem__, pids)))
        else:
            kw, ex = set(), set()
        if self._regexes:
            low = text.lower() if text.isascii() else None
            for r in self._regexes:
                if low is not None and not all(n in low for n in r.needles):
                    continue
                if r.regex.search(text):
                    kw.update(r.keywords)
                    ex.update(r.excludes)
        return kw, ex

    def match(self, title: str, summary: str, authors: Sequence[str] = ()) -> MatchResult:
        hits: dict[str, list[Hit]] = {}
        excluded: set[str] = set()
        kw_name = self._kw_name
        for slot, text in enumerate((title, summary)):
            kw, ex = self._scan(text)
            excluded.update(map(self._ex_name.__getitem__, ex))
            field_hits = self._kw_hits[slot]
            for owner in sorted(kw):
                name = kw_name[owner]
                if name in hits:
                    hits[name].append(field_hits[owner])
                else:
                    hits[name] = [field_hits[owner]]
        if self._authors:
            for author in authors:
                for name, hit in self._authors.get(_NAMES[author], ()):
                    if name not in hits:
                        hits[name] = [hit]
                    elif hit not in hits[name]:
                        hits[name].append(hit)
        return MatchResult({k: tuple(v) for k, v in hits.items()}, frozenset(excluded))
