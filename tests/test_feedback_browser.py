"""Issue 14's feedback, end to end in headless Chromium: the web app on a real
uvicorn, digests through a real SMTP server (aiosmtpd), a real SQLite store.

Two readers of one profile get the same first digest. One clicks "more like this"
on a diffusion paper in the received mail, sees the undo page, undoes, is refused
by the old link, and says it again from the undo page; a forged link changes
nothing. The next digest ranks that paper's neighbours first for them, each pick
explained by the paper it is near, while the other reader's stays the profile's
own. The manage page lists the feedback and removes it. Screenshots:
test-artifacts/feedback-*.png.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from digest import pipeline
from digest.store import Store
from digest.web import WebServer, create_app
from tests.browser import browser, screenshot  # noqa: F401
from tests.smtpserver import Recorder
from tests.test_web_browser import Stack, off_thread, running, text_of, wait_for_mail

pytestmark = pytest.mark.browser

READER, OTHER = "reader@example.org", "other@example.org"
PROFILE = """name: papers
title: New papers
keywords: [model]
min_score: 0
max_items: 10
send_empty: false
"""
DIFFUSION = (
    "Diffusion denoising for image generation",
    "Score-based denoising diffusion samplers for image synthesis",
)
LANGUAGE = (
    "Tokenizer vocabulary for multilingual text",
    "Attention heads in multilingual text translation",
)
TEXTS = {
    "diffusion": "A denoising diffusion model that generates images from noise, with"
    " fewer sampling steps for image generation and synthesis.",
    "language": "A language model over multilingual text: tokenizer, vocabulary and"
    " translation quality across many languages.",
}


def feed(day: int, papers: list[tuple[str, str]]) -> str:
    items = "".join(
        f"<item><title>{title}</title><link>https://example.org/{day}/{n}</link>"
        f"<guid>https://example.org/{day}/{n}</guid><description>{TEXTS[kind]}</description>"
        f"<pubDate>0{day} Nov 2026 0{n}:00:00 +0000</pubDate></item>"
        for n, (title, kind) in enumerate(papers)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>day</title>'
        f"<link>https://example.org/</link><description>papers</description>{items}"
        "</channel></rss>"
    )


class Site(Stack):
    def __init__(self, tmp: Path, smtp_port: int) -> None:
        super().__init__(tmp, smtp_port)
        profiles = tmp / "profiles"
        profiles.mkdir()
        (profiles / "papers.yaml").write_text(PROFILE, encoding="utf-8")
        self.settings = replace(self.settings, profiles_dir=profiles)
        port = int(self.base.rsplit(":", 1)[1])
        self.server = WebServer(create_app(self.settings, self.store), "127.0.0.1", port)
        self.tmp = tmp

    def day(self, n: int, papers: list[tuple[str, str]]) -> dict[str, int]:
        now = datetime.now(UTC) + timedelta(days=n)
        path = self.tmp / f"day{n}.rss"
        path.write_text(feed(n, papers), encoding="utf-8")
        report = pipeline.ingest(
            self.settings, self.store, now, sources=pipeline.sources_for([str(path)])
        )
        assert report.new == len(papers)
        pipeline.create_digests(self.settings, self.store, now)
        return pipeline.total(pipeline.send(self.settings, self.store, now))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Site, Recorder]]:
    yield from running(Site, tmp_path, monkeypatch)


def mail(recorder: Recorder, to: str, count: int) -> EmailMessage:
    mails = wait_for_mail(recorder, to, count)
    time.sleep(0.2)  # and no more than that
    assert len(mails) == count
    return mails[-1]


def titles(msg: EmailMessage) -> list[str]:
    return [t.strip() for t in re.findall(r"(?m)^\d+\.\s+(.+)$", text_of(msg))]


def standing(store: Store) -> list[tuple[str, str]]:
    return [(f.title, f.direction) for f in store.feedback_of(store.subscriber(READER).id)]  # type: ignore[union-attr]


def test_more_like_this_undo_and_the_next_digest(browser, site) -> None:  # noqa: F811
    s, recorder = site
    store: Store = s.store
    for who in (READER, OTHER):
        store.add_subscriber(who, ["papers"], now=datetime.now(UTC), status="active")
    # Day 1: two diffusion and two language papers, all matching "model" once.
    first = [(DIFFUSION[0], "diffusion"), (LANGUAGE[0], "language")]
    assert off_thread(s.day, 1, first)["sent"] == 2
    received = mail(recorder, READER, 1)
    assert titles(received) == titles(mail(recorder, OTHER, 1))  # one shared ranking

    # Every item carries both links, signed for this reader; click one in the mail.
    page = browser.new_page(viewport={"width": 900, "height": 1000})
    page.set_content(text_of(received, "html"))
    assert page.get_by_role("link", name="More like this").count() == 2
    assert page.get_by_role("link", name="Less like this").count() == 2
    more = page.get_by_role("link", name="More like this").nth(titles(received).index(DIFFUSION[0]))
    link = str(more.get_attribute("href"))
    assert link.startswith(s.base + "/feedback/")
    assert link.endswith("/more")
    more.click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="More like this").is_visible()
    assert page.get_by_text(DIFFUSION[0]).is_visible()
    assert page.locator("script").count() == 0
    screenshot(page, "feedback-1-noted")
    assert standing(store) == [(DIFFUSION[0], "more")]

    # Replayed, it changes nothing; forged, it is refused and changes nothing.
    page.goto(link)
    assert page.get_by_text("Already noted").is_visible()
    token = link.rsplit("/", 2)[1]
    forged = link.replace(token, token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"))
    assert page.goto(forged).status == 400  # type: ignore[union-attr]
    assert page.get_by_role("heading", name="This link is not valid").is_visible()
    other = store.subscriber(OTHER)
    assert other is not None
    assert store.feedback_of(other.id) == []
    assert standing(store) == [(DIFFUSION[0], "more")]

    # Undo; the old link cannot undo the undo; the undo page's own link says it again.
    page.goto(link)
    page.get_by_role("link", name="Undo").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Feedback undone").is_visible()
    screenshot(page, "feedback-2-undone")
    undone = page.url
    assert standing(store) == []
    assert page.goto(link).status == 409  # type: ignore[union-attr]
    assert page.get_by_role("heading", name="This link is no longer current").is_visible()
    assert standing(store) == []
    page.goto(undone)  # the undo link again: already undone, and it offers the links
    assert page.get_by_role("heading", name="Feedback undone").is_visible()
    page.get_by_role("link", name="More like this").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="More like this").is_visible()
    assert standing(store) == [(DIFFUSION[0], "more")]

    # Day 2: the newer language papers come first in the profile's own ranking; the
    # reader's puts the diffusion paper's neighbour first, and says why.
    second = [(DIFFUSION[1], "diffusion"), (LANGUAGE[1], "language")]
    assert off_thread(s.day, 2, second)["sent"] == 2
    shared, personal = mail(recorder, OTHER, 2), mail(recorder, READER, 2)
    assert titles(shared)[0] == LANGUAGE[1]
    assert titles(personal)[0] == DIFFUSION[1]
    after = " ".join(text_of(personal).split(DIFFUSION[1], 1)[1].split())
    assert re.match(
        rf"from day2.rss Score [\d.]+ = model 1 \(abstract\) \+ like “{DIFFUSION[0]}”", after
    )
    page.set_content(text_of(personal, "html"))
    assert page.get_by_role("link", name="More like this").count() == 2
    screenshot(page, "feedback-3-next-digest")

    # The manage page lists it; "Remove" takes it back.
    manage = re.search(re.escape(s.base) + r"/manage/\S+", text_of(personal))
    assert manage is not None
    page.goto(manage[0])
    assert page.get_by_role("heading", name="Your feedback").is_visible()
    assert page.get_by_text(DIFFUSION[0]).is_visible()
    screenshot(page, "feedback-4-manage")
    page.get_by_role("button", name="Remove").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Your subscriptions").is_visible()
    assert page.get_by_role("heading", name="Your feedback").count() == 0
    assert standing(store) == []
    page.close()
