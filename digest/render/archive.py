"""Everything published for the archive, as file names and bytes (written by
`digest.deliver.files`):

    archive/index.html                   the site index: every profile, what it is
                                         about, when it comes, its feeds, subscribing
    archive/<profile>/index.html         its newest issues: date, count, top titles
    archive/<profile>/<date>-<id>.html   one page per issue: full abstracts behind
                                         <details>, `#item-N` anchors, previous/next
    archive/<profile>/feed.xml|feed.atom        one entry per picked paper
    archive/<profile>/digests.xml|digests.atom  one entry per digest issue

and, never published, `own_page`: one subscriber's own page of an issue (the web
serves it behind the mail's signed "view in browser" link), the issue page with
each item's feedback links.

Static files: no JavaScript (the web's CSP allows none), so a full abstract is a
<details> element. Publishing is incremental and an issue page is rendered once:
the page just before a new one gains its "next" link by having only its links to
its neighbours replaced (`relinked`), so a day's publish costs the same on day 30
as on day 1. Anchors are `item-N`, N the pick's 1-based position: feeds link
listing-only papers to them, so they never change.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from digest.issues import IssueHead
from digest.models import Digest, Pick, Profile
from digest.render import feeds
from digest.render.sanitize import markdown_html, safe_url
from digest.render.views import (
    count_papers,
    highlight,
    issue_head,
    item_view,
    local_date,
    page_name,
    short_authors,
    snippet,
)
from digest.selection.profiles import parse_schedule

if TYPE_CHECKING:
    from digest.render.digests import Renderer

__all__ = [
    "about",
    "own_page",
    "page_name",
    "profile_url",
    "publication",
    "relinked",
    "schedule_text",
    "site_index",
    "subscribe_link",
    "to_write",
]

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
Segments = tuple[tuple[str, bool], ...]


def profile_url(site_url: str, profile: Profile) -> str:
    return f"{site_url}archive/{profile.name}/"


def schedule_text(profile: Profile) -> str:
    """ "Mondays, Wednesdays and Fridays at 08:30 (America/New_York)", "Every day at
    07:00 (UTC)", "Monday to Friday at …"; without one, when it comes out."""
    if not profile.schedule:
        return "none fixed"
    try:
        days, hour, minute = parse_schedule(profile.schedule)
    except ValueError:  # profiles are checked on load; this only keeps rendering going
        return profile.schedule
    if len(days) == 7:
        when = "Every day"
    elif len(days) >= 3 and days == tuple(range(days[0], days[-1] + 1)):
        when = f"{_DAY_NAMES[days[0]]} to {_DAY_NAMES[days[-1]]}"
    else:
        names = [f"{_DAY_NAMES[d]}s" for d in days]
        when = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{when} at {hour:02d}:{minute:02d} ({profile.timezone})"


def about(profile: Profile, shown: int = 6) -> str:
    """What a profile without a description is about: its strongest terms."""
    terms = sorted((t for t in profile.keywords if not t.is_regex), key=lambda t: -t.weight)
    names = [" ".join(t.text.split()) for t in terms[:shown]]
    names += [" ".join(a.split()) for a in profile.authors[: max(0, 3 - len(names))]]
    if not names:
        return ""
    return f"Papers on {', '.join(names)}{' and more' if len(terms) > shown else ''}."


def subscribe_link(subscribe_url: str, profile: Profile) -> str:
    """The web service's subscribe form with this profile ticked, or "" when no
    (safe) form URL is configured: then the pages offer the feeds only."""
    url = safe_url(subscribe_url)
    if not url:
        return ""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode({"profile": profile.name})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, "subscribe"))


def _newest_first(heads: Sequence[IssueHead]) -> list[IssueHead]:
    return sorted(heads, key=lambda h: (h.created, h.id or 0), reverse=True)


def to_write(
    heads: Sequence[IssueHead], done: Collection[str], listed: int | None = None
) -> list[IssueHead] | None:
    """The issues whose pages a publish writes: those not in `done` (page names on
    disk) and, for each, the issue before it when that page is done (its "next"
    link is new). `heads` are the newest issues; when there are more than `listed`
    the oldest is there only as a neighbour. None: a page to write needs a
    neighbour older than `heads` (many unpublished issues); read them all."""
    order = _newest_first(heads)
    complete = listed is None or len(order) <= listed
    out: dict[str, IssueHead] = {}
    for i, h in enumerate(order):
        if page_name(h) in done:
            continue
        out[page_name(h)] = h
        if i + 1 < len(order):
            out.setdefault(page_name(order[i + 1]), order[i + 1])
    if not complete and page_name(order[-1]) in out:
        return None
    return list(out.values())


