"""A fresh link for whoever holds an old one. A confirm, manage or unsubscribe link
that expired, was superseded by a later change or arrived broken lands on a page
that says why and offers a form: POST /fresh-link mails the address a new manage
link (good for `service.MANAGE_FOR`) when the store knows it and it can be mailed.

The answer is the same page, byte for byte, whether or not the address is known:
the store is read and the mail sent only after the answer went out (a background
task), and the form counts against the subscribe form's rate limits (the same
buckets), so it can neither list addresses nor flood an inbox.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from digest import service
from digest.addresses import normalize
from digest.errors import StoreError, TokenError
from digest.web.mail import CONFIRM_FOR, Mailer
from digest.web.pages import Pages
from digest.web.security import (
    CSRF,
    CSRF_COOKIE,
    CSRF_FIELD,
    RateLimiter,
    SharedLimiter,
    retry_after,
    with_csrf_cookie,
)

if TYPE_CHECKING:
    from digest.wiring import Store

log = logging.getLogger("digest.web")

PATH = "/fresh-link"
_MAX_FORM_BYTES = 4096
_WHY = {
    "superseded": (
        "This link is no longer valid",
        "The subscription changed after this link was sent, so it no longer does"
        " anything: each link works only for the state it was sent in.",
    ),
    "expired": (
        "This link has expired",
        f"Confirmation links work for {CONFIRM_FOR.days} days, manage links for"
        f" {service.MANAGE_FOR.days}.",
    ),
}
_BROKEN = (
    "This link is not valid",
    "It may have been cut short or changed on the way: copy the whole link from the"
    " email, or open it from there.",
)


class FreshLinks:
    def __init__(
        self,
        store: Store,
        pages: Pages,
        csrf: CSRF,
        mailer: Mailer,
        now: Callable[[], datetime],
        limits: tuple[RateLimiter | SharedLimiter, RateLimiter | SharedLimiter],
    ) -> None:
        self.store, self.pages, self.csrf, self.mailer, self.now = store, pages, csrf, mailer, now
        self.by_ip, self.by_address = limits

    def bad_link(self, request: Request, exc: TokenError) -> Response:
        """Why the link does nothing, and the form that mails a fresh one."""
        heading, why = _WHY.get(exc.reason, _BROKEN)
        cookie, new = CSRF.cookie(request.cookies.get(CSRF_COOKIE))
        page = self.pages.page(
            request,
            "bad_link",
            status=400,
            heading=heading,
            why=why,
            csrf_field=CSRF_FIELD,
            csrf=self.csrf.field(cookie),
            days=service.MANAGE_FOR.days,
        )
        return with_csrf_cookie(page, request, cookie) if new else page

    async def post(self, request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > _MAX_FORM_BYTES:
            return self.pages.message(request, "The form is too large", status=413)
        form = await request.form(max_files=0, max_fields=8)
        if not self.csrf.valid(request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
            return self.pages.form_expired(request)
        host = request.client.host if request.client else "unknown"
        email = normalize(form.get("email"))
        wait = self.by_ip.take(host)
        if not wait and email is not None:
            wait = self.by_address.take(email.lower())
        if wait:
            return self.pages.message(
                request,
                "Too many requests",
                "You have asked for links too often in a short time.",
                "Please wait a little, then try again.",
                status=429,
                headers={"Retry-After": retry_after(wait)},
            )
        if email is None:
            return self.pages.message(
                request,
                "That is not an email address",
                "Go back and enter the address your digests come to, like name@example.org.",
                status=400,
            )
        return self.pages.message(
            request,
            "Check your inbox",
            "If we send digests to that address, we have mailed it a new link to manage"
            f" them, good for {service.MANAGE_FOR.days} days.",
            "Nothing arrived after a few minutes? Look in your spam folder.",
            background=BackgroundTask(self._mail, email),
        )

    async def _mail(self, email: str) -> None:
        """After the answer went out: a fresh manage link, if the address is known."""
        now = self.now()
        try:
            sub = await run_in_threadpool(service.reachable, self.store, email)
        except StoreError:
            log.exception("fresh link: store error")
            return
        if sub is None:
            return
        message = self.mailer.manage(sub, now)
        log.info("fresh link: subscriber %d, mail %s", sub.id, message.message_id)
        await self.mailer.send(message)
