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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from digest.errors import TokenError
from digest.mailing import Feedback, Subscriber

if TYPE_CHECKING:
    from digest.store import Store


@dataclass(frozen=True, slots=True)
class Followed:
    """What following a feedback link did, and the links the answer page offers."""

    subscriber: Subscriber
    feedback: Feedback
    title: str  # the item's
    changed: bool  # False: the same link again
    undo: str  # token: undo it ("" when it was an undo)
    more: str  # tokens for saying it again, in the generation it is now in
    less: str


def link_tokens(
    key: bytes, sid: int, secret: str, profile: str, items: Sequence[int], gens: Mapping[int, int]
) -> dict[int, tuple[str, str]]:
    """item id -> ("more like this", "less like this") tokens of one subscriber's
    mail; `gens`: the generation of their feedback on each item (none: 0)."""
    from digest.tokens import FeedbackSigner

    sign = FeedbackSigner(key, sid, secret, profile).token
    return {i: (sign(i, gens.get(i, 0), "more"), sign(i, gens.get(i, 0), "less")) for i in items}


def follow(store: Store, key: bytes, token: str, now: datetime) -> Followed:
    """Apply a feedback link; TokenError when it is forged ("bad signature"),
    malformed, or superseded by a later change."""
    from digest.tokens import FeedbackLink, make_feedback_token, read_feedback_token

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
        sub.id,
        link.profile,
        link.item_id,
        generation=link.generation,
        action=link.action,
        now=now,
    )
    if done is None:
        raise TokenError("superseded")
    fb, changed = done

    def again(action: str) -> str:
        return make_feedback_token(
            key, sub.secret, FeedbackLink(sub.id, fb.profile, fb.item_id, fb.generation, action)
        )

    undo = again("undo") if fb.direction else ""
    return Followed(sub, fb, items[link.item_id].title, changed, undo, again("more"), again("less"))


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
