"""What every format shows of a pick, and the small text helpers the templates use.

Every format is rendered from the same item views, built once per digest: title,
safe links (`links.paper_links`), short author list, sources line, the score and
the reasons that make it, and a snippet with the matched terms marked. Text stays
plain here; templates escape it (HTML), `md_escape` it (Markdown) or `wrap` it
(plain text).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.issues import IssueHead
from digest.models import Candidate, Digest, Pick, Seen, Term
from digest.reasons import number
from digest.render.links import paper_links
from digest.selection.match import normalize_text

WIDTH = 78  # plain-text columns
SNIPPET_CHARS = 600  # a mail's excerpt of the abstract: a paragraph, not a sentence
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = "January February March April May June July August September October November December"
_WORD = re.compile(r"[^\W_]+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~{}])")
_MD_LEAD = re.compile(r"^(\s*)([-+=])")  # list items, setext underlines
_MD_NUM = re.compile(r"^(\s*\d+)([.)])")
_MD_ENTITY = re.compile(r"&(?=#?\w+;)")
# A location, not a name: absolute, relative with ./ ../ ~, or a/b.ext
_PATH = re.compile(r"^(?:[/~]|\.{1,2}[/\\]|[A-Za-z]:[/\\]|[^<>\s]*[/\\][^/\\<>\s]*\.\w{1,5}$)")


def short_authors(authors: Sequence[str], n: int = 3) -> str:
    """ "A, B, C and 5 others"; all names when at most n + 1 (never "and 1 others")."""
    names = [" ".join(a.split()) for a in authors if a.strip()]
    if len(names) > n + 1:
        return f"{', '.join(names[:n])} and {len(names) - n} others"
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The text, whitespace collapsed, cut to at most `limit` characters at the last
    word boundary that fits (unless that keeps under a third: a URL or a run of
    symbols is cut where it is); "…" marks a cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    space = text.rfind(" ", 0, limit - 1)
    if space < limit // 3:
        return text[: limit - 1] + "…"
    body = text[:space].rstrip(" ,;:-–—")
    return body + (" …" if body.endswith((".", "!", "?")) else "…")


@lru_cache(maxsize=4096)
def _term_tokens(term: str) -> tuple[tuple[str, ...], ...]:
    """The token sequences a (non-regex) term is found by: as written, and a
    multi-word term also written together."""
    toks = tuple(normalize_text(term).split())
    if len(toks) > 1:
        return toks, tuple(normalize_text("".join(_WORD.findall(term))).split())
    return (toks,) if toks else ()


@lru_cache(maxsize=65_536)
def _word_tokens(word: str) -> tuple[str, ...]:
    return tuple(normalize_text(word).split())


def highlight(text: str, terms: Sequence[str]) -> tuple[tuple[str, bool], ...]:
    """`text` as (segment, matched) pairs: the terms found as the matcher finds them
    (whole words, plural = singular, hyphen = space = nothing; `/regex/` as is)."""
    by_first: dict[str, set[tuple[str, ...]]] = {}  # each pattern under its first token
    spans: list[tuple[int, int]] = []
    for term in terms:
        if Term(term).is_regex:
            try:
                rx = re.compile(term[1:-1], re.IGNORECASE)
            except re.error:
                continue
            spans += [m.span() for m in rx.finditer(text) if m.end() > m.start()]
        else:
            for p in _term_tokens(term):
                by_first.setdefault(p[0], set()).add(p)
    if by_first:
        words = [(m.span(), w) for m in _WORD.finditer(text) for w in _word_tokens(m[0])]
        norm = [w for _, w in words]
        for i, w in enumerate(norm):
            for p in by_first.get(w, ()):
                if len(p) == 1 or tuple(norm[i : i + len(p)]) == p:
                    spans.append((words[i][0][0], words[i + len(p) - 1][0][1]))
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


def wrap(text: str, first: str = "", indent: str = "", width: int = WIDTH, sep: str = "") -> str:
    """`text` filled to `width` columns; URLs are never broken (a long one gets its own
    line), other over-long words are. With `sep` (" + ", " · "), lines break only
    between the parts it separates (the separator ends the line), unless one part
    alone is too long."""
    if first and len(first) == len(indent) and first != indent:
        # Lines break by lengths alone: filled under `indent`, then `first` put in, so
        # an item's title is filled once whatever its number.
        lines = _filled(text, indent, indent, width, sep)
        return first + lines[len(indent) :] if lines.startswith(indent) else lines
    return _filled(text, first, indent, width, sep)


# Pure, and a personal digest's papers are mostly those of its profile's digest: their
# lines are filled once (bench/render.py, feedback part).
@lru_cache(maxsize=32_768)
def _filled(text: str, first: str, indent: str, width: int, sep: str) -> str:
    if sep and sep in text:
        return _wrap_parts(text.split(sep), sep.strip(), first, indent, width)
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


def _wrap_parts(parts: list[str], mark: str, first: str, indent: str, width: int) -> str:
    texts = [t for t in (" ".join(p.split()) for p in parts) if t]  # "a ·  · b": no gap
    if len(texts) < 2:
        return wrap(" ".join(texts), first, indent, width)
    last = len(texts) - 1
    lines: list[str] = []  # finished lines, with their lead
    line = ""  # the line being filled, with its lead
    for n, text in enumerate(texts):
        tail = f" {mark}" if n < last else ""
        piece = text + tail
        if line and len(line) + 1 + len(piece) <= width:
            line += " " + piece
            continue
        if line:
            lines.append(line)
        lead = indent if lines else (first or indent)
        if len(lead) + len(piece) <= width:
            line = lead + piece
            continue
        # One part alone is too long: filled as words, its mark still ending its last
        # line (narrower by the mark if it would not fit, unless that line is a URL).
        *done, line = wrap(text, lead, indent, width).splitlines()
        if tail and len(line) + len(tail) > width and len(line) <= width:
            *done, line = wrap(text, lead, indent, width - len(tail)).splitlines()
        lines += done
        line += tail
    return "\n".join([*lines, line] if line else lines)


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


def papers(n: int, what: str = "new paper") -> str:
    """ "1 new paper", "12 new papers", "0 new papers": the one place a count is spelled."""
    return f"{n} {what}{'s' * (n != 1)}"


def count_papers(n: int) -> str:
    """The count a digest shows: `papers(n)`, but "No new papers" for none."""
    return "No new papers" if n == 0 else papers(n)


def issue_head(digest: Digest | IssueHead, top: int = 3) -> IssueHead:
    """What an index line and a feed of issues show of an issue."""
    if isinstance(digest, IssueHead):
        return digest
    titles = tuple(p.candidate.title or p.candidate.key for p in digest.picks[:top])
    return IssueHead(digest.profile, digest.id, digest.created, len(digest.picks), titles)


def page_name(digest: Digest | IssueHead) -> str:
    """The archive file of one digest: its date in the profile's time zone, then its id."""
    local = digest.created.astimezone(zone(digest.profile.timezone))
    return f"{local:%Y-%m-%d}-{digest.id}.html"


