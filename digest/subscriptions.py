"""Subscriptions, one per (address, profile), for the faces through `digest.service`:
request (the web form, double opt-in), confirm, unsubscribe and manage (by signed
link), add, remove, show and import (the CLI), and the links of each digest mail.

Every change goes through the store, which moves the subscriber's generation on
and writes the consent log with its cause. A confirm or manage link works only in
the generation it was made in. An unsubscribe link stops its profile (or, made
for none, every one) unless that subscription was started again after the link
was made: a refused unsubscribe is the worse failure, so a link from an older
mail still stops what it was sent for, and only that.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from digest.addresses import normalize
from digest.errors import TokenError, UsageError
from digest.mailing import (
    Cause,
    ConsentEvent,
    Due,
    Subscriber,
    SubscriberStatus,
    SubscriptionState,
)
from digest.settings import Settings

if TYPE_CHECKING:
    from digest.store import Store
    from digest.tokens import Signed

MANAGE_FOR = timedelta(days=60)  # how long the manage link in a mail works


def address(raw: str) -> str:
    """`addresses.normalize`; ValueError when it is not an address."""
    email = normalize(raw)
    if email is None:
        raise ValueError(f"not an email address: {raw!r}")
    return email


def add(
    settings: Settings, store: Store, email: str, names: Sequence[str], now: datetime
) -> Subscriber:
    """Subscribe an address to the named profiles at once (an admin's act); its
    other profiles stay as they are."""
    from digest.service import chosen

    email = address(email)
    chosen(settings, names)
    return store.add_subscriber(email, names, now=now, cause="cli")


def remove(
    store: Store,
    email: str,
    now: datetime,
    names: Sequence[str] = (),
    known: Sequence[str] = (),
) -> Subscriber:
    """Stop the named profiles, or (none named) unsubscribe the address from
    everything: it is kept, marked, and never mailed again. UsageError for an
    address the store does not hold, or a name that is neither one of the `known`
    (configured) profiles nor one the address has."""
    email = address(email)
    sub = store.subscriber(email)
    if sub is None:
        raise UsageError(f"no subscriber {email}: nothing removed")
    if unknown := [n for n in names if n not in {*known, *sub.profiles, *sub.pending}]:
        raise UsageError(f"no profile named {unknown[0]!r}: nothing removed")
    if names:
        store.stop_subscriptions(sub.id, names, sub.generation, now, cause="cli")
    else:
        store.set_subscriber_status(sub.id, "unsubscribed", now, cause="cli")
    found = store.subscriber_by_id(sub.id)
    return found or sub


def show(store: Store, email: str) -> tuple[Subscriber, list[ConsentEvent]]:
    """A subscriber and their consent log, oldest first."""
    sub = store.subscriber(address(email))
    if sub is None:
        raise UsageError(f"no subscriber {email}")
    return sub, store.consent_log(sub.id)


def reachable(store: Store, email: str) -> Subscriber | None:
    """The subscriber an address names, if a mail may go to it (a bounced one is
    not mailed), for a fresh manage link; None for an unknown address."""
    sub = store.subscriber(email)
    return sub if sub is not None and sub.status != "bounced" else None


def request(
    store: Store, email: str, names: Sequence[str], now: datetime
) -> tuple[Subscriber, bool]:
    """A subscription asked for on the web: (the subscriber, whether it needs a
    confirmation mail). Profiles already active stay so; the others are pending
    until the link in that mail, and only that one, confirms them."""
    sub = store.subscriber(email)
    if sub is not None and sub.status == "active" and set(names) <= set(sub.profiles):
        return sub, False
    sub = store.add_subscriber(email, names, now=now, status="pending", cause="web")
    return sub, True


Purpose = Literal["confirm", "unsubscribe", "manage"]


def holder(
    store: Store, key: bytes, token: str, purpose: Purpose, now: datetime
) -> tuple[Subscriber, Signed]:
    """The subscriber a signed link was made for, and what it says; TokenError
    when it is not valid."""
    from digest.tokens import read_token

    def secret(subscriber_id: int) -> str | None:
        sub = store.subscriber_by_id(subscriber_id)
        return sub.secret if sub else None

    signed = read_token(key, token, purpose, secret, now=now)
    sub = store.subscriber_by_id(signed.subscriber_id)
    if sub is None:  # deleted between the two reads
        raise TokenError("unknown subscriber")
    return sub, signed


def _current(store: Store, sub: Subscriber, signed: Signed) -> None:
    """A confirm or manage link works only in the state it was made in."""
    if signed.generation != sub.generation:
        raise TokenError("superseded")


def confirm(store: Store, key: bytes, token: str, now: datetime) -> tuple[Subscriber, bool]:
    """Activate the request a confirmation link was sent for: (it, whether it changed).
    Any change since (another request, an unsubscribe) makes the link superseded."""
    sub, signed = holder(store, key, token, "confirm", now)
    if signed.generation is not None and signed.generation < sub.generation:
        after = [e for e in store.consent_log(sub.id) if e.generation == signed.generation + 1]
        if after and after[0].cause == "confirm" and sub.status == "active":
            return sub, False  # this very link, used before
    _current(store, sub, signed)
    states: dict[str, SubscriptionState | None] = {p: "active" for p in sub.pending}
    changed = store.change_subscriptions(
        sub.id,
        now,
        cause="confirm",
        action="confirm",
        states=states,
        generation=signed.generation,
    )
    if changed is None:  # changed in between
        raise TokenError("superseded")
    return store.subscriber_by_id(sub.id) or sub, bool(changed)


def unsubscribe(
    store: Store, key: bytes, token: str, now: datetime, *, cause: Cause = "one-click"
) -> tuple[Subscriber, bool]:
    """Stop what an unsubscribe link is for (its profile, or every one): (them,
    whether it changed). A link older than the subscription it names (stopped and
    started again since) is superseded: it stops nothing started after it."""
    sub, signed = holder(store, key, token, "unsubscribe", now)
    profiles = [signed.profile] if signed.profile else None
    generation = signed.generation or 0  # version 1 links: before any restart
    changed, stale = store.stop_subscriptions(sub.id, profiles, generation, now, cause=cause)
    if stale and not changed:
        raise TokenError("superseded")
    return store.subscriber_by_id(sub.id) or sub, changed


def manage_view(store: Store, key: bytes, token: str, now: datetime) -> Subscriber:
    """Whose manage link this is, while it is current; TokenError if not."""
    sub, signed = holder(store, key, token, "manage", now)
    _current(store, sub, signed)
    return sub


def manage(
    store: Store,
    key: bytes,
    token: str,
    now: datetime,
    *,
    want: Sequence[str],
    known: Sequence[str],
    paused: bool = False,
    leave: bool = False,
) -> Subscriber:
    """What the manage page sends: subscribe to exactly `want` of the `known`
    profiles (no confirmation: the link came to that inbox), pause or resume, or
    leave. The answer's generation is new: the page shows a fresh link for it."""
    sub = manage_view(store, key, token, now)
    if leave:
        states: dict[str, SubscriptionState | None] = {p: "off" for p in sub.profiles}
        states.update({p: None for p in sub.pending})
        status: SubscriberStatus | None = "unsubscribed"
        action = "leave"
    else:
        states = {p: "active" for p in want if p in known and p not in sub.profiles}
        states.update({p: "off" for p in sub.profiles if p not in want})
        states.update({p: None for p in sub.pending if p not in want})
        status = "paused" if paused else ("active" if sub.status == "paused" else None)
        if not paused and not any(p in known for p in want):
            status = None  # dropping every profile is leaving: the store says so
        action = "pause" if paused and sub.status != "paused" else "change"
    changed = store.change_subscriptions(
        sub.id,
        now,
        cause="manage",
        action=action,
        states=states,
        status=status,
        generation=sub.generation,
    )
    if changed is None:
        raise TokenError("superseded")
    return store.subscriber_by_id(sub.id) or sub


@dataclass(frozen=True, slots=True)
class MailTokens:
    """The signed links of one digest mail: stop its profile, stop all, manage."""

    unsubscribe: str
    everything: str
    manage: str


def manage_token(key: bytes, sub: Subscriber, now: datetime) -> str:
    """A manage link's token for the subscriber as they stand now."""
    from digest.tokens import make_token

    return make_token(
        key, "manage", sub.id, sub.secret, generation=sub.generation, expires=now + MANAGE_FOR
    )


def mail_tokens(key: bytes, due: Due, now: datetime) -> MailTokens:
    from digest.tokens import make_token

    sid, secret, gen = due.subscriber_id, due.secret, due.generation
    return MailTokens(
        make_token(key, "unsubscribe", sid, secret, generation=gen, profile=due.profile),
        make_token(key, "unsubscribe", sid, secret, generation=gen),
        make_token(key, "manage", sid, secret, generation=gen, expires=now + MANAGE_FOR),
    )


@dataclass(frozen=True, slots=True)
class Import:
    """A CSV of subscribers, read and checked: the good rows and why others were not."""

    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (address, profiles)
    problems: tuple[str, ...]  # "file:line: why", one per rejected row


def read_import(settings: Settings, path: Path) -> Import:
    """Subscribers from a CSV with columns `email` and `profiles` (separated by `;`
    or spaces). ValueError when it has no `email` column."""
    from digest.service import profiles

    known = {p.name for p in profiles(settings)}
    good: list[tuple[str, tuple[str, ...]]] = []
    problems: list[str] = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "email" not in reader.fieldnames:
            raise ValueError(f"{path}: needs a header row with an `email` column")
        for row in reader:
            line = reader.line_num
            try:
                email = address(row.get("email") or "")
            except ValueError as exc:
                problems.append(f"{path}:{line}: {exc}")
                continue
            names = [n for n in re.split(r"[;\s]+", (row.get("profiles") or "").strip()) if n]
            unknown = [n for n in names if n not in known]
            if not names or unknown:
                why = f"unknown profile {unknown[0]!r}" if unknown else "no profiles"
                problems.append(f"{path}:{line}: {email}: {why}")
                continue
            good.append((email, tuple(names)))
    return Import(tuple(good), tuple(problems))


def import_subscribers(store: Store, rows: Import, now: datetime) -> int:
    """Subscribe the good rows of an import; how many there were."""
    for email, names in rows.rows:
        store.add_subscriber(email, names, now=now, cause="import")
    return len(rows.rows)


def subscriber_dict(s: Subscriber) -> dict[str, Any]:
    return {
        "email": s.email,
        "status": s.status,
        "profiles": list(s.profiles),
        "pending": list(s.pending),
        "created": s.created_at.isoformat(),
        "confirmed": s.confirmed_at.isoformat() if s.confirmed_at else None,
    }


def consent_dict(e: ConsentEvent) -> dict[str, Any]:
    return {
        "at": e.at.isoformat(),
        "cause": e.cause,
        "action": e.action,
        "profiles": list(e.profiles),
        "status": e.status,
        "generation": e.generation,
        "detail": e.detail,
    }
