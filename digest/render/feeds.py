"""RSS 2.0 and Atom documents of one profile's picks and digest issues.

Pure functions: records and a `now` in, bytes out; no files, no clock. Written
by hand, not by feedgen: the escaping, the authors and the categories are ours
to decide, and string building costs a fraction of an lxml tree (issue 12).

Ids. Every entry id is a tag: URI (RFC 4151) that depends only on the profile
name and the item's identity, so it is the same in every build and readers never
show an item twice:

    tag:digest,2026:<profile>/item/<Candidate.key>    e.g. .../item/arxiv:2410.17243
    tag:digest,2026:<profile>/digest/<Digest.id>      (no id: .../digest/<created, UTC>)
    tag:digest,2026:<profile>/items | /digests        the feeds themselves (Atom)

Both parts are percent-encoded where the tag grammar needs it. RSS guids carry
the same string with isPermaLink="false".

Text. Characters XML 1.0 forbids (most C0 controls, lone surrogates, U+FFFE/F;
C1 controls too) are dropped from every string first. Titles are plain text,
XML-escaped exactly once: Atom says so (type="text"), and a reader gets back
`Token Budgets < 1T &` as written. RSS cannot say what a title is, and many
readers take it as HTML; so a title that would read as markup there (`<` before
a letter, `/`, `!` or `?`, or an entity such as `&amp;`) is written as HTML:
escaped as text first, so `<script>` arrives as the text `<script>`, never as
markup. Content is HTML built here from escaped text and links that
`sanitize.safe_url` accepted (http(s)), with the attributes `sanitize.clean`
would give them: no untrusted markup reaches it, so no nh3 pass is needed (it
was most of an entry's cost; the tests run the hostile corpus through it).

Entries. Each names its authors (RSS `dc:creator`, Atom `<author>`: the first
`FEED_AUTHORS`, then "et al."), carries categories in two schemes kept apart
(arXiv categories; the profile's matched terms) and never source names, and
links to the paper: versionless arXiv abs when the id is known, else its own
link, else its place (`#item-N`) on its archive issue page.

The feed of issues carries a summary per issue (its count and top titles, each
linked to its place on the issue page), not every pick again: its cost stays flat
however long the history (issue 12), and the pages hold the rest.

Dates must be timezone-aware (naive ones are refused, as by the store); they
are written in UTC to whole seconds.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urljoin

from digest.issues import IssueHead
from digest.models import Candidate, Digest, Pick, Profile
from digest.render.links import paper_links
from digest.render.sanitize import safe_url
from digest.render.views import issue_head, papers, zone

TAG_PREFIX = "tag:digest,2026:"
MAX_AUTHORS = 25  # named in an entry's content; the rest are counted
FEED_AUTHORS = 10  # author elements per entry; then one "et al."
ARXIV_SCHEME = "https://arxiv.org/category_taxonomy"  # categories of arXiv papers
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_LOOKS_HTML = re.compile(r"<[A-Za-z/!?]|&#?\w+;")  # what an HTML reader takes as markup
_REL = "noopener noreferrer"  # what sanitize.clean gives every link
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

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
    title: str  # plain text
    link: str
    when: datetime
    content: str  # HTML: escaped text and safe links only
    authors: tuple[str, ...] = ()
    categories: tuple[tuple[str, str], ...] = ()  # (scheme, term)


def _text(s: str) -> str:
    """`s` without characters XML 1.0 forbids, whitespace collapsed."""
    return " ".join(_NOT_XML.sub("", s).split())


def _esc(s: str) -> str:
    return html.escape(_text(s), quote=False)


def _x(s: str) -> str:
    """XML character data; `s` is already `_text`-clean or built from it."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(s: str) -> str:
    return _x(s).replace('"', "&quot;")


def _utc(dt: datetime) -> datetime:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime in a feed: {dt.isoformat()}")
    return dt.astimezone(UTC).replace(microsecond=0)


def _rfc822(dt: datetime) -> str:
    return (
        f"{_WEEKDAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.year} "
        f"{dt:%H:%M:%S} +0000"
    )


def _rfc3339(dt: datetime) -> str:
    return f"{dt:%Y-%m-%dT%H:%M:%S}Z"


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


def terms_scheme(profile: Profile) -> str:
    """The category scheme of a profile's matched terms."""
    return _tag(profile, "terms")


def _feed_title(profile: Profile) -> str:
    return _text(profile.title) or _text(profile.name) or "digest"


def _site(links: FeedLinks) -> str:
    site = safe_url(links.site_url)
    if not site:
        raise ValueError(f"site URL is not an absolute http(s) URL: {links.site_url!r}")
    return site


def _rss_title(title: str) -> str:
    """An RSS title: escaped once, or as HTML when an HTML reader would see markup."""
    return _x(html.escape(title, quote=False) if _LOOKS_HTML.search(title) else title)


