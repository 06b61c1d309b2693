"""A profile's liked papers: `like:` entries and `like_file:` exports, as keys.

A `like:` entry is an arXiv id (`2001.08361`, `arXiv:2001.08361v2`), a DOI
(`10.1145/...`, `doi:...`, a doi.org link) or a title. A `like_file:` is a
BibTeX (`.bib`), RIS (`.ris`) or CSL-JSON (`.json`) export, as Zotero, Mendeley
and Google Scholar write them. Each becomes a `Like`: the identity keys the
store knows items by (`digest.identity`: arXiv id, DOI, normalised title),
strongest first, and where it was written (`file:line`). An entry that names
no paper at all is a problem at load (`file:line`); one the store does not hold
is looked up, else reported (`digest.pipeline.liking`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from digest.identity import find_arxiv_id, find_doi, normalize_title, parse_arxiv_id
from digest.models import Candidate
from digest.safe_yaml import Checker, YamlMap

SUFFIXES = {".bib": "BibTeX", ".bibtex": "BibTeX", ".ris": "RIS", ".json": "CSL-JSON"}
_ARXIV_DOI = re.compile(r"10\.48550/arxiv\.(.+)", re.I)  # arXiv's own DOIs name the id
_MAX_BYTES = 20 << 20  # a library export of this size is thousands of papers


@dataclass(frozen=True, slots=True)
class Like:
    """One liked paper as written: its identity keys, strongest first."""

    keys: tuple[str, ...]  # "arxiv:2001.08361", "doi:10.1/x", "title:scaling laws ..."
    text: str  # as written, for messages
    where: str  # "file:line"


def keys_of(arxiv: str = "", doi: str = "", title: str = "") -> tuple[str, ...]:
    """The store's keys for a paper known by any of these (empty ones left out).
    An arXiv DOI (`10.48550/arXiv.<id>`, any case) is its arXiv id."""
    doi = doi.strip()
    named = parse_arxiv_id(m.group(1)) if (m := _ARXIV_DOI.fullmatch(doi)) else None
    found = parse_arxiv_id(arxiv.strip()) if arxiv.strip() else named
    out = [f"arxiv:{found[0]}"] if found else []
    if doi and named is None:  # an arXiv DOI whose id does not parse stays a DOI
        out.append(f"doi:{doi.lower()}")
    if norm := normalize_title(title):
        out.append(f"title:{norm}")
    return tuple(out)


def like_entry(text: str, where: str) -> Like:
    """A `like:` entry: an arXiv id, else a DOI, else a title."""
    bare = text.strip()
    found = parse_arxiv_id(bare.removeprefix("arXiv:").removeprefix("arxiv:"))
    if found is not None and found[0] and len(bare) < 40:
        return Like((f"arxiv:{found[0]}",), text, where)
    if (ident := find_arxiv_id(bare)) is not None and " " not in bare:
        return Like((f"arxiv:{ident[0]}",), text, where)  # an arxiv.org link
    doi = find_doi(bare) if " " not in bare else ""
    if doi:
        return Like(keys_of(doi=doi), text, where)
    return Like(keys_of(title=bare), text, where)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _bib_value(text: str, i: int) -> tuple[str, int]:
    """A BibTeX field value at `i`: {braced}, "quoted" or a bare word."""
    if i < len(text) and text[i] in '{"':
        close, depth, j = ("}" if text[i] == "{" else '"'), 0, i + 1
        while j < len(text):
            ch = text[j]
            if ch == "{":
                depth += 1
            elif ch == "}" and (depth > 0 or close != "}"):
                depth -= 1
            elif ch == close and depth <= 0:
                return text[i + 1 : j], j + 1
            j += 1
        raise ValueError("a field value is not closed")
    m = re.compile(r"[^,}\s]*").match(text, i)
    assert m is not None
    return m.group(0), m.end()


_BIB_START = re.compile(r"^[ \t]*@(\w+)\s*[{(]", re.M)
_BIB_FIELD = re.compile(r"\s*,?\s*([\w-]+)\s*=\s*")


def _bibtex(text: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    for m in _BIB_START.finditer(text):
        kind, line = m.group(1).lower(), _line(text, m.start())
        if kind in ("comment", "string", "preamble"):
            continue
        i = text.find(",", m.end())
        if i < 0:
            yield line, "an entry without fields"
            continue
        fields: dict[str, str] = {}
        i += 1
        try:
            while (f := _BIB_FIELD.match(text, i)) is not None:
                value, i = _bib_value(text, f.end())
                fields[f.group(1).lower()] = " ".join(
                    value.replace("{", "").replace("}", "").split()
                )
        except ValueError as exc:
            yield line, str(exc)
            continue
        yield line, fields


def _ris(text: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    fields: dict[str, str] = {}
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        m = re.match(r"([A-Z][A-Z0-9])  -(?: (.*))?$", raw.strip("\ufeff"))
        if m is None:
            continue
        tag, value = m.group(1), (m.group(2) or "").strip()
        if tag == "TY":
            if start:
                yield start, "an entry without its closing ER"
            fields, start = {}, n
        elif tag == "ER":
            if start:
                yield start, fields
            fields, start = {}, 0
        elif start:
            fields.setdefault(tag.lower(), value)
            if tag in ("UR", "L1", "N1", "M3", "AN"):  # repeatable: all of them may name an id
                fields[tag.lower() + "+"] = fields.get(tag.lower() + "+", "") + " " + value
    if start:
        yield start, "an entry without its closing ER"


def _csl(text: str) -> Iterator[tuple[int, dict[str, str] | str]]:
    decoder = json.JSONDecoder()
    i = text.find("[")
    if i < 0:
        yield 1, "not a CSL-JSON list of items"
        return
    i += 1
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        if i >= len(text) or text[i] == "]":
            return
        try:
            item, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            yield _line(text, exc.pos), f"bad JSON: {exc.msg}"
            return
        line, i = _line(text, i), end
        if not isinstance(item, dict):
            yield line, "an item that is not an object"
            continue
        yield line, {str(k).lower(): v for k, v in item.items() if isinstance(v, str)}


def _from_fields(fields: Mapping[str, str]) -> tuple[tuple[str, ...], str]:
    """Keys and a label from one exported entry's fields (any of the three formats)."""
    title = fields.get("title") or fields.get("ti") or fields.get("t1") or ""
    doi = fields.get("doi") or fields.get("do") or ""
    arxiv = ""
    if fields.get("archiveprefix", "").lower() == "arxiv" or fields.get("eprinttype") == "arxiv":
        arxiv = fields.get("eprint", "")
    if not arxiv:
        context = " ".join(
            fields.get(k, "")
            for k in ("url", "journal", "note", "number", "id", "ur+", "l1+", "n1+", "m3+", "an+")
        )
        found = find_arxiv_id(context, context.replace("arXiv ", "arXiv:"))
        arxiv = found[0] if found else ""
    return keys_of(arxiv=arxiv, doi=find_doi(doi) or doi, title=title), title or doi or arxiv


