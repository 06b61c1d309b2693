"""Paper identity: arXiv ids, DOIs, canonical URLs, titles, keys and conflicts."""

from __future__ import annotations

import pytest

from digest.identity import (
    canonical_url,
    conflicts,
    entry_keys,
    find_arxiv_id,
    find_doi,
    normalize_title,
    parse_arxiv_id,
)
from digest.models import Entry

# --------------------------------------------------------------------------- arXiv ids

VALID_BARE = [
    # new style, 4 digits (2007-2014)
    ("0704.0001", ("0704.0001", None)),
    ("1412.9999", ("1412.9999", None)),
    # new style, 5 digits (2015 on)
    ("1501.00001", ("1501.00001", None)),
    ("2410.17243", ("2410.17243", None)),
    # versions
    ("2410.17243v1", ("2410.17243", 1)),
    ("2410.17243v12", ("2410.17243", 12)),
    ("0704.0001v3", ("0704.0001", 3)),
    # "arXiv:" prefix, any case, surrounding whitespace
    ("arXiv:2410.17243", ("2410.17243", None)),
    ("ARXIV:2410.17243v2", ("2410.17243", 2)),
    ("  2410.17243v2\n", ("2410.17243", 2)),
    # old style, plain and hyphenated archives
    ("hep-th/9901001", ("hep-th/9901001", None)),
    ("astro-ph/0601001", ("astro-ph/0601001", None)),
    ("quant-ph/0201082v1", ("quant-ph/0201082", 1)),
    ("q-bio/0401001", ("q-bio/0401001", None)),
    ("cond-mat/0601001v2", ("cond-mat/0601001", 2)),
    ("math/0309136", ("math/0309136", None)),
    ("arXiv:hep-th/9901001v3", ("hep-th/9901001", 3)),
    # archive names are lower case whatever the input
    ("HEP-TH/9901001", ("hep-th/9901001", None)),
]


@pytest.mark.parametrize(("text", "expected"), VALID_BARE)
def test_parse_arxiv_id_valid(text: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(text) == expected


INVALID_BARE = [
    "",
    "abc",
    "0000.0000",  # month 00
    "2413.12345",  # month 13
    "2400.12345",  # month 00
    "2410.123",  # too few digits
    "2410.123456",  # too many digits
    "12410.17243",  # five-digit prefix
    "2410.17243v",  # version without a number
    "2410.17243 extra",
    "see 2410.17243",
    "hep-th/9913001",  # month 13 in an old id
    "hep-th/990100",  # too few digits in an old id
    "hep-th/99010012",  # too many digits in an old id
    "hep-th-9901001",
    "10.1234/2410.17243",  # a DOI is not an id
    "http://example.com/1234.5678",
]


@pytest.mark.parametrize("text", INVALID_BARE)
def test_parse_arxiv_id_invalid(text: str) -> None:
    assert parse_arxiv_id(text) is None


@pytest.mark.parametrize(
    "variant", ["math.GT/0309136", "MATH.gt/0309136", "arXiv:math.GT/0309136", "math.gt/0309136"]
)
def test_parse_arxiv_id_old_style_subject_class_case(variant: str) -> None:
    """`math.GT/0309136` is recognised, and its case does not change the id."""
    parsed = parse_arxiv_id(variant)
    assert parsed is not None
    assert parsed == parse_arxiv_id("math.GT/0309136")
    ident, version = parsed
    assert ident.startswith("math")
    assert ident.endswith("/0309136")
    assert version is None


@pytest.mark.parametrize(
    ("with_class", "canonical"),
    [
        ("math.GT/0309136", "math/0309136"),
        ("cs.AI/0101001v2", "cs/0101001v2"),
    ],
)
def test_parse_arxiv_id_subject_class_is_not_identity(with_class: str, canonical: str) -> None:
    assert parse_arxiv_id(with_class) == parse_arxiv_id(canonical)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cond-mat.mes-hall/0601001", ("cond-mat/0601001", None)),
        ("cond-mat.str-el/0601001v2", ("cond-mat/0601001", 2)),
        ("physics.optics/0601001", ("physics/0601001", None)),
        ("https://arxiv.org/abs/cond-mat.mes-hall/0601001", ("cond-mat/0601001", None)),
    ],
)
def test_old_style_lowercase_subject_class(text: str, expected: tuple[str, int | None]) -> None:
    assert (parse_arxiv_id(text) or find_arxiv_id(text)) == expected


