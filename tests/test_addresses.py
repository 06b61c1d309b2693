from __future__ import annotations

import pytest

from digest.addresses import normalize


def test_trimmed_and_the_domain_lower_cased() -> None:
    assert normalize("  Ada.Lovelace+ml@Example.ORG \n") == "Ada.Lovelace+ml@example.org"


def test_fold_local_lower_cases_the_whole_address() -> None:
    assert normalize("Dee@Example.org", fold_local=True) == "dee@example.org"


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
    assert normalize(raw, fold_local=True) is None


def test_the_longest_address_that_is_one() -> None:
    local, label = "x" * 64, "d" * 61
    address = f"{local}@{label}.{label}.{label}.org"[:250] + ".org"
    assert len(address) == 254
    assert normalize(address) == address
    assert normalize(address + "x") is None
