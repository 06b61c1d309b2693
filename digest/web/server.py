"""uvicorn in a background thread, for `digest serve` and for tests.

    server = WebServer(create_app(settings, store), host="127.0.0.1", port=8000)
    server.start()      # returns once the socket accepts connections
    ...                 # server.port is the bound port (useful with port=0)
    server.stop()       # finishes in-flight requests, then returns

Signals stay with the caller: uvicorn installs no handlers outside the main thread.
Logging too: uvicorn's loggers ("uvicorn.error", "uvicorn.access") propagate to
whatever the process configured; the access log is off unless asked for.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence

import uvicorn
from starlette.types import ASGIApp

from digest.errors import DigestError


class WebServer:
    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        access_log: bool = False,
        startup_timeout: float = 15.0,
        trusted_proxies: Sequence[str] = (),
    ) -> None:
        self.host = host
        self.port = port
        self._startup_timeout = startup_timeout
        self._config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,
            access_log=access_log,
            lifespan="off",
            server_header=False,
            # uvicorn believes X-Forwarded-For from 127.0.0.1 unless told: only the
            # configured proxies, and then the nearest address they did not add.
            proxy_headers=bool(trusted_proxies),
            forwarded_allow_ips=list(trusted_proxies) or [],
            timeout_graceful_shutdown=10,
        )
        self._server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Serve in a daemon thread; returns once it accepts connections. Raises
        `DigestError` when it cannot (the port is taken, say)."""
        if self._thread is not None:
            raise DigestError("the web server was already started")
        sock = self._bind()
        self.port = int(sock.getsockname()[1])
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="digest-web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise DigestError(f"the web server could not listen on {self.host}:{self.port}")
            if time.monotonic() > deadline:
                self.stop()
                raise DigestError(f"the web server did not start within {self._startup_timeout}s")
            time.sleep(0.01)

    def _bind(self) -> socket.socket:
        """The listening socket, bound here so that a taken port is an error in the
        caller's thread (and port 0 gets its real number at once)."""
        try:
            infos = socket.getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            family, kind, proto, _, address = infos[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            raise DigestError(f"the web server cannot use {self.host}:{self.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            raise DigestError(
                f"the web server cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
            ) from exc
        return sock

    def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to 10 s), then return."""
        thread = self._thread
        if thread is None:
            return
        self._server.should_exit = True
        thread.join(timeout=30)
        if thread.is_alive():  # a stuck request: stop waiting for it
            self._server.force_exit = True
            thread.join(timeout=5)
