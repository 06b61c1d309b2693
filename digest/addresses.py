"""Email addresses: the one place that says what an address is and how it is stored.

The store finds a subscriber by the exact string it holds, so every way in (the CLI,
the CSV import, the web form) passes what it was given through `normalize` first.
An address is plain ASCII `local@domain.tld`: no quotes, comments, spaces or control
characters, so it is safe in a header and in an SMTP envelope as it is.

Case: the domain is always lower-cased. The local part keeps its case on the web and
is lower-cased by the CLI (`fold_local`), as each did before they shared this
function; making the two agree is a change to this function alone.
"""

from __future__ import annotations

import re

_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{0,62}$"
)
MAX_LENGTH = 254  # RFC 5321's path limit, less the angle brackets
MAX_LOCAL = 64


def normalize(raw: object, *, fold_local: bool = False) -> str | None:
    """`raw` trimmed, as it is stored; None when it is not an address."""
    if not isinstance(raw, str):
        return None
    value = raw.strip()
    if len(value) > MAX_LENGTH or not _ADDRESS.match(value):
        return None
    local, domain = value.rsplit("@", 1)
    if len(local) > MAX_LOCAL:
        return None
    return f"{local.lower() if fold_local else local}@{domain.lower()}"
