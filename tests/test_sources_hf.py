"""parse_hf on the shipped Daily Papers sample and on malformed responses."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.models import Entry, ParsedDocument
from digest.sources import parse_document, sniff_kind
from digest.sources.hf import parse_hf

SAMPLE = Path(__file__).resolve().parent.parent / "config" / "samples" / "hf-daily-papers.json"


def _doc(items: Any) -> ParsedDocument:
    return parse_hf(json.dumps(items).encode())


@pytest.fixture(scope="module")
def sample() -> ParsedDocument:
    return parse_hf(SAMPLE.read_bytes())


def _by_id(doc: ParsedDocument, arxiv_id: str) -> Entry:
    (hit,) = [e for e in doc.entries if e.arxiv_id == arxiv_id]
    return hit


def test_sample_is_sniffed_as_hf() -> None:
    data = SAMPLE.read_bytes()
    assert sniff_kind(data) == "hf"
    assert parse_document("hf", data) == parse_hf(data)


def test_sample_entries(sample: ParsedDocument) -> None:
    assert len(sample.entries) == 6
    assert sample.skipped == 0
    assert sample.warnings == ()
    for e in sample.entries:
        assert e.link == f"https://huggingface.co/papers/{e.arxiv_id}"
        assert e.pdf_url == f"https://arxiv.org/pdf/{e.arxiv_id}"
        assert e.guid == e.arxiv_id
        assert e.listed_on == date(2025, 11, 20)
        assert e.published is not None
        assert e.published.tzinfo is UTC
        assert e.author_count == len(e.authors) > 0
        assert isinstance(e.upvotes, int)
        assert isinstance(e.num_comments, int)
        for text in (e.title, e.summary):
            assert "\n" not in text
            assert "  " not in text
        for f in dataclasses.fields(e):  # plain values only
            value = getattr(e, f.name)
            assert value is None or type(value) in (str, int, tuple, datetime, date)


def test_sample_fields_of_one_paper(sample: ParsedDocument) -> None:
    e = _by_id(sample, "2511.04217")
    assert e.title == "Critical Batch Size Scales with Data, Not Model Size"
    assert e.summary.startswith("The critical batch size marks the point beyond which doubling")
    assert e.authors == ("Mira Okonkwo", "Tobias Brandt", "Priya Natarajan", "Wen-Hao Lin")
    assert e.published == datetime(2025, 11, 18, 17, 59, 51, tzinfo=UTC)
    assert (e.upvotes, e.num_comments, e.submitted_by) == (41, 3, "Priya Natarajan")
    assert e.version is None


def test_sample_escaping_accents_string_submitter_and_organization(sample: ParsedDocument) -> None:
    tricky = _by_id(sample, "2511.05140")
    assert tricky.title == (
        'When Does "Bigger Batch" Beat More Steps? Token Budgets < 1T & the Critical Regime'
    )
    assert tricky.authors[:2] == ("Léa Moreau", "Jonas Ekström")
    assert tricky.submitted_by == "akhaliq"  # a plain string, not an object
    assert _by_id(sample, "2511.02291").organization == "Scalable Alignment Lab"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty document"),
        (b" \n\t", "empty document"),
        (b"\xef\xbb\xbf", "empty document"),
        (b"[{", "not JSON"),
        (
            b"<html><title>502 Bad Gateway</title></html>",
            "^an HTML page titled '502 Bad Gateway', not JSON$",
        ),
        (b"Rate limit exceeded", "^plain text, not JSON$"),
        (b"\xff\xfe\xfa", "not JSON"),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_unusable_bytes_raise_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_hf(data)


@pytest.mark.parametrize(
    ("top", "detail"),
    [
        ({"error": "Rate limit reached"}, "a JSON object with error 'Rate limit reached'"),
        ({"papers": []}, "a JSON object"),
        ("a string", "a JSON string"),
        (3, "a JSON number"),
        (None, "JSON null"),
    ],
)
def test_a_non_list_response_is_an_error_that_names_it(top: Any, detail: str) -> None:
    # It was an empty document with a warning: a failing API looked like a quiet day.
    with pytest.raises(ValueError, match=f"^{re.escape(detail)}, not a list of papers$"):
        _doc(top)


def test_items_without_paper_or_identity_are_skipped() -> None:
    items = [
        "not an object",
        42,
        None,
        {},
        {"paper": {"summary": "no id, no title"}},
        {"paper": "not an object", "title": "Listed Title Only"},
        {"paper": {"id": "2511.09999"}},
    ]
    doc = _doc(items)
    assert doc.skipped == 5
    assert doc.warnings == ("5 item(s) skipped: not a paper object, or no id and no title",)
    assert [(e.title, e.arxiv_id) for e in doc.entries] == [
        ("Listed Title Only", ""),
        ("", "2511.09999"),
    ]
    assert doc.entries[0].link == ""
    assert doc.entries[0].pdf_url == ""


def test_wrong_field_types_are_ignored_not_fatal() -> None:
    item = {
        "paper": {
            "id": "2410.17243v2",
            "title": ["not", "a", "string"],
            "summary": {"text": "no"},
            "authors": "Alice, Bob",
            "publishedAt": "yesterday",
            "upvotes": "12",
            "organization": ["x"],
        },
        "title": "Fallback\n  Title",
        "publishedAt": 1732060800,
        "numComments": True,
        "submittedBy": {"avatarUrl": "https://example.org/a.png"},
    }
    (e,) = _doc([item]).entries
    assert e.title == "Fallback Title"
    assert (e.arxiv_id, e.version) == ("2410.17243", 2)
    assert e.link == "https://huggingface.co/papers/2410.17243v2"
    assert e.authors == ()
    assert e.author_count is None
    assert (e.published, e.listed_on, e.upvotes, e.num_comments) == (None, None, None, None)
    assert (e.summary, e.submitted_by, e.organization) == ("", "", "")


@pytest.mark.parametrize(
    "pid", ["../../admin?x=<script>", "a/../../settings", "2511.00001 x", "x" * 80, "a..b"]
)
def test_unsafe_ids_never_reach_urls(pid: str) -> None:
    (e,) = _doc([{"paper": {"id": pid, "title": "T"}}]).entries
    assert (e.link, e.pdf_url, e.arxiv_id, e.guid) == ("", "", "", "")


def test_listing_date_falls_back_to_submitted_on_daily_and_is_utc() -> None:
    paper = {"id": "2511.00001", "title": "T", "submittedOnDailyAt": "2025-11-19T23:30:00-02:00"}
    (e,) = _doc([{"paper": paper}]).entries
    assert e.listed_on == date(2025, 11, 20)


def test_old_style_and_non_arxiv_ids() -> None:
    old, other = _doc(
        [
            {"paper": {"id": "hep-th/9901001", "title": "Old"}},
            {"paper": {"id": "not-an-arxiv-id", "title": "Other"}},
        ]
    ).entries
    assert old.arxiv_id == "hep-th/9901001"
    assert old.pdf_url == "https://arxiv.org/pdf/hep-th/9901001"
    assert (other.arxiv_id, other.pdf_url) == ("", "")
    assert other.link == "https://huggingface.co/papers/not-an-arxiv-id"