@pytest.mark.parametrize("text", ["2410.1724", "0801.12345", "0612.0001"])
def test_parse_arxiv_id_digit_count_depends_on_year(text: str) -> None:
    assert parse_arxiv_id(text) is None


IN_CONTEXT = [
    ("http://arxiv.org/abs/2410.17243", ("2410.17243", None)),
    ("https://arxiv.org/abs/2410.17243v3", ("2410.17243", 3)),
    ("https://arxiv.org/pdf/2410.17243v2", ("2410.17243", 2)),
    ("https://arxiv.org/pdf/2410.17243v2.pdf", ("2410.17243", 2)),
    ("https://arxiv.org/pdf/2410.17243", ("2410.17243", None)),
    ("https://arxiv.org/html/2410.17243v1", ("2410.17243", 1)),
    ("https://export.arxiv.org/abs/0704.0001", ("0704.0001", None)),
    ("https://www.arxiv.org/abs/1501.00001v12", ("1501.00001", 12)),
    ("HTTPS://ARXIV.ORG/ABS/2410.17243", ("2410.17243", None)),
    ("oai:arXiv.org:2410.17243", ("2410.17243", None)),
    ("oai:arXiv.org:hep-th/9901001", ("hep-th/9901001", None)),
    ("arXiv:2410.17243v1 Announce Type: new", ("2410.17243", 1)),
    ("arXiv: 2410.17243", ("2410.17243", None)),
    ("Accepted at X. (arXiv:2410.17243v2)", ("2410.17243", 2)),
    ("https://huggingface.co/papers/2410.17243", ("2410.17243", None)),
    ("http://arxiv.org/abs/hep-th/9901001v2", ("hep-th/9901001", 2)),
    ("https://arxiv.org/abs/astro-ph/0601001", ("astro-ph/0601001", None)),
    ("https://arxiv.org/abs/quant-ph/0201082v1", ("quant-ph/0201082", 1)),
    ("https://arxiv.org/abs/q-bio/0401001", ("q-bio/0401001", None)),
    ("https://arxiv.org/abs/math/0309136", ("math/0309136", None)),
    # first one wins
    ("arXiv:2410.17243 and arXiv:2411.00001", ("2410.17243", None)),
]


@pytest.mark.parametrize(("text", "expected"), IN_CONTEXT)
def test_find_arxiv_id_in_context(text: str, expected: tuple[str, int | None]) -> None:
    assert find_arxiv_id(text) == expected


NOT_IN_CONTEXT = [
    "",
    "abc",
    "0000.0000",
    "2410.17243",  # bare, with no arXiv context
    "https://arxiv.org/abs/2413.12345",  # month 13
    "https://arxiv.org/abs/0000.0000",
    "http://example.com/1234.5678",
    "http://example.com/2410.17243",
    "https://arxiv.org/abs/12410.172435",  # inside a longer number
    "https://arxiv.org/abs/2410.172435",  # trailing digit
    "arXiv:2410.172435",
    "12410.172435",
    "10.1234/2410.17243",  # DOI
    "https://doi.org/10.1234/2410.17243",
    "doi:10.1234/2410.17243",
    "https://huggingface.co/models/2410.17243",  # HF, but not a paper page
    "https://arxiv.org/list/cs.CL/recent",
]


@pytest.mark.parametrize("text", NOT_IN_CONTEXT)
def test_find_arxiv_id_negatives(text: str) -> None:
    assert find_arxiv_id(text) is None


def test_find_arxiv_id_first_text_with_an_id_wins() -> None:
    assert find_arxiv_id("", "http://example.com/2410.17243", "arXiv:2410.17243v4") == (
        "2410.17243",
        4,
    )
    assert find_arxiv_id("oai:arXiv.org:0704.0001", "arXiv:2410.17243") == ("0704.0001", None)
    assert find_arxiv_id() is None
    assert find_arxiv_id("", "") is None


@pytest.mark.parametrize(
    ("bare", "url"),
    [
        ("2410.17243v2", "https://arxiv.org/pdf/2410.17243v2.pdf"),
        ("hep-th/9901001", "http://arxiv.org/abs/hep-th/9901001"),
        ("0704.0001", "oai:arXiv.org:0704.0001"),
    ],
)
def test_parse_and_find_agree(bare: str, url: str) -> None:
    assert parse_arxiv_id(bare) == find_arxiv_id(url)


# --------------------------------------------------------------------------- DOIs

