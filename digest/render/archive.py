"""Everything published for one profile, as file names and bytes (written by
`digest.deliver.files`):

    archive/<profile>/index.html         every recorded digest, newest first
    archive/<profile>/<date>-<id>.html   one page per digest
    archive/<profile>/feed.xml|feed.atom        one entry per picked paper
    archive/<profile>/digests.xml|digests.atom  one entry per digest issue
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from digest.issues import IssueHead
from digest.models import Digest, Pick, Profile
from digest.render import feeds
from digest.render.digests import Renderer
from digest.render.views import page_name

__all__ = ["page_name", "profile_url", "publication"]


def profile_url(site_url: str, profile: Profile) -> str:
    return f"{site_url}archive/{profile.name}/"


def publication(
    profile: Profile,
    digests: Sequence[Digest],
    renderer: Renderer,
    *,
    site_url: str,
    now: datetime,
    feed_items: int,
    skip: Collection[str] = frozenset(),
    issues: Sequence[IssueHead] | None = None,
) -> list[tuple[str, bytes]]:
    """(file name under archive/<profile>/, bytes) of each file published for the profile.

    Issue pages named in `skip` (already published) are not rendered again: a page
    shows its own digest only, so it never changes once written. The index and the
    feeds always are. The index and the feed of issues list `issues` (heads: no
    picks needed; default: the heads of `digests`); the items feed takes the
    picks of `digests`, which need only be the newest few that fill it."""
    url = profile_url(site_url, profile)
    links = feeds.FeedLinks(site_url=url, rss_url=f"{url}feed.xml", atom_url=f"{url}feed.atom")
    digest_links = feeds.FeedLinks(
        site_url=url, rss_url=f"{url}digests.xml", atom_url=f"{url}digests.atom"
    )
    feed_urls = {"RSS": links.rss_url, "Atom": links.atom_url}
    listed: Sequence[Digest | IssueHead] = digests if issues is None else issues
    out = [
        (page_name(d), renderer.archive_page(d, feed_urls=feed_urls).encode())
        for d in digests
        if page_name(d) not in skip
    ]
    out.append(
        ("index.html", renderer.archive_index(profile, listed, feed_urls=feed_urls).encode())
    )
    picked: list[tuple[Pick, datetime]] = [(p, d.created) for d in digests for p in d.picks]
    places = feeds.places(digests, lambda d: url + page_name(d))

    def page_url(d: Digest | IssueHead) -> str:
        return url + page_name(d)

    ext = {"rss": "xml", "atom": "atom"}
    items = feeds.items_feeds(profile, picked, links, now=now, limit=feed_items, places=places)
    out += [(f"feed.{ext[fmt]}", data) for fmt, data in items.items()]
    issues_feeds = feeds.digests_feeds(profile, listed, digest_links, page_url=page_url, now=now)
    out += [(f"digests.{ext[fmt]}", data) for fmt, data in issues_feeds.items()]
    return out
