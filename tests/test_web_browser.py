"""Double opt-in to one-click unsubscribe, end to end: headless Chromium against the
web app on a real uvicorn (127.0.0.1), a real SMTP server (aiosmtpd) receiving the
confirmation and the digests, the store in between. Screenshots: test-artifacts/web-*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest

from digest import pipeline
from digest.settings import EmailSettings, Settings, SMTPSettings, WebSettings
from digest.store import Store
from digest.web import WebServer, create_app
from tests.browser import browser, screenshot  # noqa: F401
from tests.smtpserver import Recorder, free_port, serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
VISITOR = "visitor@example.org"
CONTROL = "control@example.org"  # subscribed all along: proves digests still go out
T = TypeVar("T")

NEW_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>later</title><link>https://example.org/</link>
<description>one more paper</description>
<item>
<title>Scaling Laws for the Critical Batch Size of Compute-Optimal Training</title>
<link>https://arxiv.org/abs/2611.99999</link>
<guid>oai:arXiv.org:2611.99999v1</guid>
<description>arXiv:2611.99999v1 Announce Type: new Abstract: We fit a scaling law for
the critical batch size and the learning rate across model sizes.</description>
</item></channel></rss>
"""


def off_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run `fn` in another thread: Playwright's sync API keeps an event loop running
    in this one, and `pipeline.send` calls asyncio.run()."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args, **kwargs).result(timeout=120)


def wait_for_mail(recorder: Recorder, address: str, count: int) -> list[EmailMessage]:
    deadline = time.monotonic() + 15
    while len(recorder.to(address)) < count:
        assert time.monotonic() < deadline, f"{address} got {len(recorder.to(address))} mails"
        time.sleep(0.05)
    return [r.message for r in recorder.to(address)]


def text_of(msg: EmailMessage, kind: str = "plain") -> str:
    part = msg.get_body(preferencelist=(kind,))
    assert part is not None
    return str(part.get_content())


class Stack:
    def __init__(self, tmp: Path, smtp_port: int) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        settings = Settings(
            store_url=f"sqlite:///{tmp / 'digest.db'}",
            profiles_dir=ROOT / "config" / "profiles",
            web=WebSettings(output_dir=tmp / "out", site_url=self.base + "/"),
            email=EmailSettings(
                sender="Paper digest <digest@example.org>",
                domain="example.org",
                unsubscribe_url=self.base + "/unsubscribe/{token}",
                outbox=tmp / "outbox",
            ),
        )
        smtp = SMTPSettings(host="127.0.0.1", port=smtp_port, security="plain", timeout=10)
        self.settings = replace(settings, email=replace(settings.email, smtp=smtp))
        self.store = Store.open(self.settings.store_url)
        self.server = WebServer(create_app(self.settings, self.store), "127.0.0.1", port)

    def cycle(self, now: datetime, *locations: str) -> tuple[int | None, dict[str, int]]:
        """Ingest, record the scaling digest, send what is due (as `digest run` would)."""
        sources = pipeline.sources_for(list(locations))
        report = pipeline.ingest(self.settings, self.store, now, sources=sources)
        assert report.errors == 0
        (made,) = pipeline.create_digests(self.settings, self.store, now, names=["scaling"])
        sent = pipeline.total(pipeline.send(self.settings, self.store, now, names=["scaling"]))
        return made.digest_id, sent


StackT = TypeVar("StackT", bound=Stack)


def running(
    kind: type[StackT], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[StackT, Recorder]]:
    """A `kind` of stack serving on uvicorn and mailing a real aiosmtpd server; stopped after."""
    monkeypatch.setenv("DIGEST_SECRET_KEY", "browser-test-key-0123456789abcdef")
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    recorder = Recorder()
    with serve(recorder) as smtp:
        s = kind(tmp_path, smtp.port)
        s.server.start()
        try:
            yield s, recorder
        finally:
            s.server.stop()
            s.store.close()


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Stack, Recorder]]:
    yield from running(Stack, tmp_path, monkeypatch)