DOIS = [
    ("https://doi.org/10.1145/3292500.3330701", "10.1145/3292500.3330701"),
    ("http://dx.doi.org/10.1145/3292500.3330701", "10.1145/3292500.3330701"),
    ("doi:10.1000/XYZ", "10.1000/xyz"),
    ("DOI: 10.1000/XYZ", "10.1000/xyz"),
    ("10.1000/182", "10.1000/182"),
    ("10.1016/S0140-6736(20)30183-5", "10.1016/s0140-6736(20)30183-5"),
    # trailing punctuation
    ("See doi:10.1000/xyz.", "10.1000/xyz"),
    ("doi:10.1000/xyz, and more", "10.1000/xyz"),
    ("doi:10.1000/xyz;", "10.1000/xyz"),
    ("(doi:10.1000/xyz)", "10.1000/xyz"),
    ("[doi:10.1000/xyz]", "10.1000/xyz"),
    ("(doi:10.1000/xyz).", "10.1000/xyz"),
    ('<a href="https://doi.org/10.1000/xyz">x</a>', "10.1000/xyz"),
    ("<https://doi.org/10.1000/xyz>", "10.1000/xyz"),
]


@pytest.mark.parametrize(("text", "expected"), DOIS)
def test_find_doi(text: str, expected: str) -> None:
    assert find_doi(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no doi here",
        "https://arxiv.org/abs/2410.17243",
        "version 10.5",
        "10.12/abc",  # registrant code too short
        "x10.1000/xyz",  # not at a word boundary
    ],
)
def test_find_doi_negatives(text: str) -> None:
    assert find_doi(text) == ""


def test_find_doi_first_text_with_a_doi_wins() -> None:
    assert find_doi("", "nothing", "doi:10.1000/A", "doi:10.1000/B") == "10.1000/a"
    assert find_doi() == ""


def test_find_doi_in_single_quoted_attribute() -> None:
    assert find_doi("<a href='https://doi.org/10.1000/xyz'>x</a>") == "10.1000/xyz"


# --------------------------------------------------------------------------- URLs