def _rss_item(e: _Entry) -> list[str]:
    out = ["    <item>", f"      <title>{_rss_title(e.title)}</title>"]
    out.append(f"      <link>{_x(e.link)}</link>")
    out.append(f"      <description>{_x(e.content)}</description>")
    out += [f"      <dc:creator>{_x(a)}</dc:creator>" for a in e.authors]
    out += [f'      <category domain="{_attr(s)}">{_x(t)}</category>' for s, t in e.categories]
    out.append(f'      <guid isPermaLink="false">{_x(e.id)}</guid>')
    out += [f"      <pubDate>{_rfc822(e.when)}</pubDate>", "    </item>"]
    return out


def _atom_entry(e: _Entry) -> list[str]:
    out = ["  <entry>", f"    <id>{_x(e.id)}</id>", f"    <title>{_x(e.title)}</title>"]
    out.append(f"    <updated>{_rfc3339(e.when)}</updated>")
    out.append(f"    <published>{_rfc3339(e.when)}</published>")
    out += [f"    <author><name>{_x(a)}</name></author>" for a in e.authors]
    out.append(f'    <link rel="alternate" type="text/html" href="{_attr(e.link)}"/>')
    out += [f'    <category scheme="{_attr(s)}" term="{_attr(t)}"/>' for s, t in e.categories]
    out += [f'    <content type="html">{_x(e.content)}</content>', "  </entry>"]
    return out


def _build(
    fmt: Format,
    profile: Profile,
    links: FeedLinks,
    kind: str,
    now: datetime,
    entries: list[_Entry],
    kept: Sequence[str] = (),
) -> bytes:
    site, title = _site(links), _x(_feed_title(profile))
    what = "Papers picked for" if kind == "items" else "Issues of"
    about = f"{what} the {title} digest"
    own = safe_url(links.rss_url if fmt == "rss" else links.atom_url) or site
    head = ['<?xml version="1.0" encoding="UTF-8"?>']
    if fmt == "rss":
        head += [
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"'
            ' xmlns:dc="http://purl.org/dc/elements/1.1/">',
            "  <channel>",
            f"    <title>{title}</title>",
            f"    <link>{_x(site)}</link>",
            f"    <description>{about}</description>",
            f'    <atom:link href="{_attr(own)}" rel="self" type="application/rss+xml"/>',
            "    <language>en</language>",
            f"    <lastBuildDate>{_rfc822(_utc(now))}</lastBuildDate>",
        ]
        body = [line for e in entries for line in _rss_item(e)] + list(kept)
        tail = ["  </channel>", "</rss>"]
    else:
        head += [
            '<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">',
            f"  <id>{_x(_tag(profile, kind))}</id>",
            f"  <title>{title}</title>",
            f"  <subtitle>{about}</subtitle>",
            f"  <updated>{_rfc3339(_utc(now))}</updated>",
            f"  <author><name>{title}</name></author>",
            f'  <link rel="self" type="application/atom+xml" href="{_attr(own)}"/>',
            f'  <link rel="alternate" type="text/html" href="{_attr(site)}"/>',
        ]
        body = [line for e in entries for line in _atom_entry(e)] + list(kept)
        tail = ["</feed>"]
    return ("\n".join(head + body + tail) + "\n").encode("utf-8")


def _authors(c: Candidate) -> tuple[str, ...]:
    names = [n for n in (_text(a) for a in c.authors) if n]
    if len(names) > FEED_AUTHORS + 1:  # never "et al." for a single name
        return (*names[:FEED_AUTHORS], "et al.")
    return tuple(names)


def _categories(profile: Profile, pick: Pick) -> tuple[tuple[str, str], ...]:
    c = pick.candidate
    cats = list(c.categories) or [k for s in c.seen for k in s.categories]
    out = [(ARXIV_SCHEME, t) for t in dict.fromkeys(_text(k) for k in cats) if t and c.arxiv_id]
    terms = dict.fromkeys(_text(h.term) for h in pick.matched if h.field != "author")
    return (*out, *((terms_scheme(profile), t) for t in terms if t))


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
    facts = [_esc(pick.because())] if pick.matched or pick.reasons else []
    facts.append(f"score {round(pick.score, 2):g}")
    if c.sources:
        facts.append("seen in " + _esc(", ".join(c.sources)))
    parts.append("<p>" + " · ".join(facts) + "</p>")
    return "".join(parts)  # every part escaped above: nothing for nh3 to remove


