"""The web side: subscribe with double opt-in, one-click unsubscribe, feeds, archive.

    GET  /                      the profiles, and the subscribe form
    POST /subscribe             a pending subscriber and a confirmation mail
    GET  /confirm/{token}       activates the subscription
    GET  <unsubscribe path>     a page with an "Unsubscribe" button
    POST <unsubscribe path>     stops the link's profile (or, made for none, every one)
                                at once: RFC 8058 one-click, or the button
    GET  /manage/{token}        the subscriber's profiles, to add, drop, pause or leave
    POST /manage/{token}        applies the form; answers with the page under a new link
    POST /fresh-link            mails a known address a new manage link (the form on the
                                page an expired, superseded or broken link lands on)
    GET  /feeds/{profile}.xml   the profile's RSS feed (.atom: Atom), conditional GET
    GET  /archive/...           the static archive, conditional GET
    GET  /healthz               {"status": "ok", ...} when the store answers
    GET  /feedback/{token}      more or less like this, or its undo (digest/web/feedback.py)
    POST /manage/{token}/feedback   removes one feedback
    GET  /view/{token}          the subscriber's own page of an issue, with the feedback
                                links: the mail's "view in browser" (digest/web/reading.py)

The unsubscribe path is that of `email.unsubscribe_url` (less the path of `site_url`,
when it starts with it), so the links in sent digests land here.

POST /subscribe answers the same page, byte for byte, whatever the address's state:
the store is read, written and mailed from only after the answer is sent (a
background task), so neither content nor timing tells whether it was known.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from digest import service, wiring
from digest.addresses import normalize
from digest.errors import StoreError, TokenError
from digest.settings import Settings
from digest.web.feedback import FeedbackPages
from digest.web.files import FEED_TYPES, Archive, feed_response
from digest.web.fresh import PATH as FRESH_LINK
from digest.web.fresh import FreshLinks
from digest.web.mail import CONFIRM_FOR
from digest.web.pages import NO_STORE, ProfileCache, published, root_of, view
from digest.web.reading import ReadingPages
from digest.web.security import (
    CSRF,
    CSRF_COOKIE,
    CSRF_FIELD,
    RateLimiter,
    SecurityHeaders,
    SharedLimiter,
    retry_after,
    with_csrf_cookie,
)
from digest.web.urls import unsubscribe_route

if TYPE_CHECKING:
    from digest.mailing import Cause, Subscriber
    from digest.wiring import Store, Transport

log = logging.getLogger("digest.web")

MAX_FORM_BYTES = 16 * 1024


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class _Web:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        now: Callable[[], datetime],
        transport: Transport | None,
        shared_limits: bool = False,
    ) -> None:
        self.settings = settings
        self.store = store
        self.now = now
        kit = wiring.web(settings, transport)
        self.key = kit.key
        self.csrf = kit.csrf
        self.pages = kit.pages
        self.mailer = kit.mailer
        self.profiles = ProfileCache(settings)
        self.by_ip: RateLimiter | SharedLimiter = RateLimiter(5, 60)
        self.by_address: RateLimiter | SharedLimiter = RateLimiter(3, 3600)
        if shared_limits:  # counted in the store: every web process sees the same
            clock = lambda: now().timestamp()  # noqa: E731
            self.by_ip = SharedLimiter(store.coordination.hit, "ip", 5, 60, clock=clock)
            self.by_address = SharedLimiter(store.coordination.hit, "to", 3, 3600, clock=clock)
        limits = (self.by_ip, self.by_address)  # the fresh-link form counts as a subscribe
        self.fresh = FreshLinks(store, self.pages, self.csrf, self.mailer, now, limits)
        self.archive = settings.web.output_dir / "archive"
        self.unsubscribe_path, self.token_param = unsubscribe_route(settings)

    # -- subscribe -------------------------------------------------------------

    def _form(
        self,
        request: Request,
        cookie: str,
        *,
        status: int = 200,
        errors: dict[str, str] | None = None,
        email: str = "",
        chosen: tuple[str, ...] = (),
    ) -> Response:
        known = self.profiles.get()
        shown = [
            (view(p), *published(self.settings.web.output_dir, p.name)) for p in known.values()
        ]
        if not chosen and len(known) == 1:
            chosen = tuple(known)
        return self.pages.page(
            request,
            "index",
            status=status,
            profiles=shown,
            csrf_field=CSRF_FIELD,
            csrf=self.csrf.field(cookie),
            errors=errors or {},
            email=email,
            chosen=set(chosen),
        )

    async def index(self, request: Request) -> Response:
        cookie, new = CSRF.cookie(request.cookies.get(CSRF_COOKIE))
        # ?profile=<name>, from the archive's "Subscribe" links: that box ticked
        known = self.profiles.get()
        asked = tuple(n for n in request.query_params.getlist("profile") if n in known)
        response = self._form(request, cookie, chosen=asked)
        return with_csrf_cookie(response, request, cookie) if new else response

    def _too_many(self, request: Request, wait: float) -> Response:
        return self.pages.message(
            request,
            "Too many requests",
            "You have asked to subscribe too often in a short time.",
            "Please wait a little, then try again.",
            status=429,
            headers={"Retry-After": retry_after(wait)},
        )

    async def subscribe(self, request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if not length.isdigit():
            return self.pages.message(request, "Length required", status=411)
        if int(length) > MAX_FORM_BYTES:
            return self.pages.message(request, "The form is too large", status=413)
        form = await request.form(max_files=0, max_fields=64)
        cookie = request.cookies.get(CSRF_COOKIE)
        if cookie is None or not self.csrf.valid(cookie, form.get(CSRF_FIELD)):
            return self.pages.form_expired(request)
        if wait := self.by_ip.take(_client(request)):
            return self._too_many(request, wait)
        raw = form.get("email")
        email = normalize(raw)
        known = self.profiles.get()
        picked = (p for p in form.getlist("profile") if isinstance(p, str) and p in known)
        chosen = tuple(dict.fromkeys(picked))
        errors = {}
        if email is None:
            errors["email"] = "Enter an email address, like name@example.org."
        if not chosen:
            errors["profile"] = "Choose at least one digest."
        if email is None or errors:
            typed = raw[:254] if isinstance(raw, str) else ""
            return self._form(
                request, cookie, status=400, errors=errors, email=typed, chosen=chosen
            )
        if wait := self.by_address.take(email.lower()):
            return self._too_many(request, wait)
        return self.pages.message(
            request,
            "Check your inbox",
            "We have sent a message to the address you entered. To confirm your"
            f" subscription, open the link in it within {CONFIRM_FOR.days} days.",
            "If that address is already subscribed, the message says so and nothing"
            " changes. Nothing arrived after a few minutes? Look in your spam folder.",
            background=BackgroundTask(self._request_subscription, email, chosen),
        )

    async def _request_subscription(self, email: str, chosen: tuple[str, ...]) -> None:
        """After the answer went out: record the request, mail the link (or the news
        that nothing needs doing)."""
        now = self.now()

        try:
            sub, confirm = await run_in_threadpool(service.request, self.store, email, chosen, now)
        except StoreError:
            log.exception("subscribe: store error")
            return
        known = self.profiles.get()
        titles = [view(known[n]).title if n in known else n for n in sub.profiles]
        if confirm:
            message = self.mailer.confirmation(sub, titles, now)
        else:
            message = self.mailer.already(sub, titles, now)
        log.info("subscribe: subscriber %d (%s), mail %s", sub.id, sub.status, message.message_id)
        await self.mailer.send(message)

    # -- tokens ------------------------------------------------------------------

    def _bad_link(self, request: Request, exc: TokenError) -> Response:
        return self.fresh.bad_link(request, exc)

    async def confirm(self, request: Request) -> Response:
        token = request.path_params["token"]

        try:
            sub, changed = await run_in_threadpool(
                service.confirm, self.store, self.key, token, self.now()
            )
        except TokenError as exc:
            return self._bad_link(request, exc)
        if changed:
            log.info("confirm: subscriber %d is active", sub.id)
        known = self.profiles.get()
        titles = [view(known[n]).title if n in known else n for n in sub.profiles]
        heading = "Subscription confirmed" if changed else "Already confirmed"
        return self.pages.page(request, "confirmed", heading=heading, titles=titles)

    def _token(self, request: Request) -> str:
        if self.token_param is not None:
            return request.query_params.get(self.token_param, "")
        return str(request.path_params.get("token", ""))

    async def unsubscribe_page(self, request: Request) -> Response:
        token = self._token(request)
        try:
            sub, signed = await run_in_threadpool(
                service.holder, self.store, self.key, token, "unsubscribe", self.now()
            )
        except TokenError as exc:
            return self._bad_link(request, exc)
        if (signed.profile and signed.profile not in sub.profiles) or not sub.profiles:
            return self._unsubscribed(request, signed.profile)
        title = self._titles([signed.profile])[0] if signed.profile else ""
        return self.pages.page(request, "unsubscribe", email=sub.email, title=title)

    async def unsubscribe(self, request: Request) -> Response:
        """RFC 8058 one-click (`List-Unsubscribe=One-Click`, no cookie, no CSRF: the
        signed token is the proof) and our own button: both stop at once."""
        token = self._token(request)
        form = await request.form(max_files=0, max_fields=8)
        one_click = form.get("List-Unsubscribe") == "One-Click"
        cause: Cause = "one-click" if one_click else "web"
        try:
            sub, changed = await run_in_threadpool(
                lambda: service.unsubscribe(self.store, self.key, token, self.now(), cause=cause)
            )
            signed = service.holder(self.store, self.key, token, "unsubscribe", self.now())[1]
        except TokenError as exc:
            return self._bad_link(request, exc)
        if changed:
            log.info("unsubscribe: subscriber %d (%s)", sub.id, signed.profile or "all")
        return self._unsubscribed(request, signed.profile, still=self._titles(sub.profiles))

    def _unsubscribed(
        self, request: Request, profile: str = "", still: Sequence[str] = ()
    ) -> Response:
        title = self._titles([profile])[0] if profile else ""
        return self.pages.page(request, "unsubscribed", title=title, still=list(still))

    def _titles(self, names: Sequence[str]) -> list[str]:
        known = self.profiles.get()
        return [view(known[n]).title if n in known else n for n in names]

    # -- manage ------------------------------------------------------------------

    def _manage_page(self, request: Request, sub: Subscriber, saved: bool = False) -> Response:
        known = self.profiles.get()
        token = service.manage_token(self.key, sub, self.now())
        rows = [(n, view(p).title, n in sub.profiles, n in sub.pending) for n, p in known.items()]
        return self.pages.page(
            request,
            "manage",
            email=sub.email,
            rows=rows,
            paused=sub.status == "paused",
            left=sub.status in ("unsubscribed", "bounced"),
            saved=saved,
            action=f"{root_of(request)}manage/{token}",
            feedback=[(f, self._titles([f.profile])[0]) for f in service.listing(self.store, sub)],
        )

    async def manage_page(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            sub = await run_in_threadpool(
                service.manage_view, self.store, self.key, token, self.now()
            )
        except TokenError as exc:
            return self._bad_link(request, exc)
        return self._manage_page(request, sub)

    async def manage(self, request: Request) -> Response:
        """No cookie or CSRF token needed: the signed, current link is the proof, and
        a link works for one state only, so a replayed form changes nothing."""
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            return self.pages.message(request, "The form is too large", status=413)
        token = str(request.path_params["token"])
        form = await request.form(max_files=0, max_fields=256)
        want = [p for p in form.getlist("profile") if isinstance(p, str)]
        known = list(self.profiles.get())
        try:
            sub = await run_in_threadpool(
                lambda: service.manage(
                    self.store,
                    self.key,
                    token,
                    self.now(),
                    want=want,
                    known=known,
                    paused=form.get("pause") == "yes",
                    leave=form.get("leave") == "yes",
                )
            )
        except TokenError as exc:
            return self._bad_link(request, exc)
        log.info("manage: subscriber %d is %s", sub.id, sub.status)
        return self._manage_page(request, sub, saved=True)

    # -- files and health --------------------------------------------------------

    async def feed(self, request: Request) -> Response:
        name, dot, kind = str(request.path_params["file"]).rpartition(".")
        if not dot or kind not in FEED_TYPES or name not in self.profiles.get():
            raise HTTPException(404)
        return await run_in_threadpool(feed_response, request, self.archive, name, kind)

    async def healthz(self, request: Request) -> Response:
        try:
            version = await run_in_threadpool(self.store.schema_version)
        except StoreError:
            log.exception("healthz: store error")
            return JSONResponse({"status": "error", "store": "unavailable"}, 503, NO_STORE)
        return JSONResponse({"status": "ok", "store": "ok", "schema": version}, 200, NO_STORE)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        code = exc.status_code if isinstance(exc, HTTPException) else 500
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
        if code == 404:
            text = ("Page not found", "There is nothing at this address.")
        elif code == 405:
            text = ("Method not allowed", "This page cannot be used that way.")
        elif code < 500:
            text = ("Bad request", "The request could not be understood.")
        else:
            log.error("internal error on %s", request.url.path, exc_info=exc)
            text = ("Something went wrong", "Please try again later.")
        return self.pages.message(request, *text, status=code, headers=headers)


def create_app(
    settings: Settings,
    store: Store,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    transport: Transport | None = None,
    shared_limits: bool = False,
) -> Starlette:
    """The ASGI app. `transport` sends the confirmation mails (default: the configured
    SMTP server, or the outbox); `now` is the clock tokens are made and checked by.
    `shared_limits`: rate limits counted in the store, shared by every web process."""
    web = _Web(settings, store, now, transport, shared_limits)
    path = web.unsubscribe_path
    routes: list[BaseRoute] = [
        Route("/", web.index, methods=["GET"]),
        Route("/subscribe", web.subscribe, methods=["POST"]),
        Route("/subscribe", lambda _: RedirectResponse("./", 303), methods=["GET"]),
        Route("/confirm/{token}", web.confirm, methods=["GET"]),
        Route(path, web.unsubscribe_page, methods=["GET"]),
        Route(path, web.unsubscribe, methods=["POST"]),
        Route("/manage/{token}", web.manage_page, methods=["GET"]),
        Route("/manage/{token}", web.manage, methods=["POST"]),
        Route(FRESH_LINK, web.fresh.post, methods=["POST"]),
        Route("/feeds/{file}", web.feed, methods=["GET"]),
        Route("/healthz", web.healthz, methods=["GET"]),
        *FeedbackPages(
            store,
            web.key,
            now,
            web.pages,
            web.profiles,
            bad_link=web._bad_link,
            manage=web._manage_page,
        ).routes(),
        *ReadingPages(
            settings, store, web.key, web.pages, web.profiles, bad_link=web._bad_link
        ).routes(),
        Mount("/archive", app=Archive(web.archive)),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={HTTPException: web.http_error, Exception: web.http_error},
    )
