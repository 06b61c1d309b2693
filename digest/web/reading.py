"""A subscriber's own page of an issue, behind the mail's signed "view in browser" link.

    GET /view/{token}   the issue as they got it (their personal picks and order, if
                        any) on the archive's issue page, each item with its "more like
                        this" / "less like this" links: the mail's tokens, made in the
                        feedback's current generation, so they act as the mail's do

No login: the signed link is the proof. While its reader is not subscribed to the
issue's profile it shows nothing of theirs (`web/view_left.html.j2`, 410). A forged
link, or one naming a subscriber, digest or profile that is gone, gets the bad-link
page. The page is never cached nor indexed, and its Referer is never sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from digest import service, wiring
from digest.errors import TokenError
from digest.render import page_name, profile_url
from digest.render.archive import own_page
from digest.render.digests import FEEDBACK_LABELS
from digest.settings import Settings
from digest.web.pages import NO_STORE, Pages, ProfileCache, root_of, view

if TYPE_CHECKING:
    from digest.wiring import Store

_HEADERS = {**NO_STORE, "X-Robots-Tag": "noindex"}


class ReadingPages:
    """The route above; `bad_link` answers as the app's own pages do."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        key: bytes,
        pages: Pages,
        profiles: ProfileCache,
        *,
        bad_link: Callable[[Request, TokenError], Response],
    ) -> None:
        self.store, self.key, self.pages, self.profiles = store, key, pages, profiles
        self.bad_link = bad_link
        self.renderer = wiring.renderer(settings)
        self.site = settings.web.site_url

    def routes(self) -> list[BaseRoute]:
        return [Route("/view/{token}", self.show, methods=["GET"])]

    async def show(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            got = await run_in_threadpool(
                service.reading, self.store, self.key, token, self.profiles.get()
            )
        except TokenError as exc:
            return self.bad_link(request, exc)
        root, profile = root_of(request), got.digest.profile
        archive = f"{root}archive/{profile.name}/"  # the public pages, served here too
        public = archive + page_name(got.digest)
        if not got.subscribed:
            title = view(profile).title
            return self.pages.page(
                request, "view_left", status=410, headers=_HEADERS, title=title, public=public
            )
        links = {
            item: tuple(
                (label + " (chosen)" * (got.chosen.get(item) == d), f"{root}feedback/{t}/{d}")
                for d, label in FEEDBACK_LABELS.items()
            )
            for item, t in got.tokens.items()
        }
        feeds = {}
        if self.site:
            url = profile_url(self.site, profile)
            feeds = {"RSS": f"{url}feed.xml", "Atom": f"{url}feed.atom"}
        html = await run_in_threadpool(
            own_page,
            self.renderer,
            got.digest,
            links,
            archive=archive,
            public=public,
            feed_urls=feeds,
        )
        return HTMLResponse(html, headers=_HEADERS)
