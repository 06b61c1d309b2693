"""fetch(): MockTransport units, a real loopback server, and local files."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from digest import __version__
from digest.errors import FetchError
from digest.settings import FetchSettings
from digest.sources.fetch import fetch
from tests.httpserver import LoopbackServer, serving

URL = "http://example.test/feed.xml"
Handler = Callable[[httpx.Request], httpx.Response]


def mock(handler: Handler) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return httpx.MockTransport(record), seen


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.url}")


def fetch_error(location: str, **kwargs: object) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetch("src", location, **kwargs)  # type: ignore[arg-type]
    assert info.value.source == "src"
    return info.value


# --- MockTransport -------------------------------------------------------------


def test_sends_user_agent_accept_and_conditional_headers() -> None:
    transport, seen = mock(lambda r: httpx.Response(304))
    fetch(
        "src", URL, etag='"abc"', last_modified="Tue, 01 Oct 2024 00:00:00 GMT", transport=transport
    )
    (request,) = seen
    assert request.headers["User-Agent"].startswith(f"digest/{__version__} (+https://")
    assert "application/atom+xml" in request.headers["Accept"]
    assert "application/json" in request.headers["Accept"]
    assert request.headers["If-None-Match"] == '"abc"'
    assert request.headers["If-Modified-Since"] == "Tue, 01 Oct 2024 00:00:00 GMT"


def test_no_conditional_headers_without_validators() -> None:
    transport, seen = mock(lambda r: httpx.Response(200, content=b"x"))
    fetch("src", URL, transport=transport)
    assert "If-None-Match" not in seen[0].headers
    assert "If-Modified-Since" not in seen[0].headers


def test_304_keeps_old_validators_when_not_repeated() -> None:
    transport, _ = mock(lambda r: httpx.Response(304))
    result = fetch("src", URL, etag='"old"', last_modified="Mon, 01 Jan 2024", transport=transport)
    assert result.not_modified
    assert result.content is None
    assert (result.url, result.etag, result.last_modified) == (URL, '"old"', "Mon, 01 Jan 2024")


def test_304_takes_validators_it_repeats() -> None:
    transport, _ = mock(lambda r: httpx.Response(304, headers={"ETag": '"new"'}))
    result = fetch("src", URL, etag='"old"', last_modified="Mon, 01 Jan 2024", transport=transport)
    assert (result.etag, result.last_modified) == ('"new"', "Mon, 01 Jan 2024")


def test_200_returns_content_and_new_validators() -> None:
    headers = {
        "ETag": 'W/"v2"',
        "Last-Modified": "Wed, 02 Oct 2024 10:00:00 GMT",
        "Content-Type": "application/rss+xml; charset=utf-8",
    }
    transport, _ = mock(lambda r: httpx.Response(200, content=b"<rss/>", headers=headers))
    result = fetch("src", URL, etag='"v1"', last_modified="old", transport=transport)
    assert result.content == b"<rss/>"
    assert not result.not_modified
    assert result.etag == 'W/"v2"'
    assert result.last_modified == "Wed, 02 Oct 2024 10:00:00 GMT"
    assert result.content_type == "application/rss+xml; charset=utf-8"


def test_200_without_validators_drops_the_old_ones() -> None:
    # They described the previous body; sending them again would be wrong.
    transport, _ = mock(lambda r: httpx.Response(200, content=b"x"))
    result = fetch("src", URL, etag='"v1"', last_modified="old", transport=transport)
    assert (result.etag, result.last_modified, result.content_type) == (None, None, "")


def test_non_ascii_etag_goes_back_byte_exact() -> None:
    raw = '"caf\xc3\xa9"'.encode("latin-1")  # UTF-8 bytes on the wire
    transport, seen = mock(lambda r: httpx.Response(200, content=b"x", headers=[(b"ETag", raw)]))
    etag = fetch("src", URL, transport=transport).etag
    assert etag is not None
    fetch("src", URL, etag=etag, transport=transport)
    assert dict(seen[1].headers.raw)[b"If-None-Match"] == raw


def test_unencodable_validator_is_sent_mangled_not_fatal() -> None:
    # A validator from a hand-edited store must not fail the source forever.
    transport, seen = mock(lambda r: httpx.Response(200, content=b"x"))
    assert fetch("src", URL, etag="\ud800", transport=transport).content == b"x"
    assert seen[0].headers["If-None-Match"] == "?"


def test_follows_redirects_and_reports_final_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(301, headers={"Location": "/new"})
        return httpx.Response(200, content=b"moved")

    transport, seen = mock(handler)
    result = fetch("src", "http://example.test/old", transport=transport)
    assert result.content == b"moved"
    assert result.url == "http://example.test/new"
    assert [r.url.path for r in seen] == ["/old", "/new"]


def test_too_many_redirects() -> None:
    transport, seen = mock(lambda r: httpx.Response(302, headers={"Location": "/loop"}))
    err = fetch_error(URL, options=FetchSettings(max_redirects=3), transport=transport)
    assert "too many redirects" in err.message
    assert len(seen) == 4  # the first request plus three redirects


def test_content_length_over_cap_rejected_before_reading() -> None:
    read: list[bytes] = []

    def body() -> Iterator[bytes]:
        read.append(b"x")
        yield b"x" * 100

    transport, _ = mock(
        lambda r: httpx.Response(200, headers={"Content-Length": "100"}, content=body())
    )
    err = fetch_error(URL, options=FetchSettings(max_bytes=99), transport=transport)
    assert err.message == f"response larger than 99 bytes from {URL}"
    assert read == []


def test_streamed_body_over_cap_aborts_early() -> None:
    sent: list[int] = []

    def body() -> Iterator[bytes]:
        for i in range(1000):
            sent.append(i)
            yield b"x" * 1000

    transport, _ = mock(lambda r: httpx.Response(200, content=body()))  # chunked, no length
    err = fetch_error(URL, options=FetchSettings(max_bytes=2500), transport=transport)
    assert "response larger than 2500 bytes" in err.message
    assert len(sent) == 3  # stopped at the chunk that crossed the cap


def test_cap_counts_decoded_bytes() -> None:
    packed = gzip.compress(b"\0" * 10_000)
    headers = {"Content-Encoding": "gzip"}
    transport, _ = mock(lambda r: httpx.Response(200, content=packed, headers=headers))
    assert fetch("src", URL, transport=transport).content == b"\0" * 10_000
    err = fetch_error(URL, options=FetchSettings(max_bytes=5000), transport=transport)
    assert "larger than 5000 bytes" in err.message
    assert len(packed) < 5000


@pytest.mark.parametrize(
    ("status", "text"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")]
)
def test_error_status(status: int, text: str) -> None:
    transport, _ = mock(lambda r: httpx.Response(status, content=b"oops"))
    assert fetch_error(URL, transport=transport).message == f"{text} from {URL}"


def test_unknown_status_without_reason_phrase() -> None:
    transport, _ = mock(lambda r: httpx.Response(599))
    assert fetch_error(URL, transport=transport).message == f"HTTP 599 from {URL}"


@pytest.mark.parametrize(
    "location",
    [
        "http://",
        "https://",
        "http:/x",
        "ht!tp://x",
        "ftp://example.org/feed",
        "http://[::1",
        "http://\x00x/",
        "http://ex\u00e4mple..com/",
        "file://[x",
        "file://remote.example/etc/passwd",
    ],
)
def test_invalid_urls(location: str) -> None:
    transport, _ = mock(never_called)
    err = fetch_error(location, transport=transport)
    assert "URL" in err.message


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (httpx.ReadTimeout("read"), f"timed out after 30s fetching {URL}"),
        (httpx.ConnectTimeout("connect"), f"timed out after 30s fetching {URL}"),
        (
            httpx.ConnectError("[Errno 111] refused"),
            f"cannot connect to {URL}: [Errno 111] refused",
        ),
        (
            httpx.RemoteProtocolError("peer closed"),
            f"RemoteProtocolError fetching {URL}: peer closed",
        ),
    ],
)
def test_transport_errors_wrapped_once(exc: Exception, text: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    transport, _ = mock(handler)
    err = fetch_error(URL, transport=transport)
    assert err.message == text
    assert err.__cause__ is exc


# --- real loopback server ---------------------------------------------------------


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    yield from serving(monkeypatch)


LM = "Tue, 01 Oct 2024 08:00:00 GMT"


def test_loopback_conditional_get(server: LoopbackServer) -> None:
    url = server.add(
        "/feed.xml", b"<feed/>", etag='"v1"', last_modified=LM,
        headers={"Content-Type": "application/atom+xml"},
    )  # fmt: skip
    first = fetch("src", url)
    assert (first.content, first.etag, first.last_modified) == (b"<feed/>", '"v1"', LM)
    assert first.content_type == "application/atom+xml"

    second = fetch("src", url, etag=first.etag, last_modified=first.last_modified)
    assert second.not_modified
    assert (second.etag, second.last_modified) == ('"v1"', LM)
    assert server.count("/feed.xml") == 2
    assert server.requests[1].headers["if-none-match"] == '"v1"'
    assert server.requests[1].headers["user-agent"].startswith("digest/")

    # A changed feed answers 200 to the old validator.
    server.add("/feed.xml", b"<feed>2</feed>", etag='"v2"')
    third = fetch("src", url, etag='"v1"')
    assert (third.content, third.etag) == (b"<feed>2</feed>", '"v2"')


def test_loopback_if_modified_since_alone(server: LoopbackServer) -> None:
    url = server.add("/f", b"x", last_modified=LM)
    assert fetch("src", url, last_modified=LM).not_modified


def test_loopback_timeout(server: LoopbackServer) -> None:
    url = server.add("/slow", b"late", delay=2.0)
    start = time.monotonic()
    err = fetch_error(url, options=FetchSettings(timeout=0.5))
    assert err.message == f"timed out after 0.5s fetching {url}"
    assert time.monotonic() - start < 1.5


def test_loopback_500(server: LoopbackServer) -> None:
    url = server.add("/boom", b"trace", status=500)
    assert fetch_error(url).message == f"HTTP 500 Internal Server Error from {url}"


def test_loopback_unknown_path_is_404(server: LoopbackServer) -> None:
    assert fetch_error(server.url("/nope")).message.startswith("HTTP 404 Not Found from ")


@pytest.mark.parametrize("content_length", [True, False])
def test_loopback_oversized(server: LoopbackServer, content_length: bool) -> None:
    url = server.add("/big", b"x" * (3 * 1024 * 1024), content_length=content_length)
    err = fetch_error(url, options=FetchSettings(max_bytes=1024 * 1024))
    assert err.message == f"response larger than 1048576 bytes from {url}"


def test_loopback_redirect(server: LoopbackServer) -> None:
    target = server.add("/target", b"here")
    server.redirect("/hop2", "/target", status=307)
    result = fetch("src", server.redirect("/hop1", server.url("/hop2")))
    assert (result.content, result.url) == (b"here", target)
    assert [r.path for r in server.requests] == ["/hop1", "/hop2", "/target"]


def test_loopback_connection_refused() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/x"
    assert fetch_error(url).message.startswith(f"cannot connect to {url}: ")


# --- local files ------------------------------------------------------------------


def test_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(b"<rss/>")
    result = fetch("src", str(path))
    assert (result.content, result.url, result.etag) == (b"<rss/>", str(path), None)


def test_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dump.html").write_bytes(b"<html/>")
    monkeypatch.chdir(tmp_path)
    assert fetch("src", "dump.html").content == b"<html/>"


def test_file_url_is_percent_decoded(tmp_path: Path) -> None:
    path = tmp_path / "my feed #1.xml"
    path.write_bytes(b"<feed/>")
    uri = path.as_uri()
    assert "%20" in uri
    assert fetch("src", uri).content == b"<feed/>"
    assert fetch("src", uri.replace("file://", "file://localhost")).content == b"<feed/>"


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.xml"
    assert fetch_error(str(missing)).message == f"file not found: {missing}"
    assert fetch_error(missing.as_uri()).message == f"file not found: {missing}"


def test_unreadable_file(tmp_path: Path) -> None:
    err = fetch_error(str(tmp_path))  # a directory: root can't read it either
    assert err.message.startswith(f"cannot read {tmp_path}: ")
    assert "cannot read" in fetch_error("bad\x00path").message


def test_file_over_cap(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 101)
    assert fetch("src", str(path), options=FetchSettings(max_bytes=101)).content == b"x" * 101
    err = fetch_error(str(path), options=FetchSettings(max_bytes=100))
    assert err.message == f"file larger than 100 bytes: {path}"
