"""Digest emails: MIME structure, headers, header injection, the golden .eml, the
outbox, and SMTP delivery against real aiosmtpd servers on 127.0.0.1 (plain,
STARTTLS with AUTH, implicit TLS; transient, permanent and dropped-connection
failures; a server that is down or mute).

Regenerate the golden file with `UPDATE_GOLDEN=1 pytest tests/test_email.py`.
"""

from __future__ import annotations

import asyncio
import binascii
import email
import email.policy
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import cast
from urllib.parse import quote

import pytest

from digest.deliver.transport import (
    OutboxTransport,
    SendResult,
    SMTPTransport,
    Transport,
)
from digest.errors import DigestError
from digest.models import Candidate, Digest, Hit, Pick, Profile, Seen
from digest.reasons import Reason
from digest.render import (
    DigestMail,
    Outgoing,
    Recipient,
    Renderer,
    header_value,
    message_id,
)
from digest.settings import EmailSettings, SMTPSettings
from tests.smtpserver import DROP, Authority, Recorder, Sink, serve

GOLDEN = Path(__file__).parent / "data" / "golden" / "digest.eml"
NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
SETTINGS = EmailSettings(
    sender="Paper Digest <digest@example.org>",
    domain="example.org",
    unsubscribe_url="https://digest.example.org/unsubscribe/{token}",
    unsubscribe_mailto="unsubscribe@example.org",
)
PROFILE = Profile(
    name="scaling", title="Scaling laws & training dynamics", timezone="Europe/Berlin"
)
HF = "https://huggingface.co/papers/"
TITLES = ("Größe matters: scaling laws for batch sizes", "Ünïcödé tokenizers — 日本語 too")


def _digest(profile: Profile = PROFILE, titles: Iterable[str] = TITLES, id: int = 42) -> Digest:
    picks = []
    for n, title in enumerate(titles, 1):
        cand = Candidate(
            item_id=n,
            key=f"arxiv:2611.{n:05d}",
            title=title,
            summary="We study how the critical batch size grows with compute. " * 6,
            authors=("Ada Lovelace", "Alan Turing"),
            url=f"https://arxiv.org/abs/2611.{n:05d}",
            first_seen=NOW - timedelta(hours=n),
            seen=(Seen("hf-daily", upvotes=10 * n, link=f"{HF}2611.{n:05d}"),),
            arxiv_id=f"2611.{n:05d}",
        )
        why = (Reason("scaling law", "title", 5.0 - n, 2),)
        picks.append(Pick(cand, 5.0 - n, (Hit("scaling law", "title"),), why))
    return Digest(profile, tuple(picks), NOW - timedelta(minutes=30), id=id)


def _mail(digest: Digest | None = None, settings: EmailSettings = SETTINGS) -> DigestMail:
    digest = digest or _digest()
    renderer = Renderer(archive_url="https://digest.example.org/archive/scaling/")
    return DigestMail(digest, renderer.prepare(digest), renderer, settings, now=NOW)


def _recipients(n: int, domain: str = "example.net") -> list[Recipient]:
    return [Recipient(100 + i, i + 1, f"user{i}@{domain}", f"tok{i}") for i in range(n)]


def _parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def _body(msg: EmailMessage, kind: str) -> str:
    part = msg.get_body((kind,))
    assert part is not None
    return cast(str, part.get_content()).replace("\r\n", "\n")  # CRLF on the wire


def _run(transport: Transport | SMTPTransport, messages: Iterable[Outgoing]) -> list[SendResult]:
    results: list[SendResult] = []
    asyncio.run(transport.send(messages, results.append))  # type: ignore[arg-type]
    return results


def _plain(port: int, **kw: object) -> SMTPTransport:
    settings = SMTPSettings("127.0.0.1", port, security="plain", backoff=0.01, timeout=5)
    return SMTPTransport(replace(settings, **kw))  # type: ignore[arg-type]


def _by_id(results: list[SendResult]) -> dict[int, SendResult]:
    ids = [r.delivery_id for r in results]
    assert len(ids) == len(set(ids)), "on_result called more than once for a message"
    return {r.delivery_id: r for r in results}


# -- building --------------------------------------------------------------------------


