"""The published archive in headless Chromium, at phone (390 px) and desktop
(1280 px) widths, light and dark: the site index, a profile's index and an issue
page, as a reader sees them. Screenshots go to test-artifacts/archive-*.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from digest import pipeline, service, wiring
from digest.cli import cli
from digest.config import load_settings
from digest.models import Digest
from digest.render import count_papers, page_name
from tests.browser import browser, screenshot  # noqa: F401
from tests.conftest import demo_config_at
from tests.test_archive import with_long_abstracts

pytestmark = pytest.mark.browser

MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
WIDTHS = (390, 1280)
SCHEMES = ("light", "dark")

# WCAG contrast of an element's text against the nearest opaque background.
CONTRAST_JS = """el => {
  const rgb = s => s.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let bg = null;
  for (let n = el; n && !bg; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length < 4 || c[3] > 0.5) bg = c;
    if (c.length === 4 && c[3] === 0) bg = null;
  }
  bg = bg || [255, 255, 255];
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


class Site:
    def __init__(self, root: Path, digests: list[Digest]) -> None:
        self.root = root  # out/archive
        self.digests = digests  # scaling's, newest first

    def url(self, *parts: str) -> str:
        return self.root.joinpath(*parts).as_uri()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The demo's archive, with three papers whose abstracts are longer than a
    snippet added, and four issues of "scaling": 15 papers, none, one, 15.
    Tests ask for it before `browser`: the cycle needs asyncio.run(), which
    Playwright's open loop would refuse."""
    tmp = tmp_path_factory.mktemp("archive")
    cfg = demo_config_at(tmp)
    with_long_abstracts(cfg)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--now", MONDAY.isoformat()])
    assert result.exit_code == 0, result.output
    settings = load_settings(cfg)
    profile = next(p for p in service.profiles(settings) if p.name == "scaling")
    with wiring.open_store(settings.store_url) as store:
        (first,) = store.digests(profile)
        top = max(p.candidate.item_id for p in first.picks)
        for day, k in ((1, 0), (2, 1), (3, len(first.picks))):
            picks = first.picks[-k:] if k else ()
            store.record_digest(profile, picks, upto_item_id=top, now=MONDAY + timedelta(days=day))
            pipeline.publish(settings, store, MONDAY + timedelta(days=day))  # one at a time
        digests = store.digests(profile)
    return Site(settings.web.output_dir / "archive", digests)


def open_page(browser: Any, url: str, width: int, scheme: str) -> Any:  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page.set_default_timeout(5000)
    page.goto(url)
    return page


