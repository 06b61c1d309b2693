"""Signed tokens for one subscriber and one purpose (unsubscribe links, confirmations).

A token is urlsafe base64 (no padding, 66 characters) of

    version (1 byte) | subscriber id (8 bytes) | expiry, Unix seconds, 0 = never (8 bytes)
    | HMAC-SHA256(server key, purpose, subscriber id, subscriber secret, expiry)

The MAC covers the purpose, so an unsubscribe token never confirms anything, and the
subscriber's own secret, so a token is good for that subscriber only and dies when
the secret is rotated (which is how every outstanding token of one subscriber is
revoked). The server key signs everything; whoever holds it can mint tokens, so it
comes from the environment (`DIGEST_SECRET_KEY`), never from a config file.

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
from datetime import datetime

from digest.errors import DigestError, TokenError

PURPOSES = frozenset({"unsubscribe", "confirm"})
ENV_KEY = "DIGEST_SECRET_KEY"
MIN_KEY_BYTES = 16
_VERSION = 1
_HEAD = struct.Struct(">BQq")  # version, subscriber id, expiry (0: none)
_MAC_BYTES = hashlib.sha256().digest_size
_RAW_BYTES = _HEAD.size + _MAC_BYTES


def _aware(when: datetime, name: str) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return when


def _mac(key: bytes, purpose: str, subscriber_id: int, secret: str, expiry: int) -> bytes:
    fields = (purpose.encode(), str(subscriber_id).encode(), secret.encode(), str(expiry).encode())
    # Each field length-prefixed, so no two different tuples give the same input.
    msg = b"digest-token-v1" + b"".join(struct.pack(">I", len(f)) + f for f in fields)
    return hmac.new(key, msg, hashlib.sha256).digest()


def make_token(
    key: bytes,
    purpose: str,
    subscriber_id: int,
    subscriber_secret: str,
    *,
    expires: datetime | None = None,
) -> str:
    """A token for `purpose` ("unsubscribe" or "confirm") good for this subscriber only,
    until `expires` (aware) when given."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}; expected one of {sorted(PURPOSES)}")
    if not key:
        raise ValueError("the token key is empty")
    if not 0 <= subscriber_id < 2**64:
        raise ValueError(f"subscriber id out of range: {subscriber_id}")
    expiry = 0
    if expires is not None:
        expiry = max(1, int(_aware(expires, "expires").timestamp()))
    head = _HEAD.pack(_VERSION, subscriber_id, expiry)
    mac = _mac(key, purpose, subscriber_id, subscriber_secret, expiry)
    return base64.urlsafe_b64encode(head + mac).rstrip(b"=").decode("ascii")


def check_token(
    key: bytes,
    token: str,
    purpose: str,
    lookup: Callable[[int], str | None],
    *,
    now: datetime,
) -> int:
    """The subscriber id the token was made for, or `TokenError(reason)`: malformed,
    unknown subscriber, bad signature (forged, tampered, other purpose or subscriber,
    rotated secret or key) or expired. `lookup(id)` gives the subscriber's current
    secret, None when there is no such subscriber."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}; expected one of {sorted(PURPOSES)}")
    _aware(now, "now")
    token = token.strip()
    if len(token) != -(-_RAW_BYTES * 4 // 3) or not token.isascii():
        raise TokenError("malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("malformed") from None
    if len(raw) != _RAW_BYTES:
        raise TokenError("malformed")
    version, subscriber_id, expiry = _HEAD.unpack_from(raw)
    if version != _VERSION or expiry < 0:
        raise TokenError("malformed")
    secret = lookup(subscriber_id)
    if secret is None:
        raise TokenError("unknown subscriber")
    expected = _mac(key, purpose, subscriber_id, secret, expiry)
    if not hmac.compare_digest(expected, raw[_HEAD.size :]):
        raise TokenError("bad signature")
    if expiry and now.timestamp() >= expiry:
        raise TokenError("expired")
    return int(subscriber_id)


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