def _abstract(pick: Pick) -> dict[str, Any]:
    """The full abstract (paragraphs of marked segments) and the full author list,
    when the item shows less of them; empty when it already shows all."""
    c = pick.candidate
    whole = " ".join(c.summary.split())
    names = [" ".join(a.split()) for a in c.authors if a.strip()]
    terms = list(dict.fromkeys(h.term for h in pick.matched if h.field != "author"))
    cut = whole != snippet(c.summary)
    paragraphs: list[Segments] = []
    if cut:
        for para in c.summary.replace("\r\n", "\n").split("\n\n"):
            if text := " ".join(para.split()):
                paragraphs.append(highlight(text, terms))
    every = short_authors(c.authors, len(names))  # all names, as the item spells them
    return {"paragraphs": paragraphs, "authors": every if every != short_authors(c.authors) else ""}


def _link(h: IssueHead | None) -> tuple[str, str] | None:
    return (page_name(h), local_date(h.created, h.profile.timezone)) if h else None


def _neighbours(order: Sequence[IssueHead], name: str) -> dict[str, tuple[str, str] | None]:
    """The previous and next links of page `name` among `order` (newest first)."""
    names = [page_name(h) for h in order]
    i = names.index(name) if name in names else -1
    previous = order[i + 1] if 0 <= i < len(order) - 1 else None
    following = order[i - 1] if i > 0 else None
    return {"previous": _link(previous), "next": _link(following)}


def _page(
    renderer: Renderer,
    d: Digest,
    order: Sequence[IssueHead],
    feed_urls: dict[str, str],
) -> str:
    return renderer.archive_page(
        d,
        feed_urls=feed_urls,
        abstracts=[_abstract(p) for p in d.picks],
        **_neighbours(order, page_name(d)),
    )


def own_page(
    renderer: Renderer,
    digest: Digest,
    feedback: Mapping[int, Sequence[tuple[str, str]]],
    *,
    archive: str,
    public: str,
    feed_urls: Mapping[str, str] = {},
) -> str:
    """An issue page for one subscriber: `digest` holds their picks, `feedback` each
    item's (label, url) links; `archive` is the profile's public archive folder (the
    page's links to its issues), `public` the issue's public page. No neighbours:
    those pages are not this subscriber's."""
    views = [
        replace(item_view(p), feedback=tuple(feedback.get(p.candidate.item_id, ())))
        for p in digest.picks
    ]
    return renderer.archive_page(
        digest,
        feed_urls=feed_urls,
        abstracts=[_abstract(p) for p in digest.picks],
        items=views,  # over the page's own views: the same, with the links
        archive=archive,
        public=public,
    )


# The macros of _neighbours.html.j2, each between its markers.
_PARTS = {
    part: re.compile(f"<!-- neighbours:{part} -->.*?<!-- /neighbours:{part} -->", re.S)
    for part in ("head", "pager")
}


def relinked(
    renderer: Renderer, pages: Mapping[str, bytes], issues: Sequence[IssueHead]
) -> dict[str, bytes]:
    """Published issue pages (name -> bytes as on disk) with their links to their
    neighbours among `issues` made anew, the rest of each page as it was. A page
    without the markers (made by an older or a configured template) is left out:
    render it in full instead."""
    order = _newest_first(issues)
    macros = renderer.env.get_template("_neighbours.html.j2").module
    out: dict[str, bytes] = {}
    for name, data in pages.items():
        links = _neighbours(order, name)
        text = data.decode("utf-8", "replace")
        for part, marker in _PARTS.items():
            found = list(marker.finditer(text))
            if len(found) != 1:
                break
            fresh = str(getattr(macros, part)(links["previous"], links["next"]))
            text = text[: found[0].start()] + fresh + text[found[0].end() :]
        else:
            out[name] = text.encode()
    return out


def _pair(links: feeds.FeedLinks) -> list[tuple[str, str]]:
    """(label, url) of a pair of feeds, the unsafe left out."""
    pairs = (("RSS", links.rss_url), ("Atom", links.atom_url))
    return [(label, href) for label, u in pairs if (href := safe_url(u))]


