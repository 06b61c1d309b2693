"""The one allow-list for HTML fragments and the one URL check, for every output.

Feed and profile text is untrusted. Templates escape it; the few places that build
HTML themselves (feed entries, a profile's Markdown description) pass it through
`clean`, which keeps plain formatting and http(s)/mailto links only: no script,
style, event handler or other URL scheme survives. `safe_url` decides which URLs
may become links at all.
"""

from __future__ import annotations

import html
import importlib
import re
from typing import Any
from urllib.parse import urlsplit

import nh3

_markdown: Any = importlib.import_module("markdown")  # no type stubs installed

TAGS = frozenset({"h1", "h2", "h3", "h4", "p", "a", "strong", "em", "code", "mark", "br", "hr"})
TAGS |= {"ul", "ol", "li", "blockquote"}
ATTRIBUTES = {"a": {"href", "title"}}
SCHEMES = frozenset({"http", "https", "mailto"})

# Characters no URL we link may hold: C0/C1 controls, DEL, line and paragraph
# separators, and what XML 1.0 forbids (lone surrogates, U+FFFE/F).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_URL_QUOTE = str.maketrans({" ": "%20", '"': "%22", "'": "%27", "(": "%28", ")": "%29"})
_BLOCK_END = re.compile(r"</(?:p|li|h[1-6]|blockquote|pre|ul|ol)>|<br\s*/?>|<hr\s*/?>", re.I)
_URL_QUOTE.update(str.maketrans({"<": "%3C", ">": "%3E", "\\": "%5C", "`": "%60"}))


def clean(fragment: str) -> str:
    """An HTML fragment cut down to plain formatting and http(s)/mailto links."""
    return str(nh3.clean(fragment, tags=set(TAGS), attributes=ATTRIBUTES, url_schemes=SCHEMES))


def safe_url(url: str, *, mailto: bool = False) -> str:
    """`url` if it is an absolute http(s) URL (or mailto:, when allowed), else "".

    Characters that could end a Markdown link or an HTML attribute are percent-encoded.
    """
    url = url.strip()
    if not url or _UNSAFE.search(url):
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if not ((scheme in ("http", "https") and parts.netloc) or (mailto and scheme == "mailto")):
        return ""
    return url.translate(_URL_QUOTE)


def markdown_html(text: str) -> str:
    """Markdown (a profile's `description:`) as cleaned HTML; "" for blank text."""
    if not text.strip():
        return ""
    md = _markdown.Markdown(output_format="html")  # a fresh one: not thread-safe
    return clean(md.convert(text)).strip()


def markdown_text(text: str) -> str:
    """Markdown as plain text: the words of `markdown_html`, one paragraph per line
    (a paragraph's own line breaks are spaces, as a reader of the HTML sees them)."""
    flowing = _BLOCK_END.sub(r"\g<0>\n", markdown_html(text).replace("\n", " "))
    stripped = nh3.clean(flowing, tags=set())
    lines = (" ".join(line.split()) for line in html.unescape(stripped).splitlines())
    return "\n".join(line for line in lines if line)
