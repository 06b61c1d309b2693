"""The email HTML and an archive page, opened in headless Chromium."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.deliver.files import write_files
from digest.models import Candidate, Digest, Hit, Pick, Profile, Seen
from digest.render import Renderer, page_name, publication
from tests.browser import browser, screenshot  # noqa: F401

pytestmark = pytest.mark.browser

NOW = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def digest() -> Digest:
    profile = Profile(name="scaling", title="Scaling laws", timezone="Europe/Berlin")
    picks = []
    for n in range(3):
        cand = Candidate(
            item_id=n + 1,
            key=f"arxiv:2511.0000{n}",
            title=f"Critical Batch Size <Scales> & Grows, part {n} 🚀",
            summary="We study the critical batch size. It grows with data. " * 4,
            authors=("Ada Lovelace", "Émile Borel", "Grace Hopper", "Alan Turing"),
            url=f"https://arxiv.org/abs/2511.0000{n}",
            first_seen=NOW,
            seen=(
                Seen("hf-daily", upvotes=42),
                Seen("arxiv-cs-lg", announce_type="new", categories=("cs.LG",)),
            ),
            arxiv_id=f"2511.0000{n}",
        )
        picks.append(Pick(cand, 7.0 - n, (Hit("batch size", "title"),)))
    return Digest(profile=profile, picks=tuple(picks), created=NOW, id=1)


def test_email_html_in_chromium(browser, tmp_path: Path) -> None:  # noqa: F811
    html = Renderer().html(digest(), unsubscribe_url="https://example.org/u/tok?a=1&b=2")
    path = tmp_path / "email.html"
    path.write_text(html, encoding="utf-8")
    page = browser.new_page(viewport={"width": 700, "height": 900})
    page.goto(path.as_uri())
    assert page.get_by_text("Scaling laws").first.is_visible()
    title = page.get_by_role("link", name="Critical Batch Size <Scales> & Grows, part 0 🚀")
    assert title.is_visible()
    assert title.get_attribute("href") == "https://arxiv.org/abs/2511.00000"
    unsubscribe = page.get_by_role("link", name="Unsubscribe")
    assert unsubscribe.is_visible()
    assert unsubscribe.get_attribute("href") == "https://example.org/u/tok?a=1&b=2"
    assert page.locator("script").count() == 0
    width = page.evaluate("document.body.scrollWidth")
    assert width <= 700  # single column, no horizontal scrolling
    shot = screenshot(page, "email-digest")
    assert shot.stat().st_size > 5000
    page.close()


def test_archive_page_in_chromium(browser, tmp_path: Path) -> None:  # noqa: F811
    d = digest()
    files = publication(
        d.profile, [d], Renderer(), site_url="http://localhost:8000/", now=NOW, feed_items=50
    )
    written = write_files(tmp_path / "archive" / d.profile.name, files)
    page_path = next(p for p in written if p.name == page_name(d))
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(page_path.as_uri())
    for n in range(3):
        assert page.get_by_text(f"part {n}", exact=False).first.is_visible()
    assert page.locator("script").count() == 0
    screenshot(page, "archive-page")
    page.goto((page_path.parent / "index.html").as_uri())
    link = page.get_by_role("link").filter(has_text="2026").first
    assert link.is_visible()
    screenshot(page, "archive-index")
    page.close()
