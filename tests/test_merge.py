"""Folding sightings of one paper into its stored state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import permutations

import pytest

from digest.models import Entry
from digest.store.merge import (
    RANK,
    ItemState,
    first_values,
    from_row,
    merge,
    new_state,
    stored_row,
    values_of,
)

FEED, HF, LISTING = RANK["feed"], RANK["hf"], RANK["listing"]
T0 = datetime(2024, 10, 22, 17, 59, tzinfo=UTC)
T1 = datetime(2024, 10, 23, 4, 0, tzinfo=UTC)
T2 = datetime(2024, 10, 25, 12, 0, tzinfo=UTC)


def _entry(**kw: object) -> Entry:
    base: dict[str, object] = {
        "title": "LOGO -- Long Context Alignment",
        "summary": "v1 abstract",
        "authors": ("A. One", "B. Two"),
        "link": "https://arxiv.org/abs/2410.18533v1",
        "pdf_url": "https://arxiv.org/pdf/2410.18533v1",
        "arxiv_id": "2410.18533",
        "version": 1,
        "published": T1,
        "categories": ("cs.CL",),
    }
    base.update(kw)
    return Entry(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("order", list(permutations(["feed", "hf", "listing"])))
def test_a_feed_s_text_beats_hf_s_which_beats_a_listing_s(order: tuple[str, ...]) -> None:
    """Whatever order the three sources report one paper in, the text kept is that of
    the best source that has given it so far."""
    state: ItemState | None = None
    kept = []
    for kind in order:
        entry = _entry(title=f"{kind} title", summary=f"{kind} summary")
        state = new_state(entry, RANK[kind]) if state is None else merge(state, entry, RANK[kind])
        kept.append(state.title)
    best = ["feed", "hf", "listing"]
    assert kept == [f"{min(order[: n + 1], key=best.index)} title" for n in range(3)]
    assert state is not None
    assert (state.summary, state.quality) == ("feed summary", RANK["feed"])


# --------------------------------------------------------------------------- new_state


def test_new_state_copies_the_entry() -> None:
    e = _entry(doi="10.1000/xyz", upvotes=5)
    s = new_state(e, HF)
    assert s == ItemState(
        title=e.title,
        summary=e.summary,
        authors=e.authors,
        author_count=2,
        link=e.link,
        pdf_url=e.pdf_url,
        arxiv_id="2410.18533",
        version=1,
        doi="10.1000/xyz",
        published=T1,
        categories=("cs.CL",),
        upvotes=5,
        quality=HF,
    )


@pytest.mark.parametrize(
    ("authors", "author_count", "expected"),
    [
        (("A", "B", "C"), None, 3),
        ((), None, None),
        ((), 7, 7),  # a listing gives a count but no names
        (("A",), 1, 1),
    ],
)
def test_new_state_author_count(
    authors: tuple[str, ...], author_count: int | None, expected: int | None
) -> None:
    assert new_state(_entry(authors=authors, author_count=author_count), FEED).author_count == (
        expected
    )


@pytest.mark.parametrize(
    ("link", "arxiv_id", "expected"),
    [
        ("https://example.com/p", "2410.18533", "https://example.com/p"),
        ("", "2410.18533", "https://arxiv.org/abs/2410.18533"),
        ("", "", ""),
    ],
)
def test_new_state_link_falls_back_to_abs_page(link: str, arxiv_id: str, expected: str) -> None:
    assert new_state(_entry(link=link, arxiv_id=arxiv_id), LISTING).link == expected


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize("state_rank", [FEED, HF, LISTING])
@pytest.mark.parametrize("entry_rank", [FEED, HF, LISTING])
def test_newer_version_replaces_text_whatever_the_rank(state_rank: int, entry_rank: int) -> None:
    state = new_state(_entry(), state_rank)
    v2 = _entry(
        title="LOGO: Long Context Alignment (revised)",
        summary="v2 abstract",
        authors=("A. One", "B. Two", "C. Three"),
        link="https://example.com/v2",
        version=2,
    )
    out = merge(state, v2, entry_rank)
    assert out.title == v2.title
    assert out.summary == "v2 abstract"
    assert out.authors == v2.authors
    assert out.author_count == 3
    assert out.link == "https://example.com/v2"
    assert out.version == 2


def test_first_version_number_counts_as_newer() -> None:
    state = new_state(_entry(version=None), FEED)
    out = merge(state, _entry(summary="versioned", version=1), LISTING)
    assert out.summary == "versioned"
    assert out.version == 1


@pytest.mark.parametrize(("low", "high"), [(LISTING, HF), (LISTING, FEED), (HF, FEED)])
def test_higher_rank_text_replaces_lower(low: int, high: int) -> None:
    state = new_state(_entry(title="low title", summary="low summary", authors=("X",)), low)
    out = merge(state, _entry(title="high title", summary="high summary"), high)
    assert (out.title, out.summary, out.authors) == (
        "high title",
        "high summary",
        ("A. One", "B. Two"),
    )
    assert out.quality == high


@pytest.mark.parametrize(
    ("high", "low"), [(FEED, HF), (FEED, LISTING), (HF, LISTING), (FEED, FEED), (HF, HF)]
)
def test_lower_or_equal_rank_does_not_replace_text(high: int, low: int) -> None:
    state = new_state(_entry(title="kept", summary="kept summary", link="https://k/"), high)
    out = merge(
        state,
        _entry(title="other", summary="other summary", authors=("Z",), link="https://o/"),
        low,
    )
    assert (out.title, out.summary, out.authors, out.link) == (
        "kept",
        "kept summary",
        ("A. One", "B. Two"),
        "https://k/",
    )
    assert out.quality == high


def test_lower_rank_fills_only_empty_fields() -> None:
    state = new_state(
        _entry(title="Feed title", summary="", authors=(), link="", pdf_url="", arxiv_id=""),
        FEED,
    )
    assert state.link == ""
    out = merge(
        state,
        _entry(
            title="Listing title",
            summary="listing summary",
            authors=("L. Author",),
            link="https://example.com/listing",
            pdf_url="https://example.com/listing.pdf",
            arxiv_id="",
        ),
        LISTING,
    )
    assert out.title == "Feed title"
    assert out.summary == "listing summary"
    assert out.authors == ("L. Author",)
    assert out.author_count == 1
    assert out.link == "https://example.com/listing"
    assert out.pdf_url == "https://example.com/listing.pdf"
    assert out.quality == FEED


def test_empty_fields_of_a_better_entry_do_not_erase() -> None:
    state = new_state(_entry(title="t", summary="s", authors=("A",), link="https://l/"), LISTING)
    out = merge(state, _entry(title="", summary="", authors=(), link="", version=2), FEED)
    assert (out.title, out.summary, out.authors, out.link) == ("t", "s", ("A",), "https://l/")
    assert out.version == 2


def test_empty_link_falls_back_to_abs_page_when_id_arrives() -> None:
    state = new_state(_entry(link="", arxiv_id=""), LISTING)
    assert state.link == ""
    out = merge(state, _entry(link="", arxiv_id="2410.18533"), LISTING)
    assert out.link == "https://arxiv.org/abs/2410.18533"
    assert out.arxiv_id == "2410.18533"


def test_pdf_url_is_kept_once_known() -> None:
    state = new_state(_entry(pdf_url="https://a/1.pdf"), LISTING)
    out = merge(state, _entry(pdf_url="https://a/2.pdf", version=2), FEED)
    assert out.pdf_url == "https://a/1.pdf"


def test_older_version_never_replaces_newer_text() -> None:
    state = new_state(_entry(title="v2 title", summary="v2 abstract", version=2), LISTING)
    out = merge(state, _entry(title="v1 title", summary="v1 abstract", version=1), FEED)
    assert out.version == 2
    assert (out.title, out.summary) == ("v2 title", "v2 abstract")


def test_same_new_version_from_better_source_replaces_lower_rank_text() -> None:
    state = new_state(_entry(title="feed v1", summary="feed v1"), FEED)
    state = merge(state, _entry(title="hf v2", summary="hf v2", version=2), HF)
    assert state.summary == "hf v2"
    out = merge(state, _entry(title="feed v2", summary="feed v2", version=2), FEED)
    assert (out.title, out.summary) == ("feed v2", "feed v2")


# --------------------------------------------------------------------------- other fields


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (T1, T0, T0),
        (T0, T1, T0),
        (T1, T1, T1),
        (None, T1, T1),
        (T1, None, T1),
        (None, None, None),
    ],
)
def test_published_keeps_the_earliest(
    first: datetime | None, second: datetime | None, expected: datetime | None
) -> None:
    state = new_state(_entry(published=first), FEED)
    assert merge(state, _entry(published=second, version=2), LISTING).published == expected
    assert merge(state, _entry(published=second), FEED).published == expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (("cs.CL", "cs.AI"), ("cs.LG", "cs.CL"), ("cs.CL", "cs.AI", "cs.LG")),
        (("cs.CL",), ("cs.CL",), ("cs.CL",)),
        ((), ("cs.LG", "stat.ML"), ("cs.LG", "stat.ML")),
        (("cs.LG", "stat.ML"), (), ("cs.LG", "stat.ML")),
        (("b",), ("a", "c", "b"), ("b", "a", "c")),
    ],
)
def test_categories_union_in_order(
    first: tuple[str, ...], second: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    state = new_state(_entry(categories=first), FEED)
    assert merge(state, _entry(categories=second), LISTING).categories == expected
    assert merge(state, _entry(categories=second, version=2), LISTING).categories == expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [(3, 10, 10), (10, 3, 10), (None, 4, 4), (4, None, 4), (None, None, None), (0, 0, 0)],
)
def test_upvotes_keep_the_max(first: int | None, second: int | None, expected: int | None) -> None:
    state = new_state(_entry(upvotes=first), HF)
    assert merge(state, _entry(upvotes=second), FEED).upvotes == expected
    assert merge(state, _entry(upvotes=second), LISTING).upvotes == expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [(1, 3, 3), (3, 1, 3), (None, 2, 2), (2, None, 2), (None, None, None)],
)
def test_version_keeps_the_max(first: int | None, second: int | None, expected: int | None) -> None:
    state = new_state(_entry(version=first), LISTING)
    assert merge(state, _entry(version=second), FEED).version == expected


@pytest.mark.parametrize("rank", [FEED, HF, LISTING])
def test_ids_are_filled_once_and_never_overwritten(rank: int) -> None:
    state = new_state(_entry(arxiv_id="", doi=""), LISTING)
    filled = merge(state, _entry(arxiv_id="2410.18533", doi="10.1000/a"), rank)
    assert (filled.arxiv_id, filled.doi) == ("2410.18533", "10.1000/a")
    again = merge(filled, _entry(arxiv_id="2410.99999", doi="10.1000/b", version=5), FEED)
    assert (again.arxiv_id, again.doi) == ("2410.18533", "10.1000/a")
    kept = merge(filled, _entry(arxiv_id="", doi=""), rank)
    assert (kept.arxiv_id, kept.doi) == ("2410.18533", "10.1000/a")


@pytest.mark.parametrize(
    ("state_kw", "entry_kw", "rank", "expected"),
    [
        pytest.param(
            {"authors": (), "author_count": 7},
            {"authors": ("A", "B", "C")},
            LISTING,
            3,
            id="names-arrive-after-listing-count",
        ),
        pytest.param(
            {"authors": ("A", "B")},
            {"authors": (), "author_count": 9},
            LISTING,
            2,
            id="names-known-count-ignored",
        ),
        pytest.param(
            {"authors": (), "author_count": 4},
            {"authors": (), "author_count": 9},
            LISTING,
            9,
            id="no-names-max-count",
        ),
        pytest.param(
            {"authors": (), "author_count": 9},
            {"authors": (), "author_count": None},
            FEED,
            9,
            id="no-names-count-kept",
        ),
        pytest.param(
            {"authors": ("A",)},
            {"authors": ("A", "B", "C", "D"), "version": 2},
            LISTING,
            4,
            id="newer-version-names",
        ),
        pytest.param(
            {"authors": ("A",)},
            {"authors": ("A", "B", "C", "D")},
            FEED,
            4,
            id="better-source-names",
        ),
        pytest.param(
            {"authors": ("A",)},
            {"authors": ("A", "B", "C", "D")},
            LISTING,
            1,
            id="worse-source-names-ignored",
        ),
    ],
)
def test_author_count_follows_authors(
    state_kw: dict[str, object], entry_kw: dict[str, object], rank: int, expected: int | None
) -> None:
    state = new_state(_entry(**state_kw), HF)
    out = merge(state, _entry(**entry_kw), rank)
    assert out.author_count == expected
    if out.authors:
        assert out.author_count == len(out.authors)


# --------------------------------------------------------------------------- idempotence

SIGHTINGS = [
    pytest.param(_entry(), FEED, id="feed"),
    pytest.param(_entry(doi="10.1000/x", upvotes=12, categories=("cs.CL", "cs.AI")), HF, id="hf"),
    pytest.param(
        _entry(authors=(), author_count=7, link="", pdf_url="", arxiv_id="", version=None),
        LISTING,
        id="listing-count-only",
    ),
    pytest.param(_entry(version=3, published=None), FEED, id="v3-no-date"),
    pytest.param(Entry(title="Only a title"), LISTING, id="title-only"),
]


@pytest.mark.parametrize(("entry", "rank"), SIGHTINGS)
@pytest.mark.parametrize("start_rank", [FEED, HF, LISTING])
def test_merge_is_idempotent(entry: Entry, rank: int, start_rank: int) -> None:
    start = new_state(_entry(title="older", summary="older", categories=("x",)), start_rank)
    once = merge(start, entry, rank)
    assert merge(once, entry, rank) == once


@pytest.mark.parametrize(("entry", "rank"), SIGHTINGS)
def test_merge_of_own_sighting_changes_nothing(entry: Entry, rank: int) -> None:
    state = new_state(entry, rank)
    assert merge(state, entry, rank) == state
    assert merge(merge(state, entry, rank), entry, rank) == state


def test_author_count_rule_is_the_same_in_new_state_and_merge() -> None:
    e = _entry(authors=("A", "B", "C"), author_count=25)
    state = new_state(e, HF)
    assert merge(state, e, HF) == state


def test_merge_returns_a_new_state() -> None:
    state = new_state(_entry(), LISTING)
    out = merge(state, _entry(summary="new", version=2), FEED)
    assert state.summary == "v1 abstract"
    assert out is not state
    assert replace(out, summary="v1 abstract", version=1, quality=LISTING) == state


def test_merge_that_adds_nothing_returns_the_state_itself() -> None:
    state = new_state(_entry(), FEED)
    assert merge(state, _entry(), FEED) is state
    assert merge(state, _entry(summary="listing text", version=None), LISTING) is state
    out = merge(state, _entry(categories=("cs.LG",)), FEED)
    assert out is not state
    assert out.categories == ("cs.CL", "cs.LG")


# --------------------------------------------------------------------------- the items row


@pytest.mark.parametrize(("entry", "rank"), SIGHTINGS)
def test_a_stored_row_reads_back_as_the_state_it_was_made_from(entry: Entry, rank: int) -> None:
    fresh = new_state(entry, rank)
    assert values_of(fresh) == first_values(entry, rank)
    merged = merge(fresh, _entry(categories=("cs.LG", "é"), version=7, published=T2), FEED)
    for state in (fresh, merged):
        row = stored_row(values_of(state))
        assert all(isinstance(v, str | int | None) for v in row)  # what the driver binds
        assert from_row(("key", 7, *row), 2) == state
