"""Records of who is mailed what: subscribers, the delivery ledger, and the
queue of the daemon's work that mails it. Split from `digest.models` (which
keeps the records of papers, sources and runs). Nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SubscriberStatus = Literal["pending", "active", "unsubscribed", "bounced"]
DeliveryStatus = Literal["pending", "sent", "failed-temporary", "failed-permanent"]


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    status: SubscriberStatus
    secret: str
    profiles: tuple[str, ...]
    created_at: datetime
    confirmed_at: datetime | None = None


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
