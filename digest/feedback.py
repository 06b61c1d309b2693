"""Feedback by signed link, behind `digest.service`: "more like this" and "less like
this" on each item of a digest mail, the undo page's link, the manage page's list
with "remove", and the subscriber's own page of an issue that carries those links
(the mail's "view in browser").

A click needs no login: the link is signed for (subscriber, profile, item, action)
and names the generation of that feedback it was made in (`digest.store.feedback`).
It acts once; the same link again is answered the same and changes nothing, and a
link made before a later change (an undo, a remove, the other direction) is
superseded. Feedback is not consent: it leaves the subscriber's generation alone,
so subscription changes leave feedback links working, and theirs it.

The own page is consent's, though: its link (`digest.tokens`, version 4) shows the
issue as that subscriber got it (their personal picks and order, if they had any)
only while they are subscribed to its profile (active or paused); otherwise
nothing of theirs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from digest.errors import TokenError
from digest.mailing import Due, Feedback, Subscriber
from digest.models import Digest, Profile

if TYPE_CHECKING:
    from digest.store import Store


ACTIONS = ("more", "less", "undo")  # what a link does: the last part of its URL


@dataclass(frozen=True, slots=True)
class Followed:
    """What following a feedback link did, and the token the answer page's links
    (undo, or say it again) carry: made in the generation the feedback is now in."""

    subscriber: Subscriber
    feedback: Feedback
    title: str  # the item's
    changed: bool  # False: the same link again
    token: str


def link_tokens(
    key: bytes, sid: int, secret: str, profile: str, items: Sequence[int], gens: Mapping[int, int]
) -> dict[int, str]:
    """item id -> the token of its feedback links in one subscriber's mail; `gens`:
    the generation of their feedback on each item (none: 0)."""
    from digest.tokens import FeedbackSigner

    sign = FeedbackSigner(key, sid, secret, profile).token
    return {i: sign(i, gens.get(i, 0)) for i in items}


def follow(store: Store, key: bytes, token: str, action: str, now: datetime) -> Followed:
    """Apply a feedback link's `action` (one of ACTIONS); TokenError when it is
    forged ("bad signature"), malformed, or superseded by a later change."""
    from digest.tokens import make_feedback_token, read_feedback_token

    if action not in ACTIONS:
        raise TokenError("malformed")

    def secret(subscriber_id: int) -> str | None:
        sub = store.subscriber_by_id(subscriber_id)
        return sub.secret if sub else None

    link = read_feedback_token(key, token, secret)
    sub = store.subscriber_by_id(link.subscriber_id)
    if sub is None:
        raise TokenError("unknown subscriber")
    items = store.items_by_id([link.item_id])
    if link.item_id not in items:
        raise TokenError("unknown item")
    done = store.feedback_act(
        sub.id, link.profile, link.item_id, generation=link.generation, action=action, now=now
    )
    if done is None:
        raise TokenError("superseded")
    fb, changed = done
    now_link = replace(link, generation=fb.generation)
    return Followed(
        sub, fb, items[link.item_id].title, changed, make_feedback_token(key, sub.secret, now_link)
    )


def listing(store: Store, sub: Subscriber) -> list[Feedback]:
    """The subscriber's standing feedback, newest first (for the manage page)."""
    return store.feedback_of(sub.id)


def remove_feedback(
    store: Store, key: bytes, token: str, feedback_id: int, now: datetime
) -> Subscriber:
    """The manage page's "remove" (its current link is the proof): that feedback
    undone. The subscriber's generation stays: the page's link stays good."""
    from digest.subscriptions import manage_view

    sub = manage_view(store, key, token, now)
    store.feedback_remove(sub.id, feedback_id, now)
    return sub


@dataclass(frozen=True, slots=True)
class Reading:
    """A subscriber's own page of one issue, as its view link finds it. `digest`: the
    issue with their picks, its items' feedback tokens (see `link_tokens`) and their
    standing choices; when they are not `subscribed` to its profile now, the shared
    issue and nothing of theirs (to name its public page only)."""

    subscriber: Subscriber
    digest: Digest
    subscribed: bool
    tokens: Mapping[int, str] = field(default_factory=dict)
    chosen: Mapping[int, str] = field(default_factory=dict)  # item id -> "more" or "less"


def view_token(key: bytes, due: Due) -> str:
    """The token of the "view in browser" link in this delivery's mail."""
    from digest.tokens import ViewLink, make_view_token

    return make_view_token(key, due.secret, ViewLink(due.subscriber_id, due.digest_id))


def reading(store: Store, key: bytes, token: str, profiles: Mapping[str, Profile]) -> Reading:
    """What a view link shows; TokenError when it is forged or malformed, or names a
    subscriber, a digest or a profile (of `profiles`) that is no longer there."""
    from digest.tokens import read_view_token

    def secret(subscriber_id: int) -> str | None:
        sub = store.subscriber_by_id(subscriber_id)
        return sub.secret if sub else None

    link = read_view_token(key, token, secret)
    sub = store.subscriber_by_id(link.subscriber_id)
    if sub is None:  # deleted between the two reads
        raise TokenError("unknown subscriber")
    name = store.digest_profiles([link.digest_id]).get(link.digest_id, "")
    if (profile := profiles.get(name)) is None:
        raise TokenError("unknown digest")
    digest = store.digest(profile, link.digest_id)
    if digest is None:
        raise TokenError("unknown digest")
    if sub.status not in ("active", "paused") or name not in sub.profiles:
        return Reading(sub, digest, subscribed=False)
    mine = store.personal_picks(link.digest_id, sub.id).get(sub.id)
    if mine is not None:
        digest = replace(digest, picks=tuple(mine))
    items = [p.candidate.item_id for p in digest.picks]
    gens = store.feedback_generations(name, sub.id).get(sub.id, {})
    tokens = link_tokens(key, sub.id, sub.secret, name, items, gens)
    chosen = {f.item_id: f.direction for f in store.feedback_of(sub.id) if f.profile == name}
    return Reading(sub, digest, True, tokens, chosen)
