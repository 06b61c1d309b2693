"""Feedback by signed link, behind `digest.service`: "more like this" and "less like
this" on each item of a digest mail, the undo page's link, and the manage page's
list with "remove".

A click needs no login: the link is signed for (subscriber, profile, item, action)
and names the generation of that feedback it was made in (`digest.store.feedback`).
It acts once; the same link again is answered the same and changes nothing, and a
link made before a later change (an undo, a remove, the other direction) is
superseded. Feedback is not consent: it leaves the subscriber's generation alone,
so subscription changes leave feedback links working, and theirs it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from digest.errors import TokenError
from digest.mailing import Feedback, Subscriber

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
