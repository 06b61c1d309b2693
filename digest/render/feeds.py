"""RSS 2.0 and Atom documents of one profile's picks and digest issues.

Pure functions: records and a `now` in, bytes out; no files, no clock.

Ids. Every entry id is a tag: URI (RFC 4151) that depends only on the profile
name and the item's identity, so it is the same in every build and readers never
show an item twice:

    tag:digest,2026:<profile>/item/<Candidate.key>    e.g. .../item/arxiv:2410.17243
    tag:digest,2026:<profile>/digest/<Digest.id>      (no id: .../digest/<created, UTC>)
    tag:digest,2026:<profile>/items | /digests        the feeds themselves (Atom)

Both parts are percent-encoded where the tag grammar needs it. RSS guids carry
the same string with isPermaLink="false".

Text. Characters XML 1.0 forbids (most C0 controls, lone surrogates, U+FFFE/F;
C1 controls too) are dropped from every string first: lxml refuses them. Entry
titles are HTML in both formats (Atom type="html"; in RSS escaped once more),
because RSS readers take titles as HTML anyway: a title `<script>` arrives as
the text `&lt;script&gt;`, never as markup. Titles are plain text, so escaping
them is enough (no nh3 pass over text with no markup). Content is HTML built from
escaped text and then cleaned by `sanitize.clean`, the allow-list of every format. Only
URLs `sanitize.safe_url` accepts (http(s)) are linked; anything else becomes the
site URL.

The feed of issues carries a summary per issue (its count and top titles, each
linked to its place on the issue page), not every pick again: its cost stays flat
however long the history (issue 12), and the pages hold the rest.

Dates must be timezone-aware (feedgen refuses naive ones; so do we, like the
store); they are written in UTC to whole seconds.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote, urljoin

from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator

from digest.issues import IssueHead
from digest.models import Candidate, Digest, Pick, Profile
from digest.render.sanitize import clean, safe_url
from digest.render.views import issue_head, papers, zone

TAG_PREFIX = "tag:digest,2026:"
MAX_AUTHORS = 25  # listed in an entry; the rest are counted
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

Format = Literal["rss", "atom"]
FORMATS: tuple[Format, ...] = ("rss", "atom")


@dataclass(frozen=True)
class FeedLinks:
    site_url: str  # the HTML page the feed stands for (rel=alternate, RSS <link>)
    rss_url: str  # the RSS document's own URL (its rel=self)
    atom_url: str  # the Atom document's own URL (its rel=self)


@dataclass(frozen=True)
class _Entry:
    id: str
    title: str  # HTML
    link: str
    when: datetime
    content: str  # HTML


class _HtmlTitleEntry(FeedEntry):  # type: ignore[misc]  # feedgen is untyped
    """A feedgen entry whose Atom title is type="html": feedgen has no option for it."""

    def atom_entry(self, extensions: bool = True) -> Any:
        entry = super().atom_entry(extensions)
        entry.find("title").set("type", "html")
        return entry


def _text(s: str) -> str:
    """`s` without characters XML 1.0 forbids, whitespace collapsed."""
    return " ".join(_NOT_XML.sub("", s).split())


def _esc(s: str) -> str:
    return html.escape(_text(s), quote=False)


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime in a feed: {dt.isoformat()}")
    return dt.astimezone(UTC).replace(microsecond=0)


def _tag(profile: Profile, path: str) -> str:
    return f"{TAG_PREFIX}{quote(profile.name, safe='')}/{path}"


def item_uri(profile: Profile, key: str) -> str:
    """The stable id of an item in a profile's feeds (Atom id, RSS guid)."""
    return _tag(profile, "item/" + quote(key, safe=":@"))


def digest_uri(profile: Profile, digest: Digest | IssueHead) -> str:
    """The stable id of a digest issue in a profile's feeds."""
    if digest.id is not None:
        return _tag(profile, f"digest/{digest.id}")
    return _tag(profile, "digest/" + _utc(digest.created).strftime("%Y-%m-%dT%H:%M:%SZ"))


def _feed_title(profile: Profile) -> str:
    return _text(profile.title) or _text(profile.name) or "digest"


def _title(c: Candidate) -> str:
    """The title as HTML: escaped text, once (it is plain text, never markup)."""
    return _esc(c.title) or _esc(c.key) or "(untitled)"


def _site(links: FeedLinks) -> str:
    site = safe_url(links.site_url)
    if not site:
        raise ValueError(f"site URL is not an absolute http(s) URL: {links.site_url!r}")
    return site


def _build(
    fmt: Format, profile: Profile, links: FeedLinks, kind: str, now: datetime, entries: list[_Entry]
) -> bytes:
    site, title = _site(links), _feed_title(profile)
    fg = FeedGenerator()
    fg.id(_tag(profile, kind))
    fg.title(title)
    what = "Papers picked for" if kind == "items" else "Issues of"
    fg.description(f"{what} the {title} digest")  # also the Atom <subtitle>
    fg.author(name=title)
    fg.language("en")
    fg.updated(_utc(now))  # Atom <updated> and RSS <lastBuildDate>
    own, mime = (links.rss_url, "rss") if fmt == "rss" else (links.atom_url, "atom")
    fg.link(href=safe_url(own) or site, rel="self", type=f"application/{mime}+xml")
    fg.link(href=site, rel="alternate", type="text/html")  # RSS <link>: the last link wins
    for e in entries:
        fe = _HtmlTitleEntry()
        fg.add_entry(fe, order="append")  # feedgen prepends by default
        fe.id(e.id)  # also the RSS guid, isPermaLink="false"
        fe.title(e.title)
        fe.link(href=e.link, rel="alternate")
        fe.content(e.content, type="html")
        fe.updated(e.when)  # FeedEntry() defaults it to the clock
        fe.published(e.when)  # Atom <published>, RSS <pubDate>
    return bytes(fg.rss_str(pretty=True) if fmt == "rss" else fg.atom_str(pretty=True))


