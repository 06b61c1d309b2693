"""Email addresses: the one place that says what an address is and how it is stored.

Every way in (the CLI, the CSV import, the web form, a profile's `recipients`)
passes what it was given through `normalize` first, and the store finds a
subscriber by `identity(address)`. An address is plain ASCII `local@domain.tld`:
no quotes, comments, spaces or control characters, so it is safe in a header and
in an SMTP envelope as it is.

Case: the domain is lower-cased; the local part is kept as first given (it is
what the person typed, and what mail goes to), but identity ignores case:
`Reader@Example.org` and `reader@example.org` are one subscriber. (RFC 5321 lets
a server tell local-part cases apart; no mail system in use does.)
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}$"
)
MAX_LENGTH = 254  # RFC 5321's path limit, less the angle brackets
MAX_LOCAL = 64


def normalize(raw: object) -> str | None:
    """`raw` trimmed, domain lower-cased, as it is stored; None when it is not an address."""
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if len(value) > MAX_LENGTH or not value.isascii() or not _ADDRESS.match(value):
        return None
    local, domain = value.rsplit("@", 1)
    if len(local) > MAX_LOCAL:
        return None
    return f"{local}@{domain.lower()}"


def identity(address: str) -> str:
    """What makes two normalised addresses one subscriber: the whole, lower-cased."""
    return address.lower()
