"""Digests as Markdown, plain text, email HTML and web archive pages. Pure: no I/O
but reading templates, no clock (dates come from `Digest.created`).

Every format is rendered from the same item views, built once per digest: title,
safe links, short author list, sources line, score, "matched: ..." and a snippet
with the matched terms marked. Feed text is untrusted: HTML templates autoescape,
only http(s) URLs become links, Markdown metacharacters are escaped, and Markdown
turned into HTML goes through nh3.

Templates are looked up in `template_dir` first (any one can be overridden), then
in the project's top-level `templates/` folder, found beside the package (an
editable or source install), else under `<prefix>/share/digest/templates` or
`digest/templates` inside the package: a non-editable wheel must ship them in one
of those two places (pyproject does not do so yet).

Email: `prepare` renders a digest once per profile, with a placeholder where the
unsubscribe URL goes; `personalize` fills it per subscriber by joining strings.
The email HTML is kept under `max_html_bytes` (less a reserve for the URL) by
showing only the first items that fit, then "N more in the archive"; the text
part shows the same items, so both parts of one email agree.
"""

from __future__ import annotations

import html as _html
import importlib
import re
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import css_inline
import jinja2
import nh3

import digest as _pkg
from digest.models import Digest, Pick, Profile, Seen, Term
from digest.selection.match import normalize_text

_markdown: Any = importlib.import_module("markdown")  # no type stubs installed

