"""The web side over HTTP: subscribe (double opt-in), confirm, one-click unsubscribe,
feeds and archive with conditional GET, and the defences (CSRF, rate limits,
enumeration, forged tokens, path traversal). In-process through Starlette's
TestClient, plus one test against a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
import re
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from digest.deliver.transport import SendResult
from digest.errors import DigestError, StoreError
from digest.models import Profile
from digest.render import Outgoing
from digest.settings import EmailSettings, Settings, WebSettings
from digest.store import Store
from digest.tokens import make_token
from digest.web import WebServer, create_app
from digest.web.security import RateLimiter
from digest.web.urls import unsubscribe_route

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
KEY = "test-secret-key-0123456789abcdef"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ONE_CLICK = {"content-type": "application/x-www-form-urlencoded"}


class Recording:
    """A transport that keeps every message and reports it sent."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(
        self, messages: Iterable[Outgoing], on_result: Callable[[SendResult], None]
    ) -> None:
        for m in messages:
            self.sent.append(m)
            on_result(SendResult(m.delivery_id, "sent"))

    def to(self, address: str) -> list[EmailMessage]:
        return [
            cast(EmailMessage, message_from_bytes(m.data, policy=policy.default))
            for m in self.sent
            if m.recipient == address
        ]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Site:
    def __init__(
        self, tmp: Path, monkeypatch: pytest.MonkeyPatch, store_url: str = "", **email: Any
    ) -> None:
        monkeypatch.setenv("DIGEST_SECRET_KEY", KEY)
        self.settings = Settings(
            store_url=store_url or f"sqlite:///{tmp / 'web.db'}",
            profiles_dir=ROOT / "config" / "profiles",
            web=WebSettings(output_dir=tmp / "out", site_url="https://papers.example.org/"),
            email=EmailSettings(
                **{
                    "sender": "Paper digest <digest@example.org>",
                    "domain": "example.org",
                    "unsubscribe_url": "https://papers.example.org/unsubscribe/{token}",
                    "outbox": tmp / "outbox",
                    **email,
                }
            ),
        )
        self.store = Store.open(self.settings.store_url)
        self.clock = Clock()
        self.mail = Recording()
        self.app = create_app(self.settings, self.store, now=self.clock, transport=self.mail)
        self.client = self.new_client()

    def new_client(self, ip: str = "203.0.113.7") -> TestClient:
        return TestClient(self.app, base_url="https://papers.example.org", client=(ip, 50000))

    def subscribe(
        self, email: str, profiles: Sequence[str] = ("scaling",), client: TestClient | None = None
    ) -> httpx.Response:
        c = client or self.client
        data = {"csrf": csrf(c.get("/").text), "email": email, "profile": profiles}
        return c.post("/subscribe", data=data)

    def token(self, email: str, purpose: str = "unsubscribe", **kw: Any) -> str:
        sub = self.store.subscriber(email)
        assert sub is not None
        kw.setdefault("generation", sub.generation)  # as a mail sent now carries
        return make_token(KEY.encode(), purpose, sub.id, sub.secret, **kw)

    def status(self, email: str) -> str | None:
        sub = self.store.subscriber(email)
        return sub.status if sub else None

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.store.close()


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with Site(tmp_path, monkeypatch) as s:
        yield s


