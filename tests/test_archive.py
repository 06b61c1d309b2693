"""The archive as published: the site index, a profile's index, the issue pages
with their full abstracts, stable anchors and previous/next links, kept right
while publishing stays incremental."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest import pipeline, service, wiring
from digest.cli import cli
from digest.config import load_settings
from digest.errors import ConfigError
from digest.issues import IssueHead
from digest.models import Digest, Profile
from digest.pipeline.publishing import RECENT_ISSUES
from digest.render import Renderer, page_name, publication, relinked, to_write
from digest.render.archive import about, schedule_text, subscribe_link
from digest.settings import Settings
from digest.store import Store

MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def run(cfg: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def scaling(settings: Settings) -> Profile:
    return next(p for p in service.profiles(settings) if p.name == "scaling")


def first_issue(cfg: Path) -> tuple[Settings, Profile, Path]:
    """Run Monday's cycle: (the settings, the scaling profile, its archive folder)."""
    run(cfg, "--now", MONDAY.isoformat())
    settings = load_settings(cfg)
    return settings, scaling(settings), settings.web.output_dir / "archive" / "scaling"


def add_issue(store: Store, profile: Profile, day: int, k: int) -> None:
    """Record one more digest `day` days after Monday, of the first issue's last `k` picks."""
    (first,) = store.digests(profile, limit=None)[-1:]
    top = max(p.candidate.item_id for p in first.picks)
    picks = first.picks[-k:] if k else ()
    store.record_digest(profile, picks, upto_item_id=top, now=MONDAY + timedelta(days=day))


def nav(page: str) -> tuple[str | None, str | None]:
    """(previous, next) page names an issue page links to."""
    prev = re.search(r'<a class="pager-link pager-prev" rel="prev" href="([^"]+)"', page)
    nxt = re.search(r'<a class="pager-link pager-next" rel="next" href="([^"]+)"', page)
    return (prev[1] if prev else None, nxt[1] if nxt else None)


# -- text helpers --------------------------------------------------------------


def test_schedule_text_reads_as_days_and_a_time() -> None:
    p = Profile(name="x", title="X", timezone="Europe/Berlin")
    cases = {
        "daily 07:00": "Every day at 07:00 (Europe/Berlin)",
        "mon-fri 7:05": "Monday to Friday at 07:05 (Europe/Berlin)",
        "mon,wed,fri 08:30": "Mondays, Wednesdays and Fridays at 08:30 (Europe/Berlin)",
        "sun 18:00": "Sundays at 18:00 (Europe/Berlin)",
        "sat,sun 09:00": "Saturdays and Sundays at 09:00 (Europe/Berlin)",
    }
    for schedule, text in cases.items():
        assert schedule_text(replace(p, schedule=schedule)) == text
    assert schedule_text(p) == "none fixed"


def test_subscribe_link_ticks_the_profile_or_is_absent() -> None:
    p = Profile(name="scaling", title="S")
    assert subscribe_link("http://localhost:8000/", p) == (
        "http://localhost:8000/?profile=scaling#subscribe"
    )
    assert subscribe_link("https://x.org/digest?lang=en", p) == (
        "https://x.org/digest?lang=en&profile=scaling#subscribe"
    )
    assert subscribe_link("", p) == ""
    assert subscribe_link("javascript:alert(1)", p) == ""


def test_about_names_the_strongest_terms_when_there_is_no_description() -> None:
    settings = load_settings(Path(__file__).resolve().parent.parent / "config" / "digest.yaml")
    diffusion = next(p for p in service.profiles(settings) if p.name == "diffusion")
    text = about(diffusion)
    assert text.startswith("Papers on diffusion model, denoising diffusion, flow matching")
    assert text.endswith(" and more.")
    assert about(Profile(name="x", title="X")) == ""


