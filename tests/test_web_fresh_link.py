"""Issue 13: a confirm, manage or unsubscribe link that expired or was superseded
lands on a page that offers to mail a fresh manage link. Through the web app, a
real SQLite store and a real SMTP server (aiosmtpd): the known address gets the
link, an unknown one gets the same answer and no mail, and the form is
rate-limited with the subscribe form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from digest import service
from digest.settings import SMTPSettings
from digest.web import create_app
from tests.smtpserver import Recorder, serve
from tests.test_web import KEY, T0, Site, csrf, tamper
from tests.test_web_browser import text_of, wait_for_mail

ANN = "Ann@example.org"


@dataclass
class Stack:
    site: Site
    smtp: Recorder
    app: Starlette  # no transport given: mail goes to the configured SMTP server

    def client(self, ip: str = "203.0.113.9") -> TestClient:
        return TestClient(self.app, base_url="https://papers.example.org", client=(ip, 50000))


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    recorder = Recorder()
    with serve(recorder) as server:
        smtp = SMTPSettings(host=server.host, port=server.port, security="plain", timeout=10)
        with Site(tmp_path, monkeypatch, smtp=smtp) as site:
            service.add(site.settings, site.store, ANN, ["scaling"], T0)
            yield Stack(site, recorder, create_app(site.settings, site.store, now=site.clock))


def ask(client: TestClient, page: str, email: str) -> tuple[int, str]:
    """Send the page's "fresh link" form for `email`: (status, answer)."""
    r = client.post("/fresh-link", data={"csrf": csrf(page), "email": email})
    return r.status_code, r.text


def test_an_expired_manage_link_offers_a_fresh_one_that_works(stack: Stack) -> None:
    site, client = stack.site, stack.client()
    sub = site.store.subscriber(ANN)
    assert sub is not None
    old = service.manage_token(KEY.encode(), sub, T0)
    site.clock.now = T0 + service.MANAGE_FOR + timedelta(minutes=1)
    page = client.get(f"/manage/{old}")
    assert page.status_code == 400
    assert "This link has expired" in page.text
    assert '<form class="form" method="post" action="../fresh-link">' in page.text
    assert "Send me a fresh link" in page.text
    assert "<script" not in page.text
    status, answer = ask(client, page.text, "ANN@example.org")  # any case: one address
    assert status == 200
    assert "Check your inbox" in answer
    (mail,) = wait_for_mail(stack.smtp, ANN, 1)
    assert mail["Subject"] == "Manage your subscriptions to Paper digest"
    assert mail["To"] == ANN
    link = re.search(r"https://papers\.example\.org/(manage/\S+)", text_of(mail))
    assert link is not None
    assert link[1] in text_of(mail, "html")
    fresh = client.get("/" + link[1])
    assert fresh.status_code == 200
    assert ANN in fresh.text
    assert "Scaling laws and training dynamics" in fresh.text
    assert site.status(ANN) == "active"  # asking for a link changes nothing


def test_an_unknown_address_gets_the_same_answer_and_no_mail(stack: Stack) -> None:
    site, client = stack.site, stack.client()
    page = client.get(f"/manage/{tamper(site.token(ANN, 'manage'))}").text
    assert "This link is not valid" in page
    known = ask(client, page, ANN)
    unknown = ask(client, page, "nobody@example.org")
    assert known == unknown  # byte for byte: nothing tells the two apart
    wait_for_mail(stack.smtp, ANN, 1)
    assert [r.rcpt_tos for r in stack.smtp.received] == [[ANN]]
    assert site.store.subscriber("nobody@example.org") is None  # and nothing is stored


def test_outdated_confirm_and_unsubscribe_links_offer_the_form_too(stack: Stack) -> None:
    site, client = stack.site, stack.client()
    confirm = site.token(ANN, "confirm", expires=T0 + timedelta(days=3))
    unsubscribe = site.token(ANN, "unsubscribe", profile="scaling")
    service.add(site.settings, site.store, ANN, ["diffusion"], T0)  # a change: superseded
    for path in (f"/confirm/{confirm}", f"/unsubscribe/{tamper(unsubscribe)}"):
        page = client.get(path)
        assert page.status_code == 400, path
        assert "Send me a fresh link" in page.text, path
    stale = client.get(f"/confirm/{confirm}").text
    assert "This link is no longer valid" in stale
    assert ask(client, stale, ANN)[0] == 200
    (mail,) = wait_for_mail(stack.smtp, ANN, 1)
    assert "/manage/" in text_of(mail)


def test_a_bounced_address_is_not_mailed(stack: Stack) -> None:
    site, client = stack.site, stack.client()
    sub = site.store.subscriber(ANN)
    assert sub is not None
    site.store.set_subscriber_status(sub.id, "bounced", T0, cause="bounce")
    page = client.get(f"/manage/{tamper(site.token(ANN, 'manage'))}").text
    assert ask(client, page, ANN)[0] == 200
    assert stack.smtp.received == []


def test_the_form_is_rate_limited_with_the_subscribe_form(stack: Stack) -> None:
    site = stack.site
    bad = f"/manage/{tamper(site.token(ANN, 'manage'))}"
    first = stack.client("198.51.100.1")
    assert site.subscribe(ANN, client=first).status_code == 200  # one of the address's 3
    for n in range(3):  # each from a new client: the address's limit, not the IP's
        client = stack.client(f"198.51.100.{n + 2}")
        status, answer = ask(client, client.get(bad).text, ANN)
        assert status == (200 if n < 2 else 429), (n, answer)
    assert "Too many requests" in answer
    wait_for_mail(stack.smtp, ANN, 3)  # the "already subscribed" mail and two links
    one = stack.client("198.51.100.99")
    page = one.get(bad).text
    statuses = [ask(one, page, f"x{n}@example.org")[0] for n in range(6)]
    assert statuses == [200] * 5 + [429]  # and the IP's limit


def test_the_form_needs_its_csrf_cookie(stack: Stack) -> None:
    client = stack.client()
    r = client.post("/fresh-link", data={"csrf": "forged", "email": ANN})
    assert r.status_code == 403
    assert stack.smtp.received == []


def test_an_expired_confirmation_can_still_be_completed_with_the_fresh_link(stack: Stack) -> None:
    """The usual way here: the confirmation mail sat unread for more than 3 days."""
    site, client = stack.site, stack.client()
    site.subscribe("pen@example.org", ["scaling"], client=client)
    (confirm,) = wait_for_mail(stack.smtp, "pen@example.org", 1)
    link = re.search(r"https://papers\.example\.org/(confirm/\S+)", text_of(confirm))
    assert link is not None
    site.clock.now = T0 + timedelta(days=4)
    page = client.get("/" + link[1])
    assert "This link has expired" in page.text
    assert ask(client, page.text, "pen@example.org")[0] == 200
    fresh = wait_for_mail(stack.smtp, "pen@example.org", 2)[1]
    manage = re.search(r"https://papers\.example\.org/(manage/\S+)", text_of(fresh))
    assert manage is not None
    assert site.status("pen@example.org") == "pending"
    done = client.post("/" + manage[1], data={"profile": ["scaling"]})
    assert done.status_code == 200
    sub = site.store.subscriber("pen@example.org")
    assert sub is not None
    assert (sub.status, sub.profiles) == ("active", ("scaling",))