def read_like_file(path: Path) -> tuple[list[Like], list[str]]:
    """The liked papers of one export, and its problems as `file:line: message`."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        known = ", ".join(sorted(SUFFIXES))
        return [], [f"{path}: like_file: unknown kind of file (use {known})"]
    try:
        if path.stat().st_size > _MAX_BYTES:
            return [], [f"{path}: like_file: over {_MAX_BYTES >> 20} MiB"]
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path}: like_file: cannot read it: {exc}"]
    parse = {"BibTeX": _bibtex, "RIS": _ris, "CSL-JSON": _csl}[kind]
    likes: list[Like] = []
    problems: list[str] = []
    for line, got in parse(text):
        where = f"{path}:{line}"
        if isinstance(got, str):
            problems.append(f"{where}: {kind}: {got}")
            continue
        keys, label = _from_fields(got)
        if not keys:
            problems.append(f"{where}: {kind}: an entry with no title, DOI or arXiv id")
            continue
        likes.append(Like(keys, label, where))
    return likes, problems


def resolve(
    likes: Sequence[Like], found: Mapping[str, Candidate]
) -> tuple[list[Candidate], list[Like]]:
    """The liked papers `found` (the store's items by key) holds, each once and in
    the order written, and the likes it does not hold."""
    papers: dict[int, Candidate] = {}
    missing: list[Like] = []
    for like in likes:
        paper = next((found[k] for k in like.keys if k in found), None)
        if paper is None:
            missing.append(like)
        else:
            papers.setdefault(paper.item_id, paper)
    return list(papers.values()), missing


def profile_likes(
    chk: Checker, top: YamlMap, path: Path, entries: Sequence[str]
) -> tuple[Like, ...]:
    """A profile's `like:` entries (already checked strings) and `like_file:`
    exports (a path or a list of them, relative to the profile's folder); the
    problems of unreadable files and entries go to `chk`."""
    line = getattr(top, "lines", {}).get("like", 0)
    likes = [like_entry(text, f"{path}:{line}") for text in entries]
    raw = top.get("like_file")
    files = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
    if (raw is not None and not files) or not all(isinstance(f, str) and f.strip() for f in files):
        chk.problem(top, "like_file", "like_file", "must be a file name or a list of them")
        return tuple(likes)
    for name in files:
        found, problems = read_like_file(path.parent / Path(name).expanduser())
        likes += found
        chk.problems += problems
    return tuple(likes)
