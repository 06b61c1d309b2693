"""The one address normaliser: what an address is, how it is stored, and who it is."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.addresses import identity, normalize


def test_trimmed_and_the_domain_lower_cased() -> None:
    assert normalize("  Ada.Lovelace+ml@Example.ORG \n") == "Ada.Lovelace+ml@example.org"


def test_the_local_part_keeps_its_case_but_identity_ignores_it() -> None:
    forms = ["Reader@Example.org", "READER@example.org", " reader@EXAMPLE.ORG"]
    stored = [normalize(f) for f in forms]
    assert stored == ["Reader@example.org", "READER@example.org", "reader@example.org"]
    assert {identity(a) for a in stored if a} == {"reader@example.org"}


@pytest.mark.parametrize(
    "raw",
    [
        None,
        42,
        "",
        "not-an-address",
        "a@example",  # no top-level domain
        "a@example.123",  # a numeric top-level domain
        "a@-example.org",
        "a..b@example.org",
        ".a@example.org",
        "a b@example.org",
        '"a"@example.org',
        "a@example.org\r\nBcc: evil@example.org",
        "a@example.org>",
        "José@example.org",  # not ASCII: not safe in an SMTP envelope as it is
        "x" * 65 + "@example.org",
        "a@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 63 + "." + "e" * 60 + ".org",
    ],
)
def test_what_is_not_an_address(raw: object) -> None:
    assert normalize(raw) is None


def test_the_longest_address_that_is_one() -> None:
    local, label = "x" * 64, "d" * 61
    address = f"{local}@{label}.{label}.{label}.org"[:250] + ".org"
    assert len(address) == 254
    assert normalize(address) == address
    assert normalize(address + "x") is None


_ATEXT = string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-"
_LABEL = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?\Z")
_ADDRESSES = st.builds(
    lambda words, labels, tld: ".".join(words) + "@" + ".".join([*labels, tld]),
    st.lists(st.text(_ATEXT, min_size=1, max_size=8), min_size=1, max_size=3),
    st.lists(_LABEL, min_size=1, max_size=3),
    st.from_regex(r"\A[A-Za-z][A-Za-z0-9]{1,5}\Z"),
)


@given(_ADDRESSES, st.sampled_from(["", " ", "\t", "\n"]))
def test_property_valid_addresses_are_kept_and_idempotent(address: str, pad: str) -> None:
    out = normalize(pad + address + pad)
    assert out is not None
    assert normalize(out) == out  # idempotent
    local, domain = out.rsplit("@", 1)
    assert local == address.rsplit("@", 1)[0]  # the local part as first given
    assert domain == domain.lower()


@given(_ADDRESSES)
def test_property_identity_is_case_insensitive(address: str) -> None:
    forms = {address, address.upper(), address.lower(), address.swapcase()}
    stored = {normalize(f) for f in forms}
    assert None not in stored
    assert len({identity(a) for a in stored if a}) == 1


@given(st.text(max_size=80))
def test_property_anything_normalised_is_header_and_envelope_safe(raw: str) -> None:
    out = normalize(raw)
    if out is None:
        return
    assert out.isascii()
    assert out.count("@") == 1
    assert not any(c in out for c in '\r\n\t <>"(),;:\\[]\x00\x7f')
    assert len(out) <= 254
    assert normalize(out) == out


@given(_ADDRESSES, st.sampled_from([*list('\r\n\x00 <>"(),;:[]\\'), "é", "\u2028"]))
def test_property_one_bad_character_anywhere_rejects(address: str, bad: str) -> None:
    at = address.index("@")
    for i in (0, at, at + 1, len(address) // 2):
        spoiled = address[:i] + bad + address[i:]
        if spoiled.strip() != spoiled:
            continue  # white space at either end is trimmed, which is fine
        assert normalize(spoiled) is None, spoiled
