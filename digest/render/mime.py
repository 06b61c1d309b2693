"""The one MIME builder: multipart/alternative (text + HTML, quoted-printable) bytes
for digest mails and for the web's confirmation mails.

Building. `compose` turns header lines and the two bodies into chunks: bytes made
once, and the few header lines and body lines that hold a slot (`TO`, `MESSAGE_ID`,
`TOKEN`), left as text. `fill` replaces the slots and quoted-printable-encodes
(binascii, in C) only those lines, so a digest's 10,000 subscribers cost one render
and microseconds each (bench/send.py measures it against `email.message`, which takes
milliseconds a message). The bytes are those of encoding whole bodies: quoted-printable
encodes each line on its own. `DigestMail.message` goes one step further: values that
quoted-printable writes as they are (tokens) break a line where any others of their
lengths would, so each line is encoded once per digest and a message is only joined.
Lines end in CRLF; the boundary is derived from the message, so the bytes are
reproducible.

Headers. Every value goes through `header_value`, which turns CR, LF and every other
control character into a space: no data can add a header. Non-ASCII (or
`=?`-containing) Subject and display names are RFC 2047-encoded.

`DigestMail` renders nothing itself: `Renderer.prepare` did that once per digest; the
bodies are those `renderer.personalize(prepared, unsubscribe_url=...)` gives.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import secrets
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

import jinja2

from digest.errors import DigestError
from digest.models import Digest
from digest.render.digests import Prepared, Renderer
from digest.render.sanitize import safe_url
from digest.render.views import local_date, papers
from digest.settings import EmailSettings

# Slots stand for per-message values; nothing escapes or quotes these characters.
_MARK = "Zq7"  # every slot starts so: a line without it has none
TO, MESSAGE_ID, TOKEN = f"{_MARK}toSLOTx9", f"{_MARK}midSLOTx9", f"{_MARK}tokenSLOTx9"
# VIEW_TOKEN: the subscriber's own page of the issue ("view in browser")
ALL_TOKEN, MANAGE_TOKEN = f"{_MARK}allSLOTx9", f"{_MARK}manageSLOTx9"
VIEW_TOKEN = f"{_MARK}viewSLOTx9"
FEEDBACK = f"{_MARK}fbSLOTx9"  # followed by "<item id>-more" or "-less": one per item and choice
_SLOTS = (TO, MESSAGE_ID, TOKEN, ALL_TOKEN, MANAGE_TOKEN, VIEW_TOKEN, FEEDBACK)
_FEEDBACK_SLOT = re.compile(FEEDBACK + r"(\d+)-(more|less)")
# A line with slots is kept as a format string: each slot a field, filled in C.
_FIELD = {TO: "to", MESSAGE_ID: "mid", TOKEN: "token", ALL_TOKEN: "all", MANAGE_TOKEN: "manage"}
_FIELD[VIEW_TOKEN] = "view"
_SLOT = re.compile("|".join(map(re.escape, _FIELD)) + "|" + _FEEDBACK_SLOT.pattern)
# C0/C1 controls, line and paragraph separators, and bidi controls (a spoofed Subject)
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')
_ATOM = re.compile(r"[^a-z0-9-]+")
_FORMATTER = string.Formatter()
_RUN = re.compile(rb"[^\x00]+")
_PART = "Content-Type: text/{}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable"


@dataclass(frozen=True, slots=True)
class Recipient:
    delivery_id: int
    subscriber_id: int
    email: str
    token: str  # stops this digest's profile (digest.tokens)
    message_id: str = ""  # the ledger's name for this message; "": `message_id()`
    all_token: str = ""  # stops every profile
    manage_token: str = ""  # opens the manage page
    # item id -> the token of its "more like this" and "less like this" links
    feedback: Mapping[int, str] = field(default_factory=dict)
    view_token: str = ""  # opens their own page of the issue (a view_url with VIEW_TOKEN)


@dataclass(frozen=True, slots=True)
class Outgoing:
    delivery_id: int
    recipient: str  # envelope RCPT TO
    sender: str  # envelope MAIL FROM
    message_id: str
    data: bytes  # the whole message, CRLF line ends


def header_value(value: str) -> str:
    """`value` fit for a header: CR, LF and all other control characters (bidi ones too)
    become spaces."""
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


def dot_atom(text: str, fallback: str) -> str:
    """`text` as a domain-like dot-atom (Message-ID, List-Id), else `fallback`."""
    parts = (_ATOM.sub("-", p.lower()).strip("-") for p in text.split("."))
    return ".".join(p for p in parts if p) or fallback


def message_id(digest_id: int, subscriber_id: int, domain: str, store: str = "") -> str:
    """The stable Message-ID of one digest for one subscriber, `<digest-S.3.7@domain>`:
    `store` (the store's random id) keeps two stores, or one after a reset, apart."""
    head = f"digest-{dot_atom(store, '')}." if dot_atom(store, "") else "digest-"
    return f"<{head}{digest_id}.{subscriber_id}@{dot_atom(domain, 'localhost')}>"


def sender(settings: EmailSettings) -> tuple[str, str]:
    """(envelope address, From header value) of the configured sender."""
    name, addr = parseaddr(header_value(settings.sender))
    if "@" not in addr or not addr.isascii():
        raise DigestError(f"email sender {settings.sender!r} is not an ASCII address")
    return addr, f"{_phrase(name, 'From')} <{addr}>" if name else addr


# -- the builder -------------------------------------------------------------------------

Chunk = bytes | tuple[str, bool]  # made once, or (`_template` of a line, is a body line)


def _template(line: str) -> str:
    """`line` as a format string: its slots fields (feedback ones `fb<item id>_<choice>`),
    anything else literal."""

    def field_of(m: re.Match[str]) -> str:
        return "{" + (_FIELD.get(m[0]) or f"fb{m[1]}_{m[2]}") + "}"

    return _SLOT.sub(field_of, line.replace("{", "{{").replace("}", "}}"))


class _Values(dict[str, str]):
    """A message's slot values by field; a slot it was not given stays as written,
    a feedback link of an item without a token gets an empty one."""

    def __missing__(self, name: str) -> str:
        if name.startswith("fb"):
            return "/" + name.rsplit("_", 1)[1]
        return next(slot for slot, f in _FIELD.items() if f == name)


def _qp(text: str) -> bytes:
    """UTF-8 quoted-printable of whole lines ("\n"-ended): CRLF line ends, soft breaks
    keeping lines at 76. b2a_qp writes CRLF when the first line end it sees is CRLF."""
    return binascii.b2a_qp(text.replace("\n", "\r\n").encode("utf-8"), istext=True)


def _body(text: str) -> list[Chunk]:
    """`text` quoted-printable, but for the lines holding a slot, left as text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = (text if text.endswith("\n") else text + "\n").split("\n")[:-1]
    out: list[Chunk] = []
    run: list[str] = []
    for line in lines:
        if _MARK in line and any(s in line for s in _SLOTS):
            kept = (_template(line + "\n"), True)
            out += [_qp("".join(run)), kept] if run else [kept]
            run = []
        else:
            run.append(line + "\n")
    return [*out, _qp("".join(run))]


def compose(headers: Sequence[str], text: str, html: str, *, boundary: str) -> tuple[Chunk, ...]:
    """A multipart/alternative message in chunks. `headers`: whole header lines (with
    MIME-Version), values through `header_value` or encoded; Content-Type is added."""
    out: list[Chunk] = []
    for line in headers:
        out.append((_template(line), False) if any(s in line for s in _SLOTS) else line.encode())
        out.append(b"\r\n")
    out.append(
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        "This is a multipart message in MIME format.\r\n\r\n"
        f"--{boundary}\r\n{_PART.format('plain')}\r\n\r\n".encode()
    )
    out += _body(text)
    out.append(f"\r\n--{boundary}\r\n{_PART.format('html')}\r\n\r\n".encode())
    out += _body(html)
    out.append(f"\r\n--{boundary}--\r\n".encode())
    merged: list[Chunk] = []  # neighbouring bytes joined: fewer pieces per message
    for c in out:
        if isinstance(c, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] += c
        else:
            merged.append(c)
    return tuple(merged)


def _values(slots: Mapping[str, str], feedback: Mapping[int, str] | None) -> _Values:
    values = _Values({_FIELD[slot]: v for slot, v in slots.items() if slot in _FIELD})
    for item, token in (feedback or {}).items():  # URL-safe base64: nothing to quote
        values[f"fb{item}_more"], values[f"fb{item}_less"] = f"{token}/more", f"{token}/less"
    return values


def fill(
    chunks: Sequence[Chunk],
    slots: Mapping[str, str],
    feedback: Mapping[int, str] | None = None,
) -> bytes:
    """The message's bytes: each slot replaced by its value (values ASCII-safe already);
    each feedback slot by its item's token from `feedback` (see `Recipient`). Values
    are put in once: a value that holds a slot's text stays as it is."""
    values = _values(slots, feedback)
    out = []
    for c in chunks:
        if isinstance(c, bytes):
            out.append(c)
            continue
        text = c[0].format_map(values)
        out.append(_qp(text) if c[1] else text.encode())
    return b"".join(out)


# Characters quoted-printable writes as they are, one column each, wherever they are
# in a line: body values made of them change no other character and no line break.
_PLAIN = re.compile(r"[A-Za-z0-9_~%/-]*")


@dataclass(frozen=True, slots=True)
class _Shape:
    """A message as text between fields, for body values of given lengths (all
    `_PLAIN`): a body line's encoding is worked out once, with stand-ins of those
    lengths, and a value a soft line break cuts is put in as its pieces. Joined,
    not formatted: str.format scans every character of 80 kB."""

    texts: tuple[str, ...]  # one more than `fields`: text, field, text, ...
    fields: tuple[str, ...]
    cuts: tuple[tuple[str, str, int, int], ...]  # (field, the value's field, start, end)


def _fields(template: str) -> list[str]:
    return [f for _, f, _, _ in _FORMATTER.parse(template) if f is not None]


def _shape(chunks: Sequence[Chunk], values: Mapping[str, str]) -> _Shape:
    texts, fields = [""], []
    cuts: dict[str, tuple[str, int, int]] = {}

    def put(name: str) -> None:
        fields.append(name)
        texts.append("")

    for c in chunks:
        if isinstance(c, bytes):
            texts[-1] += c.decode()
            continue
        if not c[1]:  # a header line: its values as they are
            for text, name, _, _ in _FORMATTER.parse(c[0]):
                texts[-1] += text
                if name is not None:
                    put(name)
            continue
        names = _fields(c[0])
        a, b = (_qp(c[0].format_map({n: ch * len(values[n]) for n in names})) for ch in "AB")
        # Where the two differ are the values' characters, in order.
        diff = (int.from_bytes(a) ^ int.from_bytes(b)).to_bytes(len(a))
        at, k, offset = 0, 0, 0  # in `a`; the value of names[k], from `offset`
        for run in _RUN.finditer(diff):
            texts[-1] += a[at : run.start()].decode()
            at, left = run.start(), run.end() - run.start()
            while left:
                name = names[k]
                take = min(left, len(values[name]) - offset)
                if take == len(values[name]):
                    put(name)
                else:
                    cuts[key := f"{name}@{offset}-{offset + take}"] = (name, offset, offset + take)
                    put(key)
                left, offset = left - take, offset + take
                if offset == len(values[name]):
                    k, offset = k + 1, 0
            at = run.end()
        texts[-1] += a[at:].decode()
    return _Shape(tuple(texts), tuple(fields), tuple((k, *v) for k, v in cuts.items()))


# -- digests -----------------------------------------------------------------------------


def subject(template: str, digest: Digest) -> str:
    """The digest's Subject from the configured template (see EmailSettings.subject)."""
    profile, n = digest.profile, len(digest.picks)
    fields = {
        "title": header_value(profile.title or profile.name),
        "count": n,
        "profile": profile.name,
        "papers": papers(n),
        "date": local_date(digest.created, profile.timezone),
    }
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        raise DigestError(f"email subject {template!r}: {exc!r}") from None


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
        site_url: str = "",
    ) -> None:
        """`site_url`: where the manage page is (`prepared` was made with `links`)."""
        if digest.id is None:
            raise DigestError("a digest must be recorded (have an id) before it is mailed")
        self._digest_id = digest.id
        self.digest = digest
        self._domain = dot_atom(settings.domain, "localhost")
        profile = digest.profile
        self.sender, from_ = sender(settings)
        title = header_value(profile.title or profile.name)
        subject_ = subject(settings.subject, digest)
        self._url = header_value(settings.unsubscribe_url)
        mailto = quote(header_value(settings.unsubscribe_mailto), safe="@.+-_")
        if not (self._url + mailto).isascii() or not safe_url(self.unsubscribe_url("t")):
            raise DigestError(f"unsubscribe_url {self._url!r} is not an ASCII http(s) URL")
        when = now if now.tzinfo else now.replace(tzinfo=UTC)
        list_id = f"{dot_atom(profile.name, 'digest')}.{self._domain}"
        seed = f"{self._digest_id}\0{profile.name}\0{digest.created.isoformat()}".encode()
        boundary = f"=_digest_{self._digest_id}_{hashlib.sha256(seed).hexdigest()[:16]}"
        headers = (
            f"From: {from_}",
            f"To: {TO}",
            f"Subject: {_encoded('Subject', subject_)}",
            f"Date: {format_datetime(when.astimezone(UTC))}",
            "MIME-Version: 1.0",
            f"List-Id: {_phrase(title, 'List-Id')}\r\n <{list_id}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "Precedence: bulk",
            f"Message-ID: {MESSAGE_ID}",
            f"List-Unsubscribe: <{self.unsubscribe_url(TOKEN)}>,\r\n"
            f" <mailto:{mailto}?subject=unsubscribe>",
        )
        manage = f"{site_url}manage/{MANAGE_TOKEN}" if site_url and prepared.links else ""
        text, html = renderer.personalize(
            prepared,
            unsubscribe_url=self.unsubscribe_url(TOKEN),
            manage_url=manage,
            unsubscribe_all_url=self.unsubscribe_url(ALL_TOKEN) if manage else "",
            feedback_url=f"{site_url}feedback/{FEEDBACK}" if manage else "",
        )
        self._chunks = compose(headers, text, html, boundary=boundary)
        body = (n for c in self._chunks if isinstance(c, tuple) and c[1] for n in _fields(c[0]))
        self._body = tuple(dict.fromkeys(body))  # the fields of body lines
        self._shapes: dict[tuple[int, ...], _Shape] = {}  # by the lengths of their values

    def unsubscribe_url(self, token: str) -> str:
        return self._url.replace("{token}", quote(token, safe=""))

    def message(self, r: Recipient) -> Outgoing:
        """The subscriber's email: the same bytes as quoted-printable of
        `renderer.personalize(prepared, unsubscribe_url=...)`, made in microseconds."""
        mid = r.message_id or message_id(self._digest_id, r.subscriber_id, self._domain)
        slots = {TO: header_value(r.email), MESSAGE_ID: mid, TOKEN: quote(r.token, safe="")}
        slots[ALL_TOKEN] = quote(r.all_token or r.token, safe="")
        slots[MANAGE_TOKEN] = quote(r.manage_token, safe="")
        slots[VIEW_TOKEN] = quote(r.view_token, safe="")
        values = _values(slots, r.feedback)
        body = [values[n] for n in self._body]
        if not _PLAIN.fullmatch("".join(body)):
            data = fill(self._chunks, slots, r.feedback)
            return Outgoing(r.delivery_id, r.email, self.sender, mid, data)
        lengths = tuple(map(len, body))
        if (shape := self._shapes.get(lengths)) is None:
            if len(self._shapes) >= 4:  # lengths differ by subscriber: keep only a few
                self._shapes.clear()
            shape = self._shapes[lengths] = _shape(self._chunks, values)
        for key, name, start, end in shape.cuts:
            values[key] = values[name][start:end]
        out = [""] * (2 * len(shape.fields) + 1)
        out[0::2], out[1::2] = shape.texts, [values[f] for f in shape.fields]
        data = "".join(out).encode()
        return Outgoing(r.delivery_id, r.email, self.sender, mid, data)


