"""The mail's "view in browser", end to end in headless Chromium: the web app on a real
uvicorn, digests through a real SMTP server (aiosmtpd), a real SQLite store.

A reader opens their own page of an issue from the received mail, clicks "more like
this" on a diffusion paper there, sees the undo page; their page then marks the
choice, and its public page has no feedback links. The next digest, and its own
page, rank that paper's neighbour first, while the other reader's stays the
profile's. Once the reader has unsubscribed, the link shows nothing of theirs.
Screenshots: test-artifacts/reading-*.png.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest import pipeline
from tests.browser import browser, screenshot  # noqa: F401
from tests.test_feedback_browser import (  # noqa: F401
    DIFFUSION,
    LANGUAGE,
    OTHER,
    READER,
    mail,
    site,
    standing,
    titles,
)
from tests.test_web_browser import off_thread, text_of

pytestmark = pytest.mark.browser


def test_more_like_this_from_the_readers_own_page(browser, site) -> None:  # noqa: F811
    s, recorder = site
    for who in (READER, OTHER):
        s.store.add_subscriber(who, ["papers"], now=datetime.now(UTC), status="active")
    assert off_thread(s.day, 1, [(DIFFUSION[0], "diffusion"), (LANGUAGE[0], "language")]) == {
        "sent": 2,
        "temporary": 0,
        "permanent": 0,
    }
    off_thread(pipeline.publish, s.settings, s.store, datetime.now(UTC))
    received = mail(recorder, READER, 1)

    # "View in browser" in the mail opens the reader's own page of the issue.
    page = browser.new_page(viewport={"width": 900, "height": 1000})
    page.set_content(text_of(received, "html"))
    page.get_by_role("link", name="View in browser").click()
    page.wait_for_load_state()
    own = page.url
    assert own.startswith(s.base + "/view/")
    assert page.get_by_role("heading", name="New papers").is_visible()
    assert page.get_by_text("Your own page of this issue").is_visible()
    assert page.locator("article.item h2").all_inner_texts() == titles(received)
    assert page.locator("script").count() == 0
    screenshot(page, "reading-1-own-page")

    # "More like this" there: the undo page, and the choice is recorded.
    item = page.locator("article.item", has_text=DIFFUSION[0])
    item.get_by_role("link", name="More like this").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="More like this").is_visible()
    assert page.get_by_text(DIFFUSION[0]).is_visible()
    assert page.get_by_role("link", name="Undo").is_visible()
    screenshot(page, "reading-2-noted")
    assert standing(s.store) == [(DIFFUSION[0], "more")]

    # Their page now marks it; the public page of the issue carries no feedback links.
    page.goto(own)
    chosen = page.locator("article.item", has_text=DIFFUSION[0])
    assert chosen.get_by_role("link", name="More like this (chosen)").is_visible()
    page.get_by_role("link", name="The public page").click()
    page.wait_for_load_state()
    assert "/archive/papers/" in page.url
    assert page.locator("article.item h2").all_inner_texts() == titles(received)
    assert page.get_by_role("link", name="More like this").count() == 0
    assert page.get_by_text("Your own page of this issue").count() == 0

    # The next digest ranks the liked paper's neighbour first, for this reader only,
    # and so does their own page of it.
    assert (
        off_thread(s.day, 2, [(DIFFUSION[1], "diffusion"), (LANGUAGE[1], "language")])["sent"] == 2
    )
    personal, shared = mail(recorder, READER, 2), mail(recorder, OTHER, 2)
    assert titles(personal)[0] == DIFFUSION[1]
    assert titles(shared)[0] == LANGUAGE[1]
    page.set_content(text_of(personal, "html"))
    page.get_by_role("link", name="View in browser").click()
    page.wait_for_load_state()
    assert page.locator("article.item h2").all_inner_texts() == titles(personal)
    first = page.locator("article.item").first
    assert first.get_by_text(f"like “{DIFFUSION[0]}”").is_visible()
    screenshot(page, "reading-3-next-issue")
    second = page.url

    # Unsubscribed (the mail's own link): the page shows nothing of theirs.
    page.set_content(text_of(personal, "html"))
    page.get_by_role("link", name="Unsubscribe from this digest").click()
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="You are unsubscribed").is_visible()
    answer = page.goto(second)
    assert answer is not None
    assert answer.status == 410
    assert page.get_by_role("heading", name="You are not subscribed to this digest").is_visible()
    assert page.get_by_text(DIFFUSION[1]).count() == 0
    assert page.get_by_role("link", name="More like this").count() == 0
    screenshot(page, "reading-4-left")
    page.close()
