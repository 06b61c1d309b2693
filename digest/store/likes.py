"""The `Store`'s look-up of liked papers (mixed into it, as `deliveries.LedgerMethods`)."""

from __future__ import annotations

from collections.abc import Collection
from contextlib import AbstractContextManager

from sqlalchemy import Connection

from digest.models import Candidate
from digest.store import picks


class LikeMethods:
    def _tx(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def items_by_key(self, keys: Collection[str]) -> dict[str, Candidate]:
        """The stored items known by any of `keys` ("arxiv:…", "doi:…", "title:…")."""
        if not keys:
            return {}
        with self._tx() as conn:
            return picks.by_keys(conn, keys)
