"""Issue 13's acceptance, end to end in headless Chromium: the web app on a real
uvicorn, digests and confirmations through a real SMTP server (aiosmtpd), a real
SQLite store. Subscribe to two profiles, confirm, receive both digests; one-click
unsubscribe from one (only it stops); the manage link adds it back, then leaves;
an old confirmation link changes nothing, even after the address is requested
again. Screenshots: test-artifacts/subs-*.png.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest import pipeline, service
from digest.store import Store
from digest.web import WebServer, create_app
from tests.browser import browser, screenshot  # noqa: F401
from tests.smtpserver import Recorder
from tests.test_web_browser import ROOT, Stack, off_thread, running, text_of, wait_for_mail

pytestmark = pytest.mark.browser

VISITOR = "Visitor@Example.org"  # typed so: kept, its domain lower-cased
MAILBOX = "Visitor@example.org"
SCALING = "Scaling laws and training dynamics"
DIFFUSION = "Diffusion models and generative media"


def profile_of(msg: EmailMessage) -> str:
    found = re.search(r"<([a-z0-9-]+)\.example\.org>", msg["List-Id"])
    assert found is not None
    return found[1]


ONE_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>day</title><link>https://example.org/</link>
<description>one paper a day</description>
<item><title>Paper number {n} of the day</title>
<link>https://example.org/papers/{n}</link><guid>https://example.org/papers/{n}</guid>
<description>Nothing in particular.</description></item></channel></rss>
"""


class Site(Stack):
    """The browser test's stack, with both profiles sending a digest every cycle."""

    def __init__(self, tmp: Path, smtp_port: int) -> None:
        super().__init__(tmp, smtp_port)
        profiles = tmp / "profiles"
        shutil.copytree(ROOT / "config" / "profiles", profiles)
        for f in profiles.glob("*.yaml"):
            text = f.read_text().replace("send_empty: false", "send_empty: true")
            f.write_text(re.sub(r"(?m)^recipients:.*$", "", text))  # the visitor only
        self.settings = replace(self.settings, profiles_dir=profiles)
        self.server = WebServer(create_app(self.settings, self.store), "127.0.0.1", self.port)
        self.day = 0

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    def digests(self) -> dict[str, int]:
        """A day later: record both profiles' digests and send what is due."""
        self.day += 1
        now = datetime.now(UTC) + timedelta(days=self.day)
        feed = Path(self.settings.web.output_dir).parent / f"day{self.day}.rss"
        feed.write_text(ONE_ITEM.format(n=self.day), encoding="utf-8")  # a new window
        report = pipeline.ingest(
            self.settings, self.store, now, sources=pipeline.sources_for([str(feed)])
        )
        assert report.new == 1
        made = pipeline.create_digests(self.settings, self.store, now)
        assert {r.profile for r in made if r.digest_id} == {"scaling", "diffusion"}
        return pipeline.total(pipeline.send(self.settings, self.store, now))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Site, Recorder]]:
    yield from running(Site, tmp_path, monkeypatch)


def new_mails(recorder: Recorder, seen: int, count: int) -> list[EmailMessage]:
    mails = wait_for_mail(recorder, MAILBOX, seen + count)
    time.sleep(0.2)  # and no more than that
    assert len(recorder.to(MAILBOX)) == seen + count
    return mails[seen:]


