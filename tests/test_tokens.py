"""Signed subscriber tokens: round trip, and every way a token must fail."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from digest.errors import DigestError, TokenError
from digest.tokens import ENV_KEY, Signed, check_token, key_from_env, make_token, read_token

KEY = b"k" * 32
NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
SECRETS = {7: "secret-of-seven", 8: "secret-of-eight"}


def lookup(subscriber_id: int) -> str | None:
    return SECRETS.get(subscriber_id)


def reason(token: str, purpose: str = "unsubscribe", *, key: bytes = KEY, **kw: object) -> str:
    with pytest.raises(TokenError) as info:
        check_token(key, token, purpose, kw.get("lookup", lookup), now=NOW)  # type: ignore[arg-type]
    return info.value.reason


def _raw(token: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def _token(raw: bytes | bytearray) -> str:
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_round_trip_and_shape() -> None:
    token = make_token(KEY, "unsubscribe", 7, SECRETS[7])
    assert check_token(KEY, token, "unsubscribe", lookup, now=NOW) == 7
    assert len(token) == 71  # 53 bytes: version 2, id, generation, expiry, MAC
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert make_token(KEY, "unsubscribe", 7, SECRETS[7]) == token  # deterministic
    assert make_token(KEY, "unsubscribe", 8, SECRETS[8]) != token


def test_forged() -> None:
    forged = _token(bytes(53))  # right length, version 0
    assert reason(forged) == "malformed"
    forged = _token(_raw(make_token(KEY, "unsubscribe", 7, SECRETS[7]))[:21] + bytes(32))
    assert reason(forged) == "bad signature"
    assert reason("not a token") == "malformed"
    assert reason("") == "malformed"
    assert reason("é" * 71) == "malformed"
    assert reason("!" * 71) == "malformed"
    other_key = make_token(b"x" * 32, "unsubscribe", 7, SECRETS[7])
    assert reason(other_key) == "bad signature"


def test_tampered() -> None:
    token = make_token(KEY, "unsubscribe", 7, SECRETS[7], expires=NOW + timedelta(days=1))
    for i in range(53):  # every byte, header and MAC alike
        raw = _raw(token)
        raw[i] ^= 0x01
        assert reason(_token(raw)) in {"malformed", "bad signature", "unknown subscriber"}
    raw = _raw(token)
    raw[13:21] = (int.from_bytes(raw[13:21], "big") + 10**6).to_bytes(8, "big")  # later expiry
    assert reason(_token(raw)) == "bad signature"
    assert reason(token[:-1]) == "malformed"
    assert reason(token + "A") in {"malformed", "bad signature"}  # read as a profile byte


def test_other_subscriber() -> None:
    token = make_token(KEY, "unsubscribe", 7, SECRETS[7])
    raw = _raw(token)
    raw[1:9] = (8).to_bytes(8, "big")  # claims to be subscriber 8
    assert reason(_token(raw)) == "bad signature"
    raw[1:9] = (9).to_bytes(8, "big")  # nobody
    assert reason(_token(raw)) == "unknown subscriber"
    # A token made with someone else's secret does not pass as theirs either.
    assert reason(make_token(KEY, "unsubscribe", 8, SECRETS[7])) == "bad signature"


def test_other_purpose() -> None:
    token = make_token(KEY, "confirm", 7, SECRETS[7])
    assert check_token(KEY, token, "confirm", lookup, now=NOW) == 7
    assert reason(token, "unsubscribe") == "bad signature"
    with pytest.raises(ValueError, match="purpose"):
        make_token(KEY, "login", 7, SECRETS[7])
    with pytest.raises(ValueError, match="purpose"):
        check_token(KEY, token, "login", lookup, now=NOW)


def test_expired() -> None:
    token = make_token(KEY, "confirm", 7, SECRETS[7], expires=NOW + timedelta(hours=1))
    assert check_token(KEY, token, "confirm", lookup, now=NOW) == 7
    later = NOW + timedelta(hours=1)
    with pytest.raises(TokenError) as info:
        check_token(KEY, token, "confirm", lookup, now=later)
    assert info.value.reason == "expired"
    assert "expired" in str(info.value)
    with pytest.raises(ValueError, match="timezone-aware"):
        check_token(KEY, token, "confirm", lookup, now=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        make_token(KEY, "confirm", 7, "s", expires=datetime(2026, 1, 1))


def test_rotated_secret() -> None:
    token = make_token(KEY, "unsubscribe", 7, SECRETS[7])
    assert reason(token, lookup=lambda i: "rotated" if i == 7 else None) == "bad signature"


def test_key_from_env() -> None:
    assert key_from_env({ENV_KEY: "x" * 32}) == b"x" * 32
    assert key_from_env({}, b"fallback-key-for-demo") == b"fallback-key-for-demo"
    with pytest.raises(DigestError, match=ENV_KEY):
        key_from_env({})
    with pytest.raises(DigestError, match=ENV_KEY):
        key_from_env({ENV_KEY: ""})
    with pytest.raises(DigestError, match="too short"):
        key_from_env({ENV_KEY: "short"})


def test_generation_and_profile_are_signed() -> None:
    token = make_token(KEY, "unsubscribe", 7, SECRETS[7], generation=3, profile="scaling")
    signed = read_token(KEY, token, "unsubscribe", lookup, now=NOW)
    assert signed == Signed(7, 3, "scaling")
    raw = _raw(token)
    raw[9:13] = (4).to_bytes(4, "big")  # claims a later generation
    assert reason(_token(raw)) == "bad signature"
    raw = _raw(token)
    raw[21:28] = b"scalinG"  # another profile
    assert reason(_token(raw)) == "bad signature"
    assert read_token(KEY, make_token(KEY, "manage", 7, SECRETS[7]), "manage", lookup, now=NOW) == (
        Signed(7, 0, "")
    )


def test_version_1_tokens_are_still_read() -> None:
    """Links in mails sent before generations: read as generation None, no profile."""
    import hashlib
    import hmac
    import struct

    fields = (b"unsubscribe", b"7", SECRETS[7].encode(), b"0")
    msg = b"digest-token-v1" + b"".join(struct.pack(">I", len(f)) + f for f in fields)
    mac = hmac.new(KEY, msg, hashlib.sha256).digest()
    old = _token(struct.pack(">BQq", 1, 7, 0) + mac)
    assert len(old) == 66
    assert read_token(KEY, old, "unsubscribe", lookup, now=NOW) == Signed(7, None, "")
    assert reason(old, "confirm") == "bad signature"


def test_a_non_canonical_spelling_is_malformed() -> None:
    token = make_token(KEY, "unsubscribe", 7, SECRETS[7])
    assert reason(token + "==") == "malformed"