def _item_html(pick: Pick) -> str:
    c = pick.candidate
    parts: list[str] = []
    names = [n for n in (_text(a) for a in c.authors[:MAX_AUTHORS]) if n]
    if names:
        more = len(c.authors) - MAX_AUTHORS
        tail = f" and {more} more" if more > 0 else ""
        parts.append(f"<p>{html.escape(', '.join(names) + tail, quote=False)}</p>")
    if _text(c.summary):
        parts.append(f"<p>{_esc(c.summary)}</p>")
    facts = [_esc(pick.because())] if pick.matched or pick.like else []
    facts.append(f"score {round(pick.score, 2):g}")
    if c.sources:
        facts.append("seen in " + _esc(", ".join(c.sources)))
    parts.append("<p>" + " · ".join(facts) + "</p>")
    return clean("".join(parts))


def _item_entries(
    profile: Profile, picks: Sequence[tuple[Pick, datetime]], site: str, limit: int
) -> list[_Entry]:
    ordered = sorted(((_utc(t), p) for p, t in picks), key=lambda tp: (tp[0], tp[1].candidate.key))
    entries: list[_Entry] = []
    seen: set[str] = set()
    for when, pick in reversed(ordered):
        c = pick.candidate
        if len(entries) >= limit:
            break
        if c.key not in seen:  # picked again: one entry, at its newest pick
            seen.add(c.key)
            link = safe_url(c.url) or site
            entries.append(
                _Entry(item_uri(profile, c.key), _title(c), link, when, _item_html(pick))
            )
    return entries


def items_feed(
    fmt: Format,
    profile: Profile,
    picks: Sequence[tuple[Pick, datetime]],
    links: FeedLinks,
    *,
    now: datetime,
    limit: int = 50,
) -> bytes:
    """RSS 2.0 or Atom: one entry per picked item, newest pick first, at most `limit`."""
    return items_feeds(profile, picks, links, now=now, limit=limit, formats=(fmt,))[fmt]


def items_feeds(
    profile: Profile,
    picks: Sequence[tuple[Pick, datetime]],
    links: FeedLinks,
    *,
    now: datetime,
    limit: int = 50,
    formats: Sequence[Format] = FORMATS,
) -> dict[Format, bytes]:
    """`items_feed` in each of `formats`, from entries made (and cleaned) once."""
    entries = _item_entries(profile, picks, _site(links), limit)
    return {fmt: _build(fmt, profile, links, "items", now, entries) for fmt in formats}


def _day(dt: datetime, tz_name: str) -> str:
    local = dt.astimezone(zone(tz_name))
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"


def _summary(head: IssueHead, page: str) -> str:
    """An issue's entry content: its top titles, each linked to its anchor on the
    page, then how many more the page holds. Cleaned once, as a whole."""
    rows = "".join(
        f'<li><a href="{html.escape(page)}#item-{n}">{_esc(t) or "(untitled)"}</a></li>'
        if page
        else f"<li>{_esc(t) or '(untitled)'}</li>"
        for n, t in enumerate(head.titles, 1)
    )
    if not rows:
        return "<p>No papers in this issue.</p>"
    more = head.count - len(head.titles)
    tail = f"<p>and {papers(more, 'more paper')} in this issue</p>" if more > 0 else ""
    return clean(f"<ul>{rows}</ul>{tail}")


def digests_feed(
    fmt: Format,
    profile: Profile,
    digests: Sequence[Digest | IssueHead],
    links: FeedLinks,
    *,
    page_url: Callable[[Digest | IssueHead], str],
    now: datetime,
    limit: int = 30,
) -> bytes:
    """RSS 2.0 or Atom: one entry per digest issue, newest first, linking to `page_url(d)`."""
    kw: dict[str, Any] = {"page_url": page_url, "now": now, "limit": limit}
    return digests_feeds(profile, digests, links, formats=(fmt,), **kw)[fmt]


def digests_feeds(
    profile: Profile,
    digests: Sequence[Digest | IssueHead],
    links: FeedLinks,
    *,
    page_url: Callable[[Digest | IssueHead], str],
    now: datetime,
    limit: int = 30,
    formats: Sequence[Format] = FORMATS,
) -> dict[Format, bytes]:
    """`digests_feed` in each of `formats`, from entries made once."""
    site = _site(links)
    entries: list[_Entry] = []
    heads = [issue_head(d) for d in digests]
    ordered = sorted(heads, key=lambda d: (_utc(d.created), d.id or 0), reverse=True)
    for d in ordered[: max(limit, 0)]:
        when = _utc(d.created)
        day, n = _day(when, profile.timezone), papers(d.count, "paper")
        title = f"{_feed_title(profile)} — {day} ({n})"
        page = safe_url(urljoin(site, page_url(d)))
        entries.append(
            _Entry(digest_uri(profile, d), _esc(title), page or site, when, _summary(d, page))
        )
    return {fmt: _build(fmt, profile, links, "digests", now, entries) for fmt in formats}
