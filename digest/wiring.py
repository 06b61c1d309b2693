"""Factories from settings: the adapters the pipeline, the service and the faces run on.

The seams: the fetcher (how a source's bytes arrive), the store (where everything
is kept) and the transport (how mail leaves). This is the one module that reads
secrets from the environment: `DIGEST_SECRET_KEY` (signs links) and
`DIGEST_SMTP_PASSWORD`. Faces get every adapter here and never build one.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from digest.config import resolve_store_url
from digest.models import FetchResult
from digest.settings import Settings
from digest.store import Store

if TYPE_CHECKING:
    from digest.deliver.transport import Transport
    from digest.render import Renderer
    from digest.web.mail import Mailer
    from digest.web.pages import Pages
    from digest.web.security import CSRF

__all__ = [
    "Fetcher",
    "Store",
    "Transport",
    "WebKit",
    "fetcher",
    "open_store",
    "renderer",
    "secret_key",
    "store_url",
    "transport",
    "web",
]

log = logging.getLogger("digest.wiring")

SECRET_KEY_ENV = "DIGEST_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
SMTP_PASSWORD_ENV = "DIGEST_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a secret


class Fetcher(Protocol):
    def __call__(
        self, source: str, location: str, *, etag: str | None, last_modified: str | None
    ) -> FetchResult: ...


def fetcher(settings: Settings) -> Fetcher:
    """HTTP(S) and local files, with the configured timeout, size cap and User-Agent."""
    from digest.sources.fetch import fetch

    opts = settings.fetch

    def fetch_one(
        source: str, location: str, *, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        return fetch(source, location, etag=etag, last_modified=last_modified, options=opts)

    return fetch_one


def store_url(settings: Settings, option: str | None = None) -> str:
    """The store's URL: `option` (--db), else $DIGEST_DB, else the config's."""
    return resolve_store_url(option, settings)


def open_store(url: str) -> Store:
    """The one way to open a store (migrated on open). Close it when done."""
    return Store.open(url)


def transport(settings: Settings) -> Transport:
    """SMTP when a host is configured; otherwise .eml files in the outbox."""
    from digest.deliver.transport import OutboxTransport, SMTPTransport

    smtp = settings.email.smtp
    if smtp is None:
        return OutboxTransport(settings.email.outbox)
    return SMTPTransport(replace(smtp, password=os.environ.get(SMTP_PASSWORD_ENV)))


def secret_key(settings: Settings) -> bytes:
    """The key that signs unsubscribe and confirmation links."""
    from digest.tokens import key_from_env

    if os.environ.get(SECRET_KEY_ENV):
        return key_from_env(os.environ)
    # The demo must run with no setup; a real deployment sets DIGEST_SECRET_KEY.
    log.warning("%s is not set: using a key derived from the store URL", SECRET_KEY_ENV)
    return hashlib.sha256(b"digest-demo-key:" + settings.store_url.encode()).digest()


def renderer(settings: Settings) -> Renderer:
    from digest.render import Renderer

    return Renderer(settings.templates_dir)


@dataclass(frozen=True, slots=True)
class WebKit:
    """What the web app runs on besides the store: built once, at app creation."""

    key: bytes
    csrf: CSRF
    pages: Pages
    mailer: Mailer


def web(settings: Settings, via: Transport | None = None) -> WebKit:
    """The web app's key, CSRF signer, pages and confirmation mailer (sending through
    `via`, default the configured transport)."""
    from digest.deliver.send import send_one
    from digest.web.mail import Mailer
    from digest.web.pages import Pages, environment
    from digest.web.security import CSRF

    key = secret_key(settings)
    pages = Pages(environment(settings))
    mailer = Mailer(settings, pages, functools.partial(send_one, via or transport(settings)), key)
    return WebKit(key=key, csrf=CSRF(key), pages=pages, mailer=mailer)