def publication(
    profile: Profile,
    digests: Sequence[Digest],
    renderer: Renderer,
    *,
    site_url: str,
    now: datetime,
    feed_items: int,
    pages: Collection[str] | None = None,
    issues: Sequence[IssueHead] | None = None,
    listed: int | None = None,
    subscribe_url: str = "",
    kept: feeds.Published | None = None,
) -> list[tuple[str, bytes]]:
    """(file name under archive/<profile>/, bytes) of each file published for the profile.

    The issue pages rendered are those of `digests` named in `pages` (default: all;
    a publish names only the new ones, `relinked` updates their neighbours). The
    index and the feeds always are. The index and the feed of issues list the
    newest `listed` of `issues` (heads: no picks needed; default: the heads of
    `digests`); one more head beyond that is a neighbour only (the index's link to
    older issues). The items feed takes the picks of `digests`, which need only be
    the newest few that fill it; with `kept` (the items feeds as published), only
    those picked after its newest entry are new entries."""
    url = profile_url(site_url, profile)
    links = feeds.FeedLinks(site_url=url, rss_url=f"{url}feed.xml", atom_url=f"{url}feed.atom")
    digest_links = feeds.FeedLinks(
        site_url=url, rss_url=f"{url}digests.xml", atom_url=f"{url}digests.atom"
    )
    feed_urls = {"RSS": links.rss_url, "Atom": links.atom_url}
    order = _newest_first([issue_head(d) for d in digests] if issues is None else issues)
    listed_heads = order if listed is None else order[:listed]
    older = order[len(listed_heads)] if len(order) > len(listed_heads) else None
    out = [
        (page_name(d), _page(renderer, d, order, feed_urls).encode())
        for d in digests
        if pages is None or page_name(d) in pages
    ]
    index = renderer.archive_index(
        profile,
        listed_heads,
        feed_urls=feed_urls,
        issue_feeds=_pair(digest_links),
        schedule=schedule_text(profile),
        about=about(profile),
        subscribe=subscribe_link(subscribe_url, profile),
        older=_link(older),
    )
    out.append(("index.html", index.encode()))
    newer = [d for d in digests if kept is None or d.created > kept.newest]
    picked: list[tuple[Pick, datetime]] = [(p, d.created) for d in newer for p in d.picks]
    places = feeds.places(newer, lambda d: url + page_name(d))

    def page_url(d: Digest | IssueHead) -> str:
        return url + page_name(d)

    ext = {"rss": "xml", "atom": "atom"}
    kw: dict[str, Any] = {"now": now, "limit": feed_items, "places": places, "kept": kept}
    items = feeds.items_feeds(profile, picked, links, **kw)
    out += [(f"feed.{ext[fmt]}", data) for fmt, data in items.items()]
    issues_feeds = feeds.digests_feeds(
        profile, listed_heads, digest_links, page_url=page_url, now=now
    )
    out += [(f"digests.{ext[fmt]}", data) for fmt, data in issues_feeds.items()]
    return out


def site_index(
    renderer: Renderer,
    profiles: Sequence[tuple[Profile, IssueHead | None]],
    *,
    site_url: str,
    subscribe_url: str = "",
    published: Collection[str] = (),
) -> bytes:
    """archive/index.html: each profile with its title, description, schedule, latest
    issue, feeds and subscribe link; `published` names those with an archive to
    link to (the others say so)."""
    shown = []
    for p, latest in profiles:
        url = profile_url(site_url, p)
        shown.append(
            {
                "name": p.name,
                "title": " ".join((p.title or p.name).split()),
                "description_html": markdown_html(p.description),
                "about": about(p),
                "schedule": schedule_text(p),
                "archive": f"{p.name}/index.html" if p.name in published else "",
                "latest": _link(latest) if p.name in published else None,
                "count": count_papers(latest.count) if latest else "",
                "paper_feeds": _pair(feeds.FeedLinks(url, f"{url}feed.xml", f"{url}feed.atom")),
                "issue_feeds": _pair(
                    feeds.FeedLinks(url, f"{url}digests.xml", f"{url}digests.atom")
                ),
                "subscribe": subscribe_link(subscribe_url, p),
            }
        )
    page = renderer.env.get_template("archive_site.html.j2").render(
        profiles=shown, subscribable=bool(safe_url(subscribe_url))
    )
    return page.encode()
