"""Why a paper was picked: the contributions that add up to its score.

Kept apart from `digest.models`; a `Pick` carries them from
selection to the store and to every output. `explain` is the one wording of the
explanation line: each contribution once, with the field that counted and what
it added, so the numbers shown add up to the score shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LIKE = "like"  # the field of a similarity contribution (issue 14)
UNLIKE = "less like"  # the field of what the similarity to disliked papers takes off


@dataclass(frozen=True, slots=True)
class Reason:
    """One contribution to a pick's score; `Pick.score` is the sum of `value`s.

    `term` is a keyword as the profile writes it, an author as the profile names
    them, or (field "like" / "less like") the title of the nearest liked /
    disliked paper. `field` is where it counted: "title", "abstract", "author",
    "like" or "less like". `factor` is the multiplier
    already inside `value` (the profile's title_weight for a title hit)."""

    term: str
    field: str
    value: float
    factor: float = 1.0


def number(value: float) -> str:
    """A score or contribution as shown: at most two decimals, no trailing zeros."""
    return f"{round(value, 2):g}"


def explain_one(r: Reason) -> str:
    """ "batch size 4 (title ×2)", "Ada Lovelace 1 (author)", "like “Title” 0.41"."""
    term = " ".join(r.term.split())
    if r.field in (LIKE, UNLIKE):
        return f"{r.field} “{term}” {number(r.value)}"
    factor = f" ×{number(r.factor)}" if r.factor != 1 else ""
    return f"{term} {number(r.value)} ({r.field}{factor})"


def explain(reasons: Sequence[Reason]) -> str:
    """The contributions joined as a sum: "batch size 4 (title ×2) + warmup 1 (abstract)"."""
    return " + ".join(explain_one(r) for r in reasons)


def total(reasons: Sequence[Reason]) -> float:
    """The score the reasons make (rounded as selection rounds scores)."""
    return round(sum(r.value for r in reasons), 9)
