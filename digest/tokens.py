"""Signed tokens for one subscriber and one purpose (unsubscribe, confirm, manage links).

A token is urlsafe base64 (no padding) of

    version 2 (1 byte) | subscriber id (8 bytes) | generation (4 bytes)
    | expiry, Unix seconds, 0 = never (8 bytes) | profile (UTF-8, 0-200 bytes)
    | HMAC-SHA256(server key, purpose, subscriber id, subscriber secret, generation,
                  profile, expiry)

The MAC covers the purpose, so an unsubscribe token never confirms anything; the
subscriber's own secret, so a token is good for that subscriber only; and the
subscriber's *generation*, a counter every change of their subscriptions moves on
(the store's consent log names each one), so a token says which state it was issued
in and the service decides what an older one may still do. An empty profile means
"every profile". Version 1 tokens (before generations: 66 characters, no profile)
are still read, as generation None. The server key signs everything; whoever
holds it can mint tokens, so it comes from the environment (`DIGEST_SECRET_KEY`).

Feedback links ("more like this", "less like this", undo: the action is in the
URL, as whoever has one of them has the others) are version 3, of their own kind:

    version 3 | subscriber id (8) | item id (8) | feedback generation (4)
    | profile (UTF-8) | HMAC-SHA256(server key, "feedback", subscriber id, secret,
                                   profile, item id, generation), first 16 bytes

The generation is the feedback's own (`digest.store.feedback`), not the
subscriber's: a change of subscriptions leaves feedback links working. They never
expire.

"View in browser" links (one subscriber's own page of one issue, served by the
web: their picks, with the feedback links above) are version 4:

    version 4 | subscriber id (8) | digest id (8)
    | HMAC-SHA256(server key, "view", subscriber id, secret, digest id), first 16 bytes

They never expire either (the page shows what those links do); whether the page
shows anything is decided when it is opened, by the subscription as it is then.

Checking compares MACs with `hmac.compare_digest` and tells the caller why a token
failed (`TokenError.reason`); the reasons say nothing the token did not already carry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from digest.errors import DigestError, TokenError

PURPOSES = frozenset({"unsubscribe", "confirm", "manage"})
ENV_KEY = "DIGEST_SECRET_KEY"
MIN_KEY_BYTES = 16
MAX_PROFILE_BYTES = 200
_V1 = struct.Struct(">BQq")  # version, subscriber id, expiry (0: none)
_V2 = struct.Struct(">BQIq")  # version, subscriber id, generation, expiry
_V3 = struct.Struct(">BQQI")  # version, subscriber id, item id, feedback generation
_V4 = struct.Struct(">BQQ")  # version, subscriber id, digest id
_FEEDBACK_MAC = 16  # 128 bits: a mail holds one feedback link per item
_MAC_BYTES = hashlib.sha256().digest_size


@dataclass(frozen=True, slots=True)
class Signed:
    """What a valid token says: whose, which state (None: a version 1 token) and
    which profile ("" for all)."""

    subscriber_id: int
    generation: int | None
    profile: str


def _aware(when: datetime, name: str) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return when


def _mac(key: bytes, purpose: str, subscriber_id: int, secret: str, expiry: int) -> bytes:
    fields = (purpose.encode(), str(subscriber_id).encode(), secret.encode(), str(expiry).encode())
    # Each field length-prefixed, so no two different tuples give the same input.
    msg = b"digest-token-v1" + b"".join(struct.pack(">I", len(f)) + f for f in fields)
    return hmac.new(key, msg, hashlib.sha256).digest()


def _mac2(
    key: bytes, purpose: str, sid: int, secret: str, generation: int, profile: str, expiry: int
) -> bytes:
    fields = (purpose, str(sid), secret, str(generation), profile, str(expiry))
    msg = b"digest-token-v2" + b"".join(
        struct.pack(">I", len(f.encode())) + f.encode() for f in fields
    )
    return hmac.new(key, msg, hashlib.sha256).digest()


def _purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}; expected one of {sorted(PURPOSES)}")


def make_token(
    key: bytes,
    purpose: str,
    subscriber_id: int,
    subscriber_secret: str,
    *,
    expires: datetime | None = None,
    generation: int = 0,
    profile: str = "",
) -> str:
    """A token for `purpose` good for this subscriber in this `generation` only, for
    `profile` ("": all), until `expires` (aware) when given."""
    _purpose(purpose)
    if not key:
        raise ValueError("the token key is empty")
    if not 0 <= subscriber_id < 2**64:
        raise ValueError(f"subscriber id out of range: {subscriber_id}")
    if not 0 <= generation < 2**32:
        raise ValueError(f"generation out of range: {generation}")
    name = profile.encode()
    if len(name) > MAX_PROFILE_BYTES:
        raise ValueError(f"profile name too long for a token: {profile[:40]!r}")
    expiry = 0
    if expires is not None:
        expiry = max(1, int(_aware(expires, "expires").timestamp()))
    head = _V2.pack(2, subscriber_id, generation, expiry)
    mac = _mac2(key, purpose, subscriber_id, subscriber_secret, generation, profile, expiry)
    return base64.urlsafe_b64encode(head + name + mac).rstrip(b"=").decode("ascii")


def read_token(
    key: bytes,
    token: str,
    purpose: str,
    lookup: Callable[[int], str | None],
    *,
    now: datetime,
) -> Signed:
    """What a token says, or `TokenError(reason)`: malformed, unknown subscriber, bad
    signature (forged, tampered, other purpose or subscriber, rotated secret or key)
    or expired. `lookup(id)` gives the subscriber's secret, None when there is none."""
    _purpose(purpose)
    _aware(now, "now")
    raw = _decode(token)
    if raw[:1] == b"\x01" and len(raw) == _V1.size + _MAC_BYTES:
        _, sid, expiry = _V1.unpack_from(raw)
        generation, profile = None, ""
    elif raw[:1] == b"\x02" and _V2.size + _MAC_BYTES <= len(raw) <= _V2.size + 232:
        _, sid, generation, expiry = _V2.unpack_from(raw)
        try:
            profile = raw[_V2.size : -_MAC_BYTES].decode()
        except UnicodeDecodeError:
            raise TokenError("malformed") from None
    else:
        raise TokenError("malformed")
    if expiry < 0:
        raise TokenError("malformed")
    secret = lookup(sid)
    if secret is None:
        raise TokenError("unknown subscriber")
    if generation is None:
        expected = _mac(key, purpose, sid, secret, expiry)
    else:
        expected = _mac2(key, purpose, sid, secret, generation, profile, expiry)
    if not hmac.compare_digest(expected, raw[-_MAC_BYTES:]):
        raise TokenError("bad signature")
    if expiry and now.timestamp() >= expiry:
        raise TokenError("expired")
    return Signed(int(sid), generation, profile)


