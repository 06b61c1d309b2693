"""What keeps the web side safe to expose: input checks, CSRF tokens, rate limits,
security headers.

CSRF. A form carries `HMAC(server key, cookie)` of a random cookie (HttpOnly,
SameSite=Strict) set when the form is shown; a POST whose field does not match its
own cookie is refused. Another site can neither read the cookie nor compute the
field, and a stolen field is useless without the cookie it was made for.

Rate limits. In-memory token buckets, one per key (a client IP, an address): `capacity`
requests at once, refilled at `capacity / per` a second. The table is bounded: when it
grows past `max_keys`, the least recently used buckets are dropped (a dropped bucket
comes back full, so the bound trades a little precision for memory, never safety of
the store). One process, one table: several workers would each count on their own, so
`digest serve --role web` uses `SharedLimiter`, fixed-window counters in the store
(`capacity` per window of `per` seconds; a burst may straddle two windows).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "digest_csrf"
CSRF_FIELD = "csrf"
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # token_urlsafe(32)

CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    # Confirmation and unsubscribe URLs carry tokens: never hand them to anyone.
    "referrer-policy": "no-referrer",
}


class CSRF:
    """Double submit, signed: the form field is the HMAC of the cookie."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"digest-csrf-v1\0" + key).digest()

    @staticmethod
    def cookie(current: str | None) -> tuple[str, bool]:
        """The cookie value to use and whether it is new (must be set)."""
        if current is not None and _COOKIE_VALUE.match(current):
            return current, False
        return secrets.token_urlsafe(32), True

    def field(self, cookie: str) -> str:
        mac = hmac.new(self._key, cookie.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    def valid(self, cookie: str | None, field: object) -> bool:
        if cookie is None or not _COOKIE_VALUE.match(cookie) or not isinstance(field, str):
            return False
        return hmac.compare_digest(self.field(cookie).encode(), field.encode("utf-8", "replace"))


def with_csrf_cookie(response: Response, request: Request, cookie: str) -> Response:
    """`response`, setting the CSRF cookie its form was made for."""
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        max_age=7 * 86400,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


class RateLimiter:
    """Token buckets per key: `capacity` at once, `capacity` per `per` seconds."""

    def __init__(
        self,
        capacity: int,
        per: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if capacity < 1 or per <= 0:
            raise ValueError("a rate limit needs capacity >= 1 and per > 0")
        self.capacity = float(capacity)
        self.rate = capacity / per  # tokens per second
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, key: str) -> float:
        """0 when the request may go ahead (a token is used up); otherwise the
        seconds until the next token (nothing is used up)."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait


class SharedLimiter:
    """`RateLimiter.take` over a counter every process shares: `hit(key, per, now)`
    returns the window's count with this request and the seconds left in it."""

    def __init__(
        self,
        hit: Callable[[str, int, float], tuple[int, float]],
        name: str,
        capacity: int,
        per: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if capacity < 1 or per < 1:
            raise ValueError("a rate limit needs capacity >= 1 and per >= 1")
        self._hit, self._name, self.capacity, self._per = hit, name, capacity, per
        self._clock = clock

    def take(self, key: str) -> float:
        count, left = self._hit(f"{self._name}:{key}", self._per, self._clock())
        return 0.0 if count <= self.capacity else left


def retry_after(wait: float) -> str:
    return str(max(1, math.ceil(wait)))


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
