"""A real HTTP server on 127.0.0.1 for tests: canned routes, recorded requests.

    with LoopbackServer() as server:
        server.add("/feed.xml", b"<rss/>", etag='"v1"',
                   headers={"Content-Type": "application/rss+xml"})
        fetch("arxiv", server.url("/feed.xml"))
        assert server.count("/feed.xml") == 1
        assert server.requests[0].headers["user-agent"].startswith("digest/")

As a fixture: `loopback_server` (import it into a conftest to share it), or
`yield from serving(monkeypatch)` in a fixture of your own.
Responses are HTTP/1.0, one request per connection, so the body may be sent
without Content-Length and a close never waits on an idle keep-alive.
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple, cast

import pytest

_CHUNK = 64 * 1024
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


class RecordedRequest(NamedTuple):
    method: str
    path: str  # as sent, query included
    headers: dict[str, str]  # names lower-cased


@dataclass(frozen=True)
class Route:
    body: bytes
    status: int
    headers: tuple[tuple[str, str], ...]
    delay: float
    etag: str | None
    last_modified: str | None
    content_length: bool


class LoopbackServer:
    """Serves routes added with `add`; records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()  # set by close(); delays wait on it
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None
        self.port: int = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        etag: str | None = None,
        last_modified: str | None = None,
        content_length: bool = True,
    ) -> str:
        """Serve `body` at `path` (replacing any earlier route); return its URL.

        `etag` / `last_modified` are sent, and a request repeating them gets
        a 304. `delay` seconds pass before the status line. Without
        `content_length` the body is streamed in chunks and ends at close.
        A path with a query matches exactly; otherwise the query is ignored.
        """
        data = body.encode() if isinstance(body, str) else body
        route = Route(
            data, status, tuple((headers or {}).items()), delay, etag, last_modified, content_length
        )
        with self._lock:
            self._routes[path] = route
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        return self.add(path, status=status, headers={"Location": location})

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def count(self, path: str) -> int:
        """Requests whose path, query stripped, is `path`."""
        return sum(1 for r in self.requests if r.path.split("?", 1)[0] == path)

    def route(self, raw_path: str) -> Route | None:
        with self._lock:
            return self._routes.get(raw_path) or self._routes.get(raw_path.split("?", 1)[0])

    def start(self) -> LoopbackServer:
        # A short poll interval keeps shutdown() quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self.stopping.set()  # wakes delayed handlers so they give up at once
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    owner: LoopbackServer
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up mid-body (size caps, timeouts) are expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError | socket.timeout):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = 10  # a client that connects and never speaks can't pin a thread forever

    def do_GET(self) -> None:
        self._respond(send_body=True)

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log lives in LoopbackServer.requests

    def _respond(self, *, send_body: bool) -> None:
        owner = cast(_Server, self.server).owner
        headers = {k.lower(): v for k, v in self.headers.items()}
        owner.requests.append(RecordedRequest(self.command, self.path, headers))
        route = owner.route(self.path)
        if route is None:
            self.send_error(404)
            return
        if route.delay and owner.stopping.wait(route.delay):
            return  # shutting down: the client is long gone
        if _not_modified(route, headers):
            self.send_response(304)
            self._send_validators(route)
            self.end_headers()
            return
        self.send_response(route.status)
        for name, value in route.headers:
            self.send_header(name, value)
        self._send_validators(route)
        if route.content_length:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if send_body:
            for start in range(0, len(route.body), _CHUNK):
                self.wfile.write(route.body[start : start + _CHUNK])

    def _send_validators(self, route: Route) -> None:
        if route.etag is not None:
            self.send_header("ETag", route.etag)
        if route.last_modified is not None:
            self.send_header("Last-Modified", route.last_modified)


def _not_modified(route: Route, headers: Mapping[str, str]) -> bool:
    # As RFC 9110 says: If-None-Match, when sent, decides alone.
    if "if-none-match" in headers:
        tags = {t.strip() for t in headers["if-none-match"].split(",")}
        return route.etag is not None and ("*" in tags or route.etag in tags)
    since = headers.get("if-modified-since")
    return since is not None and since == route.last_modified  # exact echo is enough here


def serving(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    """Body of a server fixture: clears proxy variables so 127.0.0.1 is direct."""
    for var in _PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def loopback_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    yield from serving(monkeypatch)
