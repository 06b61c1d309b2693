"""The `Store`'s look-up of liked papers (mixed into it, as `deliveries.LedgerMethods`)."""

from __future__ import annotations

from collections.abc import Collection

from digest.models import Candidate
from digest.store import picks
from digest.store.transactions import StoreMixin


class LikeMethods(StoreMixin):
    def items_by_key(self, keys: Collection[str]) -> dict[str, Candidate]:
        """The stored items known by any of `keys` ("arxiv:…", "doi:…", "title:…")."""
        if not keys:
            return {}
        with self._tx() as conn:
            return picks.by_keys(conn, keys)
