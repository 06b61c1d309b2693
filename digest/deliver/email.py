"""Digest emails: MIME bytes built once per digest and cheaply per subscriber.
The transports that deliver them are in `digest.deliver.transport`.

Building. `DigestMail` renders nothing itself: `Renderer.prepare` did that once per
digest. It personalizes the digest once with a placeholder for the token and
quoted-printable-encodes (binascii, in C) every line but the one or two holding it;
per subscriber only those lines are encoded and joined to header bytes made once per
digest, of which only To, Message-ID and List-Unsubscribe differ. The bytes are those
`renderer.personalize(prepared, unsubscribe_url=...)` would give, encoded whole.
Lines end in CRLF; the multipart boundary is derived from the digest (`=_` never
occurs in quoted-printable), so the bytes are reproducible. Every header value goes
through `header_value`, which turns CR, LF and every other control character into
a space: no data can add a header. Non-ASCII (or `=?`-containing) Subject and
display names are RFC 2047-encoded.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

from digest.errors import DigestError
from digest.models import Digest
from digest.render import Prepared, Renderer, local_date, safe_url
from digest.settings import EmailSettings

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ATOM = re.compile(r"[^a-z0-9-]+")


def header_value(value: str) -> str:
    """`value` fit for a header: CR, LF and all other control characters become spaces."""
    return _CONTROL.sub(" ", value).strip()


def _encoded(name: str, value: str) -> str:
    """A header's text, RFC 2047-encoded when plain ASCII would not do, folded at 76."""
    value = header_value(value)
    plain = value.isascii() and "=?" not in value and all(len(w) <= 60 for w in value.split())
    return Header(value, "us-ascii" if plain else "utf-8", header_name=name).encode(linesep="\r\n")


def _phrase(name: str, header: str) -> str:
    """A display name: quoted when it holds specials, encoded when not ASCII."""
    name = header_value(name)[:200]
    if name.isascii() and "=?" not in name and len(name) <= 60:
        if _SPECIALS.search(name):
            return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return name
    return _encoded(header, name)


def _dot_atom(text: str, fallback: str) -> str:
    parts = (_ATOM.sub("-", p.lower()).strip("-") for p in text.split("."))
    return ".".join(p for p in parts if p) or fallback


def message_id(digest_id: int, subscriber_id: int, domain: str) -> str:
    """The stable Message-ID of one digest for one subscriber: `<digest-3.7@domain>`."""
    return f"<digest-{digest_id}.{subscriber_id}@{_dot_atom(domain, 'localhost')}>"


def should_send(digest: Digest) -> bool:
    """An empty digest goes out only when its profile says `send_empty`."""
    return bool(digest.picks) or digest.profile.send_empty


@dataclass(frozen=True, slots=True)
class Recipient:
    delivery_id: int
    subscriber_id: int
    email: str
    token: str  # the subscriber's unsubscribe token (digest.tokens)


@dataclass(frozen=True, slots=True)
class Outgoing:
    delivery_id: int
    recipient: str  # envelope RCPT TO
    sender: str  # envelope MAIL FROM
    message_id: str
    data: bytes  # the whole message, CRLF line ends


def _qp(text: str) -> bytes:
    """UTF-8 quoted-printable of whole lines ("\n"-ended): CRLF line ends, soft breaks
    keeping lines at 76. b2a_qp writes CRLF when the first line end it sees is CRLF."""
    return binascii.b2a_qp(text.replace("\n", "\r\n").encode("utf-8"), istext=True)


_SLOT = "Zq7tokenSLOTx9"  # stands for the token; nothing escapes or quotes these characters