def test_structure_and_headers() -> None:
    mail = _mail()
    out = mail.message(Recipient(7, 3, "reader@example.net", "abc-123_X"))
    assert out == Outgoing(7, "reader@example.net", "digest@example.org", out.message_id, out.data)
    assert out.message_id == "<digest-42.3@example.org>" == message_id(42, 3, "example.org")
    assert b"\n" not in out.data.replace(b"\r\n", b"")
    assert b"\r" not in out.data.replace(b"\r\n", b"")
    assert max(len(line) for line in out.data.split(b"\r\n")) <= 78
    assert out.data.isascii()

    msg = _parse(out.data)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for p in parts:
        assert p.get_content_charset() == "utf-8"
        assert p["Content-Transfer-Encoding"] == "quoted-printable"
    url = "https://digest.example.org/unsubscribe/abc-123_X"
    text, html = _body(msg, "plain"), _body(msg, "html")
    for title in TITLES:
        assert title in text
    assert "Größe matters" in html
    assert "日本語" in html
    assert url in text
    assert f'href="{url}"' in html

    assert msg["From"] == "Paper Digest <digest@example.org>"
    assert msg["To"] == "reader@example.net"
    assert (
        msg["Subject"] == "Scaling laws & training dynamics: 2 new papers, Monday, 23 November 2026"
    )
    assert msg["Date"].datetime == NOW
    assert msg["Message-ID"] == "<digest-42.3@example.org>"
    assert msg["MIME-Version"] == "1.0"
    assert msg["List-Id"] == "Scaling laws & training dynamics <scaling.example.org>"
    assert msg["List-Unsubscribe"] == (
        f"<{url}>, <mailto:unsubscribe@example.org?subject=unsubscribe>"
    )
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    for name in ("From", "To", "Subject", "Date", "Message-ID", "List-Id", "List-Unsubscribe"):
        assert len(msg.get_all(name) or []) == 1, name


def test_per_subscriber_parts_differ_only_where_they_should() -> None:
    mail = _mail()
    a, b = (mail.message(r) for r in _recipients(2))
    assert a.message_id != b.message_id
    ma, mb = _parse(a.data), _parse(b.data)
    assert "tok0" in _body(ma, "plain")
    assert "tok1" in _body(mb, "plain")
    assert "tok1" not in _body(ma, "plain")
    same = ("From", "Subject", "Date", "List-Id", "Content-Type")
    assert [ma[h] for h in same] == [mb[h] for h in same]
    assert mail.message(_recipients(1)[0]).data == a.data  # reproducible bytes


def test_non_ascii_subject_and_sender_are_encoded() -> None:
    profile = replace(PROFILE, title="Lois d'échelle — 规模")
    settings = replace(
        SETTINGS, sender="Revue Ärzte <revue@example.org>", subject="{title} ({count})"
    )
    out = _mail(_digest(profile), settings).message(_recipients(1)[0])
    assert out.data.isascii()
    msg = _parse(out.data)
    assert msg["Subject"] == "Lois d'échelle — 规模 (2)"
    assert msg["From"].addresses[0].display_name == "Revue Ärzte"
    assert msg["List-Id"] == "Lois d'échelle — 规模 <scaling.example.org>"


def test_header_injection_is_impossible() -> None:
    profile = replace(PROFILE, name="evil\r\nX-Name: 1", title="Evil\r\nBcc: x@y")
    settings = replace(
        SETTINGS,
        sender="Evil\r\nCc: cc@y <digest@example.org>",
        subject="{title}\nX-Subject: 1",
        unsubscribe_url="https://digest.example.org/u/{token}\r\nX-Url: 1",
        unsubscribe_mailto="u@example.org\r\nX-Mailto: 1",
    )
    recipient = Recipient(1, 2, "victim@example.net\r\nBcc: spy@example.com", "t\r\nX-Token: 1")
    out = _mail(_digest(profile), settings).message(recipient)
    msg = _parse(out.data)
    names = {k.lower() for k in msg}
    assert not names & {"bcc", "cc", "x-name", "x-subject", "x-url", "x-mailto", "x-token"}
    assert msg["Subject"].startswith("Evil  Bcc: x@y")
    assert b"\r\nTo: victim@example.net  Bcc: spy@example.com\r\n" in out.data  # one line
    assert not msg.defects
    assert all(not p.defects for p in msg.iter_parts())
    assert header_value("a\r\nb\x00c\x85d\u2028e") == "a  b c d e"


