"""Pages of the web side, from the templates under `digest/templates/web/`, and the
configured profiles as the pages show them.

The environment is render's one environment (`digest.render.environment`): the
configured `templates` folder first (`web/...` in it overrides), then the bundled
ones; HTML templates autoescape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import HTMLResponse

from digest.errors import ConfigError
from digest.models import Profile
from digest.render import environment as render_environment
from digest.service import profiles as load_profiles
from digest.settings import Settings

log = logging.getLogger("digest.web")

NO_STORE = {"Cache-Control": "no-store"}
_KEYWORDS_SHOWN = 6


def environment(settings: Settings) -> jinja2.Environment:
    return render_environment(settings.templates_dir)


def root_of(request: Request) -> str:
    """A relative link from this page to the site's root: works behind a proxy that
    serves the app under a path prefix, without knowing that prefix."""
    depth = request.url.path.count("/") - 1
    return "../" * depth if depth > 0 else "./"


class Pages:
    def __init__(self, env: jinja2.Environment) -> None:
        self.env = env

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(name).render(**context)

    def page(
        self,
        request: Request,
        name: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = self.render(f"web/{name}.html.j2", root=root_of(request), **context)
        return HTMLResponse(
            html, status_code=status, headers={**NO_STORE, **(headers or {})}, background=background
        )

    def message(
        self,
        request: Request,
        heading: str,
        *paragraphs: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> HTMLResponse:
        """A page that says one thing: a heading, a few paragraphs, a way home."""
        return self.page(
            request,
            "message",
            status=status,
            headers=headers,
            background=background,
            heading=heading,
            paragraphs=paragraphs,
        )

    def form_expired(self, request: Request) -> HTMLResponse:
        """The answer to a form posted without this site's CSRF cookie and token."""
        return self.message(
            request,
            "This form has expired",
            "For your safety, the form must be sent from this site, with cookies on.",
            "Please go back, reload the page and send the form again.",
            status=403,
        )


@dataclass(frozen=True, slots=True)
class ProfileView:
    name: str
    title: str
    description: str


def view(profile: Profile) -> ProfileView:
    terms = sorted((t for t in profile.keywords if not t.is_regex), key=lambda t: -t.weight)
    shown = [" ".join(t.text.split()) for t in terms[:_KEYWORDS_SHOWN]]
    shown += [" ".join(a.split()) for a in profile.authors[: max(0, 3 - len(shown))]]
    description = ""
    if shown:
        more = " and more" if len(terms) > _KEYWORDS_SHOWN else ""
        description = f"Papers on {', '.join(shown)}{more}."
    title = " ".join((profile.title or profile.name).split())
    return ProfileView(profile.name, title, description)


class ProfileCache:
    """The configured profiles, reloaded when their files change (checked at most once
    a `interval` seconds). A broken edit keeps the last good profiles, with a warning."""

    def __init__(self, settings: Settings, *, interval: float = 2.0) -> None:
        self._settings = settings
        self._interval = interval
        self._checked = -interval
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._profiles: dict[str, Profile] = {}
        self.get()

    def _stat(self) -> tuple[tuple[str, int, int], ...]:
        folder = self._settings.profiles_dir
        if folder is None or not folder.is_dir():
            return ()
        out = []
        for p in sorted(folder.iterdir()):
            try:
                st = p.stat()
            except OSError:
                continue
            out.append((p.name, st.st_mtime_ns, st.st_size))
        return tuple(out)

    def get(self) -> dict[str, Profile]:
        now = time.monotonic()
        if now - self._checked < self._interval:
            return self._profiles
        self._checked = now
        signature = self._stat()
        if signature != self._signature:
            try:
                self._profiles = {p.name: p for p in load_profiles(self._settings)}
            except ConfigError as exc:
                log.warning("profiles not reloaded: %s", exc)
            self._signature = signature
        return self._profiles


def published(output_dir: Path, name: str) -> tuple[bool, bool]:
    """Whether the profile's archive index and feeds are there to link to."""
    base = output_dir / "archive" / name
    return (base / "index.html").is_file(), (base / "feed.xml").is_file()
