"""All rendering: digests as Markdown, plain text and email HTML; archive pages and
feeds; the MIME bytes of every mail. Pure: no I/O but reading templates, no clock
(dates come from `Digest.created`, or a `now` passed in).

    digests.py   Renderer: digests (Markdown, text, email HTML) and archive pages
    views.py     what every format shows of a pick (ItemView), text helpers
    links.py     paper_links: the one rule for a paper's links (arXiv, Hugging Face, own)
    env.py       the one Jinja environment (bundled templates, optional override folder)
    sanitize.py  the one nh3 allow-list, the one `safe_url`, Markdown descriptions
    mime.py      the one MIME builder: digest mails and the web's confirmation mails
    feeds.py     RSS and Atom documents
    archive.py   the files published (site index; a profile's pages, index, feeds) as bytes

Feed text is untrusted: HTML templates autoescape, only http(s) URLs become links,
Markdown metacharacters are escaped, and HTML built from Markdown goes through nh3.

Everything public is importable from `digest.render`.
"""

from __future__ import annotations

from digest.render.archive import profile_url, publication, relinked, site_index, to_write
from digest.render.digests import Prepared, Renderer
from digest.render.env import environment
from digest.render.links import Links, paper_links
from digest.render.mime import (
    DigestMail,
    Outgoing,
    Recipient,
    confirmation_mail,
    header_value,
    message_id,
    sender,
    subject,
)
from digest.render.sanitize import clean, markdown_html, markdown_text, safe_url
from digest.render.views import (
    WIDTH,
    ItemView,
    count_papers,
    highlight,
    item_view,
    local_date,
    md_escape,
    page_name,
    papers,
    short_authors,
    snippet,
    source_label,
    sources_line,
    wrap,
    zone,
)

__all__ = [
    "WIDTH",
    "DigestMail",
    "ItemView",
    "Links",
    "Outgoing",
    "Prepared",
    "Recipient",
    "Renderer",
    "clean",
    "confirmation_mail",
    "count_papers",
    "environment",
    "header_value",
    "highlight",
    "item_view",
    "local_date",
    "markdown_html",
    "markdown_text",
    "md_escape",
    "message_id",
    "page_name",
    "paper_links",
    "papers",
    "profile_url",
    "publication",
    "relinked",
    "safe_url",
    "sender",
    "short_authors",
    "site_index",
    "snippet",
    "source_label",
    "sources_line",
    "subject",
    "to_write",
    "wrap",
    "zone",
]
