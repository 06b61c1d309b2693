"""Paper identity: the only place that decides whether two entries are one paper.

Pure functions. Keys come in precedence order: arXiv id (no version), DOI,
canonical URL, normalised title. Titles are compared exactly after
normalisation; nothing here merges on a similarity score.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from digest.models import Entry

# New style: YYMM.NNNN (2007-2014) or YYMM.NNNNN (2015 on). Old style:
# archive[.SUBJECT]/YYMMNNN, e.g. hep-th/9901001, math.GT/0309136.
_MM = r"(?:0[1-9]|1[0-2])"
_NEW = rf"(?P<new>(?:0[7-9]|1[0-4]){_MM}\.\d{{4}}(?!\d)|(?:1[5-9]|[2-9]\d){_MM}\.\d{{5}})"
# The subject class (math.GT, cond-mat.mes-hall) is not part of the id: arXiv
# files math.GT/0309136 as math/0309136.
_OLD = (
    r"(?P<old>(?P<arch>[a-z]+(?:-[a-z]+)?)(?:\.[A-Za-z]+(?:-[a-z]+)?)?/"
    rf"(?P<num>\d{{2}}{_MM}\d{{3}}))"
)
_VER = r"(?:v(?P<ver>\d+))?"
_ID = rf"(?:{_NEW}|{_OLD}){_VER}"

_BARE_RE = re.compile(rf"^\s*(?:arxiv:)?{_ID}\s*$", re.IGNORECASE)
# Places an arXiv id is trusted in free text: arXiv URLs, OAI ids, "arXiv:" tags,
# Hugging Face paper pages. A bare number elsewhere is never taken for an id.
_CONTEXT_RE = re.compile(
    r"(?:arxiv\.org/(?:abs|pdf|html|format)/|oai:arxiv\.org:|\barxiv:\s?|huggingface\.co/papers/)"
    + _ID
    + r"(?![\d])",
    re.IGNORECASE,
)
_DOI_RE = re.compile(r"\b(10\.\d{4,9}/[^\s\"'<>]+)", re.IGNORECASE)

_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "ref",
        "ref_src",
        "spm",
    }
)


def _pick(m: re.Match[str]) -> tuple[str, int | None]:
    ident = f"{m.group('arch').lower()}/{m.group('num')}" if m.group("old") else m.group("new")
    ver = m.group("ver")
    return ident, int(ver) if ver else None


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """A bare id such as `2410.17243v2`, `arXiv:hep-th/9901001` -> (id, version)."""
    m = _BARE_RE.match(text)
    return _pick(m) if m else None


def find_arxiv_id(*texts: str) -> tuple[str, int | None] | None:
    """The first arXiv id found in trusted context (URL, OAI id, `arXiv:` tag)."""
    for text in texts:
        if not text:
            continue
        m = _CONTEXT_RE.search(text)
        if m:
            return _pick(m)
    return None


def find_doi(*texts: str) -> str:
    """A DOI from `doi.org/...`, `doi:...` or a bare `10.x/y`; lower case, as DOIs are."""
    for text in texts:
        if not text or "10." not in text:
            continue
        m = _DOI_RE.search(text)
        if m:
            return m.group(1).rstrip(".,;)]").lower()
    return ""


def canonical_url(url: str) -> str:
    """Scheme, host case, default ports, `www.`, tracking parameters and fragments
    normalised, so that links to one page compare equal. "" if not http(s)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    host = host.removeprefix("www.")
    try:
        port = parts.port
    except ValueError:
        return ""
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = re.sub(r"/{2,}", "/", parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in _TRACKING_PARAMS
    ]
    query.sort()
    return urlunsplit(("https", host, path, urlencode(query), ""))


_PUNCT_RE = re.compile(r"[\W_]+", re.UNICODE)
# ASCII: letters lowered, digits kept, everything else (`_` too: it is no word
# character here) a space. The same as the Unicode path below, several times faster.
_ASCII_FOLD = (
    bytes((c | 0x20 if chr(c).isalpha() else c) if chr(c).isalnum() else 0x20 for c in range(128))
    + b" " * 128
)


def normalize_title(title: str) -> str:
    """NFKD, accents dropped, case-folded, punctuation and whitespace (hard
    wraps included) folded to single spaces: "LOGO -- Long" == "LOGO: Long"."""
    if title.isascii():
        return " ".join(title.encode().translate(_ASCII_FOLD).decode().split())
    # The costly Unicode steps only where they can matter.
    decomposed = unicodedata.normalize("NFKD", title)
    title = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _PUNCT_RE.sub(" ", title.casefold()).strip()


def _is_arxiv_host(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return any(host == d or host.endswith("." + d) for d in ("arxiv.org", "huggingface.co"))


def entry_keys(entry: Entry, scope: str = "") -> tuple[str, ...]:
    """Identity keys of an entry, strongest first.

    Links to arXiv or Hugging Face pages are left out when the arXiv id is
    known: the id already says everything such a link says. A guid that is
    not a URL is only unique within its feed, so it is keyed under `scope`
    (the source). An entry with nothing else is known by a hash of its text.
    """
    keys: list[str] = []
    if entry.arxiv_id:
        keys.append(f"arxiv:{entry.arxiv_id}")
    if entry.doi:
        keys.append(f"doi:{entry.doi}")
    if entry.link and not (entry.arxiv_id and _is_arxiv_host(entry.link)):
        url = canonical_url(entry.link)
        if url:
            keys.append(f"url:{url}")
    guid = entry.guid.strip()
    if guid and not entry.arxiv_id:
        url = canonical_url(guid)
        key = f"url:{url}" if url else f"guid:{scope}:{guid}"
        if key not in keys:
            keys.append(key)
    title = normalize_title(entry.title)
    if title:
        keys.append(f"title:{title}")
    elif not keys and entry.summary.strip():
        digest = hashlib.sha1(entry.summary.strip().encode(), usedforsecurity=False)
        keys.append(f"text:{digest.hexdigest()}")
    return tuple(keys)


def conflicts(entry: Entry, item_arxiv: str, item_doi: str) -> bool:
    """True when a weak key (URL, title) matched but a strong id says otherwise."""
    if entry.arxiv_id and item_arxiv and entry.arxiv_id != item_arxiv:
        return True
    return bool(entry.doi and item_doi and entry.doi != item_doi)
