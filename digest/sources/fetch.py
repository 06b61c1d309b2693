"""Bytes from a location: an http(s) URL, a `file:` URL or a local path.

The only module that touches the network. Every failure leaves as one
`FetchError` naming the source; nothing else escapes, whatever the input.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import httpx

from digest.errors import FetchError
from digest.models import FetchResult
from digest.settings import FetchSettings

ACCEPT = (
    "application/atom+xml, application/rss+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.9, text/html;q=0.5, */*;q=0.1"
)
_DEFAULTS = FetchSettings()


def fetch(
    source: str,
    location: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    options: FetchSettings = _DEFAULTS,
    transport: httpx.BaseTransport | None = None,
) -> FetchResult:
    """Fetch `location` for `source`; a 304 gives `content=None`."""
    lowered = location.lower()
    if lowered.startswith(("http:", "https:")):
        return _fetch_http(source, location, etag, last_modified, options, transport)
    if lowered.startswith("file:"):
        return FetchResult(_read_file(source, _file_url_path(source, location), options), location)
    if "://" in location:
        raise FetchError(source, f"unsupported or invalid URL {location!r}")
    return FetchResult(_read_file(source, location, options), location)


def _file_url_path(source: str, url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise FetchError(source, f"invalid file URL {url!r}: {exc}") from exc
    if parts.netloc not in ("", "localhost"):
        raise FetchError(source, f"file URL {url!r} names a remote host")
    return unquote(parts.path)


def _read_file(source: str, path: str, options: FetchSettings) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(options.max_bytes + 1)  # one extra byte tells "too big"
    except FileNotFoundError as exc:
        raise FetchError(source, f"file not found: {path}") from exc
    except (OSError, ValueError) as exc:  # ValueError: NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise FetchError(source, f"cannot read {path}: {reason}") from exc
    if len(data) > options.max_bytes:
        raise FetchError(source, f"file larger than {options.max_bytes} bytes: {path}")
    return data


def _fetch_http(
    source: str,
    url: str,
    etag: str | None,
    last_modified: str | None,
    options: FetchSettings,
    transport: httpx.BaseTransport | None,
) -> FetchResult:
    wanted = {
        "User-Agent": options.user_agent,
        "Accept": ACCEPT,
        "If-None-Match": etag,
        "If-Modified-Since": last_modified,
    }
    headers = {name.encode(): _header_bytes(value) for name, value in wanted.items() if value}
    try:
        # Checked here, not left to httpx: a bad URL reaching a MockTransport
        # dies in the cookie jar with a bare ValueError.
        if not httpx.URL(url).host:
            raise FetchError(source, f"invalid URL {url!r}: no host")
        with (
            httpx.Client(
                timeout=options.timeout,
                follow_redirects=True,
                max_redirects=options.max_redirects,
                headers=headers,
                transport=transport,
                trust_env=transport is None,  # an injected transport owns the network
            ) as client,
            client.stream("GET", url) as response,
        ):
            return _read_response(source, response, etag, last_modified, options.max_bytes)
    except httpx.TimeoutException as exc:
        raise FetchError(source, f"timed out after {options.timeout:g}s fetching {url}") from exc
    except httpx.TooManyRedirects as exc:
        msg = f"too many redirects (more than {options.max_redirects}) fetching {url}"
        raise FetchError(source, msg) from exc
    except httpx.ConnectError as exc:
        raise FetchError(source, f"cannot connect to {url}: {_reason(exc)}") from exc
    except httpx.InvalidURL as exc:
        raise FetchError(source, f"invalid URL {url!r}: {exc}") from exc
    except (httpx.HTTPError, httpx.StreamError, ValueError) as exc:
        raise FetchError(source, f"{type(exc).__name__} fetching {url}: {_reason(exc)}") from exc


def _read_response(
    source: str,
    response: httpx.Response,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
) -> FetchResult:
    url = str(response.url)
    new_etag = _header(response, b"etag")
    new_modified = _header(response, b"last-modified")
    if response.status_code == 304:
        return FetchResult(None, url, new_etag or etag, new_modified or last_modified)
    if response.status_code != 200:
        status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        raise FetchError(source, f"{status} from {url}")
    too_big = f"response larger than {max_bytes} bytes from {url}"
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(source, too_big)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():  # decoded, so the cap counts what we keep
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(source, too_big)
        chunks.append(chunk)
    content_type = response.headers.get("content-type", "")
    return FetchResult(b"".join(chunks), url, new_etag, new_modified, content_type)


def _header(response: httpx.Response, name: bytes) -> str | None:
    # latin-1 maps bytes 1:1, so a validator goes back exactly as it came.
    for key, value in response.headers.raw:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _header_bytes(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:  # not from _header; a mangled validator just misses
        return value.encode("utf-8", "replace")


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