def test_to_write_takes_new_pages_and_the_one_before_each() -> None:
    p = Profile(name="x", title="X")
    heads = [IssueHead(p, i, MONDAY + timedelta(days=i), 1, ()) for i in range(1, 6)]
    names = [page_name(h) for h in heads]
    assert to_write(heads, set(names)) == []
    got = to_write(heads, set(names[:4]))  # the newest is new: it and the one before
    assert got is not None
    assert [h.id for h in got] == [5, 4]
    got = to_write(heads, {names[0], names[2]})
    assert got is not None
    assert sorted(h.id for h in got) == [1, 2, 3, 4, 5]  # 2, 4, 5 new; 1 and 3 before
    # The newest 3 are listed and one more is read; the oldest read is new: its
    # previous issue was not read, so all must be.
    assert to_write(heads[1:], set(names[2:4]), 3) is None
    got = to_write(heads[1:], set(names[1:4]), 3)
    assert got is not None
    assert [h.id for h in got] == [5, 4]


# -- published through the pipeline --------------------------------------------


def test_previous_and_next_stay_right_while_publishing_is_incremental(
    demo_config: Path, tmp_path: Path
) -> None:
    settings, profile, base = first_issue(demo_config)
    with wiring.open_store(settings.store_url) as store:
        (first,) = store.digests(profile)
        p1 = base / page_name(first)
        assert nav(p1.read_text()) == (None, None)  # the only issue

        add_issue(store, profile, 1, 2)
        pipeline.publish(settings, store, MONDAY + timedelta(days=1))
        second = store.digests(profile, limit=1)[0]
        p2 = base / page_name(second)
        assert nav(p2.read_text()) == (p1.name, None)
        assert nav(p1.read_text()) == (None, p2.name)  # rewritten: it gained "next"

        p1.write_bytes(b"published earlier")  # stands for a page no one should touch
        add_issue(store, profile, 2, 1)
        written = pipeline.publish(settings, store, MONDAY + timedelta(days=2))
        third = store.digests(profile, limit=1)[0]
        p3 = base / page_name(third)
        assert nav(p3.read_text()) == (p2.name, None)
        assert nav(p2.read_text()) == (p1.name, p3.name)
        assert p1.read_bytes() == b"published earlier"  # two back: written once
        assert {p.name for p in written if p.parent == base and p.name != "index.html"} == {
            p2.name, p3.name, "feed.xml", "feed.atom", "digests.xml", "digests.atom"
        }  # fmt: skip
        # The links name pages that exist, and their dates are shown.
        for page in (p2, p3):
            for name in filter(None, nav(page.read_text())):
                assert (base / name).is_file()
        assert "Monday, 23 November 2026" in p2.read_text()


def test_incremental_pages_are_the_pages_a_rebuild_writes(demo_config: Path) -> None:
    """The page before a new issue gets its "next" link by a patch of its links only:
    byte for byte what rendering it again gives."""
    settings, profile, base = first_issue(demo_config)
    mark = b"<!-- not rendered again -->"
    with wiring.open_store(settings.store_url) as store:
        for day in (1, 2, 3):
            if day == 3:  # the newest page so far: its "next" link comes now
                newest = base / page_name(store.issue_heads(profile, limit=1)[0])
                newest.write_bytes(newest.read_bytes().replace(b"</footer>", mark + b"</footer>"))
            add_issue(store, profile, day, 2)
            pipeline.publish(settings, store, MONDAY + timedelta(days=day))
        names = [page_name(h) for h in store.issue_heads(profile)]
        assert mark in newest.read_bytes()  # patched, not rendered
        assert nav(newest.read_text()) == (names[2], names[0])
        incremental = {n: (base / n).read_bytes().replace(mark, b"") for n in names}
        assert all(b"pager-next" in incremental[n] for n in names[1:])
        pipeline.publish(settings, store, MONDAY + timedelta(days=3), rebuild=True)
    assert {n: (base / n).read_bytes() for n in names} == incremental