SAME_URL = [
    # scheme and host case
    ("HTTPS://Example.COM/Path", "https://example.com/Path"),
    # http and https are one page
    ("http://example.com/a", "https://example.com/a"),
    # default ports
    ("http://example.com:80/a", "https://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    # www.
    ("https://www.example.com/a", "https://example.com/a"),
    # trailing slash, empty path, repeated slashes
    ("https://example.com/a/", "https://example.com/a"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com//a//b", "https://example.com/a/b"),
    # fragments dropped
    ("https://example.com/a#section-2", "https://example.com/a"),
    # tracking parameters dropped, the rest kept and sorted
    ("https://example.com/a?utm_source=x&utm_medium=y&UTM_Campaign=z", "https://example.com/a"),
    ("https://example.com/a?fbclid=abc", "https://example.com/a"),
    ("https://example.com/a?gclid=abc&id=7", "https://example.com/a?id=7"),
    ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
    ("https://example.com/a?b=2&utm_source=rss&a=1&fbclid=q", "https://example.com/a?a=1&b=2"),
    ("https://example.com/a?q=a+b", "https://example.com/a?q=a%20b"),
    # surrounding whitespace
    ("  https://example.com/a \n", "https://example.com/a"),
]


@pytest.mark.parametrize(("a", "b"), SAME_URL)
def test_canonical_url_equal(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)
    assert canonical_url(a) != ""


EXACT_URL = [
    (
        "HTTP://WWW.Example.COM:80/a//b/?b=2&utm_source=x&a=1&fbclid=z#frag",
        "https://example.com/a/b?a=1&b=2",
    ),
    ("http://example.com", "https://example.com/"),
    ("https://example.com:8080/a/", "https://example.com:8080/a"),
    ("https://example.com/a?empty=&x=1", "https://example.com/a?empty=&x=1"),
    ("https://arxiv.org/abs/2410.17243v2", "https://arxiv.org/abs/2410.17243v2"),
]


@pytest.mark.parametrize(("url", "expected"), EXACT_URL)
def test_canonical_url_exact(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


DIFFERENT_URL = [
    ("https://example.com/a", "https://example.com/b"),
    ("https://example.com/Path", "https://example.com/path"),  # path case matters
    ("https://example.com/a?id=1", "https://example.com/a?id=2"),
    ("https://example.com/a?id=1", "https://example.com/a"),
    ("https://example.com:8080/a", "https://example.com/a"),
    ("https://example.com/a", "https://example.org/a"),
    ("https://sub.example.com/a", "https://example.com/a"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT_URL)
def test_canonical_url_different(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "ftp://example.com/a",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "oai:arXiv.org:2410.17243",
        "example.com/a",
        "//example.com/a",
        "http://",
        "https://example.com:99999/a",  # port out of range
        "http://[::1",  # unbalanced bracket
    ],
)
def test_canonical_url_rejects(url: str) -> None:
    assert canonical_url(url) == ""


def test_canonical_url_is_idempotent() -> None:
    for a, _ in SAME_URL + EXACT_URL:
        once = canonical_url(a)
        assert canonical_url(once) == once


# --------------------------------------------------------------------------- titles

SAME_TITLE = [
    ("Café", "Cafe"),
    ("Über Transformers", "uber transformers"),
    ("Naïve Bayes Résumé", "naive bayes resume"),
    ("Straße", "strasse"),  # case folding, not just lower()
    ("ATTENTION IS ALL YOU NEED", "attention is all you need"),
    ("Attention Is\nAll You\r\n  Need", "Attention Is All You Need"),
    ("  Attention   Is\tAll You Need  ", "Attention Is All You Need"),
    (
        "LOGO -- Long Context Alignment via Efficient Preference Optimization",
        "LOGO: Long Context Alignment via Efficient Preference Optimization",
    ),
    ("LOGO — Long Context", "LOGO: Long Context"),
    ("Scaling Laws.", "Scaling Laws"),
    ("“Quoted” Title", '"Quoted" Title'),
    ("ﬁne-tuning", "fine tuning"),  # NFKD ligature
    ("Under_score", "under score"),
]


@pytest.mark.parametrize(("a", "b"), SAME_TITLE)
def test_normalize_title_equal(a: str, b: str) -> None:
    assert normalize_title(a) == normalize_title(b)
    assert normalize_title(a) != ""


DIFFERENT_TITLE = [
    ("Qwen2.5 Technical Report", "Qwen2.5-1M Technical Report"),
    ("Attention Is All You Need", "Attention Is Not All You Need"),
    ("GPT-4 Technical Report", "GPT-4o Technical Report"),
    ("Llama 2", "Llama 3"),
    ("Llama 2: Open Foundation Models", "Llama 3: Open Foundation Models"),
    ("Phi-3 Technical Report", "Phi-3.5 Technical Report"),
    ("1.5 Bits", "15 Bits"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT_TITLE)
def test_normalize_title_distinct(a: str, b: str) -> None:
    assert normalize_title(a) != normalize_title(b)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        (
            "LOGO -- Long Context Alignment via Efficient Preference Optimization",
            "logo long context alignment via efficient preference optimization",
        ),
        ("Qwen2.5-1M Technical Report", "qwen2 5 1m technical report"),
        ("Café", "cafe"),
        ("", ""),
        ("  -- :: --  ", ""),
    ],
)
def test_normalize_title_exact(title: str, expected: str) -> None:
    assert normalize_title(title) == expected


def test_normalize_title_is_idempotent() -> None:
    for a, b in SAME_TITLE + DIFFERENT_TITLE:
        for t in (a, b):
            once = normalize_title(t)
            assert normalize_title(once) == once


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            Entry(
                title="A Paper",
                arxiv_id="2410.17243",
                doi="10.1000/xyz",
                link="https://example.com/paper?utm_source=rss",
            ),
            (
                "arxiv:2410.17243",
                "doi:10.1000/xyz",
                "url:https://example.com/paper",
                "title:a paper",
            ),
            id="all-four-in-precedence-order",
        ),
        pytest.param(
            Entry(
                title="A Paper", arxiv_id="2410.17243", link="https://arxiv.org/abs/2410.17243v2"
            ),
            ("arxiv:2410.17243", "title:a paper"),
            id="arxiv-link-omitted-when-id-known",
        ),
        pytest.param(
            Entry(title="A Paper", arxiv_id="2410.17243", link="https://export.arxiv.org/abs/x"),
            ("arxiv:2410.17243", "title:a paper"),
            id="arxiv-subdomain-link-omitted",
        ),
        pytest.param(
            Entry(
                title="A Paper",
                arxiv_id="2410.17243",
                link="https://huggingface.co/papers/2410.17243",
            ),
            ("arxiv:2410.17243", "title:a paper"),
            id="hf-link-omitted-when-id-known",
        ),
        pytest.param(
            Entry(title="A Paper", link="https://arxiv.org/abs/2410.17243"),
            ("url:https://arxiv.org/abs/2410.17243", "title:a paper"),
            id="arxiv-link-kept-when-id-unknown",
        ),
        pytest.param(
            Entry(title="A Paper", link="https://huggingface.co/papers/2410.17243"),
            ("url:https://huggingface.co/papers/2410.17243", "title:a paper"),
            id="hf-link-kept-when-id-unknown",
        ),
        pytest.param(
            Entry(title="A Paper", doi="10.1000/xyz", link="http://www.example.com/p/"),
            ("doi:10.1000/xyz", "url:https://example.com/p", "title:a paper"),
            id="doi-url-title",
        ),
        pytest.param(
            Entry(title="A Paper", link="mailto:x@example.com"),
            ("title:a paper",),
            id="non-http-link-gives-no-url-key",
        ),
        pytest.param(
            Entry(title="  Café:  A Paper\n"),
            ("title:cafe a paper",),
            id="title-only",
        ),
        pytest.param(Entry(title=""), (), id="nothing"),
        pytest.param(Entry(title=" -- "), (), id="punctuation-only-title"),
        pytest.param(
            Entry(title="", arxiv_id="hep-th/9901001"),
            ("arxiv:hep-th/9901001",),
            id="id-only",
        ),
    ],
)
def test_entry_keys(entry: Entry, expected: tuple[str, ...]) -> None:
    assert entry_keys(entry) == expected