def csrf(page: str) -> str:
    """The CSRF token of the page's form."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return found[1]


def tamper(token: str) -> str:
    """The token with one signature character changed (not the last one: its low
    bits are base64 padding, which decoding ignores)."""
    return token[:40] + ("A" if token[40] != "A" else "B") + token[41:]


def link_in(msg: EmailMessage, pattern: str) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(pattern + r"\S+", body.get_content())
    assert found, body.get_content()
    return found[0]


# -- subscribe, confirm --------------------------------------------------------------


def test_index_lists_profiles_with_a_form_and_security_headers(site: Site) -> None:
    r = site.client.get("/")
    assert r.status_code == 200
    assert '<html lang="en">' in r.text
    assert "Scaling laws and training dynamics" in r.text
    assert "Papers on scaling law, compute-optimal" in r.text
    assert '<label class="label" for="email">Email address</label>' in r.text
    assert r.text.count('type="checkbox"') == 2
    assert "<script" not in r.text
    assert "lab@example.org" not in r.text  # fixed recipients stay private
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" in cookie


def test_subscribe_sends_a_confirmation_and_confirm_activates(site: Site) -> None:
    r = site.subscribe("ada@example.org", ["scaling", "diffusion"])
    assert r.status_code == 200
    assert "Check your inbox" in r.text
    sub = site.store.subscriber("ada@example.org")
    assert sub is not None
    assert sub.status == "pending"
    assert sub.pending == ("diffusion", "scaling")
    assert sub.profiles == ()  # nothing is received before it is confirmed
    (msg,) = site.mail.to("ada@example.org")
    assert msg["From"] == "Paper digest <digest@example.org>"
    assert msg["Subject"] == "Confirm your subscription to Paper digest"
    assert msg["Message-ID"].endswith("@example.org>")
    assert msg.get_body(preferencelist=("html",)) is not None
    link = link_in(msg, re.escape("https://papers.example.org/confirm/"))

    first = site.client.get(link)
    assert first.status_code == 200
    assert "Subscription confirmed" in first.text
    assert "Diffusion models and generative media" in first.text
    sub = site.store.subscriber("ada@example.org")
    assert sub is not None
    assert sub.status == "active"
    assert sub.confirmed_at is not None

    again = site.client.get(link)  # a second click is harmless
    assert again.status_code == 200
    assert "Already confirmed" in again.text
    assert site.status("ada@example.org") == "active"


def test_an_old_confirm_link_cannot_undo_an_unsubscribe(site: Site) -> None:
    site.subscribe("bea@example.org", ["scaling"])
    (msg,) = site.mail.to("bea@example.org")
    link = link_in(msg, re.escape("https://papers.example.org/confirm/"))
    assert site.client.get(link).status_code == 200
    sub = site.store.subscriber("bea@example.org")
    assert sub is not None
    site.store.set_subscriber_status(sub.id, "unsubscribed", site.clock())
    stale = site.client.get(link)  # still within its 3 days
    assert stale.status_code == 400
    assert "no longer valid" in stale.text
    assert site.status("bea@example.org") == "unsubscribed"


def test_expired_and_forged_confirmation_links(site: Site) -> None:
    site.subscribe("bob@example.org")
    link = link_in(site.mail.to("bob@example.org")[0], "https://papers.example.org/confirm/")
    path = link.removeprefix("https://papers.example.org")
    token = path.rsplit("/", 1)[1]

    forged = [
        tamper(token),  # one character of the signature changed
        "A" * len(token),  # well formed, nobody's
        "not-a-token",
        site.token("bob@example.org", "unsubscribe"),  # right subscriber, wrong purpose
    ]
    for bad in forged:
        r = site.client.get(f"/confirm/{bad}")
        assert r.status_code == 400, bad
        assert "This link is not valid" in r.text
    assert site.status("bob@example.org") == "pending"

    site.clock.now = T0 + timedelta(days=3, seconds=1)
    r = site.client.get(path)
    assert r.status_code == 400
    assert "This link has expired" in r.text
    assert site.status("bob@example.org") == "pending"


def test_invalid_form_is_answered_with_the_form_and_errors(site: Site) -> None:
    for email, profiles, error in [
        ("not an address", ["scaling"], "Enter an email address"),
        ("a@example.org\r\nBcc: evil@example.org", ["scaling"], "Enter an email address"),
        ("a@example.org", [], "Choose at least one digest"),
        ("a@example.org", ["no-such-profile"], "Choose at least one digest"),
    ]:
        r = site.subscribe(email, profiles, client=site.new_client(f"198.51.100.{len(email)}"))
        assert r.status_code == 400
        assert error in r.text
        assert 'role="alert"' in r.text
    assert site.mail.sent == []
    assert site.store.subscribers() == []


def test_enumeration_safe_answers(site: Site) -> None:
    now = T0
    site.store.add_subscriber("pending@example.org", ["scaling"], now=now, status="pending")
    site.store.add_subscriber("active@example.org", ["scaling", "diffusion"], now=now)
    gone = site.store.add_subscriber("gone@example.org", ["scaling"], now=now, status="active")
    site.store.set_subscriber_status(gone.id, "unsubscribed", now)

    answers = []
    for n, email in enumerate(
        ["new@example.org", "pending@example.org", "active@example.org", "gone@example.org"]
    ):
        r = site.subscribe(email, ["scaling", "diffusion"], client=site.new_client(f"192.0.2.{n}"))
        headers = {k: v for k, v in r.headers.items() if k != "date"}
        answers.append((r.status_code, headers, r.content))
    assert all(a == answers[0] for a in answers), "the answer tells addresses apart"
    assert answers[0][0] == 200

    # Behind that one answer: a confirmation for everyone not active...
    for email in ["new@example.org", "pending@example.org", "gone@example.org"]:
        (msg,) = site.mail.to(email)
        assert msg["Subject"].startswith("Confirm your subscription")
    # ...the active one is told so, and nothing about them changes.
    (msg,) = site.mail.to("active@example.org")
    assert msg["Subject"].startswith("You are already subscribed")
    assert "/unsubscribe/" in link_in(msg, "https://papers.example.org/unsubscribe/")
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None  # the way to change them is the manage link, not leaving
    text = " ".join(body.get_content().split())
    assert 'open "Manage your subscriptions" at the end of any digest' in text
    active = site.store.subscriber("active@example.org")
    assert active is not None
    assert active.status == "active"
    assert active.profiles == ("diffusion", "scaling")
    assert site.status("pending@example.org") == "pending"
    # An unsubscribed address is pending again: only the new link activates it.
    assert site.status("gone@example.org") == "pending"
    link = link_in(site.mail.to("gone@example.org")[0], "https://papers.example.org/confirm/")
    assert site.client.get(link).status_code == 200
    assert site.status("gone@example.org") == "active"


def test_rate_limits_per_ip_and_per_address(site: Site) -> None:
    client = site.new_client("198.51.100.1")
    codes = [site.subscribe(f"u{n}@example.org", client=client).status_code for n in range(6)]
    assert codes == [200] * 5 + [429]
    r = site.subscribe("u9@example.org", client=client)
    assert r.status_code == 429
    assert "Too many requests" in r.text
    assert int(r.headers["retry-after"]) >= 1
    assert len(site.mail.sent) == 5

    # One address, asked for from many places: three an hour.
    clients = [site.new_client(f"198.51.100.{10 + n}") for n in range(4)]
    codes = [site.subscribe("target@example.org", client=c).status_code for c in clients]
    assert codes == [200, 200, 200, 429]
    assert len(site.mail.to("target@example.org")) == 3


def test_rate_limiter_refills() -> None:
    t = [0.0]
    limit = RateLimiter(3, 3600, clock=lambda: t[0])
    assert [limit.take("k") for _ in range(3)] == [0, 0, 0]
    assert limit.take("k") == pytest.approx(1200)
    t[0] = 1200
    assert limit.take("k") == 0
    assert limit.take("other") == 0


def test_csrf_is_required(site: Site) -> None:
    fresh = site.new_client("198.51.100.50")
    r = fresh.post("/subscribe", data={"email": "c@example.org", "profile": "scaling"})
    assert r.status_code == 403  # no cookie, no token
    fresh.get("/")  # has a cookie now
    r = fresh.post("/subscribe", data={"email": "c@example.org", "profile": "scaling"})
    assert r.status_code == 403  # cookie, but no token
    other = site.new_client("198.51.100.51")
    data = {"csrf": csrf(other.get("/").text), "email": "c@example.org", "profile": "scaling"}
    r = fresh.post("/subscribe", data=data)
    assert r.status_code == 403  # someone else's token
    assert "This form has expired" in r.text
    assert site.mail.sent == []
    assert site.store.subscribers() == []
    assert other.post("/subscribe", data=data).status_code == 200  # its own cookie: fine


# -- unsubscribe ---------------------------------------------------------------------


def _active_with_a_queued_digest(site: Site, email: str) -> None:
    site.store.add_subscriber(email, ["scaling"], now=T0, status="active")
    profile = Profile(name="scaling", title="Scaling", send_empty=True)
    site.store.record_digest(profile, [], upto_item_id=0, now=T0)
    assert len(site.store.due_deliveries(T0)) == 1


def test_one_click_unsubscribe(site: Site) -> None:
    _active_with_a_queued_digest(site, "dan@example.org")
    token = site.token("dan@example.org")
    mailer = site.new_client("192.0.2.99")  # a mail client: no cookies, no CSRF token
    assert not mailer.cookies
    r = mailer.post(
        f"/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers=ONE_CLICK,
    )
    assert r.status_code == 200
    assert "You are unsubscribed" in r.text
    assert site.status("dan@example.org") == "unsubscribed"
    assert site.store.due_deliveries(T0 + timedelta(days=1)) == []  # queued digest cancelled
    (row,) = site.store.ledger()
    assert row.status == "failed-permanent"

    replay = mailer.post(
        f"/unsubscribe/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers=ONE_CLICK,
    )
    assert replay.status_code == 200
    assert "You are unsubscribed" in replay.text
    page = site.client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert "You are unsubscribed" in page.text


def test_unsubscribe_page_needs_the_button(site: Site) -> None:
    site.store.add_subscriber("eve@example.org", ["scaling"], now=T0, status="active")
    token = site.token("eve@example.org")
    page = site.client.get(f"/unsubscribe/{token}")
    assert page.status_code == 200
    assert site.status("eve@example.org") == "active"  # a GET (a link scanner) changes nothing
    assert '<form class="form" method="post">' in page.text
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert "eve@example.org" in page.text
    r = site.client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert site.status("eve@example.org") == "unsubscribed"


def test_forged_unsubscribe_tokens(site: Site) -> None:
    site.store.add_subscriber("fay@example.org", ["scaling"], now=T0, status="active")
    good = site.token("fay@example.org")
    for bad in [
        tamper(good),
        site.token("fay@example.org", "confirm"),
        make_token(b"another-key-0123456789abcdef", "unsubscribe", 1, "secret"),
        "x" * 66,
        "short",
    ]:
        assert site.client.get(f"/unsubscribe/{bad}").status_code == 400
        r = site.client.post(f"/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click")
        assert r.status_code == 400
        assert "This link is not valid" in r.text
    assert site.status("fay@example.org") == "active"


def test_unsubscribe_route_follows_the_configured_url() -> None:
    def route(url: str, site_url: str = "https://x.org/") -> tuple[str, str | None]:
        email = EmailSettings(unsubscribe_url=url)
        return unsubscribe_route(Settings(web=WebSettings(site_url=site_url), email=email))

    assert route("http://localhost:8000/unsubscribe/{token}") == ("/unsubscribe/{token}", None)
    assert route("https://x.org/u/{token}") == ("/u/{token}", None)
    assert route("https://x.org/papers/u/{token}", "https://x.org/papers/") == ("/u/{token}", None)
    assert route("https://x.org/leave?t={token}&x=1") == ("/leave", "t")
    with pytest.raises(DigestError):
        route("https://x.org/?t={token}")


def test_unsubscribe_token_in_the_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = Site(tmp_path, monkeypatch, unsubscribe_url="https://papers.example.org/leave?t={token}")
    site.store.add_subscriber("gil@example.org", ["scaling"], now=T0, status="active")
    token = site.token("gil@example.org")
    assert site.client.get(f"/leave?t={token}").status_code == 200
    r = site.client.post(f"/leave?t={token}", content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 200
    assert site.status("gil@example.org") == "unsubscribed"
    assert site.client.post("/leave?t=forged").status_code == 400


# -- feeds, archive, health ----------------------------------------------------------


def _publish(site: Site) -> Path:
    base = site.settings.web.output_dir / "archive" / "scaling"
    base.mkdir(parents=True)
    (base / "feed.xml").write_text("<rss version='2.0'><channel/></rss>")
    (base / "feed.atom").write_text("<feed xmlns='http://www.w3.org/2005/Atom'/>")
    (base / "index.html").write_text("<!DOCTYPE html><title>archive</title>")
    (site.settings.web.output_dir / "secret.txt").write_text("do not serve")
    old = time.time() - 3600
    for f in base.iterdir():
        os.utime(f, (old, old))
    return base


def test_feeds_answer_conditional_requests(site: Site) -> None:
    base = _publish(site)
    for path, kind in [("/feeds/scaling.xml", "rss"), ("/feeds/scaling.atom", "atom")]:
        r = site.client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(f"application/{kind}+xml")
        etag, modified = r.headers["etag"], r.headers["last-modified"]
        assert r.headers["x-content-type-options"] == "nosniff"

        r = site.client.get(path, headers={"If-None-Match": etag})
        assert r.status_code == 304
        assert r.content == b""
        assert r.headers["etag"] == etag
        r = site.client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
        assert r.status_code == 304
        r = site.client.get(path, headers={"If-Modified-Since": modified})
        assert r.status_code == 304
        earlier = formatdate(time.time() - 7200, usegmt=True)
        assert site.client.get(path, headers={"If-Modified-Since": earlier}).status_code == 200
        # If-None-Match decides alone when both are sent.
        both = {"If-None-Match": '"stale"', "If-Modified-Since": modified}
        assert site.client.get(path, headers=both).status_code == 200

    (base / "feed.xml").write_text("<rss version='2.0'><channel><title>new</title></channel></rss>")
    r = site.client.get("/feeds/scaling.xml", headers={"If-None-Match": etag})
    assert r.status_code == 200
    assert b"new" in r.content


def test_archive_is_served_with_conditional_get(site: Site) -> None:
    _publish(site)
    r = site.client.get("/archive/scaling/")
    assert r.status_code == 200
    assert "archive" in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    r = site.client.get("/archive/scaling/", headers={"If-None-Match": r.headers["etag"]})
    assert r.status_code == 304
    r = site.client.get("/archive/scaling/feed.xml")
    assert r.status_code == 200
    r2 = site.client.get(
        "/archive/scaling/feed.xml", headers={"If-Modified-Since": r.headers["last-modified"]}
    )
    assert r2.status_code == 304


def test_nothing_published_yet_is_404_not_500(site: Site) -> None:
    assert site.client.get("/archive/scaling/").status_code == 404
    assert site.client.get("/feeds/scaling.xml").status_code == 404


def test_path_traversal_is_404(site: Site) -> None:
    base = _publish(site)
    (base / "link.xml").symlink_to(site.settings.web.output_dir / "secret.txt")
    for path in [
        "/feeds/unknown.xml",
        "/feeds/scaling.json",
        "/feeds/scaling",
        "/feeds/..%2Fsecret.xml",
        "/feeds/%2e%2e.xml",
        "/feeds/..%2F..%2F..%2Fetc%2Fpasswd.xml",
        "/archive/%2e%2e/secret.txt",
        "/archive/..%2fsecret.txt",
        "/archive/scaling/%2e%2e/%2e%2e/secret.txt",
        "/archive/scaling/link.xml",
        "/archive/%2Fetc%2Fpasswd",
    ]:
        r = site.client.get(path)
        assert r.status_code == 404, path
        assert b"do not serve" not in r.content
        assert b"root:" not in r.content


def test_healthz(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    r = site.client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["store"] == "ok"

    def broken() -> int:
        raise StoreError("store error: disk I/O error")

    monkeypatch.setattr(site.store, "schema_version", broken)
    r = site.client.get("/healthz")
    assert r.status_code == 503
    assert r.json() == {"status": "error", "store": "unavailable"}


def test_header_values_from_settings_cannot_add_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(tmp_path, monkeypatch)
    evil = replace(site.settings.email, sender="Digest <d@example.org>\r\nBcc: evil@example.org")
    site.settings = replace(site.settings, email=evil)
    site.app = create_app(site.settings, site.store, now=site.clock, transport=site.mail)
    site.client = site.new_client()
    assert site.subscribe("hal@example.org").status_code == 200
    (msg,) = site.mail.to("hal@example.org")
    assert msg["Bcc"] is None
    assert b"\r\nBcc:" not in site.mail.sent[0].data


# -- a real server -------------------------------------------------------------------


def test_real_uvicorn_server(site: Site) -> None:
    _publish(site)
    server = WebServer(site.app, host="127.0.0.1", port=0)
    server.start()
    try:
        assert server.port > 0
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            assert client.get("/healthz").json()["status"] == "ok"
            r = client.get("/feeds/scaling.xml")
            assert r.status_code == 200
            again = client.get("/feeds/scaling.xml", headers={"If-None-Match": r.headers["etag"]})
            assert again.status_code == 304
            page = client.get("/")
            assert page.status_code == 200
            assert "Subscribe" in page.text
        # Raw dot segments, which HTTP clients would normalise away.
        for raw in [
            "/archive/../secret.txt",
            "/archive/scaling/../../secret.txt",
            "/feeds/../secret.txt",
        ]:
            with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
                sock.sendall(f"GET {raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            assert data.startswith(b"HTTP/1.1 404"), (raw, data[:100])
            assert b"do not serve" not in data
    finally:
        server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_web_server_reports_a_taken_port(site: Site) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = WebServer(site.app, port=busy.getsockname()[1])
        with pytest.raises(DigestError):
            server.start()
        server.stop()
