"""Keywords a profile's liked papers use and the profile lacks (`profiles suggest`).

Pure: the caller gives the liked papers, the candidates of the recent window and
a way to select; nothing is edited, the reader decides.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import pairwise

from digest.models import Candidate, Pick, Profile, Term
from digest.selection.similar import tokens

_SHORT = 4  # a word of fewer letters says little on its own


def phrases(c: Candidate) -> set[str]:
    """The words (of four letters or more) and two-word phrases of a paper."""
    words = tokens(f"{c.title}\n{c.summary}")
    out = {w for w in words if len(w) >= _SHORT and not w.isdigit()}
    out.update(f"{a} {b}" for a, b in pairwise(words) if not (a + b).isdigit())
    return out


def candidates(
    profile: Profile, liked: Sequence[Candidate], pool: Sequence[Candidate], limit: int = 10
) -> list[str]:
    """Up to `limit` phrases shared by at least two liked papers (or the one), rare
    among the candidates, that no keyword of `profile` already is."""
    known = {t.text.casefold() for t in profile.keywords}
    in_liked = Counter(p for c in liked for p in phrases(c))
    in_pool = Counter(p for c in pool for p in phrases(c))
    need = 2 if len(liked) > 1 else 1

    def weight(p: str) -> tuple[float, str]:
        return -in_liked[p] * math.log((1 + len(pool)) / (1 + in_pool[p])), p

    found = [p for p, n in in_liked.items() if n >= need and p not in known]
    found = [p for p in found if not any(re.search(rf"\b{re.escape(k)}\b", p) for k in known)]
    return sorted(found, key=weight)[:limit]


def changes(
    profile: Profile,
    terms: Sequence[str],
    select: Callable[[Profile], Sequence[Pick]],
) -> list[tuple[str, int]]:
    """Each term, with how many of the recent picks adding it (weight 1) changes:
    the papers that would come in, which as many others leave when capped."""
    before = {p.candidate.item_id for p in select(profile)}
    out = []
    for term in terms:
        after = select(replace(profile, keywords=(*profile.keywords, Term(term))))
        out.append((term, len({p.candidate.item_id for p in after} - before)))
    return out
