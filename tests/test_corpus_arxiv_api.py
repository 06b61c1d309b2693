"""Real arXiv API responses (../shared/corpora/arxiv-api) through parse_feed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.models import ParsedDocument
from digest.sources import parse_document, sniff_kind
from digest.sources.feed import parse_feed

pytestmark = pytest.mark.shared

PAGE_RE = re.compile(r"q_testing_s(\d+)_m(\d+)_")


@pytest.fixture(scope="module")
def docs(arxiv_api_corpus: Path) -> dict[str, ParsedDocument]:
    files = sorted(arxiv_api_corpus.glob("*.xml"))
    assert len(files) >= 20
    return {p.name: parse_feed(p.read_bytes()) for p in files}


def _doc(docs: dict[str, ParsedDocument], prefix: str) -> ParsedDocument:
    (name,) = [n for n in docs if n.startswith(prefix)]
    return docs[name]


def test_every_file_sniffs_as_feed_and_parses(arxiv_api_corpus: Path) -> None:
    for path in sorted(arxiv_api_corpus.glob("*.xml")):
        data = path.read_bytes()
        assert sniff_kind(data) == "feed", path.name
        doc = parse_document("feed", data)
        assert doc.feed_title.startswith("arXiv"), path.name


def test_pages_have_the_requested_size_and_distinct_ids(docs: dict[str, ParsedDocument]) -> None:
    pages = {n: d for n, d in docs.items() if n.startswith("q_testing_")}
    assert len(pages) == 11
    for name, doc in pages.items():
        m = PAGE_RE.match(name)
        assert m is not None
        ids = [e.arxiv_id for e in doc.entries]
        assert len(ids) == int(m.group(2)), name
        assert len(set(ids)) == len(ids), name
        assert doc.skipped == 0
        assert doc.warnings == ()


def test_overlapping_pages_agree_on_ids(docs: dict[str, ParsedDocument]) -> None:
    full = [e.arxiv_id for e in _doc(docs, "q_testing_s0_m100_").entries]
    union: set[str] = set()
    for name, doc in docs.items():
        m = PAGE_RE.match(name)
        if not m:
            continue
        start, size = int(m.group(1)), int(m.group(2))
        ids = [e.arxiv_id for e in doc.entries]
        assert ids == full[start : start + size], name
        union.update(ids)
    # Pages s0..s59 overlap; together with the 100-result page: 100 distinct papers.
    assert len(union) == 100


def test_versions_and_links(docs: dict[str, ParsedDocument]) -> None:
    entries = [e for d in docs.values() for e in d.entries]
    assert len(entries) >= 200
    versions = {e.version for e in entries}
    assert None not in versions
    assert {1, 2, 3} <= versions
    for e in entries:
        assert e.guid == f"http://arxiv.org/abs/{e.arxiv_id}v{e.version}"
        assert e.pdf_url == f"https://arxiv.org/pdf/{e.arxiv_id}v{e.version}"
        assert e.link == f"https://arxiv.org/abs/{e.arxiv_id}v{e.version}"
        assert e.published is not None
        assert e.authors
        assert e.categories
        assert e.summary
        assert "\n" not in e.title + e.summary
        assert "  " not in e.title + e.summary


def test_dois_from_arxiv_doi(docs: dict[str, ParsedDocument]) -> None:
    entries = {e.arxiv_id: e for e in _doc(docs, "q_testing_s0_m10_").entries}
    assert entries["2202.12139"].doi == "10.1109/icstw55395.2022.00035"
    assert entries["2202.12139"].authors == (
        "Mohit Kumar Ahuja",
        "Arnaud Gotlieb",
        "Helge Spieker",
    )
    with_doi = [e for d in docs.values() for e in d.entries if e.doi]
    assert len(with_doi) >= 20
    assert all(e.doi.startswith("10.") and e.doi == e.doi.lower() for e in with_doi)


@pytest.mark.parametrize("prefix", ["id_abc_", "id_0000.0000_", "id_0808.05394_s0"])
def test_invalid_ids_give_no_entries(docs: dict[str, ParsedDocument], prefix: str) -> None:
    doc = _doc(docs, prefix)
    assert doc.entries == ()
    assert doc.skipped == 0


def test_api_error_is_reported(docs: dict[str, ParsedDocument]) -> None:
    assert _doc(docs, "id_abc_").warnings == ("arXiv API error: incorrect id format for abc",)
    assert _doc(docs, "id_0000.0000_").warnings == ()  # zero results is not an error


def test_mixed_valid_and_invalid_id_list(docs: dict[str, ParsedDocument]) -> None:
    (e,) = _doc(docs, "id_0808.05394_1707.08567_").entries
    assert (e.arxiv_id, e.version) == ("1707.08567", 1)


@pytest.mark.parametrize(
    ("prefix", "arxiv_id", "version"),
    [
        ("id_astro-ph_0601001_", "astro-ph/0601001", 1),
        ("id_quant-ph_0201082v1_", "quant-ph/0201082", 1),
        ("id_2104.12255v1_", "2104.12255", 1),
        ("id_1605.08386_", "1605.08386", 1),
    ],
)
def test_single_id_lookups(
    docs: dict[str, ParsedDocument], prefix: str, arxiv_id: str, version: int
) -> None:
    (e,) = _doc(docs, prefix).entries
    assert (e.arxiv_id, e.version) == (arxiv_id, version)
    assert e.title
    assert e.pdf_url.startswith(f"https://arxiv.org/pdf/{arxiv_id}")


def test_old_style_summary_keeps_plain_text_math(docs: dict[str, ParsedDocument]) -> None:
    (e,) = _doc(docs, "id_astro-ph_0601001_").entries
    assert e.title.startswith("Frequency of Hot Jupiters and Very Hot Jupiters")
    assert "Gould & Morgan (2003)" in e.summary
    assert "V_max<17.5" in e.summary  # `<` in a plain-text summary is text, not a tag