def test_a_page_without_the_link_markers_is_rendered_again(demo_config: Path) -> None:
    """An older (or a configured) template's page cannot be patched: the page
    before a new issue is then rendered in full, as before."""
    settings, profile, base = first_issue(demo_config)
    with wiring.open_store(settings.store_url) as store:
        (first,) = store.digests(profile)
        p1 = base / page_name(first)
        p1.write_bytes(b"<!DOCTYPE html><html><body>older template</body></html>")
        add_issue(store, profile, 1, 2)
        written = pipeline.publish(settings, store, MONDAY + timedelta(days=1))
        p2 = base / page_name(store.digests(profile, limit=1)[0])
    assert p1 in written
    assert b"older template" not in p1.read_bytes()
    assert nav(p1.read_text()) == (None, p2.name)
    assert '<article class="item" id="item-1">' in p1.read_text()


def test_hostile_text_cannot_fake_the_link_markers() -> None:
    """Feed text is escaped, so a title holding a marker stays text: the patch
    finds the template's markers only, once each."""
    p = Profile(name="x", title="<!-- /neighbours:pager -->")
    heads = [IssueHead(p, i, MONDAY + timedelta(days=i), 0, ()) for i in (1, 2)]
    r = Renderer()
    d = Digest(profile=p, picks=(), created=heads[0].created, id=1)
    (page,) = [
        b
        for n, b in publication(p, [d], r, site_url="http://h/", now=MONDAY, feed_items=5)
        if n == page_name(d)
    ]
    assert page.count(b"<!-- /neighbours:pager -->") == 1
    patched = relinked(r, {page_name(d): page}, heads)[page_name(d)]
    assert nav(patched.decode()) == (None, page_name(heads[1]))
    assert b"&lt;!-- /neighbours:pager --&gt;" in patched


def test_many_unpublished_issues_still_get_every_link(demo_config: Path) -> None:
    cfg = demo_config
    cfg.write_text(cfg.read_text().replace("feed_items: 50", "feed_items: 1"))
    settings, profile, base = first_issue(cfg)
    listed = RECENT_ISSUES
    with wiring.open_store(settings.store_url) as store:
        for day in range(1, listed + 3):  # more than the index lists, none published
            add_issue(store, profile, day, 0)
        for page in base.glob("*.html"):
            page.unlink()
        pipeline.publish(settings, store, MONDAY + timedelta(days=listed + 3))
        heads = store.issue_heads(profile)
    order = [page_name(h) for h in heads]  # newest first
    assert len(order) == listed + 3
    for i, name in enumerate(order):
        prev = order[i + 1] if i + 1 < len(order) else None
        nxt = order[i - 1] if i else None
        assert nav((base / name).read_text()) == (prev, nxt), name
    index = (base / "index.html").read_text()
    assert index.count('<li class="issue">') == listed
    older = re.search(r'<p class="older"><a class="link" href="([^"]+)"', index)
    assert older is not None
    assert older[1] == order[listed]


def with_long_abstracts(cfg: Path, n: int = 3) -> None:
    """Add a source of `n` scaling papers whose abstracts, as long as real arXiv
    ones, are longer than a snippet (the demo's samples fit in one)."""
    para = (
        "We fit a scaling law to the loss of {k} model families and find that the "
        "critical batch size grows with the data seen. "
    ) * 12 + "Paper {k} ends with words found nowhere else in the archive."
    items = "".join(
        f"<item><title>Scaling law study {k}</title><link>https://example.org/long/{k}</link>"
        f"<description>{para.format(k=k)}</description></item>"
        for k in range(n)
    )
    (cfg.parent / "samples" / "long.rss").write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>long</title>'
        f"<link>https://example.org/</link><description>d</description>{items}</channel></rss>"
    )
    with cfg.open("a") as f:
        f.write("  - name: long-abstracts\n    path: samples/long.rss\n")