@dataclass(frozen=True, slots=True)
class FeedbackLink:
    """What a valid feedback token says: whose, which profile and item, and the
    generation of that feedback it was made in."""

    subscriber_id: int
    profile: str
    item_id: int
    generation: int


def _fields(*fields: str) -> bytes:
    """Each field length-prefixed, so no two different tuples give the same input."""
    return b"".join(struct.pack(">I", len(f.encode())) + f.encode() for f in fields)


class FeedbackSigner:
    """Makes the feedback tokens of one subscriber and profile (a mail holds one
    per item), with what they share worked out once."""

    def __init__(self, key: bytes, subscriber_id: int, secret: str, profile: str) -> None:
        if not key:
            raise ValueError("the token key is empty")
        if not 0 <= subscriber_id < 2**64:
            raise ValueError(f"subscriber id out of range: {subscriber_id}")
        if len(profile.encode()) > MAX_PROFILE_BYTES:
            raise ValueError(f"profile name too long for a token: {profile[:40]!r}")
        self._sid, self._name = subscriber_id, profile.encode()
        head = b"digest-token-v3" + _fields("feedback", str(subscriber_id), secret, profile)
        self._head = hmac.new(key, head, hashlib.sha256)  # copied per item: keyed once

    def mac(self, item_id: int, generation: int) -> bytes:
        h = self._head.copy()
        h.update(_fields(str(item_id), str(generation)))
        return h.digest()[:_FEEDBACK_MAC]

    def token(self, item_id: int, generation: int) -> str:
        """The token of the item's links, made in the `generation` of its feedback."""
        if not (0 <= item_id < 2**64 and 0 <= generation < 2**32):
            raise ValueError("item id or generation out of range")
        raw = _V3.pack(3, self._sid, item_id, generation) + self._name
        raw += self.mac(item_id, generation)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def make_feedback_token(key: bytes, secret: str, link: FeedbackLink) -> str:
    """A feedback token for `link`, good for that subscriber's `secret` only."""
    signer = FeedbackSigner(key, link.subscriber_id, secret, link.profile)
    return signer.token(link.item_id, link.generation)


