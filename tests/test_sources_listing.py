"""parse_listing: the four real dumps in ../shared/listings and small inline documents."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.identity import normalize_title
from digest.models import Entry, ParsedDocument
from digest.sources.listing import parse_listing

REF = date(2025, 1, 10)
COUNTS = {"000": 24, "001": 256, "002": 42, "003": 80}
ABSTRACT = "We study a problem at length. " * 12  # > 300 characters, like real abstracts


def _utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


@pytest.fixture(scope="module")
def dumps(listings_dir: Path) -> dict[str, bytes]:
    files = {p.name[:3]: p.read_bytes() for p in sorted(listings_dir.glob("*.txt"))}
    assert sorted(files) == sorted(COUNTS)
    return files


@pytest.fixture(scope="module")
def parsed(dumps: dict[str, bytes]) -> dict[str, ParsedDocument]:
    return {k: parse_listing(v, reference_date=REF) for k, v in dumps.items()}


def _by_title(doc: ParsedDocument, prefix: str) -> Entry:
    (hit,) = [e for e in doc.entries if e.title.startswith(prefix)]
    return hit


# --- the real dumps -------------------------------------------------------------------


@pytest.mark.shared
@pytest.mark.parametrize(("prefix", "count"), sorted(COUNTS.items()))
def test_entry_counts_per_file(parsed: dict[str, ParsedDocument], prefix: str, count: int) -> None:
    doc = parsed[prefix]
    assert len(doc.entries) == count
    assert doc.skipped == 0
    assert doc.warnings == ()


@pytest.mark.shared
def test_totals_and_distinct_papers(parsed: dict[str, ParsedDocument]) -> None:
    entries = [e for doc in parsed.values() for e in doc.entries]
    assert len(entries) == 402
    assert len({normalize_title(e.title) for e in entries}) == 383


@pytest.mark.shared
def test_every_entry_has_title_and_abstract(parsed: dict[str, ParsedDocument]) -> None:
    # Checked against the files: every entry there does have an abstract.
    for doc in parsed.values():
        for e in doc.entries:
            assert 0 < len(e.title) < 200, e.title
            assert len(e.summary) > 600, e.title
            assert "\n" not in e.summary
            assert not e.arxiv_id  # the dumps carry no links, so no ids
            assert not e.doi
            assert not e.link


@pytest.mark.shared
def test_glued_header_and_no_blank_lines(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["001"]
    first = doc.entries[0]
    assert first.title == "NGAME: Negative Mining-aware Mini-batching for Extreme Classification"
    assert first.summary.startswith("Extreme Classification (XC) seeks to tag data points")
    # Titles and abstracts simply alternate; a two-word title is still a title.
    layer = doc.entries[5]
    assert layer.title == "Layer Normalization"
    assert layer.summary.startswith("Training state-of-the-art, deep neural networks")
    assert doc.entries[-1].title == (
        "Self-Supervised Prototypical Transfer Learning for Few-Shot Classification"
    )
    assert doc.entries[-1].summary.endswith("requires orders of magnitude fewer labels.")
    # This dump has no page date and no per-entry metadata.
    assert all(e.listed_on is None and e.published is None for e in doc.entries)
    assert all(e.author_count is None and e.upvotes is None for e in doc.entries)


@pytest.mark.shared
def test_page_dates_resolve_against_reference(parsed: dict[str, ParsedDocument]) -> None:
    expected = {"000": date(2024, 3, 11), "002": date(2024, 12, 26), "003": date(2024, 4, 23)}
    for prefix, listed in expected.items():
        assert {e.listed_on for e in parsed[prefix].entries} == {listed}
    assert parsed["000"].entries[0].title.startswith("Size and Shape Constraints of (486958)")
    assert parsed["000"].entries[-1].title.startswith("CenterSnap: Single-Shot Multi-Object")
    assert parsed["003"].entries[1].title == "One Epoch Is All You Need"


@pytest.mark.shared
def test_metadata_attaches_to_the_preceding_abstract(parsed: dict[str, ParsedDocument]) -> None:
    doc = parsed["002"]
    first = doc.entries[0]
    assert first.title == "Learnable Sampler Distillation for Discrete Diffusion Models"
    assert (first.author_count, first.published, first.upvotes) == (3, _utc(2024, 9, 24), None)

    adamp = _by_title(doc, "AdamP: Slowing Down the Slowdown")
    assert adamp.organization == "naver-ai NAVER AI Lab"
    assert adamp.author_count is None
    assert adamp.published == _utc(2020, 6, 15)
    assert adamp.summary.startswith("Normalization techniques are a boon")

    illusion = _by_title(doc, "The Illusion of Diminishing Returns")  # `Sep 11 4`
    assert (illusion.author_count, illusion.published, illusion.upvotes) == (
        5,
        _utc(2024, 9, 11),
        4,
    )
    perceptron = _by_title(doc, "From Logistic Regression to the Perceptron")  # `Dec 11, 2024`
    assert (perceptron.author_count, perceptron.published, perceptron.upvotes) == (
        1,
        _utc(2024, 12, 11),
        None,
    )
    edit = _by_title(doc, "EditReward:")  # org without an authors line, `Sep 30 3`
    assert (edit.organization, edit.author_count, edit.upvotes) == ("TIGER-Lab TIGER-Lab", None, 3)
    assert _by_title(doc, "Orca: Progressive Learning").upvotes == 18  # `Jun 5, 2023 18`
    diffgrad = _by_title(doc, "diffGrad:")  # `Sep 12, 2019 1`
    assert (diffgrad.published, diffgrad.upvotes, diffgrad.author_count) == (
        _utc(2019, 9, 12),
        1,
        6,
    )
    assert _by_title(doc, "BoostStep:").published == _utc(2024, 1, 6)  # `Jan 6 2`, before Dec 26

    # Two entries carry no metadata at all; their neighbours keep their own.
    for bare in ("Robust Layerwise Scaling Rules", "Step-Video-T2V Technical Report"):
        e = _by_title(doc, bare)
        assert (e.author_count, e.published, e.upvotes, e.organization) == (None, None, None, "")
        assert len(e.summary) > 1000
    after = _by_title(doc, "Understanding Self-attention Mechanism")
    assert (after.author_count, after.published) == (5, _utc(2023, 8, 19))

    assert sum(e.author_count is not None for e in doc.entries) == 38
    assert sum(e.upvotes is not None for e in doc.entries) == 9
    assert sum(e.author_count or 0 for e in doc.entries) == 240
    assert all(e.published is not None for e in doc.entries if e.author_count or e.organization)


@pytest.mark.shared
def test_year_resolution_follows_reference(dumps: dict[str, bytes]) -> None:
    late = parse_listing(dumps["002"], reference_date=date(2025, 12, 31))
    assert late.entries[0].listed_on == date(2025, 12, 26)
    assert late.entries[0].published == _utc(2025, 9, 24)
    assert _by_title(late, "From Logistic Regression").published == _utc(2024, 12, 11)

    # Without a reference nothing year-less is guessed; explicit years still count.
    bare = parse_listing(dumps["002"])
    assert all(e.listed_on is None for e in bare.entries)
    assert bare.entries[0].published is None
    assert _by_title(bare, "AdamP:").published == _utc(2020, 6, 15)
    assert sum(e.published is not None for e in bare.entries) == 27
    assert any("no reference_date" in w for w in bare.warnings)


@pytest.mark.shared
def test_str_and_bytes_agree(dumps: dict[str, bytes]) -> None:
    for raw in dumps.values():
        text = raw.decode("utf-8")
        assert parse_listing(text, reference_date=REF) == parse_listing(raw, reference_date=REF)
        crlf = text.replace("\n", "\r\n").encode()
        assert parse_listing(crlf, reference_date=REF) == parse_listing(raw, reference_date=REF)


# --- inline documents -----------------------------------------------------------------


def _doc(*lines: str) -> str:
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("data", [b"", "", b"\n\n  \n", "   \r\n\t\n"])
def test_empty_document(data: bytes | str) -> None:
    with pytest.raises(ValueError, match="empty document"):
        parse_listing(data)


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 8,  # has NULs
        b"\x89PNG\r\n\x1a\n" + bytes(range(0x80, 0x100)) * 40,  # no NUL, not UTF-8
        b"GIF89a" + b"\x01\x02\x03\x04\x05\x06\x07\x08" * 50,  # control bytes
        "title\x00\nabstract",
    ],
)
def test_binary_is_not_a_listing(data: bytes | str) -> None:
    with pytest.raises(ValueError, match="not a text listing"):
        parse_listing(data)


def test_headers_only_has_no_entries() -> None:
    page = _doc("new", "Get trending papers in your email inbox!", "Subscribe", "Daily Papers")
    with pytest.raises(ValueError, match="no paper entries found"):
        parse_listing(page + "byAK and the research community\n\nMar 11\n", reference_date=REF)


def test_short_and_date_like_titles_stay_titles() -> None:
    doc = parse_listing(
        _doc(
            "Subscribe",
            "Mar 11",
            "Video Diffusion Models",
            ABSTRACT,
            "Mar 12",  # a title that looks like a date line: no `·` before it
            "A short abstract.",
            "Daily Papers",  # a header string after the header is a title too
            ABSTRACT,
            "Layer Normalization",
            ABSTRACT,
        ),
        reference_date=REF,
    )
    assert [e.title for e in doc.entries] == [
        "Video Diffusion Models",
        "Mar 12",
        "Daily Papers",
        "Layer Normalization",
    ]
    assert doc.entries[1].summary == "A short abstract."
    assert all(e.published is None and e.listed_on == date(2024, 3, 11) for e in doc.entries)
    assert doc.warnings == ()


def test_glued_header_is_split_but_lookalike_titles_are_not() -> None:
    glued = parse_listing(_doc("SubscribeNGAME: Fast", ABSTRACT))
    assert glued.entries[0].title == "NGAME: Fast"
    for title in ("Subscriber Churn Prediction", "Daily Papers: A Dataset"):
        assert parse_listing(_doc(title, ABSTRACT)).entries[0].title == title


def test_missing_abstract_is_kept_with_a_warning() -> None:
    doc = parse_listing(
        _doc("Dec 26", "No Abstract Here", "  • 3 authors", "·", "Sep 24", "Next Paper", ABSTRACT),
        reference_date=REF,
    )
    first, second = doc.entries
    assert (first.title, first.summary, first.author_count) == ("No Abstract Here", "", 3)
    assert first.published == _utc(2024, 9, 24)
    assert second.title == "Next Paper"
    assert second.summary == ABSTRACT.strip()
    assert doc.warnings == ("no abstract for 'No Abstract Here'",)
    # Title, then straight the next title and its abstract: no layout metadata at all.
    doc = parse_listing(_doc("Lonely Title", "Next Paper", ABSTRACT))
    assert [(e.title, bool(e.summary)) for e in doc.entries] == [
        ("Lonely Title", False),
        ("Next Paper", True),
    ]


def test_stray_metadata_and_extra_paragraphs() -> None:
    doc = parse_listing(_doc(ABSTRACT, "Paper", ABSTRACT, ABSTRACT + "Second.", "·", "Sep 24"))
    assert doc.skipped == 1  # the abstract with no title before it
    (entry,) = doc.entries
    assert entry.summary == f"{ABSTRACT.strip()}\n\n{ABSTRACT}Second."
    assert entry.published is None  # year-less, and no reference date
    assert "year-less dates left unresolved: no reference_date given" in doc.warnings


def test_ids_only_from_a_link_line() -> None:
    doc = parse_listing(
        _doc(
            "Linked Paper",
            ABSTRACT + " We build on arXiv:2101.00001 and doi:10.1000/xyz.",
            "  • 1 author",
            "https://arxiv.org/abs/2401.01234v2",
            "·",
            "Feb 29",
            "Unlinked Paper",
            ABSTRACT + " See arXiv:2101.00001 and https://doi.org/10.1000/abc.",
            "https://doi.org/10.1145/ABC.123",
        ),
        reference_date=date(2025, 3, 5),
    )
    linked, doi = doc.entries
    assert (linked.arxiv_id, linked.version, linked.doi) == ("2401.01234", 2, "")
    assert linked.link == "https://arxiv.org/abs/2401.01234v2"
    assert linked.author_count == 1
    assert linked.published == _utc(2024, 2, 29)  # latest Feb 29 on or before 2025-03-05
    assert (doi.arxiv_id, doi.doi) == ("", "10.1145/abc.123")


def test_invalid_dates_warn() -> None:
    doc = parse_listing(_doc("Paper", ABSTRACT, "·", "Feb 30, 2024 7"), reference_date=REF)
    (entry,) = doc.entries
    assert (entry.published, entry.upvotes) == (None, 7)
    assert doc.warnings == ("invalid date in the entry 'Paper'",)


def test_stray_bytes_are_replaced_not_fatal() -> None:
    doc = parse_listing(_doc("Caf\xe9 Paper", ABSTRACT).encode("latin-1"))
    assert doc.entries[0].title == "Caf\ufffd Paper"
    assert doc.warnings == ("1 invalid UTF-8 sequences replaced",)


def test_entries_equal_normally_built_entries() -> None:
    doc = parse_listing(
        _doc("Dec 26", "Paper", ABSTRACT, "org Org", "·", "Sep 11 4"), reference_date=REF
    )
    expected = Entry(
        title="Paper",
        summary=ABSTRACT.strip(),
        published=_utc(2024, 9, 11),
        listed_on=date(2024, 12, 26),
        upvotes=4,
        organization="org Org",
    )
    (entry,) = doc.entries
    assert type(entry) is Entry
    assert entry == expected
    assert hash(entry) == hash(expected)
    assert dataclasses.asdict(entry) == dataclasses.asdict(expected)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.title = "x"  # type: ignore[misc]


def test_page_date_with_year_anchors_entries_without_reference() -> None:
    doc = parse_listing(_doc("Mar 11, 2024", "Paper", ABSTRACT, "·", "Mar 12"))
    (entry,) = doc.entries
    assert entry.listed_on == date(2024, 3, 11)
    assert entry.published == _utc(2023, 3, 12)  # the latest Mar 12 not after the page date
    assert doc.warnings == ()


def test_bytes_are_decoded_a_block_at_a_time_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from digest.sources import listing

    entry = "Paper {i} • “quoted” ·\n{abstract}\n  • {i} authors\n·\nNov {day} {i}"
    parts = ["Nov 20", *(entry.format(i=i, abstract=ABSTRACT, day=i % 28 + 1) for i in range(60))]
    for nl in ("\n", "\r\n", "\r"):
        data = nl.join(nl.join(p.split("\n")) for p in parts).encode()
        whole = parse_listing(data, reference_date=REF)
        monkeypatch.setattr(listing, "_BLOCK", 7)  # a block a line or two
        assert parse_listing(data, reference_date=REF) == whole
        assert parse_listing(data.decode(), reference_date=REF) == whole
        # A bad byte in a late block falls back to decoding the whole, with a warning.
        bad = parse_listing(data + nl.encode() + b"caf\xe9", reference_date=REF)
        monkeypatch.undo()
        assert bad.entries[:-1] == whole.entries
        assert bad.entries[-1].title == "caf\ufffd"
        assert bad.warnings[0] == "1 invalid UTF-8 sequences replaced"
        assert len(whole.entries) == 60