def test_issue_page_shows_full_abstracts_behind_details_with_stable_anchors(
    demo_config: Path,
) -> None:
    with_long_abstracts(demo_config)
    settings, profile, base = first_issue(demo_config)
    with wiring.open_store(settings.store_url) as store:
        (d,) = store.digests(profile)
    page = (base / page_name(d)).read_text()
    articles = page.split('<article class="item" id="item-')[1:]
    assert len(articles) == len(d.picks) > 3
    cut = 0
    for n, (article, pick) in enumerate(zip(articles, d.picks, strict=True), start=1):
        assert article.startswith(f'{n}">')  # 1-based position: feeds link here
        whole = " ".join(pick.candidate.summary.split())
        text = html.unescape(re.sub(r"<[^>]+>", "", article))
        snippet = re.search(r'<p class="snippet" dir="auto">(.*?)</p>', article, re.S)
        assert snippet is not None
        shown = html.unescape(re.sub(r"<[^>]+>", "", snippet[1]))
        if shown != whole:  # cut: the whole abstract is one click away
            cut += 1
            assert '<details class="abstract">' in article
            assert '<summary class="toggle">Full abstract</summary>' in article
            assert whole in " ".join(text.split())
        else:
            assert "Full abstract" not in article
    assert cut >= 3  # the long abstracts, cut in the snippet
    assert "<script" not in page
    assert 'style="' not in page


def test_site_index_lists_every_profile_and_says_how_to_follow_it(
    demo_config: Path,
) -> None:
    run(demo_config, "--now", MONDAY.isoformat())
    settings = load_settings(demo_config)
    site = (settings.web.output_dir / "archive" / "index.html").read_text()
    assert "<script" not in site
    for p in service.profiles(settings):
        card = site.split(f'<section class="profile-card" id="profile-{p.name}"')[1]
        card = card.split("</section>")[0]
        assert html.escape(p.title, quote=False) in card
        assert f'href="{p.name}/index.html"' in card
        assert f"Schedule: {schedule_text(p)}" in card
        assert f"{settings.web.site_url}archive/{p.name}/feed.xml" in card
        assert f"{settings.web.site_url}archive/{p.name}/digests.atom" in card
        link = html.escape(subscribe_link(settings.web.subscribe_url, p))
        assert f'href="{link}"' in card
        assert "Latest issue:" in card
    assert "how models scale" in site  # a description, as Markdown made it
    assert "Papers on diffusion model" in site  # no description: its terms
    assert "not offered on this site" not in site


def test_without_a_subscribe_url_the_archive_offers_the_feeds_only(demo_config: Path) -> None:
    cfg = demo_config
    cfg.write_text(cfg.read_text().replace("subscribe_url: http://localhost:8000/\n", ""))
    assert load_settings(cfg).web.subscribe_url == ""
    run(cfg, "--now", MONDAY.isoformat())
    out = load_settings(cfg).web.output_dir / "archive"
    site, index = (out / "index.html").read_text(), (out / "scaling" / "index.html").read_text()
    for page in (site, index):
        assert "Subscribe by email" not in page
        assert "?profile=" not in page
        assert "feed.xml" in page
    assert "Email subscriptions are not offered on this site" in site


def test_a_profile_not_yet_published_is_listed_without_links(demo_config: Path) -> None:
    result = CliRunner().invoke(cli, ["--config", str(demo_config), "publish", "scaling"])
    assert result.exit_code == 0, result.output
    out = load_settings(demo_config).web.output_dir / "archive"
    site = (out / "index.html").read_text()
    card = site.split('id="profile-diffusion"')[1].split("</section>")[0]
    assert "Diffusion models and generative media" in card
    assert "No issue published yet." in card
    assert "diffusion/index.html" not in card
    assert "feed.xml" not in card
    scaling_card = site.split('id="profile-scaling"')[1].split("</section>")[0]
    assert 'href="scaling/index.html"' in scaling_card
    assert "No issues yet." in (out / "scaling" / "index.html").read_text()


