"""The web side's URLs: where confirmation and unsubscribe links point, and which
route serves the unsubscribe links that digests already carry.

Links in mails are absolute, from the configuration (`site_url`,
`email.unsubscribe_url`), never from the request's Host header, so a forged Host
cannot send anyone's confirmation link elsewhere.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlsplit

from digest.errors import DigestError
from digest.render import header_value
from digest.settings import Settings

RESERVED = ("/", "/subscribe", "/healthz", "/fresh-link")


def confirm_url(settings: Settings, token: str) -> str:
    return f"{settings.web.site_url}confirm/{quote(token, safe='')}"


def manage_url(settings: Settings, token: str) -> str:
    return f"{settings.web.site_url}manage/{quote(token, safe='')}"


def unsubscribe_url(settings: Settings, token: str) -> str:
    """As in digests: `email.unsubscribe_url` with the token for `{token}`."""
    return header_value(settings.email.unsubscribe_url).replace("{token}", quote(token, safe=""))


def unsubscribe_route(settings: Settings) -> tuple[str, str | None]:
    """(route path, query parameter holding the token or None) for unsubscribe links:
    the path of `email.unsubscribe_url`, less that of `site_url` when it starts with
    it (a proxy serving the app under a prefix strips it)."""
    url = settings.email.unsubscribe_url
    parts = urlsplit(url)
    path = parts.path or "/"
    prefix = urlsplit(settings.web.site_url).path or "/"
    if prefix != "/" and path.startswith(prefix):
        path = "/" + path[len(prefix) :]
    if "{token}" in path:
        if path.count("{") != 1 or path.count("}") != 1:
            raise DigestError(
                f"email.unsubscribe_url {url!r}: the path may hold no braces but {{token}}"
            )
        return path, None
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if value == "{token}" and "{" not in path and path not in RESERVED:
            return path, name
    raise DigestError(f"email.unsubscribe_url {url!r}: cannot serve it here")