def read_feedback_token(
    key: bytes, token: str, lookup: Callable[[int], str | None]
) -> FeedbackLink:
    """What a feedback token says, or `TokenError(reason)` as `read_token`."""
    raw = _decode(token)
    if raw[:1] != b"\x03" or not _V3.size + _FEEDBACK_MAC <= len(raw) <= _V3.size + 216:
        raise TokenError("malformed")
    _, sid, item, generation = _V3.unpack_from(raw)
    try:
        profile = raw[_V3.size : -_FEEDBACK_MAC].decode()
    except UnicodeDecodeError:
        raise TokenError("malformed") from None
    secret = lookup(sid)
    if secret is None:
        raise TokenError("unknown subscriber")
    expected = FeedbackSigner(key, sid, secret, profile).mac(item, generation)
    if not hmac.compare_digest(expected, raw[-_FEEDBACK_MAC:]):
        raise TokenError("bad signature")
    return FeedbackLink(int(sid), profile, int(item), int(generation))


@dataclass(frozen=True, slots=True)
class ViewLink:
    """What a valid view token says: whose own page of which digest."""

    subscriber_id: int
    digest_id: int


def _view_mac(key: bytes, secret: str, link: ViewLink) -> bytes:
    fields = _fields("view", str(link.subscriber_id), secret, str(link.digest_id))
    return hmac.new(key, b"digest-token-v4" + fields, hashlib.sha256).digest()[:_FEEDBACK_MAC]


def make_view_token(key: bytes, secret: str, link: ViewLink) -> str:
    """The token of the subscriber's "view in browser" link of one digest."""
    if not key:
        raise ValueError("the token key is empty")
    if not (0 <= link.subscriber_id < 2**64 and 0 <= link.digest_id < 2**64):
        raise ValueError("subscriber or digest id out of range")
    raw = _V4.pack(4, link.subscriber_id, link.digest_id) + _view_mac(key, secret, link)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_view_token(key: bytes, token: str, lookup: Callable[[int], str | None]) -> ViewLink:
    """What a view token says, or `TokenError(reason)` as `read_token`."""
    raw = _decode(token)
    if raw[:1] != b"\x04" or len(raw) != _V4.size + _FEEDBACK_MAC:
        raise TokenError("malformed")
    _, sid, digest_id = _V4.unpack_from(raw)
    secret = lookup(sid)
    if secret is None:
        raise TokenError("unknown subscriber")
    link = ViewLink(int(sid), int(digest_id))
    if not hmac.compare_digest(_view_mac(key, secret, link), raw[_V4.size :]):
        raise TokenError("bad signature")
    return link


def _decode(token: str) -> bytes:
    """A token's bytes, or TokenError("malformed") when it is not one spelling of them."""
    token = token.strip()
    if not 0 < len(token) <= 400 or not token.isascii():
        raise TokenError("malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        raise TokenError("malformed")  # not the one spelling a token has
    return raw


def check_token(
    key: bytes,
    token: str,
    purpose: str,
    lookup: Callable[[int], str | None],
    *,
    now: datetime,
) -> int:
    """The subscriber id the token was made for (see `read_token`)."""
    return read_token(key, token, purpose, lookup, now=now).subscriber_id


def key_from_env(environ: Mapping[str, str], default: bytes | None = None) -> bytes:
    """The server key from `DIGEST_SECRET_KEY` in `environ` (its UTF-8 bytes, at
    least 16 of them). `digest.wiring` passes the process environment: it is the one
    reader of secrets.

    Unset or empty: `default` when given, else a `DigestError` that says how to make
    one. Whether a default is acceptable (say, a key derived from the store path for
    an offline demo, with a warning printed) is the caller's policy, not this one's.
    """
    value = environ.get(ENV_KEY, "")
    if not value:
        if default is not None:
            return default
        raise DigestError(
            f"{ENV_KEY} is not set: it signs unsubscribe and confirmation links. Generate one"
            " with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    key = value.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise DigestError(f"{ENV_KEY} is too short: use at least 32 random characters")
    return key
