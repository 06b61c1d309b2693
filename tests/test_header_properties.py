"""Property tests (hypothesis) of the header sanitiser, `render.header_value`, and of
the headers of a real digest mail built from hostile text: no CR, LF or other
control character reaches a header, sanitising twice changes nothing, and ordinary
text is kept as it is."""

from __future__ import annotations

import email
import email.policy
import unicodedata
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from digest.models import Candidate, Digest, Pick, Profile
from digest.render import DigestMail, Recipient, Renderer, header_value
from digest.settings import EmailSettings

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
# Bidirectional controls can reorder what a mail client shows (a spoofed Subject).
BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
HOSTILE = ["a\r\nBcc: x@y.org", "\x00\x1b[31m", "x\x85y\u2028z\u2029", "\u202eevil", "\t\v\f"]
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=200)  # lone surrogates aside
ORDINARY = st.text(st.characters(categories=("L", "M", "N", "P", "S")), min_size=1).map(
    lambda s: " ".join(s.split())
)


def _bad(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in BIDI


def _one_clean_line(value: str) -> bool:
    return not any(_bad(c) for c in value) and len(value.splitlines()) <= 1


@given(ANY_TEXT)
@example("a\r\nb\x00c\x85d\u2028e")
@example("\u202egnp.exe")
def test_no_control_character_survives(text: str) -> None:
    assert _one_clean_line(header_value(text))


@given(ANY_TEXT)
def test_sanitising_twice_changes_nothing(text: str) -> None:
    once = header_value(text)
    assert header_value(once) == once


@given(ORDINARY.filter(bool))
@example("Scaling laws & training dynamics: 12 new papers, 2026-11-23")
@example("Größe — 日本語 (ünïcödé) <no@tags>")
def test_ordinary_text_is_kept(text: str) -> None:
    assert header_value(text) == text


def _mail(title: str, name: str, to: str, token: str) -> bytes:
    profile = Profile(name=name or "p", title=title)
    cand = Candidate(
        item_id=1,
        key="arxiv:2611.00001",
        title=title or "t",
        summary="s",
        authors=("A",),
        url="https://arxiv.org/abs/2611.00001",
        first_seen=NOW,
    )
    digest = Digest(profile, (Pick(cand, 1.0, ()),), NOW, id=1)
    renderer = Renderer()
    cfg = EmailSettings(sender="Digest <d@example.org>", domain="example.org")
    mail = DigestMail(digest, renderer.prepare(digest), renderer, cfg, now=NOW)
    return mail.message(Recipient(1, 2, to, token)).data


@settings(max_examples=60, deadline=None)
@given(
    title=st.one_of(st.sampled_from(HOSTILE), ANY_TEXT),
    name=st.one_of(st.sampled_from(HOSTILE), ANY_TEXT),
    to=st.sampled_from(["r@example.net", "r@example.net\r\nBcc: spy@example.com"]),
    token=st.sampled_from(["tok", "t\r\nX-Token: 1"]),
)
def test_hostile_text_adds_no_header_to_a_digest_mail(
    title: str, name: str, to: str, token: str
) -> None:
    data = _mail(title, name, to, token)
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")  # headers are ASCII (RFC 2047)
    names = [line.split(":", 1)[0] for line in head.split("\r\n") if not line[:1].isspace()]
    assert names == [
        "From",
        "To",
        "Subject",
        "Date",
        "MIME-Version",
        "List-Id",
        "List-Unsubscribe-Post",
        "Precedence",
        "Message-ID",
        "List-Unsubscribe",
        "Content-Type",
    ]
    msg = email.message_from_bytes(data, policy=email.policy.default)
    for header in ("Subject", "List-Id", "To"):
        assert _one_clean_line(str(msg[header])), (header, msg[header])
    assert str(msg["Subject"]).startswith(header_value(title or name or "p")[:20].strip())
