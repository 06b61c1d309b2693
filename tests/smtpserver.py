"""Real SMTP servers on 127.0.0.1 for tests (aiosmtpd, in a thread), on ephemeral ports.

    handler = Recorder()
    handler.fail("b@example.org", "450 4.2.1 try later", times=2)      # at RCPT
    handler.fail("c@example.org", DROP, at="DATA", times=1)            # cut off mid-DATA
    with serve(handler) as server:
        ...SMTPSettings(host=server.host, port=server.port, security="plain")...
    handler.received[0].message  # parsed with policy.default

`serve(..., tls=ca, starttls=True, users={"u": "p"})` requires STARTTLS and offers
AUTH only over TLS; `serve(..., tls=ca, implicit=True)` speaks TLS from the first
byte. `Authority` wraps a trustme CA: `authority.ca_file` is for the client.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

DROP = "DROP"  # as a reply: close the connection instead of answering


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated: bool = False
    tls: bool = False

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass
class _Failure:
    reply: str
    times: int | None  # None: every time


@dataclass
class Recorder:
    """Accepts and records every message, except where told to fail."""

    received: list[Received] = field(default_factory=list)
    rcpt_attempts: Counter[str] = field(default_factory=Counter)
    data_attempts: Counter[str] = field(default_factory=Counter)
    sessions: int = 0  # EHLO/HELO greetings seen
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rcpt: dict[str, _Failure] = field(default_factory=dict)
    _data: dict[str, _Failure] = field(default_factory=dict)

    def fail(self, address: str, reply: str, *, at: str = "RCPT", times: int | None = None) -> None:
        """Answer `reply` (or DROP the connection) at RCPT or after DATA for `address`,
        the first `times` attempts (every attempt when None)."""
        (self._rcpt if at == "RCPT" else self._data)[address] = _Failure(reply, times)

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt_tos]

    def _take(self, table: dict[str, _Failure], address: str) -> str | None:
        with self.lock:
            f = table.get(address)
            if f is None or f.times == 0:
                return None
            if f.times is not None:
                f.times -= 1
            return f.reply

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.rcpt_attempts[address] += 1
        reply = self._take(self._rcpt, address)
        if reply == DROP:
            server.transport.close()
            return "421 4.3.0 closing"
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        for rcpt in envelope.rcpt_tos:
            with self.lock:
                self.data_attempts[rcpt] += 1
            reply = self._take(self._data, rcpt)
            if reply == DROP:
                server.transport.close()  # the client sent everything and hears nothing
                return "250 OK"
            if reply:
                return reply
        record = Received(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content),
            authenticated=bool(session.authenticated),
            tls=server.transport.get_extra_info("ssl_object") is not None,
        )
        with self.lock:
            self.received.append(record)
        return "250 2.0.0 OK queued"


class Sink:
    """Accepts everything and keeps nothing but a count (for benchmarks)."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's Controller, bound to an ephemeral port."""

    async def _bind(self) -> Any:
        server = await self.loop.create_server(
            self._factory_invoker, host=self.hostname, port=0, ssl=self.ssl_context
        )
        self.port = server.sockets[0].getsockname()[1]
        return server

    def _create_server(self) -> Any:
        return self._bind()


@dataclass
class Server:
    host: str
    port: int
    handler: Any


class Authority:
    """A private CA (trustme) with a certificate for 127.0.0.1 and localhost."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = str(directory / "ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(self.server_context)


def _authenticator(users: dict[str, str]) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    return check


@contextmanager
def serve(
    handler: Any,
    *,
    tls: Authority | None = None,
    starttls: bool = False,
    implicit: bool = False,
    users: dict[str, str] | None = None,
) -> Iterator[Server]:
    kwargs: dict[str, Any] = {"server_hostname": "smtp.test", "ready_timeout": 10}
    if tls is not None and implicit:
        kwargs["ssl_context"] = tls.server_context
    elif tls is not None:
        kwargs["tls_context"] = tls.server_context
        kwargs["require_starttls"] = starttls
    if users is not None:
        kwargs["authenticator"] = _authenticator(users)
        kwargs["auth_require_tls"] = tls is not None
        kwargs["auth_required"] = True
    controller = _Controller(handler, hostname="127.0.0.1", **kwargs)
    controller.start()
    try:
        yield Server("127.0.0.1", controller.port, handler)
    finally:
        controller.stop()


def free_port() -> int:
    """A port on 127.0.0.1 with (just now) nothing listening."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