def test_a_value_holding_a_slot_stays_as_given() -> None:
    from digest.render.mime import TOKEN

    # Values are put in once: an address spelling a slot is not filled in again.
    recipient = Recipient(1, 2, f"a{TOKEN}b@example.net", "tok-1")
    out = _mail().message(recipient)
    assert f"\r\nTo: a{TOKEN}b@example.net\r\n".encode() in out.data


def test_message_id_and_counts_in_subject() -> None:
    assert message_id(1, 2, "Mail.Example.ORG") == "<digest-1.2@mail.example.org>"
    assert message_id(1, 2, "bad domain\r\n") == "<digest-1.2@bad-domain>"
    empty = _digest(titles=())
    out = _mail(replace(empty, profile=replace(PROFILE, send_empty=True))).message(
        _recipients(1)[0]
    )
    assert "0 new papers" in _parse(out.data)["Subject"]
    one = _mail(_digest(titles=TITLES[:1])).message(_recipients(1)[0])
    assert ": 1 new paper," in _parse(one.data)["Subject"]


def test_bad_settings_are_refused() -> None:
    with pytest.raises(DigestError, match="recorded"):
        _mail(replace(_digest(), id=None))
    with pytest.raises(DigestError, match="subject"):
        _mail(settings=replace(SETTINGS, subject="{nope}"))
    with pytest.raises(DigestError, match="sender"):
        _mail(settings=replace(SETTINGS, sender="not an address"))
    for url in ("javascript:alert(1)/{token}", "https://bücher.example/{token}", "/u/{token}"):
        with pytest.raises(DigestError, match="unsubscribe_url"):
            _mail(settings=replace(SETTINGS, unsubscribe_url=url))


@pytest.mark.parametrize("token", ["plain-Token_1", "a/b+c=d&e f", "ünï\r\nX: 1", ""])
def test_bodies_are_exactly_what_personalize_gives(token: str) -> None:
    """The per-line quoted-printable shortcut changes nothing: each part decodes to
    `Renderer.personalize` with the subscriber's URL, and the bytes are its encoding."""
    digest = _digest()
    renderer = Renderer(archive_url="https://digest.example.org/archive/scaling/")
    prepared = renderer.prepare(digest)
    mail = DigestMail(digest, prepared, renderer, SETTINGS, now=NOW)
    out = mail.message(Recipient(1, 2, "r@example.net", token))
    text, html = renderer.personalize(prepared, unsubscribe_url=mail.unsubscribe_url(token))
    text, html = (b if b.endswith("\n") else b + "\n" for b in (text, html))  # a last line end
    msg = _parse(out.data)
    assert _body(msg, "plain") == text
    assert _body(msg, "html") == html
    for body in (text, html):
        assert binascii.b2a_qp(body.replace("\n", "\r\n").encode(), istext=True) in out.data
    assert mail.unsubscribe_url(token) in msg["List-Unsubscribe"]


def test_bodies_with_every_link_are_exactly_what_personalize_gives() -> None:
    """Lines with feedback, manage and unsubscribe links, cut by soft line breaks at
    every offset: each message's bytes are the quoted-printable of `personalize`,
    whatever the tokens' lengths and characters, and items without a token."""
    import random

    site = "https://digest.example.org/"
    digest = _digest(titles=[f"Paper {n}" for n in range(1, 6)])
    renderer = Renderer(archive_url=f"{site}archive/scaling/")
    prepared = renderer.prepare(digest, links=True)
    mail = DigestMail(digest, prepared, renderer, SETTINGS, now=NOW, site_url=site)
    rng = random.Random(7)
    for n in range(60):
        size = n if n < 40 else rng.choice((1, 77, 200))
        chars = "aZ09_-" if n % 3 else "aZ09_-~%/=. é"  # some must take the long way
        token = ["".join(rng.choice(chars) for _ in range(size)) for _ in range(8)]
        feedback = {i: token[3 + i % 5] for i in range(1, 6) if (n + i) % 4}
        r = Recipient(n, n, "r@example.net", token[0], "", token[1], token[2], feedback)
        out = mail.message(r)
        text, html = renderer.personalize(
            prepared,
            unsubscribe_url=mail.unsubscribe_url(token[0]),
            manage_url=f"{site}manage/{quote(token[2], safe='')}",
            unsubscribe_all_url=mail.unsubscribe_url(token[1]),
            feedback_url=f"{site}feedback/",
        )
        for body in (text, html):
            for i, d in ((i, d) for i in range(1, 6) for d in ("more", "less")):
                body = body.replace(f"/feedback/{i}-{d}", f"/feedback/{feedback.get(i, '')}/{d}")
            body = body if body.endswith("\n") else body + "\n"
            assert binascii.b2a_qp(body.replace("\n", "\r\n").encode(), istext=True) in out.data


