"""Write a profile's static archive and feeds: the one place digests become files.

    <output>/archive/<profile>/index.html         every recorded digest, newest first
    <output>/archive/<profile>/<date>-<id>.html   one page per digest
    <output>/archive/<profile>/feed.xml|feed.atom        one entry per picked paper
    <output>/archive/<profile>/digests.xml|digests.atom  one entry per digest issue

Files are replaced atomically, so a web server never serves half a page.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from digest.deliver import feeds
from digest.models import Digest, Pick, Profile
from digest.render import Renderer, page_name

__all__ = ["page_name", "profile_url", "write_profile"]


def profile_url(site_url: str, profile: Profile) -> str:
    return f"{site_url}archive/{profile.name}/"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_profile(
    out_dir: Path,
    profile: Profile,
    digests: Sequence[Digest],
    renderer: Renderer,
    *,
    site_url: str,
    now: datetime,
    feed_items: int,
) -> list[Path]:
    """Write (or rewrite) everything published for one profile; returns the paths."""
    base = out_dir / "archive" / profile.name
    url = profile_url(site_url, profile)
    links = feeds.FeedLinks(site_url=url, rss_url=f"{url}feed.xml", atom_url=f"{url}feed.atom")
    digest_links = feeds.FeedLinks(
        site_url=url, rss_url=f"{url}digests.xml", atom_url=f"{url}digests.atom"
    )
    feed_urls = {"RSS": links.rss_url, "Atom": links.atom_url}
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        _write(base / name, data)
        written.append(base / name)

    for d in digests:
        put(page_name(d), renderer.archive_page(d, feed_urls=feed_urls).encode())
    put("index.html", renderer.archive_index(profile, digests, feed_urls=feed_urls).encode())
    picked: list[tuple[Pick, datetime]] = [(p, d.created) for d in digests for p in d.picks]

    def page_url(d: Digest) -> str:
        return url + page_name(d)

    formats: tuple[tuple[feeds.Format, str], ...] = (("rss", "xml"), ("atom", "atom"))
    for fmt, ext in formats:
        put(f"feed.{ext}", feeds.items_feed(fmt, profile, picked, links, now=now, limit=feed_items))
    for fmt, ext in formats:
        data = feeds.digests_feed(fmt, profile, digests, digest_links, page_url=page_url, now=now)
        put(f"digests.{ext}", data)
    return written