# -- the web's small mails ---------------------------------------------------------------


def site_name(settings: EmailSettings) -> str:
    """The name mails from the web side sign with: the sender's display name."""
    return header_value(parseaddr(header_value(settings.sender))[0]) or "Paper digest"


def confirmation_mail(
    env: jinja2.Environment,
    settings: EmailSettings,
    *,
    kind: str,
    to: str,
    subscriber_id: int,
    titles: Sequence[str],
    link: str,
    days: int,
    home: str,
    now: datetime,
) -> Outgoing:
    """The mail of double opt-in: `kind` "confirm" (a link that confirms within `days`),
        "already" (already subscribed; `link` unsubscribes) or "manage" (a fresh manage
        link, good for `days`), from templates/web/mail.*
    in `env` (`digest.render.environment`)."""
    addr, from_ = sender(settings)
    site = site_name(settings)
    whats = {"confirm": "Confirm your subscription to", "manage": "Manage your subscriptions to"}
    what = whats.get(kind, "You are already subscribed to")  # "already"
    subject_ = f"{what} {site}"
    context = {"kind": kind, "site": site, "titles": list(titles), "link": link, "days": days}
    context["home"] = home
    text = env.get_template("web/mail.txt.j2").render(context)
    html = env.get_template("web/mail.html.j2").render(context, subject=subject_)
    domain = dot_atom(header_value(settings.domain), "localhost")
    mid = f"<{kind}-{subscriber_id}.{secrets.token_hex(8)}@{domain}>"
    headers = (
        f"From: {from_}",
        f"To: {header_value(to)}",
        f"Subject: {_encoded('Subject', subject_)}",
        f"Date: {format_datetime(now if now.tzinfo else now.replace(tzinfo=UTC))}",
        f"Message-ID: {mid}",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
    )
    boundary = f"=_digest_{hashlib.sha256(mid.encode()).hexdigest()[:16]}"  # "=_": never QP
    return Outgoing(0, to, addr, mid, fill(compose(headers, text, html, boundary=boundary), {}))
