"""Transports for built messages: an outbox folder of .eml files, or SMTP.

Sending. `SMTPTransport` runs up to `connections` workers, each with one SMTP
connection carrying many messages (one envelope, one recipient, per message), under
an optional overall rate. Per message: 2xx → "sent", reported as soon as the server
accepted it; 5xx → "permanent" at once; 4xx, a dropped connection or a timeout →
retried after `backoff`, doubled each time, up to `retries` times, then "temporary".
A message cut off mid-DATA may thus arrive twice (SMTP cannot tell). A worker that
cannot connect retries the same way, then leaves its messages to the others; when no
worker is left, everything unsent is "temporary" with the connection error. Errors
that retrying cannot fix end the call at once, all unsent messages "temporary", none
"permanent" (the account or the setup is at fault, not the recipients): login
refused (535), authentication or TLS required (530), a 5xx to MAIL FROM, TLS
failures, STARTTLS or AUTH not offered, a 5xx greeting.
`on_result` is called exactly once per message, in the event loop; it must not raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import aiosmtplib

from digest.deliver.files import quick_switches
from digest.render import Outgoing
from digest.settings import SMTPSettings

_FILE = re.compile(r"[^A-Za-z0-9._@+-]+")
_ACCOUNT = frozenset({530, 534, 535, 538})  # authentication or encryption required
Status = Literal["sent", "temporary", "permanent"]


@dataclass(frozen=True, slots=True)
class SendResult:
    delivery_id: int
    status: Status
    error: str | None = None


class Transport(Protocol):
    async def send(
        self, messages: Iterable[Outgoing], on_result: Callable[[SendResult], None]
    ) -> None: ...


class OutboxTransport:
    """Writes each message to `<outbox>/<message-id>.eml`, atomically (temporary file,
    then rename); "sent" once the file is in place. `fsync` makes it durable too.

    The files are written by `writers` threads while the next messages are built,
    at most IN_FLIGHT ahead. One is enough without `fsync`: creating a file in the
    folder holds the folder's lock, so a second writer would wait on it (spinning,
    on the core that builds the messages)."""

    IN_FLIGHT = 8  # messages built and not yet written: about 0.7 MB for 20-item digests

    def __init__(
        self, outbox: str | os.PathLike[str], *, fsync: bool = False, writers: int = 1
    ) -> None:
        self.outbox = Path(outbox)
        self.fsync = fsync
        self.writers = max(1, writers)

    def _write(self, msg: Outgoing) -> SendResult:
        name = _FILE.sub("_", msg.message_id.strip("<> "))[:200].lstrip(".") or "message"
        path = os.path.join(self.outbox, f"{name}.eml")
        tmp = os.path.join(self.outbox, f".{name}.eml.{os.getpid()}.{threading.get_ident()}.tmp")
        try:  # os calls, not open(): fewer system calls, each giving the GIL away
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                data = memoryview(msg.data)
                while data:
                    data = data[os.write(fd, data) :]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return SendResult(msg.delivery_id, "temporary", f"cannot write {path}: {exc}")
        return SendResult(msg.delivery_id, "sent")

    async def send(
        self, messages: Iterable[Outgoing], on_result: Callable[[SendResult], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):  # if it fails, each write says why
            self.outbox.mkdir(parents=True, exist_ok=True)
        pending: deque[asyncio.Future[SendResult]] = deque()  # in the order given
        with (
            quick_switches(),
            ThreadPoolExecutor(self.writers, thread_name_prefix="outbox") as pool,
        ):
            try:
                for msg in messages:
                    pending.append(loop.run_in_executor(pool, self._write, msg))
                    if len(pending) > self.IN_FLIGHT:
                        on_result(await pending.popleft())
            finally:  # also when the messages failed mid-way: one result each
                while pending:
                    on_result(await pending.popleft())


class _Bucket:
    """A token bucket holding one token: messages no closer than 1/rate s, overall."""

    def __init__(self, rate: float) -> None:
        self._interval, self._next = 1.0 / rate, 0.0

    async def take(self) -> None:
        now = time.monotonic()
        at = self._next = max(now, self._next)
        self._next += self._interval
        if at > now:
            await asyncio.sleep(at - now)


@dataclass(eq=False, slots=True)
class _Job:
    msg: Outgoing
    failures: int = 0


class _Batch:
    """The messages of one `send` call: handed out lazily, retried, reported once."""

    def __init__(
        self, messages: Iterable[Outgoing], on_result: Callable[[SendResult], None], s: SMTPSettings
    ) -> None:
        self._todo: Iterator[Outgoing] | None = iter(messages)
        self._ready: deque[_Job] = deque()  # retries due, and jobs given back
        self._open: dict[_Job, asyncio.TimerHandle | None] = {}  # taken, not yet reported
        self._wake = asyncio.Event()
        self._on_result = on_result
        self._retries, self._backoff = s.retries, s.backoff
        self.fatal: str | None = None  # an error retrying cannot fix: stop
        self.last_error = "no SMTP connection"

    def stopped(self) -> bool:
        return self.fatal is not None

    async def next(self) -> _Job | None:
        """The next job; None when all are reported or the run stopped."""
        while self.fatal is None:
            if self._ready:
                return self._ready.popleft()
            if self._todo is not None:
                if (msg := next(self._todo, None)) is not None:
                    self._open[job := _Job(msg)] = None
                    return job
                self._todo = None
            if not self._open:
                return None
            self._wake.clear()
            await self._wake.wait()  # for a retry to fall due, or the last report
        return None

    def done(self, job: _Job, status: Status, error: str = "") -> None:
        self._open.pop(job, None)
        self._wake.set()
        self._on_result(SendResult(job.msg.delivery_id, status, error or None))

    def retry(self, job: _Job, error: str) -> None:
        job.failures += 1
        if job.failures > self._retries:
            self.done(job, "temporary", f"{error} (tried {job.failures} times)")
        else:
            delay = self._backoff * 2 ** (job.failures - 1)
            self._open[job] = asyncio.get_running_loop().call_later(delay, self.give_back, job)

    def give_back(self, job: _Job) -> None:
        self._open[job] = None
        self._ready.append(job)
        self._wake.set()

    def stop(self, error: str) -> None:
        self.fatal = self.last_error = error
        self._wake.set()

    def cancel_timers(self) -> None:
        for timer in self._open.values():
            if timer is not None:
                timer.cancel()

    def finish(self) -> None:
        """Everything not yet reported: "temporary", with the error that stopped it."""
        for job in list(self._open):
            self.done(job, "temporary", self.last_error)
        for msg in self._todo or ():
            self._on_result(SendResult(msg.delivery_id, "temporary", self.last_error))


async def _transaction(smtp: aiosmtplib.SMTP, msg: Outgoing) -> BaseException | None:
    """MAIL, RCPT, DATA (RSET after a refusal), like `sendmail` without its extra pass
    over the data to size it. Returns what went wrong, if anything."""
    try:
        size = [f"SIZE={len(msg.data)}"] if smtp.supports_extension("size") else []
        await smtp.mail(msg.sender, options=size)
        await smtp.rcpt(msg.recipient)
        await smtp.data(msg.data)
    except aiosmtplib.SMTPResponseException as exc:
        try:
            await smtp.rset()
        except (OSError, aiosmtplib.SMTPException):
            smtp.close()  # in doubt: a fresh connection for the next message
        return exc
    except (OSError, ValueError, aiosmtplib.SMTPException) as exc:
        return exc
    return None


class SMTPTransport:
    """Sends over up to `connections` SMTP connections, each carrying many messages."""

    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = s = settings
        context = ssl.create_default_context(cafile=s.ca_file) if s.security != "plain" else None
        self._options: dict[str, Any] = {
            "hostname": s.host,
            "port": s.port,
            "timeout": s.timeout,
            "use_tls": s.security == "tls",
            "start_tls": s.security == "starttls",
            "tls_context": context,
            "username": s.username,
            "password": s.password,
            "local_hostname": s.local_hostname,
        }
        self._bucket = _Bucket(s.rate) if s.rate else None
        self._where = f"{s.host}:{s.port}"

    async def send(
        self, messages: Iterable[Outgoing], on_result: Callable[[SendResult], None]
    ) -> None:
        """Deliver every message and report each once. `messages` may be a lazy
        iterable: each is then built while earlier ones are on the wire."""
        run = _Batch(messages, on_result, self.settings)
        count = len(messages) if isinstance(messages, Sized) else self.settings.connections
        n = max(1, min(self.settings.connections, count))
        workers = [asyncio.create_task(self._worker(run)) for _ in range(n)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            run.cancel_timers()
        run.finish()

    async def _connect(self, run: _Batch) -> aiosmtplib.SMTP | None:
        """A connection, after up to `retries` retries; None when there is none to be had."""
        for attempt in range(self.settings.retries + 1):
            if attempt:
                await asyncio.sleep(self.settings.backoff * 2 ** (attempt - 1))
            if run.stopped():
                break
            smtp = aiosmtplib.SMTP(**self._options)
            try:
                await smtp.connect()
                return smtp
            except aiosmtplib.SMTPAuthenticationError as exc:
                run.stop(f"SMTP login at {self._where} refused: {exc.code} {exc.message}")
            except ssl.SSLError as exc:
                run.stop(f"TLS with {self._where} failed: {exc}")
            except aiosmtplib.SMTPResponseException as exc:  # greeting, EHLO, STARTTLS
                run.last_error = f"{self._where} refused the connection: {exc.code} {exc.message}"
                if exc.code >= 500:
                    run.stop(run.last_error)
            except OSError as exc:  # refused, unreachable, timed out, dropped
                run.last_error = f"cannot connect to {self._where}: {exc}"
            except aiosmtplib.SMTPException as exc:  # STARTTLS or AUTH not offered
                run.stop(f"SMTP at {self._where}: {exc}")
            smtp.close()
            if run.stopped():
                break
        return None

    def _judge(self, run: _Batch, job: _Job, smtp: aiosmtplib.SMTP, exc: BaseException) -> None:
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            code, error = exc.code, f"{exc.code} {exc.message}"
            if code in _ACCOUNT or (code >= 500 and isinstance(exc, aiosmtplib.SMTPSenderRefused)):
                run.stop(f"{self._where} refused to send: {error}")  # the sender's problem
                run.give_back(job)
            elif code >= 500:
                run.done(job, "permanent", error)
            else:
                if code == 421:  # the server is closing this connection
                    smtp.close()
                run.retry(job, error)
        elif isinstance(exc, ValueError) and not isinstance(exc, OSError):
            run.done(job, "permanent", f"cannot send to this address: {exc}")
        else:  # disconnected, timed out
            smtp.close()
            run.retry(job, f"connection to {self._where} lost: {exc}")

    async def _worker(self, run: _Batch) -> None:
        smtp: aiosmtplib.SMTP | None = None
        try:
            while (job := await run.next()) is not None:
                if smtp is None or not smtp.is_connected:
                    smtp = await self._connect(run)
                if smtp is None:
                    run.give_back(job)  # to a worker that has a connection, if any
                    return
                if self._bucket is not None:
                    await self._bucket.take()
                if (exc := await _transaction(smtp, job.msg)) is None:
                    run.done(job, "sent")
                else:
                    self._judge(run, job, smtp, exc)
        except BaseException:  # cancelled, or on_result raised: no goodbyes
            if smtp is not None:
                smtp.close()
            raise
        if smtp is not None and smtp.is_connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smtp.quit(), self.settings.timeout)
            smtp.close()
