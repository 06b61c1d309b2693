"""Records of who is mailed what: subscribers, the delivery ledger, and the
queue of the daemon's work that mails it. Split from `digest.models` (which
keeps the records of papers, sources and runs). Nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SubscriberStatus = Literal["pending", "active", "paused", "unsubscribed", "bounced"]
SubscriptionState = Literal["active", "pending", "off"]
# What made a change of consent (the consent log's `cause`).
Cause = Literal[
    "web", "confirm", "cli", "import", "one-click", "bounce", "manage", "config", "migration"
]
DeliveryStatus = Literal["pending", "sent", "failed-temporary", "failed-permanent"]
# One send's result, as a transport reports it and the ledger records it.
Outcome = Literal["sent", "temporary", "permanent"]


@dataclass(frozen=True, slots=True)
class Subscriber:
    """One address (identity: case-insensitive) and its subscriptions. `profiles`:
    those it is subscribed to now (mailed while `status` is active); `pending`:
    asked for, awaiting confirmation. `generation` moves on with every change: a
    signed link names the generation it was made in."""

    id: int
    email: str  # as first given
    status: SubscriberStatus
    secret: str
    profiles: tuple[str, ...]
    created_at: datetime
    confirmed_at: datetime | None = None
    generation: int = 0
    pending: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One line of a subscriber's consent log."""

    at: datetime
    generation: int  # the subscriber's after this change
    cause: str  # a Cause
    action: str  # e.g. "request", "confirm", "stop", "add", "leave", "pause"
    profiles: tuple[str, ...]  # the profiles it concerned
    status: str  # the subscriber's status after it
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to attempt now."""

    delivery_id: int
    digest_id: int
    subscriber_id: int
    email: str
    secret: str
    attempts: int
    message_id: str = ""  # named at its first claim; a resend reuses it
    profile: str = ""
    generation: int = 0  # the subscriber's, for the links in the mail


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the delivery ledger: one digest for one subscriber."""

    id: int
    digest_id: int
    subscriber_id: int
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    message_id: str | None = None  # set at the first claim
    claimed_by: str | None = None  # the sender holding it, until lease_until
    lease_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class DigestDeliveries:
    """How the deliveries of one digest stand."""

    digest_id: int
    profile: str
    created: datetime
    papers: int
    pending: int = 0
    sent: int = 0
    failed_temporary: int = 0
    failed_permanent: int = 0


JobKind = Literal["ingest", "digest", "send"]


@dataclass(frozen=True, slots=True)
class Job:
    """One queued run of the daemon's work, claimed by one worker at a time."""

    id: int
    kind: JobKind
    profile: str  # "" unless kind is "digest"
    due_at: datetime
    status: str  # queued, running, done, failed
    attempts: int
    worker: str | None = None


@dataclass(frozen=True, slots=True)
class Feedback:
    """A subscriber's word on one item of one profile: "more" (like it), "less"
    or "" (undone or removed). `generation` moves on with every change: a signed
    feedback link acts only in the generation it was made in."""

    id: int
    subscriber_id: int
    profile: str
    item_id: int
    direction: str
    generation: int
    at: datetime  # the last change
    title: str = ""  # the item's, for the manage page