def _normalise(data: bytes) -> bytes:
    text = data.replace(b"\r\n", b"\n")
    return re.sub(rb"^Date: .*$", b"Date: (normalised)", text, count=1, flags=re.M)


def test_golden_eml() -> None:
    out = _mail().message(Recipient(1, 7, "reader@example.net", "TOKEN-7"))
    got = _normalise(out.data)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_bytes(got)
    assert got == GOLDEN.read_bytes(), "run with UPDATE_GOLDEN=1 to accept the new output"


# -- outbox ----------------------------------------------------------------------------


def test_outbox_writes_parseable_eml(tmp_path: Path) -> None:
    mail = _mail()
    messages = [mail.message(r) for r in _recipients(3)]
    outbox = tmp_path / "outbox"
    results = _run(OutboxTransport(outbox), messages)
    assert [r.status for r in results] == ["sent"] * 3
    files = sorted(outbox.iterdir())
    assert [f.name for f in files] == [f"digest-42.{i}@example.org.eml" for i in (1, 2, 3)]
    for f, out in zip(files, messages, strict=True):
        assert f.read_bytes() == out.data
        assert _parse(f.read_bytes())["To"] == out.recipient
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    results = _run(OutboxTransport(blocked, fsync=True), messages[:1])
    assert results[0].status == "temporary"
    assert "cannot write" in (results[0].error or "")


# -- SMTP ------------------------------------------------------------------------------


def test_smtp_delivers_parseable_digests() -> None:
    mail = _mail()
    messages = [mail.message(r) for r in _recipients(5)]
    with serve(Recorder()) as server:
        results = _run(_plain(server.port, connections=2), messages)
    assert sorted(r.status for r in results) == ["sent"] * 5
    handler: Recorder = server.handler
    assert len(handler.received) == 5
    for out in messages:
        (got,) = handler.to(out.recipient)
        assert got.mail_from == "digest@example.org"
        assert got.data == out.data
        msg = got.message
        assert msg["To"] == out.recipient
        assert msg["Message-ID"] == out.message_id
        assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
        assert TITLES[1] in _body(msg, "plain")
    assert handler.sessions == 2  # one connection per worker carried all messages


def test_result_reported_before_the_next_message() -> None:
    mail = _mail()
    seen: list[int] = []
    with serve(Recorder()) as server:
        handler: Recorder = server.handler

        def on_result(r: SendResult) -> None:
            seen.append(len(handler.received))

        transport = _plain(server.port, connections=1)
        asyncio.run(transport.send([mail.message(r) for r in _recipients(4)], on_result))
    assert seen == [1, 2, 3, 4]


def test_starttls_and_auth(tmp_path: Path) -> None:
    ca = Authority(tmp_path)
    messages = [_mail().message(r) for r in _recipients(2)]
    with serve(Recorder(), tls=ca, starttls=True, users={"digest": "s3cret"}) as server:
        settings = SMTPSettings(
            server.host, server.port, username="digest", password="s3cret", ca_file=ca.ca_file
        )
        results = _run(SMTPTransport(settings), messages)
        assert [r.status for r in results] == ["sent", "sent"]
        assert all(r.tls and r.authenticated for r in server.handler.received)

        plain = _run(_plain(server.port), messages)  # STARTTLS skipped: 530 at MAIL
        assert [r.status for r in plain] == ["temporary"] * 2
        assert "530" in (plain[0].error or "")