def reads_well(page: Any, width: int, selectors: tuple[str, ...]) -> None:
    """No sideways scrolling, no script, and the text of each selector readable."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.locator("script").count() == 0
    for sel in selectors:
        el = page.locator(sel).first
        assert el.is_visible(), sel
        ratio = el.evaluate(CONTRAST_JS)
        assert ratio >= 4.5, (sel, ratio)
        size = float(el.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
        assert size >= 13, (sel, size)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_site_index(site: Site, browser, width: int, scheme: str) -> None:  # noqa: F811
    page = open_page(browser, site.url("index.html"), width, scheme)
    for title in ("Scaling laws and training dynamics", "Diffusion models and generative media"):
        assert page.get_by_role("heading", name=title).is_visible()
    assert page.get_by_text("Schedule: Monday to Friday at 07:00 (Europe/Berlin)").is_visible()
    assert page.get_by_text("how models scale").is_visible()
    browse = page.get_by_role("link", name="Browse the archive")
    assert browse.count() == 2
    subscribe = page.get_by_role("link", name="Subscribe by email")
    assert subscribe.count() == 2
    assert subscribe.first.is_visible()
    hrefs = {subscribe.nth(i).get_attribute("href") for i in range(2)}
    assert "http://localhost:8000/?profile=scaling#subscribe" in hrefs
    latest = page.locator("#profile-scaling .latest")
    assert "Thursday, 26 November 2026" in latest.inner_text()
    assert "15 new papers" in latest.inner_text()
    reads_well(page, width, (".heading", ".title-link", ".schedule", ".feeds", ".button-link"))
    assert screenshot(page, f"archive-site-{width}-{scheme}").stat().st_size > 5000
    browse.last.click()  # to the profile's index
    assert page.url.endswith("/scaling/index.html")
    page.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_profile_index(site: Site, browser, width: int, scheme: str) -> None:  # noqa: F811
    page = open_page(browser, site.url("scaling", "index.html"), width, scheme)
    issues = page.locator("li.issue")
    assert issues.count() == len(site.digests) == 4
    for n, d in enumerate(site.digests):  # newest first
        line = issues.nth(n)
        assert line.is_visible()
        text = line.inner_text()
        assert d.created.strftime("%-d November 2026") in text
        assert count_papers(len(d.picks)) in text
        tops = line.locator(".top-link")
        assert tops.count() == min(3, len(d.picks))
        for i in range(tops.count()):
            assert tops.nth(i).is_visible()
            assert tops.nth(i).inner_text() == " ".join(d.picks[i].candidate.title.split())
            assert tops.nth(i).get_attribute("href") == f"{page_name(d)}#item-{i + 1}"
    assert page.get_by_text("November 2026", exact=True).is_visible()  # the month heading
    assert page.get_by_role("link", name="Subscribe by email").is_visible()
    reads_well(page, width, (".heading", ".issue-date", ".top-link", ".issue-count", ".month"))
    assert screenshot(page, f"archive-profile-{width}-{scheme}").stat().st_size > 5000
    issues.nth(1).locator(".top-link").first.click()  # a top title: its place on the page
    assert page.url.endswith(f"{page_name(site.digests[1])}#item-1")
    assert page.locator("#item-1").is_visible()
    page.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_issue_page(site: Site, browser, width: int, scheme: str) -> None:  # noqa: F811
    newest, before = site.digests[0], site.digests[1]
    page = open_page(browser, site.url("scaling", page_name(newest)), width, scheme)
    articles = page.locator("article.item")
    assert articles.count() == len(newest.picks) == 15
    for n in range(articles.count()):
        assert articles.nth(n).get_attribute("id") == f"item-{n + 1}"
    # The first paper whose abstract is longer than its snippet (the demo's fit whole).
    n = next(n for n, p in enumerate(newest.picks) if len(p.candidate.summary) > 1000)
    first = page.locator(f"#item-{n + 1}")
    assert first.get_by_role("heading").inner_text() == newest.picks[n].candidate.title
    details = first.locator("details.abstract")
    whole = " ".join(newest.picks[n].candidate.summary.split())
    tail = whole[-60:]  # the end of the abstract: past the snippet
    assert details.count() == 1
    assert not first.get_by_text(tail, exact=False).is_visible()
    assert first.locator(".snippet").is_visible()
    first.get_by_text("Full abstract").click()
    assert details.get_attribute("open") is not None
    assert first.get_by_text(tail, exact=False).is_visible()
    assert " ".join(details.locator(".abstract-text").inner_text().split()) == whole
    assert not first.locator(".snippet").is_visible()  # the full text took its place
    reads_well(page, width, (".heading", ".title-link", ".abstract-text", ".why", ".toggle"))
    assert screenshot(page, f"archive-issue-{width}-{scheme}").stat().st_size > 5000

    # The newest issue links back only; the one before links both ways.
    assert page.get_by_role("link", name="Next issue").count() == 0
    prev = page.get_by_role("link", name="Previous issue")
    assert prev.is_visible()
    assert before.created.strftime("%-d November") in prev.inner_text()
    prev.click()
    assert page.url.endswith(page_name(before))
    assert page.locator("article.item").count() == len(before.picks) == 1
    assert page.get_by_text("Wednesday, 25 November 2026 · 1 new paper").is_visible()
    assert page.get_by_role("link", name="Next issue").get_attribute("href") == page_name(newest)
    assert page.get_by_role("link", name="Previous issue").is_visible()
    page.close()
