"""Digests as Markdown, plain text and email HTML, and the archive pages, from the
templates through the one environment. Pure: no I/O but reading templates, no clock
(dates come from `Digest.created`).

Email: `prepare` renders a digest once per profile, with a placeholder where each
subscriber's link goes (unsubscribe; with `links`, also manage and unsubscribe
from everything); `personalize` fills them per subscriber by joining strings.
The email HTML is kept under `max_html_bytes` (less a reserve for the URL) by
showing only the first items that fit, then "N more in the archive"; the text
part shows the same items, so both parts of one email agree.
"""

from __future__ import annotations

import html as _html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
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

URL_RESERVE = 1024  # bytes of the HTML cap kept free for the subscriber's URLs
_PLACEHOLDER = "https://unsubscribe.invalid/x-digest-unsubscribe-6b1f0c"
# The per-subscriber links, each a placeholder until `personalize`.
_LINKS = {
    "unsubscribe_url": _PLACEHOLDER,
    "manage_url": "https://manage.invalid/x-digest-manage-6b1f0c",
    "unsubscribe_all_url": "https://all.invalid/x-digest-unsubscribe-all-6b1f0c",
}
# Each item's "more like this" / "less like this" link in a mail with `links`.
_FEEDBACK = "https://feedback.invalid/x-digest-feedback-6b1f0c/"
_FEEDBACK_LINK = re.compile(re.escape(_FEEDBACK) + r"\d+-(?:more|less)")
_SPLIT = re.compile(
    "(" + "|".join(map(re.escape, _LINKS.values())) + "|" + _FEEDBACK_LINK.pattern + ")"
)
FEEDBACK_LABELS = {"more": "More like this", "less": "Less like this"}
_NAME = {v: k for k, v in _LINKS.items()}
_FEED_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


@dataclass(frozen=True, slots=True)
class Prepared:
    """A digest's email, rendered once: text and HTML split where the unsubscribe
    URL goes. `shown` of `total` items fit under the HTML size cap."""

    digest: Digest
    text_parts: tuple[str, ...]  # text, placeholder, text, ... (split on the links)
    html_parts: tuple[str, ...]
    shown: int
    total: int
    pages: tuple[tuple[str, str], ...] = ()  # view_url, feed_url: the same for everyone
    links: bool = False  # manage and unsubscribe-from-everything links reserved


def _feedback(base: str, item_id: int) -> tuple[tuple[str, str], ...]:
    return tuple((label, f"{base}{item_id}-{d}") for d, label in FEEDBACK_LABELS.items())


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
            "manage_url": "",
            "unsubscribe_all_url": "",
            "view_url": "",
            "feed_url": "",
            "feeds": [],
            "notices": digest.notices,
            **extra,
        }

    def _email(
        self, digest: Digest, urls: Mapping[str, str], shown: int | None
    ) -> tuple[str, str, int]:
        """(text, html, shown): at most `shown` items, or as many as fit the cap."""
        views = [item_view(p) for p in digest.picks]
        if base := urls.get("feedback_url"):
            views = [replace(v, feedback=_feedback(base, v.item_id)) for v in views]
        ctx = self._context(digest, views, **urls)

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

    def prepare(
        self, digest: Digest, *, links: bool = False, view_url: str = "", feed_url: str = ""
    ) -> Prepared:
        """Render once. `links`: the mail also carries manage and unsubscribe-from-
        everything links; `view_url` (its archive page) and `feed_url` are shown."""
        pages = tuple((k, u) for k, u in (("view_url", view_url), ("feed_url", feed_url)) if u)
        pages = tuple((k, safe_url(u)) for k, u in pages if safe_url(u))
        slots = (
            {**_LINKS, "feedback_url": _FEEDBACK} if links else {"unsubscribe_url": _PLACEHOLDER}
        )
        text, html, shown = self._email(digest, {**slots, **dict(pages)}, None)
        parts = (tuple(_SPLIT.split(text)), tuple(_SPLIT.split(html)))
        return Prepared(digest, *parts, shown, len(digest.picks), pages, links)

    def personalize(
        self,
        prepared: Prepared,
        *,
        unsubscribe_url: str,
        manage_url: str = "",
        unsubscribe_all_url: str = "",
        feedback_url: str = "",
    ) -> tuple[str, str]:
        """(text, html) for one subscriber. A URL that is not http(s) or mailto: is
        left out, and so is its line. `feedback_url`: each item's feedback links are
        it + "<item id>-more" (more like this) or "-less"."""
        given = {"unsubscribe_url": unsubscribe_url}
        if prepared.links:
            given |= {"manage_url": manage_url, "unsubscribe_all_url": unsubscribe_all_url}
            given["feedback_url"] = feedback_url if safe_url(feedback_url + "0-more") else ""
        urls = {k: safe_url(u, mailto=k != "feedback_url") for k, u in given.items()}
        if not all(urls.values()):
            kept = {k: u for k, u in urls.items() if u}
            text, html, _ = self._email(
                prepared.digest, {**kept, **dict(prepared.pages)}, prepared.shown
            )
            return text, html

        def url(part: str) -> str:
            if part in _NAME:
                return urls[_NAME[part]]
            return urls["feedback_url"] + part[len(_FEEDBACK) :]  # "<item id>-more"

        def join(parts: tuple[str, ...], esc: Callable[[str], str]) -> str:
            return "".join(esc(url(p)) if i % 2 else p for i, p in enumerate(parts))

        return join(prepared.text_parts, str), join(prepared.html_parts, _html.escape)

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