def test_entry_keys_ignore_version_and_noise() -> None:
    """Two sightings of one paper share their keys, whatever the link's noise."""
    a = Entry(title="LOGO -- Long Context", link="http://example.com/p?utm_source=x#top")
    b = Entry(title="LOGO: Long Context", link="https://www.example.com/p/")
    assert entry_keys(a) == entry_keys(b)
    c = Entry(title="T", arxiv_id="2410.17243", version=1)
    d = Entry(title="T", arxiv_id="2410.17243", version=2)
    assert entry_keys(c) == entry_keys(d)


def test_entry_keys_lookalike_host_is_not_arxiv() -> None:
    entry = Entry(title="T", arxiv_id="2410.17243", link="https://notarxiv.org/p")
    assert "url:https://notarxiv.org/p" in entry_keys(entry)


# --------------------------------------------------------------------------- conflicts


@pytest.mark.parametrize(
    ("entry", "item_arxiv", "item_doi", "expected"),
    [
        pytest.param(Entry(title="T", arxiv_id="2410.17243"), "2410.17244", "", True, id="ax-diff"),
        pytest.param(
            Entry(title="T", arxiv_id="2410.17243"), "2410.17243", "", False, id="ax-same"
        ),
        pytest.param(Entry(title="T", arxiv_id="2410.17243"), "", "", False, id="ax-item-none"),
        pytest.param(Entry(title="T"), "2410.17243", "", False, id="ax-entry-none"),
        pytest.param(Entry(title="T"), "", "", False, id="nothing"),
        pytest.param(Entry(title="T", doi="10.1000/a"), "", "10.1000/b", True, id="doi-diff"),
        pytest.param(Entry(title="T", doi="10.1000/a"), "", "10.1000/a", False, id="doi-same"),
        pytest.param(Entry(title="T", doi="10.1000/a"), "", "", False, id="doi-item-none"),
        pytest.param(Entry(title="T"), "", "10.1000/a", False, id="doi-entry-none"),
        pytest.param(
            Entry(title="T", arxiv_id="2410.17243", doi="10.1000/a"),
            "2410.17243",
            "10.1000/b",
            True,
            id="same-ax-diff-doi",
        ),
        pytest.param(
            Entry(title="T", arxiv_id="2410.17243", doi="10.1000/a"),
            "2410.17244",
            "10.1000/a",
            True,
            id="diff-ax-same-doi",
        ),
        pytest.param(
            Entry(title="T", arxiv_id="2410.17243"),
            "",
            "10.1000/a",
            False,
            id="ax-vs-doi-only",
        ),
        pytest.param(
            Entry(title="T", arxiv_id="2410.17243", doi="10.1000/a"),
            "2410.17243",
            "10.1000/a",
            False,
            id="both-same",
        ),
    ],
)
def test_conflicts(entry: Entry, item_arxiv: str, item_doi: str, expected: bool) -> None:
    assert conflicts(entry, item_arxiv, item_doi) is expected


def test_ascii_titles_normalise_as_the_unicode_rule_does() -> None:
    # The ASCII fast path must agree with the general rule on every ASCII character.
    import re

    rule = re.compile(r"[\W_]+")
    for c in map(chr, range(128)):
        for title in (f"a{c}b", f"{c}Ab{c}{c}9 {c}", c):
            assert normalize_title(title) == rule.sub(" ", title.casefold()).strip(), repr(title)