WIDTH = 78  # plain-text columns
SNIPPET_CHARS = 300
URL_RESERVE = 1024  # bytes of the HTML cap kept free for the unsubscribe URL
_PLACEHOLDER = "https://unsubscribe.invalid/x-digest-unsubscribe-6b1f0c"
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = "January February March April May June July August September October November December"
_WORD = re.compile(r"[^\W_]+")
_URL_QUOTE = str.maketrans({" ": "%20", '"': "%22", "'": "%27", "(": "%28", ")": "%29"})
_URL_QUOTE.update(str.maketrans({"<": "%3C", ">": "%3E", "\\": "%5C", "`": "%60"}))
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A sentence ends at . ! ? (and closing quotes or brackets) before a space, or at 。！？.
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*(?=\s|$)|[。！？]")
_ABBREV = frozenset({"al", "cf", "e.g", "eg", "eq", "etc", "fig", "i.e", "ie", "no", "vs"})
_ABBREV |= {"approx", "resp", "sec", "ref", "refs", "dr", "prof", "st", "viz", "et"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~{}])")
_MD_LEAD = re.compile(r"^(\s*)([-+=])")  # list items, setext underlines
_MD_NUM = re.compile(r"^(\s*\d+)([.)])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
# Markdown → HTML keeps only these; no script, style, event handlers or odd URL schemes.
_TAGS = {"h1", "h2", "h3", "h4", "p", "a", "strong", "em", "code", "mark", "br", "hr"}
_TAGS |= {"ul", "ol", "li", "blockquote"}
_ATTRS = {"a": {"href", "title"}}
_FEED_TYPES = {"rss": "application/rss+xml", "atom": "application/atom+xml"}


def safe_url(url: str, *, mailto: bool = False) -> str:
    """`url` if it is an absolute http(s) URL (or mailto:, when allowed), else "".

    Characters that could end a Markdown link or an HTML attribute are percent-encoded.
    """
    url = url.strip()
    if not url or _CONTROL.search(url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if not ((scheme in ("http", "https") and parts.netloc) or (mailto and scheme == "mailto")):
        return ""
    return url.translate(_URL_QUOTE)


def short_authors(authors: Sequence[str], n: int = 3) -> str:
    """ "A, B, C and 5 others"; all names when at most n + 1 (never "and 1 others")."""
    names = [" ".join(a.split()) for a in authors if a.strip()]
    if len(names) > n + 1:
        return f"{', '.join(names[:n])} and {len(names) - n} others"
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The text, whitespace collapsed, cut to at most `limit` characters: at the last
    sentence end that fits (when that keeps a third of it), else at a word boundary;
    "…" marks a cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > limit - 2:
            break
        word = text[: m.start()].rsplit(" ", 1)[-1].lower()
        if word not in _ABBREV and not (len(word) == 1 and word.isalpha()):
            cut = m.end()
    if cut >= limit // 3:
        return text[:cut] + " …"
    space = text.rfind(" ", 0, limit)
    if space > limit // 3:
        return text[:space].rstrip(" ,;:-–—") + "…"
    return text[: limit - 1] + "…"


def highlight(text: str, terms: Sequence[str]) -> tuple[tuple[str, bool], ...]:
    """`text` as (segment, matched) pairs: the terms found as the matcher finds them
    (whole words, plural = singular, hyphen = space = nothing; `/regex/` as is)."""
    pats: set[tuple[str, ...]] = set()
    spans: list[tuple[int, int]] = []
    for term in terms:
        if Term(term).is_regex:
            try:
                rx = re.compile(term[1:-1], re.IGNORECASE)
            except re.error:
                continue
            spans += [m.span() for m in rx.finditer(text) if m.end() > m.start()]
        elif toks := tuple(normalize_text(term).split()):
            pats.add(toks)
            if len(toks) > 1:
                pats.add(tuple(normalize_text("".join(_WORD.findall(term))).split()))
    if pats:
        words = [(m.span(), w) for m in _WORD.finditer(text) for w in normalize_text(m[0]).split()]
        norm = [w for _, w in words]
        for i, (span, _) in enumerate(words):
            for p in pats:
                if tuple(norm[i : i + len(p)]) == p:
                    spans.append((span[0], words[i + len(p) - 1][0][1]))
    out: list[tuple[str, bool]] = []
    pos = 0  # spans merged where they overlap
    for start, end in sorted(spans):
        if end <= pos:
            continue
        start = max(start, pos)
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return tuple(out)


def md_escape(text: str) -> str:
    """Plain text made inert in Markdown: metacharacters backslash-escaped (any
    CommonMark renderer, and ours, shows them literally), entity-like `&` spelled out."""
    text = _MD_SPECIAL.sub(r"\\\1", _MD_ENTITY.sub("&amp;", text))
    return _MD_NUM.sub(r"\1\\\2", _MD_LEAD.sub(r"\1\\\2", text))


def wrap(text: str, first: str = "", indent: str = "", width: int = WIDTH) -> str:
    """`text` filled to `width` columns; URLs are never broken (a long one gets its own
    line), other over-long words are."""
    room = max(width - max(len(first), len(indent)), 20)
    words: list[str] = []
    for w in text.split():
        if len(w) > room and not re.match(r"\W{0,2}https?://", w):
            words += [w[i : i + room] for i in range(0, len(w), room)]
        else:
            words.append(w)
    return textwrap.fill(
        " ".join(words),
        width,
        initial_indent=first or indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def zone(name: str) -> tzinfo:
    """The named time zone, or UTC for a name that is not one (profiles are
    validated on load; this only keeps rendering from failing)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a bad name, a directory
        return UTC


def local_date(when: datetime, timezone: str) -> str:
    """ "Monday, 23 November 2026": `when` (naive means UTC) in the time zone."""
    d = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(zone(timezone))
    return f"{_DAYS[d.weekday()]}, {d.day} {_MONTHS.split()[d.month - 1]} {d.year}"


def count_papers(n: int) -> str:
    return "No new papers" if n == 0 else f"{n} new paper{'s' * (n != 1)}"


def page_name(digest: Digest) -> str:
    """The archive file of one digest: its date in the profile's time zone, then its id."""
    local = digest.created.astimezone(zone(digest.profile.timezone))
    return f"{local:%Y-%m-%d}-{digest.id}.html"


def sources_line(seen: Sequence[Seen]) -> str:
    """ "hf-daily ▲ 42, 3 comments · arxiv-cs-lg cs.LG (new)": one part per source."""
    merged: dict[str, tuple[int | None, int | None, str, list[str]]] = {}
    for s in seen:
        up, com, ann, cats = merged.get(s.source, (None, None, "", []))
        if s.upvotes is not None:
            up = max(up or 0, s.upvotes)
        if s.num_comments is not None:
            com = max(com or 0, s.num_comments)
        cats += [c for c in s.categories if c not in cats]
        merged[s.source] = (up, com, s.announce_type or ann, cats)
    parts = []
    for name, (up, com, ann, cats) in merged.items():
        part = " ".join([name, *cats[:3]])
        part += f" ({ann})" if ann else ""
        part += f" ▲ {up}" if up is not None else ""
        part += f", {com} comment{'s' * (com != 1)}" if com else ""
        parts.append(" ".join(part.split()))
    return " · ".join(parts)


@dataclass(frozen=True, slots=True)
class ItemView:
    """One pick as every template sees it. Text is plain (templates escape it);
    URLs are safe http(s) or ""."""

    key: str
    title: str
    url: str
    authors: str
    sources: str
    score: str
    because: str
    snippet: tuple[tuple[str, bool], ...]  # (text, matched) segments
    links: tuple[tuple[str, str], ...]  # (label, url): Abstract, PDF, Hugging Face

    @property
    def snippet_text(self) -> str:
        return "".join(s for s, _ in self.snippet)


def item_view(pick: Pick) -> ItemView:
    c = pick.candidate
    url = safe_url(c.url)
    links: dict[str, str] = {}
    for label, href in (("Abstract", url), ("PDF", safe_url(c.pdf)), ("Hugging Face", c.hf_url)):
        if href and href not in links.values():
            links[label] = href
    terms = [h.term for h in pick.matched if h.field != "author"]
    return ItemView(
        key=c.key,
        title=" ".join(c.title.split()) or "(untitled)",
        url=url,
        authors=short_authors(c.authors),
        sources=sources_line(c.seen),
        score=f"{round(pick.score, 2):g}",
        because=" ".join(pick.because().split()) if pick.matched else "",
        snippet=highlight(snippet(c.summary), list(dict.fromkeys(terms))),
        links=tuple(links.items()),
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A digest's email, rendered once: text and HTML split where the unsubscribe
    URL goes. `shown` of `total` items fit under the HTML size cap."""

    digest: Digest
    text_parts: tuple[str, ...]
    html_parts: tuple[str, ...]
    shown: int
    total: int


def _template_dirs() -> list[Path]:
    found = [Path(_pkg.__file__).resolve().parent.parent / "templates"]
    found.append(Path(sys.prefix) / "share" / "digest" / "templates")
    packaged = resources.files("digest") / "templates"
    if isinstance(packaged, Path):
        found.append(packaged)
    return [d for d in found if (d / "digest.html.j2").is_file()][:1]


def _env(loader: jinja2.BaseLoader, *, autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=loader,
        autoescape=autoescape,  # noqa: S701 - off only for Markdown and text: |md escapes
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["wrap"] = wrap
    return env


class Renderer:
    def __init__(
        self,
        template_dir: Path | None = None,
        *,
        archive_url: str = "",
        max_html_bytes: int = 100_000,
    ) -> None:
        dirs = ([template_dir] if template_dir else []) + _template_dirs()
        if not dirs:
            raise FileNotFoundError("digest's templates/ folder is missing; pass template_dir")
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(d) for d in dirs])
        self._html = _env(loader, autoescape=True)
        self._text = _env(loader, autoescape=False)
        self._inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
        self.archive_url = safe_url(archive_url)
        self.max_html_bytes = max_html_bytes

    def _context(self, digest: Digest, views: Sequence[ItemView], **extra: Any) -> dict[str, Any]:
        p = digest.profile
        return {
            "profile": p,
            "title": " ".join((p.title or p.name).split()),
            "name": p.name,
            "date": local_date(digest.created, p.timezone),
            "count": count_papers(len(views)),
            "items": views,
            "more": 0,
            "archive_url": self.archive_url,
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
            raw = self._html.get_template("digest.html.j2").render(
                ctx, items=views[:n], more=len(views) - n
            )
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
        text = self._text.get_template("digest.txt.j2").render(
            ctx, items=views[:n], more=len(views) - n
        )
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
        return self._text.get_template("digest.md.j2").render(self._context(digest, views))

    def markdown_html(self, digest: Digest) -> str:
        """`markdown(digest)` as sanitized HTML."""
        md = _markdown.Markdown(output_format="html")  # a fresh one: not thread-safe
        md.ESCAPED_CHARS.extend(c for c in "<|~{}=" if c not in md.ESCAPED_CHARS)
        return sanitize(md.convert(self.markdown(digest)))

    def _feeds(self, feed_urls: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(label, url, MIME type) of each feed with a safe URL."""
        out = []
        for label, url in feed_urls.items():
            kind = next((t for k, t in _FEED_TYPES.items() if k in label.lower()), "")
            if href := safe_url(url):
                out.append((label, href, kind or "application/feed+json"))
        return out

    def archive_page(self, digest: Digest, *, feed_urls: Mapping[str, str] = {}) -> str:
        views = [item_view(p) for p in digest.picks]
        ctx = self._context(digest, views, feeds=self._feeds(feed_urls))
        return self._html.get_template("archive_page.html.j2").render(ctx)

    def archive_index(
        self,
        profile: Profile,
        digests: Sequence[Digest],
        *,
        feed_urls: Mapping[str, str] = {},
        href: Callable[[Digest], str] = page_name,
    ) -> str:
        """Every digest of the profile, newest first, each linking to `href(digest)`."""
        issues = [
            (local_date(d.created, profile.timezone), count_papers(len(d.picks)), href(d))
            for d in sorted(digests, key=lambda d: d.created, reverse=True)
        ]
        return self._html.get_template("archive_index.html.j2").render(
            profile=profile,
            title=" ".join((profile.title or profile.name).split()),
            name=profile.name,
            issues=issues,
            feeds=self._feeds(feed_urls),
            archive_url=self.archive_url,
        )


def sanitize(fragment: str) -> str:
    """An HTML fragment cut down to plain formatting and http(s)/mailto links."""
    schemes = {"http", "https", "mailto"}
    return nh3.clean(fragment, tags=_TAGS, attributes=_ATTRS, url_schemes=schemes)
