"""Feedback pages: a signed "more like this" / "less like this" link from a digest
mail, answered with a small page that has an undo, and "remove" on the manage page.

    GET  /feedback/{token}/{action} records it (more, less) or undoes it (undo) at once
    POST /manage/{token}/feedback   removes one feedback (`remove`: its id)

A click needs no login: the signed link is the proof. Following one is a GET, as a
link in a mail is; it is idempotent and undoable, so a mail scanner that fetches it
does at worst what the reader's undo takes back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from digest import service
from digest.errors import TokenError
from digest.web.pages import Pages, ProfileCache, root_of, view

if TYPE_CHECKING:
    from digest.mailing import Subscriber
    from digest.wiring import Store

MAX_FORM_BYTES = 1024


class FeedbackPages:
    """The routes above; `bad_link` and `manage` answer as the app's own pages do."""

    def __init__(
        self,
        store: Store,
        key: bytes,
        now: Callable[[], datetime],
        pages: Pages,
        profiles: ProfileCache,
        *,
        bad_link: Callable[[Request, TokenError], Response],
        manage: Callable[[Request, Subscriber, bool], Response],
    ) -> None:
        self.store, self.key, self.now = store, key, now
        self.pages, self.profiles = pages, profiles
        self.bad_link, self.manage = bad_link, manage

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/feedback/{token}/{action}", self.follow, methods=["GET"]),
            Route("/manage/{token}/feedback", self.remove, methods=["POST"]),
        ]

    async def follow(self, request: Request) -> Response:
        token, action = str(request.path_params["token"]), str(request.path_params["action"])
        try:
            done = await run_in_threadpool(
                service.follow, self.store, self.key, token, action, self.now()
            )
        except TokenError as exc:
            if exc.reason != "superseded":
                return self.bad_link(request, exc)
            return self.pages.message(
                request,
                "This link is no longer current",
                "Your feedback on this paper changed after this link was made (an undo,"
                " or the other choice), so it does nothing: the later choice stands.",
                "The manage page, linked at the end of each digest, lists your feedback.",
                status=409,
            )
        known = self.profiles.get()
        fb = done.feedback
        title = view(known[fb.profile]).title if fb.profile in known else fb.profile
        base = f"{root_of(request)}feedback/{done.token}/"
        return self.pages.page(
            request,
            "feedback",
            direction=fb.direction,
            paper=done.title,
            title=title,
            changed=done.changed,
            undo=base + "undo",
            more=base + "more",
            less=base + "less",
        )

    async def remove(self, request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if not length.isdigit() or int(length) > MAX_FORM_BYTES:
            return self.pages.message(request, "The form is too large", status=413)
        token = str(request.path_params["token"])
        form = await request.form(max_files=0, max_fields=4)
        chosen = form.get("remove")
        if not isinstance(chosen, str) or not chosen.isdigit():
            return self.pages.message(request, "Nothing to remove", status=400)
        try:
            sub = await run_in_threadpool(
                service.remove_feedback, self.store, self.key, token, int(chosen), self.now()
            )
        except TokenError as exc:
            return self.bad_link(request, exc)
        return self.manage(request, sub, False)