def test_wrong_password_is_temporary_and_not_retried(tmp_path: Path) -> None:
    """535 blames the account, not the recipients: every message stays "temporary"
    (to be retried once the password is fixed), none "permanent", and no retry now."""
    ca = Authority(tmp_path)
    messages = [_mail().message(r) for r in _recipients(3)]
    with serve(Recorder(), tls=ca, starttls=True, users={"digest": "s3cret"}) as server:
        settings = SMTPSettings(
            server.host, server.port, username="digest", password="wrong", ca_file=ca.ca_file
        )
        t0 = time.monotonic()
        results = _run(SMTPTransport(replace(settings, backoff=5, connections=1)), messages)
        assert time.monotonic() - t0 < 3
    assert [r.status for r in results] == ["temporary"] * 3
    assert "535" in (results[0].error or "")
    assert "login" in (results[0].error or "")
    assert server.handler.sessions <= 2  # EHLO before and after STARTTLS, one connection


def test_untrusted_certificate_fails_fast(tmp_path: Path) -> None:
    ca = Authority(tmp_path)
    with serve(Recorder(), tls=ca, starttls=True) as server:
        settings = SMTPSettings(server.host, server.port, backoff=5, timeout=5)
        t0 = time.monotonic()
        results = _run(SMTPTransport(settings), [_mail().message(_recipients(1)[0])])
        assert time.monotonic() - t0 < 3
    assert results[0].status == "temporary"
    assert "TLS" in (results[0].error or "")


def test_implicit_tls(tmp_path: Path) -> None:
    ca = Authority(tmp_path)
    with serve(Recorder(), tls=ca, implicit=True) as server:
        settings = SMTPSettings(server.host, server.port, security="tls", ca_file=ca.ca_file)
        results = _run(SMTPTransport(settings), [_mail().message(_recipients(1)[0])])
    assert results[0].status == "sent"
    assert server.handler.received[0].tls


def test_transient_failures_are_retried_then_temporary() -> None:
    handler = Recorder()
    handler.fail("user1@example.net", "421 4.3.2 Service shutting down")
    handler.fail("user2@example.net", "450 4.2.1 Mailbox busy")
    handler.fail("user3@example.net", "451 4.3.0 Try again", at="DATA", times=2)
    messages = [_mail().message(r) for r in _recipients(5)]
    with serve(handler) as server:
        results = _by_id(_run(_plain(server.port, retries=2, connections=2), messages))
    assert {k: r.status for k, r in results.items()} == {
        100: "sent",
        101: "temporary",
        102: "temporary",
        103: "sent",
        104: "sent",
    }
    assert "421 4.3.2 Service shutting down" in (results[101].error or "")
    assert "tried 3 times" in (results[102].error or "")
    assert handler.rcpt_attempts["user1@example.net"] == 3  # 1 + 2 retries
    assert handler.rcpt_attempts["user2@example.net"] == 3
    assert handler.data_attempts["user3@example.net"] == 3
    assert [len(handler.to(f"user{i}@example.net")) for i in range(5)] == [1, 0, 0, 1, 1]


def test_permanent_failures_are_not_retried() -> None:
    handler = Recorder()
    handler.fail("user0@example.net", "550 5.1.1 No such user")
    handler.fail("user1@example.net", "553 5.1.3 Bad address")
    handler.fail("user2@example.net", "554 5.7.1 Rejected", at="DATA")
    messages = [_mail().message(r) for r in _recipients(4)]
    with serve(handler) as server:
        results = _by_id(_run(_plain(server.port, backoff=5), messages))
    assert [results[100 + i].status for i in range(4)] == ["permanent"] * 3 + ["sent"]
    assert results[100].error == "550 5.1.1 No such user"
    assert handler.rcpt_attempts["user0@example.net"] == 1
    assert handler.rcpt_attempts["user1@example.net"] == 1
    assert handler.data_attempts["user2@example.net"] == 1


def test_dropped_connection_mid_data_is_retried_on_a_new_one() -> None:
    handler = Recorder()
    handler.fail("user1@example.net", DROP, at="DATA", times=1)
    messages = [_mail().message(r) for r in _recipients(4)]
    with serve(handler) as server:
        results = _by_id(_run(_plain(server.port, connections=1), messages))
    assert [results[100 + i].status for i in range(4)] == ["sent"] * 4
    assert handler.data_attempts["user1@example.net"] == 2
    assert [len(handler.to(f"user{i}@example.net")) for i in range(4)] == [1, 1, 1, 1]
    assert handler.sessions == 2