def _item_entries(
    profile: Profile,
    picks: Sequence[tuple[Pick, datetime]],
    site: str,
    limit: int,
    places: Mapping[str, str],
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
            link = paper_links(c).url or safe_url(places.get(c.key, "")) or site
            title = _text(c.title) or _text(c.key) or "(untitled)"
            entries.append(
                _Entry(
                    item_uri(profile, c.key),
                    title,
                    link,
                    when,
                    _item_html(pick),
                    _authors(c),
                    _categories(profile, pick),
                )
            )
    return entries


def items_feeds(
    profile: Profile,
    picks: Sequence[tuple[Pick, datetime]],
    links: FeedLinks,
    *,
    now: datetime,
    limit: int,
    formats: Sequence[Format] = FORMATS,
    places: Mapping[str, str] | None = None,
    kept: Published | None = None,
) -> dict[Format, bytes]:
    """RSS 2.0 and Atom (or those in `formats`): one entry per picked item, newest
    pick first, at most `limit`, from entries made once.

    `places`: candidate key -> the URL of its place on an issue page
    (`<page>#item-N`), the link of a paper that has none of its own. `kept`: the
    feeds as published (`published`); then `picks` need only be the newer ones,
    and the published entries fill the rest, as they were written."""
    entries = _item_entries(profile, picks, _site(links), limit, places or {})
    new = {e.id for e in entries}
    old = kept.entries if kept else {}
    rest = {f: [x for i, x in old.get(f, []) if i not in new][: limit - len(entries)] for f in old}
    return {
        fmt: _build(fmt, profile, links, "items", now, entries, rest.get(fmt, ()))
        for fmt in formats
    }


_BLOCKS: dict[Format, tuple[str, str]] = {  # an entry's first and last line
    "rss": ("    <item>", "    </item>"),
    "atom": ("  <entry>", "  </entry>"),
}
_IDS: dict[Format, re.Pattern[str]] = {
    "rss": re.compile(r'<guid isPermaLink="false">([^<]*)</guid>'),
    "atom": re.compile(r"^    <id>([^<]*)</id>$", re.M),
}
_NEWEST = re.compile(r"^    <published>(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z</published>$", re.M)


@dataclass(frozen=True)
class Published:
    """An items feed's entries as published: a publish keeps them and renders only
    the newer picks (issue 12). Entries are written once, as the issue pages are."""

    newest: datetime  # when the newest entry was picked
    entries: dict[Format, list[tuple[str, str]]]  # (id, its XML), newest first


def published(docs: Mapping[Format, bytes], limit: int) -> Published | None:
    """The entries of the published RSS and Atom items feeds, or None when they
    cannot be kept: a file missing or not as `items_feeds` writes it, the two
    disagreeing, or fewer than `limit` entries (then older picks may be missing)."""
    entries: dict[Format, list[tuple[str, str]]] = {}
    for fmt in FORMATS:
        text = docs[fmt].decode("utf-8", "replace") if fmt in docs else ""
        start, end = _BLOCKS[fmt]
        head, tail = f"\n{start}\n", f"\n{end}"
        parts = text.split(head)[1:]  # split, not a regex: many times faster
        blocks = [f"{start}\n{b[: b.find(tail)]}{tail}" for b in parts if tail in b]
        ids = [m[1] if (m := _IDS[fmt].search(b)) else "" for b in blocks]
        entries[fmt] = list(zip(ids, blocks, strict=True))
    atom = entries["atom"]
    first = _NEWEST.search(atom[0][1]) if atom else None
    same = [i for i, _ in atom] == [i for i, _ in entries["rss"]]
    if first is None or not same or len(atom) != limit or not all(i for i, _ in atom):
        return None
    return Published(datetime.fromisoformat(first[1]).replace(tzinfo=UTC), entries)


def _day(dt: datetime, tz_name: str) -> str:
    local = dt.astimezone(zone(tz_name))
    return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"


def _summary(head: IssueHead, page: str) -> str:
    """An issue's entry content: its top titles, each linked to its anchor on the
    page, then how many more the page holds. Escaped text and a safe URL only."""
    rows = "".join(
        f'<li><a href="{html.escape(page)}#item-{n}" rel="{_REL}">{_esc(t) or "(untitled)"}</a>'
        "</li>"
        if page
        else f"<li>{_esc(t) or '(untitled)'}</li>"
        for n, t in enumerate(head.titles, 1)
    )
    if not rows:
        return "<p>No papers in this issue.</p>"
    more = head.count - len(head.titles)
    tail = f"<p>and {papers(more, 'more paper')} in this issue</p>" if more > 0 else ""
    return f"<ul>{rows}</ul>{tail}"


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
    """RSS 2.0 and Atom (or those in `formats`): one entry per digest issue, newest
    first, linking to `page_url(d)`, from entries made once."""
    site = _site(links)
    entries: list[_Entry] = []
    heads = [issue_head(d) for d in digests]
    ordered = sorted(heads, key=lambda d: (_utc(d.created), d.id or 0), reverse=True)
    name = _feed_title(profile)
    for d in ordered[: max(limit, 0)]:
        when = _utc(d.created)
        day, n = _day(when, profile.timezone), papers(d.count, "paper")
        title = f"{name} — {day} ({n})"
        href = page_url(d)  # usually absolute already: urljoin is a costly no-op then
        page = safe_url(href if href.startswith(site) else urljoin(site, href))
        entries.append(_Entry(digest_uri(profile, d), title, page or site, when, _summary(d, page)))
    return {fmt: _build(fmt, profile, links, "digests", now, entries) for fmt in formats}


def places(digests: Sequence[Digest], page_url: Callable[[Digest], str]) -> dict[str, str]:
    """Candidate key -> `<page>#item-N`, its place on the newest issue page that
    holds it (N counts from 1 in the issue's order, as the page's anchors do)."""
    out: dict[str, str] = {}
    for d in sorted(digests, key=lambda x: (_utc(x.created), x.id or 0), reverse=True):
        for n, p in enumerate(d.picks, 1):
            out.setdefault(p.candidate.key, f"{page_url(d)}#item-{n}")
    return out
