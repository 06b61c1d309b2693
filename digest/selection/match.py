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
on the original text, only for the profiles that have them, by RE2: linear
time in the text, so no pattern can make a title stall matching.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter
from typing import Any

import ahocorasick

from digest.models import Hit, Profile, Term

_TOKEN_RE = re.compile(r"[^\W_]+")
# ASCII fast path: letters lowered, digits kept, every other byte a separator.
_ASCII = bytes(c | 32 if chr(c).isalpha() else c if chr(c).isdigit() else 32 for c in range(128))
_ASCII += b" " * 128
_parser: Any = importlib.import_module("re._parser")  # private; only for _needles
_re2: Any = importlib.import_module("re2")  # google-re2: no type stubs
_second = itemgetter(1)


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


def _regex_options() -> Any:
    options = _re2.Options()
    options.case_sensitive = False
    options.never_capture = True  # only whether it matches counts
    options.log_errors = False  # errors become `profiles check` problems, not stderr noise
    return options


_RE2_OPTIONS = _regex_options()


def _compile(text: str) -> Any:
    """The `/regex/` term as an RE2 pattern: linear in the text, whatever the
    pattern, so a hostile title cannot stall a run (no backtracking at all)."""
    return _re2.compile(text[1:-1], _RE2_OPTIONS)


def check_regex(text: str) -> str | None:
    """Why the `/regex/` term `text` is unusable, or None (also for plain terms)."""
    if not Term(text).is_regex:
        return None
    try:
        pattern = _compile(text)
    except _re2.error as exc:
        why = exc.args[0].decode(errors="replace") if exc.args else "unknown error"
        if why.startswith(("invalid perl operator", "invalid escape")):
            why += " (the linear-time engine, RE2, has no backreferences or lookaround)"
        return f"invalid regular expression {text}: {why}"
    if pattern.search(""):
        return f"regular expression {text} matches the empty string, so it matches everything"
    return None


def _needles(pattern: str) -> tuple[str, ...]:
    """Lower-case ASCII strings that every match contains: the runs of literals at
    the pattern's top level. In ASCII text, a regex whose needles are not all in
    the lowered text cannot match, so it is not run (regexes cost ~30 µs a field)."""
    runs: list[str] = []
    run = ""
    try:
        parsed = _parser.parse(pattern, re.IGNORECASE)
    except re.error:  # RE2 syntax Python's parser does not know: no needles, always run
        return ()
    for op, av in parsed:
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


@dataclass(frozen=True, slots=True)
class Owners:
    """What one item matched, by owner (see `Matcher`): the keyword owners found
    in its title and in its abstract (ascending ids), the profiles an exclude
    term matched, and (profile, author hit) pairs in the item's author order."""

    title: tuple[int, ...]
    abstract: tuple[int, ...]
    excluded: frozenset[str]
    authors: tuple[tuple[str, Hit], ...]


@dataclass(slots=True)
class _Regex:
    regex: Any  # an RE2 pattern (see _compile)
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
        self._kw_range: dict[str, tuple[int, int]] = {}  # profile -> its keyword owner ids
        for profile in profiles:
            first = len(self._kw_name)
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
                        regexes[text] = _Regex(_compile(text), _needles(text[1:-1]), [], [])
                    (regexes[text].keywords, regexes[text].excludes)[kind].append(owner)
                    continue
                for pat in _patterns(text):
                    by_pattern.setdefault(pat, ([], []))[kind].append(owner)
            self._kw_range[profile.name] = (first, len(self._kw_name))
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
            pids = set(map(_second, self._automaton.iter(norm)))
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

    @property
    def keyword_owners(self) -> tuple[tuple[str, str], ...]:
        """(profile name, term text) of each keyword owner, by owner id."""
        return tuple(zip(self._kw_name, (h.term for h in self._kw_hits[0]), strict=True))

    def owners(self, title: str, summary: str, authors: Sequence[str] = ()) -> Owners:
        """What the item matched, before it is turned into hits: one pass over
        each field for all profiles."""
        kw_title, ex_title = self._scan(title)
        kw_abstract, ex_abstract = self._scan(summary)
        excluded = frozenset(map(self._ex_name.__getitem__, ex_title | ex_abstract))
        found: tuple[tuple[str, Hit], ...] = ()
        if self._authors:
            by_name = self._authors
            found = tuple(pair for a in authors for pair in by_name.get(_NAMES[a], ()))
        return Owners(tuple(sorted(kw_title)), tuple(sorted(kw_abstract)), excluded, found)

    def hits_of(self, found: Owners, name: str) -> tuple[Hit, ...]:
        """Profile `name`'s hits in `found`, as `match` gives them."""
        lo, hi = self._kw_range[name]
        hits: list[Hit] = []
        for field_hits, owners in zip(self._kw_hits, (found.title, found.abstract), strict=True):
            mine = owners[bisect_left(owners, lo) : bisect_left(owners, hi)]
            hits += map(field_hits.__getitem__, mine)
        for owner, hit in found.authors:
            if owner == name and hit not in hits:
                hits.append(hit)
        return tuple(hits)

    def match(self, title: str, summary: str, authors: Sequence[str] = ()) -> MatchResult:
        found = self.owners(title, summary, authors)
        hits: dict[str, list[Hit]] = {}
        kw_name = self._kw_name
        for field_hits, owners in zip(self._kw_hits, (found.title, found.abstract), strict=True):
            for owner in owners:
                name = kw_name[owner]
                if name in hits:
                    hits[name].append(field_hits[owner])
                else:
                    hits[name] = [field_hits[owner]]
        for name, hit in found.authors:
            if name not in hits:
                hits[name] = [hit]
            elif hit not in hits[name]:
                hits[name].append(hit)
        return MatchResult({k: tuple(v) for k, v in hits.items()}, found.excluded)