def test_server_down_fails_everything_quickly() -> None:
    with socket.socket() as s:  # bound, not listening: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        messages = [_mail().message(r) for r in _recipients(6)]
        t0 = time.monotonic()
        results = _by_id(_run(_plain(port, connections=3, retries=2), messages))
        assert time.monotonic() - t0 < 2
    assert {r.status for r in results.values()} == {"temporary"}
    assert len(results) == 6
    assert f"cannot connect to 127.0.0.1:{port}" in (results[100].error or "")


def test_mute_server_times_out() -> None:
    with socket.socket() as s:  # listening, never answering: the greeting times out
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        t0 = time.monotonic()
        transport = _plain(s.getsockname()[1], timeout=0.3, retries=1, connections=2)
        results = _run(transport, [_mail().message(r) for r in _recipients(3)])
        assert time.monotonic() - t0 < 2
    assert [r.status for r in results] == ["temporary"] * 3


def test_rate_limit_and_lazy_messages() -> None:
    mail = _mail()
    built: list[int] = []

    def lazily() -> Iterator[Outgoing]:
        for r in _recipients(6):
            built.append(r.delivery_id)
            yield mail.message(r)

    with serve(Sink()) as server:
        t0 = time.monotonic()
        results = _run(_plain(server.port, rate=20.0, connections=3), lazily())
        elapsed = time.monotonic() - t0
    assert [r.status for r in results] == ["sent"] * 6
    assert elapsed >= 5 / 20
    assert built == list(range(100, 106))
    assert server.handler.count == 6


def test_on_result_raising_stops_the_send() -> None:
    def on_result(r: SendResult) -> None:
        raise RuntimeError("store is gone")

    with serve(Recorder()) as server:
        messages = [_mail().message(r) for r in _recipients(5)]
        with pytest.raises(RuntimeError, match="store is gone"):
            asyncio.run(_plain(server.port, connections=1).send(messages, on_result))
        # One connection sends one message at a time: the first was accepted, its result
        # raised, and the send ended there; none of the other four reached the server.
        assert [m.rcpt_tos for m in server.handler.received] == [[messages[0].recipient]]


def test_nothing_to_send_opens_no_connection() -> None:
    with serve(Recorder()) as server:
        assert _run(_plain(server.port), []) == []
        assert server.handler.sessions == 0


# -- the web's confirmation mails: the same builder ------------------------------------


def test_confirmation_mail_is_built_like_a_digest() -> None:
    from digest.render import confirmation_mail, environment

    settings = replace(SETTINGS, sender="Revue Ärzte <revue@example.org>")
    out = confirmation_mail(
        environment(),
        settings,
        kind="confirm",
        to="ada@example.net\r\nBcc: spy@example.com",
        subscriber_id=5,
        titles=["Scaling laws", "Größe"],
        link="https://digest.example.org/confirm/TOKEN",
        days=3,
        home="https://digest.example.org/",
        now=NOW,
    )
    assert out.data.isascii()
    assert b"\n" not in out.data.replace(b"\r\n", b"")
    assert max(len(line) for line in out.data.split(b"\r\n")) <= 78
    msg = _parse(out.data)
    assert not msg.defects
    assert "bcc" not in {k.lower() for k in msg}
    assert b"\r\nTo: ada@example.net  Bcc: spy@example.com\r\n" in out.data  # one line, inert
    assert msg["Subject"] == "Confirm your subscription to Revue Ärzte"
    assert msg["From"].addresses[0].display_name == "Revue Ärzte"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert re.fullmatch(r"<confirm-5\.[0-9a-f]{16}@example\.org>", msg["Message-ID"])
    assert out.message_id == msg["Message-ID"]
    assert out.sender == "revue@example.org"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    text, html = _body(msg, "plain"), _body(msg, "html")
    assert "https://digest.example.org/confirm/TOKEN" in text
    assert 'href="https://digest.example.org/confirm/TOKEN"' in html
    assert "within 3 days" in text
    assert "Größe" in text
    assert "Größe" in html