def source_label(name: str) -> str:
    """A source as a reader sees it: its configured name; for one named by its
    location (a path or URL given on the command line), the host and path or
    the file name, not the whole location."""
    name = " ".join(name.split())
    if "://" in name:
        rest = name.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0]
        return rest.rstrip("/") or name
    if _PATH.match(name):
        return re.split(r"[/\\]", name.rstrip("/\\"))[-1] or name
    return name


def sources_line(seen: Sequence[Seen], upvotes: int | None = None, most: int = 4) -> str:
    """ "from arxiv-cs-lg (new), hf-daily · ▲ 42, 3 comments · cs.LG, cs.CL": each fact
    once. The sources by name (with arXiv's announcement type), then the votes and
    comments (the most any source reported; `upvotes` when none did), then up to
    `most` categories or tags, kept apart from the names."""
    names: dict[str, str] = {}  # label -> announcement type
    cats: dict[str, str] = {}  # folded -> as first written
    votes: int | None = None
    comments: int | None = None
    for s in seen:
        label = source_label(s.source)
        names[label] = s.announce_type or names.get(label, "")
        if s.upvotes is not None:
            votes = max(votes or 0, s.upvotes)
        if s.num_comments is not None:
            comments = max(comments or 0, s.num_comments)
        for c in s.categories:
            if c := " ".join(c.split()):
                cats.setdefault(c.casefold(), c)
    if votes is None:
        votes = upvotes
    parts = []
    if names:
        parts.append("from " + ", ".join(f"{n} ({a})" if a else n for n, a in names.items()))
    if votes is not None:
        tail = f", {comments} comment{'s' * (comments != 1)}" if comments else ""
        parts.append(f"▲ {votes}{tail}")
    elif comments:
        parts.append(f"{comments} comment{'s' * (comments != 1)}")
    if cats:
        parts.append(", ".join(list(cats.values())[:most]))
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
    because: str  # "batch size 4 (title ×2) + …", the reasons that make `score`
    snippet: tuple[tuple[str, bool], ...]  # (text, matched) segments
    links: tuple[tuple[str, str], ...]  # (label, url): Abstract, PDF, Hugging Face
    adds_up: bool = True  # `because` is a sum ("Score 7 = …"); an old record's list is not
    item_id: int = 0
    feedback: tuple[tuple[str, str], ...] = ()  # (label, url): more / less like this, in mail

    @property
    def snippet_text(self) -> str:
        return "".join(s for s, _ in self.snippet)

    @property
    def why(self) -> str:
        """The explanation line: "Score 7 = scaling law 6 (title ×2) + …"."""
        if not self.because:
            return f"Score {self.score}"
        return f"Score {self.score} {'=' if self.adds_up else '·'} {self.because}"


@lru_cache(maxsize=2048)  # a cycle's mail and its archive page show the same picks
def item_view(pick: Pick) -> ItemView:
    terms = tuple(dict.fromkeys(h.term for h in pick.matched if h.field != "author"))
    return replace(
        _paper_view(pick.candidate, terms),
        score=number(pick.score),
        because=" ".join(pick.because().split()) if pick.matched or pick.reasons else "",
        adds_up=bool(pick.reasons),
    )


@lru_cache(maxsize=8192)  # a paper picked for a profile and for its personal digests
def _paper_view(c: Candidate, terms: tuple[str, ...]) -> ItemView:
    """What an item shows of the paper itself, whatever its score (filled in after)."""
    links = paper_links(c)
    return ItemView(
        key=c.key,
        title=" ".join(c.title.split()) or "(untitled)",
        url=links.url,
        authors=short_authors(c.authors),
        sources=sources_line(c.seen, c.upvotes),
        score="",
        because="",
        snippet=highlight(snippet(c.summary), terms),
        links=links.labelled(),
        item_id=c.item_id,
    )
