"""Digests as Markdown, plain text and email HTML, and the archive pages, from the
templates through the one environment. Pure: no I/O but reading templates, no clock
(dates come from `Digest.created`).

Email: `prepare` renders a digest once per profile, with a placeholder where the
unsubscribe URL goes; `personalize` fills it per subscriber by joining strings.
The email HTML is kept under `max_html_bytes` (less a reserve for the URL) by
showing only the first items that fit, then "N more in the archive"; the text
part shows the same items, so both parts of one email agree.
"""

from __future__ import annotations

import html as _html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import css_inline
import jinja2

from digest.issues import IssueHead
from digest.models import Digest, Profile
from digest.render.env import environment
from digest.render.sanitize import markdown_html, markdown_text, safe_url
from digest.render.views import (
    ItemView,
    count_papers,
    issue_head,
    item_view,
    local_date,
    page_name,
)

URL_RESERVE = 1024  # bytes of the HTML cap kept free for the unsubscribe URL
_PLACEHOLDER = "https://unsubscribe.invalid/x-digest-unsubscribe-6b1f0c"
_FEED_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A digest's email, rendered once: text and HTML split where the unsubscribe
    URL goes. `shown` of `total` items fit under the HTML size cap."""

    digest: Digest
    text_parts: tuple[str, ...]
    html_parts: tuple[str, ...]
    shown: int
    total: int


class Renderer:
    def __init__(
        self,
        template_dir: Path | None = None,
        *,
        archive_url: str = "",
        max_html_bytes: int = 100_000,
    ) -> None:
        self.env: jinja2.Environment = environment(template_dir)
        self._inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
        self.archive_url = safe_url(archive_url)
        self.max_html_bytes = max_html_bytes

    def _render(self, name: str, context: Mapping[str, Any], **extra: Any) -> str:
        return self.env.get_template(name).render(context, **extra)

    def _profile(self, p: Profile) -> dict[str, Any]:
        """What every page of a profile shows at its top: title and description."""
        return {
            "profile": p,
            "title": " ".join((p.title or p.name).split()),
            "name": p.name,
            "description": p.description.strip(),  # Markdown as written, for Markdown
            "description_html": markdown_html(p.description),
            "description_text": markdown_text(p.description),
            "archive_url": self.archive_url,
        }

    def _context(self, digest: Digest, views: Sequence[ItemView], **extra: Any) -> dict[str, Any]:
        p = digest.profile
        return {
            **self._profile(p),
            "date": local_date(digest.created, p.timezone),
            "count": count_papers(len(views)),
            "items": views,
            "more": 0,
            "unsubscribe_url": "",
            "feeds": [],
            "notices": digest.notices,
            **extra,
        }

    def _email(self, digest: Digest, url: str, shown: int | None) -> tuple[str, str, int]:
        """(text, html, shown): at most `shown` items, or as many as fit the cap."""
        views = [item_view(p) for p in digest.picks]
        ctx = self._context(digest, views, unsubscribe_url=url)

        def html_of(n: int) -> str:
            raw = self._render("digest.html.j2", ctx, items=views[:n], more=len(views) - n)
            return self._inliner.inline(raw)

        n = len(views) if shown is None else shown
        out = html_of(n)
        budget = self.max_html_bytes - URL_RESERVE
        if shown is None and len(out.encode()) > budget:
            lo, hi, out = 0, n - 1, ""  # the most items that fit: lo fits, hi + 1 does not
            while lo < hi:
                mid = (lo + hi + 1) // 2
                h = html_of(mid)
                if len(h.encode()) <= budget:
                    lo, out = mid, h
                else:
                    hi = mid - 1
            n, out = lo, out or html_of(lo)
        text = self._render("digest.txt.j2", ctx, items=views[:n], more=len(views) - n)
        return text, out, n

    def prepare(self, digest: Digest) -> Prepared:
        text, html, shown = self._email(digest, _PLACEHOLDER, None)
        parts = (tuple(text.split(_PLACEHOLDER)), tuple(html.split(_PLACEHOLDER)))
        return Prepared(digest, *parts, shown=shown, total=len(digest.picks))

    def personalize(self, prepared: Prepared, *, unsubscribe_url: str) -> tuple[str, str]:
        """(text, html) for one subscriber. A URL that is not http(s) or mailto: is
        left out, and so is the unsubscribe line."""
        url = safe_url(unsubscribe_url, mailto=True)
        if not url:
            text, html, _ = self._email(prepared.digest, "", prepared.shown)
            return text, html
        return url.join(prepared.text_parts), _html.escape(url).join(prepared.html_parts)

    def text(self, digest: Digest, *, unsubscribe_url: str = "") -> str:
        return self.personalize(self.prepare(digest), unsubscribe_url=unsubscribe_url)[0]

    def html(self, digest: Digest, *, unsubscribe_url: str = "") -> str:
        """Email-safe HTML: inline CSS, no script, no external assets, size-capped."""
        return self.personalize(self.prepare(digest), unsubscribe_url=unsubscribe_url)[1]

    def markdown(self, digest: Digest) -> str:
        views = [item_view(p) for p in digest.picks]
        return self._render("digest.md.j2", self._context(digest, views))

    def _feeds(self, feed_urls: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(label, url, MIME type) of each feed with a safe URL."""
        out = []
        for label, url in feed_urls.items():
            kind = next((t for k, t in _FEED_TYPES.items() if k in label.lower()), "")
            if href := safe_url(url):
                out.append((label, href, kind or "application/feed+json"))
        return out

    def archive_page(
        self, digest: Digest, *, feed_urls: Mapping[str, str] = {}, **extra: Any
    ) -> str:
        """One issue page; `extra` is what `render.archive` adds (abstracts, neighbours)."""
        views = [item_view(p) for p in digest.picks]
        ctx = self._context(digest, views, feeds=self._feeds(feed_urls))
        return self._render("archive_page.html.j2", ctx, **extra)

    def archive_index(
        self,
        profile: Profile,
        digests: Sequence[Digest | IssueHead],
        *,
        feed_urls: Mapping[str, str] = {},
        href: Callable[[Digest | IssueHead], str] = page_name,
        **extra: Any,
    ) -> str:
        """Every digest of the profile, newest first, each linking to `href(digest)`
        and showing its date, count and top titles (a head is all it needs)."""
        heads = sorted((issue_head(d) for d in digests), key=lambda d: d.created, reverse=True)
        issues = [
            (local_date(d.created, profile.timezone), count_papers(d.count), href(d), d.titles)
            for d in heads
        ]
        ctx = self._profile(profile)
        return self._render(
            "archive_index.html.j2", ctx, issues=issues, feeds=self._feeds(feed_urls), **extra
        )