def test_subscribe_confirm_receive_unsubscribe(browser, stack) -> None:  # noqa: F811
    s, recorder = stack
    s.store.add_subscriber(CONTROL, ["scaling"], now=datetime.now(UTC), status="active")
    page = browser.new_page(viewport={"width": 900, "height": 1000})

    # 1) The form, filled and sent with the keyboard only.
    page.goto(s.base + "/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Scaling laws and training dynamics").is_visible()
    assert page.locator("script").count() == 0
    email = page.get_by_label("Email address")
    email.focus()
    page.keyboard.type(VISITOR)
    page.keyboard.press("Tab")  # the first digest's checkbox
    page.keyboard.press("Tab")  # the second: scaling
    page.keyboard.press("Space")
    box = page.get_by_label("Scaling laws and training dynamics")
    assert box.is_checked()
    assert not page.get_by_label("Diffusion models and generative media").is_checked()
    screenshot(page, "web-1-subscribe-form")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Subscribe"
    page.keyboard.press("Enter")
    page.wait_for_url(s.base + "/subscribe")
    assert page.get_by_role("heading", name="Check your inbox").is_visible()
    screenshot(page, "web-1-check-inbox")
    sub = s.store.subscriber(VISITOR)
    assert sub is not None
    assert sub.status == "pending"
    assert (sub.profiles, sub.pending) == ((), ("scaling",))  # nothing before it is confirmed

    # 2) The confirmation mail, through SMTP.
    (confirmation,) = wait_for_mail(recorder, VISITOR, 1)
    assert confirmation["Subject"] == "Confirm your subscription to Paper digest"
    assert confirmation["From"] == "Paper digest <digest@example.org>"
    found = re.search(re.escape(s.base) + r"/confirm/\S+", text_of(confirmation))
    assert found is not None
    link = found[0]
    assert link in text_of(confirmation, "html")

    # 3) and 4) The link, opened: confirmed.
    page.goto(link)
    assert page.get_by_role("heading", name="Subscription confirmed").is_visible()
    assert page.get_by_text("Scaling laws and training dynamics").is_visible()
    screenshot(page, "web-3-confirmed")
    sub = s.store.subscriber(VISITOR)
    assert sub is not None
    assert sub.status == "active"

    # 5) A digest arrives.
    digest_id, sent = off_thread(s.cycle, datetime.now(UTC), str(ROOT / "config" / "samples"))
    assert digest_id is not None
    assert sent["sent"] == 2
    confirmation, digest = wait_for_mail(recorder, VISITOR, 2)
    assert "Scaling laws and training dynamics" in digest["Subject"]
    assert len(recorder.to(CONTROL)) == 1

    # 6) Its unsubscribe link: the footer's is the List-Unsubscribe one; open, click.
    header = re.search(r"<(http[^>]+)>", digest["List-Unsubscribe"])
    assert header is not None
    unsubscribe = header[1]
    assert unsubscribe.startswith(s.base + "/unsubscribe/")
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    page.set_content(text_of(digest, "html"))
    footer = page.get_by_role("link", name="Unsubscribe from this digest")
    assert footer.get_attribute("href") == unsubscribe
    screenshot(page, "web-5-digest")
    page.goto(unsubscribe)
    assert page.get_by_role("heading", name="Unsubscribe?").is_visible()
    assert page.get_by_text(VISITOR).is_visible()
    screenshot(page, "web-6-unsubscribe")
    sub = s.store.subscriber(VISITOR)
    assert sub is not None
    assert sub.status == "active"  # opening the page changed nothing
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="You are unsubscribed").is_visible()
    screenshot(page, "web-6-unsubscribed")
    sub = s.store.subscriber(VISITOR)
    assert sub is not None
    assert sub.status == "unsubscribed"

    # 7) One more paper, one more digest: for the control subscriber only.
    later = Path(s.settings.web.output_dir).parent / "later.rss"
    later.write_text(NEW_ITEM, encoding="utf-8")
    digest_id, sent = off_thread(s.cycle, datetime.now(UTC), str(later))
    assert digest_id is not None
    assert sent["sent"] == 1
    wait_for_mail(recorder, CONTROL, 2)
    time.sleep(0.2)
    assert len(recorder.to(VISITOR)) == 2
    page.close()