def test_two_profiles_one_click_one_manage_then_leave(browser, site) -> None:  # noqa: F811
    s, recorder = site
    store: Store = s.store
    page = browser.new_page(viewport={"width": 900, "height": 1000})

    # Subscribe to both profiles with the form, and confirm from the mail.
    page.goto(s.base + "/")
    page.get_by_label("Email address").fill(VISITOR)
    page.get_by_label(SCALING).check()
    page.get_by_label(DIFFUSION).check()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(s.base + "/subscribe")
    (confirmation,) = new_mails(recorder, 0, 1)
    found = re.search(re.escape(s.base) + r"/confirm/\S+", text_of(confirmation))
    assert found is not None
    old_confirm = found[0]
    page.goto(old_confirm)
    assert page.get_by_role("heading", name="Subscription confirmed").is_visible()
    screenshot(page, "subs-1-confirmed")
    sub = store.subscriber("visitor@example.org")
    assert sub is not None
    assert (sub.email, sub.status, sub.profiles) == (
        "Visitor@example.org",
        "active",
        ("diffusion", "scaling"),
    )

    # Both digests arrive, each with its own one-click link.
    assert off_thread(s.digests)["sent"] == 2
    mails = {profile_of(m): m for m in new_mails(recorder, 1, 2)}
    assert set(mails) == {"scaling", "diffusion"}
    links = {p: re.findall(r"<(http[^>]+)>", m["List-Unsubscribe"])[0] for p, m in mails.items()}
    assert links["scaling"] != links["diffusion"]
    page.set_content(text_of(mails["scaling"], "html"))
    for name in (
        "View in browser",
        "Feed",
        "Manage your subscriptions",
        "Unsubscribe from this digest",
        "Unsubscribe from everything",
    ):
        assert page.get_by_role("link", name=name).count() == 1, name
    screenshot(page, "subs-2-digest")

    # One-click (RFC 8058), as a mail client does it: only scaling stops.
    answer = page.request.post(links["scaling"], form={"List-Unsubscribe": "One-Click"})
    assert answer.status == 200
    sub = store.subscriber(VISITOR)
    assert sub is not None
    assert (sub.status, sub.profiles) == ("active", ("diffusion",))
    assert off_thread(s.digests)["sent"] == 1
    (only,) = new_mails(recorder, 3, 1)
    assert profile_of(only) == "diffusion"

    # The manage link in that mail: add scaling back (no confirmation), then leave.
    found = re.search(re.escape(s.base) + r"/manage/\S+", text_of(only))
    assert found is not None
    page.goto(found[0])
    assert page.get_by_role("heading", name="Your subscriptions").is_visible()
    assert page.locator("script").count() == 0
    assert not page.get_by_label(SCALING).is_checked()
    assert page.get_by_label(DIFFUSION).is_checked()
    page.get_by_label(SCALING).check()
    screenshot(page, "subs-3-manage")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state()
    assert page.get_by_text("Saved.", exact=True).is_visible()
    sub = store.subscriber(VISITOR)
    assert sub is not None
    assert (sub.status, sub.profiles) == ("active", ("diffusion", "scaling"))
    assert off_thread(s.digests)["sent"] == 2
    assert {profile_of(m) for m in new_mails(recorder, 4, 2)} == {"scaling", "diffusion"}
    page.get_by_role("button", name="Unsubscribe from everything").click()
    page.wait_for_load_state()
    screenshot(page, "subs-4-left")
    sub = store.subscriber(VISITOR)
    assert sub is not None
    assert (sub.status, sub.profiles) == ("unsubscribed", ())

    # The first confirmation link, still within its 3 days: it changes nothing...
    page.goto(old_confirm)
    assert page.get_by_role("heading", name="This link is no longer valid").is_visible()
    assert store.subscriber(VISITOR).status == "unsubscribed"  # type: ignore[union-attr]
    # ...not even after someone requests the address again.
    page.goto(s.base + "/")
    page.get_by_label("Email address").fill("visitor@example.org")
    page.get_by_label(SCALING).check()
    page.get_by_role("button", name="Subscribe").click()
    page.wait_for_url(s.base + "/subscribe")
    new_mails(recorder, 6, 1)  # a new confirmation, unopened
    page.goto(old_confirm)
    assert page.get_by_role("heading", name="This link is no longer valid").is_visible()
    screenshot(page, "subs-5-old-link")
    sub = store.subscriber(VISITOR)
    assert sub is not None
    assert (sub.status, sub.profiles, sub.pending) == ("pending", (), ("scaling",))
    assert off_thread(s.digests)["sent"] == 0
    new_mails(recorder, 7, 0)

    # The consent log tells the whole story, with causes.
    _, log = service.show(store, VISITOR)
    assert [(e.cause, e.action) for e in log] == [
        ("web", "request"),
        ("confirm", "confirm"),
        ("one-click", "stop"),
        ("manage", "change"),
        ("manage", "leave"),
        ("web", "request"),
    ]
    page.close()