def _template(text: str) -> tuple[bytes | str, ...]:
    """`text` quoted-printable, but for the lines holding `_SLOT`, left as text.

    Quoted-printable encodes each line on its own, so the lines without the token are
    encoded once per digest and only the token's line (or two) once per subscriber.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = (text if text.endswith("\n") else text + "\n").split("\n")[:-1]
    out: list[bytes | str] = []
    run: list[str] = []
    for line in lines:
        if _SLOT in line:
            out += [_qp("".join(run)), line + "\n"] if run else [line + "\n"]
            run = []
        else:
            run.append(line + "\n")
    return (*out, _qp("".join(run)))


class DigestMail:
    """One digest's email, built once; `message(recipient)` makes one subscriber's."""

    def __init__(
        self,
        digest: Digest,
        prepared: Prepared,
        renderer: Renderer,
        settings: EmailSettings,
        *,
        now: datetime,
    ) -> None:
        if digest.id is None:
            raise DigestError("a digest must be recorded (have an id) before it is mailed")
        self._digest_id = digest.id
        self._domain = _dot_atom(settings.domain, "localhost")
        profile = digest.profile
        name, addr = parseaddr(header_value(settings.sender))
        if "@" not in addr or not addr.isascii():
            raise DigestError(f"email sender {settings.sender!r} is not an ASCII address")
        self.sender = addr
        title = header_value(profile.title or profile.name)
        n = len(digest.picks)
        fields = {
            "title": title,
            "count": n,
            "profile": profile.name,
            "papers": f"{n} new paper" if n == 1 else f"{n} new papers",
        }
        fields["date"] = local_date(digest.created, profile.timezone)
        try:
            subject = settings.subject.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            raise DigestError(f"email subject {settings.subject!r}: {exc!r}") from None
        self._url = header_value(settings.unsubscribe_url)
        mailto = quote(header_value(settings.unsubscribe_mailto), safe="@.+-_")
        if not (self._url + mailto).isascii() or not safe_url(self.unsubscribe_url("t")):
            raise DigestError(f"unsubscribe_url {self._url!r} is not an ASCII http(s) URL")
        when = now if now.tzinfo else now.replace(tzinfo=UTC)
        list_id = f"{_dot_atom(profile.name, 'digest')}.{self._domain}"
        seed = f"{self._digest_id}\0{profile.name}\0{digest.created.isoformat()}".encode()
        boundary = f"=_digest_{self._digest_id}_{hashlib.sha256(seed).hexdigest()[:16]}"
        sender = f"{_phrase(name, 'From')} <{addr}>" if name else addr
        self._from = f"From: {sender}\r\nTo: ".encode()
        self._middle = (
            f"\r\nSubject: {_encoded('Subject', subject)}\r\n"
            f"Date: {format_datetime(when.astimezone(UTC))}\r\n"
            "MIME-Version: 1.0\r\n"
            f"List-Id: {_phrase(title, 'List-Id')}\r\n <{list_id}>\r\n"
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
            "Precedence: bulk\r\n"
            "Message-ID: "
        ).encode()
        part = "Content-Type: text/{}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"
        text, html = renderer.personalize(prepared, unsubscribe_url=self.unsubscribe_url(_SLOT))
        self._body = (
            f">,\r\n <mailto:{mailto}?subject=unsubscribe>\r\n"
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            "This is a multipart message in MIME format.\r\n\r\n"
            f"--{boundary}\r\n{part.format('plain')}\r\n\r\n".encode(),
            *_template(text),
            f"\r\n--{boundary}\r\n{part.format('html')}\r\n\r\n".encode(),
            *_template(html),
            f"\r\n--{boundary}--\r\n".encode(),
        )

    def unsubscribe_url(self, token: str) -> str:
        return self._url.replace("{token}", quote(token, safe=""))

    def message(self, r: Recipient) -> Outgoing:
        """The subscriber's email: the same bytes as quoted-printable of
        `renderer.personalize(prepared, unsubscribe_url=...)`, made in microseconds."""
        token = quote(r.token, safe="")
        mid = message_id(self._digest_id, r.subscriber_id, self._domain)
        head = (self._from, header_value(r.email).encode(), self._middle, mid.encode())
        unsubscribe = (b"\r\nList-Unsubscribe: <", self.unsubscribe_url(r.token).encode())
        body = [c if isinstance(c, bytes) else _qp(c.replace(_SLOT, token)) for c in self._body]
        return Outgoing(
            r.delivery_id, r.email, self.sender, mid, b"".join((*head, *unsubscribe, *body))
        )
