"""Signed subscriber tokens: round trip, and every way a token must fail."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from digest.errors import DigestError, TokenError
from digest.tokens import ENV_KEY, check_token, key_from_env, make_token

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
    assert len(token) == 66
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert make_token(KEY, "unsubscribe", 7, SECRETS[7]) == token  # deterministic
    assert make_token(KEY, "unsubscribe", 8, SECRETS[8]) != token


def test_forged() -> None:
    forged = _token(bytes(49))  # right length, version 0
    assert reason(forged) == "malformed"
    forged = _token(_raw(make_token(KEY, "unsubscribe", 7, SECRETS[7]))[:17] + bytes(32))
    assert reason(forged) == "bad signature"
    assert reason("not a token") == "malformed"
    assert reason("") == "malformed"
    assert reason("é" * 66) == "malformed"
    assert reason("!" * 66) == "malformed"
    other_key = make_token(b"x" * 32, "unsubscribe", 7, SECRETS[7])
    assert reason(other_key) == "bad signature"


def test_tampered() -> None:
    token = make_token(KEY, "unsubscribe", 7, SECRETS[7], expires=NOW + timedelta(days=1))
    for i in range(49):  # every byte, header and MAC alike
        raw = _raw(token)
        raw[i] ^= 0x01
        assert reason(_token(raw)) in {"malformed", "bad signature", "unknown subscriber"}
    raw = _raw(token)
    raw[9:17] = (int.from_bytes(raw[9:17], "big") + 10**6).to_bytes(8, "big")  # later expiry
    assert reason(_token(raw)) == "bad signature"
    assert reason(token[:-1]) == "malformed"
    assert reason(token + "A") == "malformed"


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