def test_subscribe_url_must_be_http(tmp_path: Path) -> None:
    cfg = tmp_path / "digest.yaml"
    cfg.write_text("site_url: https://x.org/\nsubscribe_url: ftp://x.org/\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert any("subscribe_url" in p and ":2" in p for p in err.value.problems), err.value.problems


def test_the_subscribe_link_ticks_its_profile_on_the_web_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_web import Site

    with Site(tmp_path, monkeypatch) as site:
        form = site.client.get("/?profile=diffusion&profile=nope").text
        ticked = re.findall(r'name="profile" value="([^"]+)" checked', form)
        assert ticked == ["diffusion"]
        plain = site.client.get("/").text
        assert re.findall(r'name="profile" value="([^"]+)" checked', plain) == []


def test_the_web_serves_the_site_index_under_its_csp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_web import Site

    with Site(tmp_path, monkeypatch) as site:
        pipeline.publish(site.settings, site.store, MONDAY)
        r = site.client.get("/archive/")
        assert r.status_code == 200
        assert "Scaling laws and training dynamics" in r.text
        assert "script-src" not in r.headers["content-security-policy"]
        assert "default-src 'none'" in r.headers["content-security-policy"]
        r = site.client.get("/archive/scaling/")
        assert r.status_code == 200
        assert "No issues yet." in r.text


def test_feed_anchors_land_on_the_paper_they_name(demo_config: Path) -> None:
    """Every feed link into an issue page (`#item-N`, for papers without a link of
    their own) names an article there that shows that paper's title."""
    import feedparser

    settings, _, base = first_issue(demo_config)
    site_url = settings.web.site_url
    seen = 0
    for feed in ("feed.xml", "feed.atom"):
        for entry in feedparser.parse((base / feed).read_bytes()).entries:
            if "#item-" not in entry.link:
                continue
            seen += 1
            page_url, anchor = entry.link.split("#")
            page = (base / page_url.removeprefix(f"{site_url}archive/scaling/")).read_text()
            article = page.split(f'<article class="item" id="{anchor}">')[1].split("</article>")[0]
            title = re.search(r'<h2 class="title" dir="auto">(.*?)</h2>', article, re.S)
            assert title is not None
            assert html.unescape(re.sub(r"<[^>]+>", "", title[1])) == entry.title
    assert seen >= 2  # the demo's listing-only paper, in both feeds


def test_rebuild_writes_every_page_with_both_links(demo_config: Path) -> None:
    settings, profile, base = first_issue(demo_config)
    with wiring.open_store(settings.store_url) as store:
        for day in (1, 2):
            add_issue(store, profile, day, 1)
            pipeline.publish(settings, store, MONDAY + timedelta(days=day))
        names = [page_name(h) for h in store.issue_heads(profile)]  # newest first
        (base / names[2]).write_bytes(b"published by an older template")
        pipeline.publish(settings, store, MONDAY + timedelta(days=3), rebuild=True)
    assert nav((base / names[2]).read_text()) == (None, names[1])
    assert nav((base / names[1]).read_text()) == (names[2], names[0])
    assert nav((base / names[0]).read_text()) == (names[1], None)


def test_hostile_profile_text_is_inert_in_the_site_index() -> None:
    from digest.render import Renderer, site_index

    p = Profile(
        name="x",
        title='<img src=x onerror="alert(1)"> & co',
        description="[a](javascript:alert(2)) <script>alert(3)</script>",
        schedule="daily 07:00",
    )
    page = site_index(
        Renderer(), [(p, None)], site_url="https://x.org/", subscribe_url="javascript:alert(4)"
    ).decode()
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; co" in page
    assert "<script" not in page
    assert "<img" not in page
    assert "javascript:" not in page
    assert "Subscribe by email" not in page  # an unsafe form URL is no form
    assert "No issue published yet." in page


def test_a_profile_named_index_is_refused_before_anything_is_written(demo_config: Path) -> None:
    """archive/index/ beside archive/index.html: the site index and the profile's
    pages would be one URL on hosts that serve /index as index.html."""
    folder = demo_config.parent / "profiles"
    (folder / "index.yaml").write_text("title: Index\nkeywords: [scaling]\n")
    result = CliRunner().invoke(cli, ["profiles", "check", str(folder)])
    assert result.exit_code == 2
    assert f"{folder / 'index.yaml'}:1: name: 'index' is taken by the archive's site index" in (
        result.stderr
    )
    result = CliRunner().invoke(cli, ["--config", str(demo_config), "publish"])
    assert result.exit_code == 2
    assert f"{folder / 'index.yaml'}:1: name:" in result.stderr
    assert not load_settings(demo_config).web.output_dir.exists()
