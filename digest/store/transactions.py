"""The store's transactions, and every database failure in them turned into one
`StoreError` that names the store (`digest.store.failures`)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import StoreError
from digest.store.failures import label, store_error

log = logging.getLogger("digest.store")
_AUTOCHECKPOINT = 1000  # pages: SQLite's default


class StoreMixin:
    """A part of the `Store`, mixed into it after `Transactions`, whose
    transactions these are."""

    def _tx(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    def _write_tx(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError


class Transactions:
    """What every `Store` method runs in. Mixed into the Store first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._checkpoints: list[threading.Thread] = []

    @property
    def label(self) -> str:
        """The store as a person names it: a file's path, or the URL without password."""
        return label(self.engine.url)

    def _wait_for_checkpoints(self) -> None:
        for thread in self._checkpoints:
            thread.join()
        self._checkpoints.clear()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise store_error(exc, self.engine.url) from exc

    @contextmanager
    def _write_tx(self) -> Iterator[Connection]:
        """A transaction that writes what it read: on SQLite it takes the one write
        lock first (BEGIN IMMEDIATE), so processes' read-then-write never interleave."""
        with self._tx() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    @contextmanager
    def _big_connection(self) -> Iterator[Connection]:
        """A connection for transactions that may write a lot: on SQLite their
        commits leave the WAL checkpoint (copying every page they wrote into the
        database file) to a thread of its own, as SQLite's WAL notes suggest,
        instead of doing it inside a commit. `close()` waits for it. The caller
        begins and commits its transactions on it."""
        if self.engine.dialect.name != "sqlite":
            try:
                with self.engine.connect() as conn:
                    yield conn
            except SQLAlchemyError as exc:
                raise store_error(exc, self.engine.url) from exc
            return
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
                conn.commit()
                try:
                    yield conn
                finally:
                    conn.rollback()  # what a failure left open
                    conn.exec_driver_sql(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT}")
                    conn.commit()
        except SQLAlchemyError as exc:
            raise store_error(exc, self.engine.url) from exc
        self._checkpoints = [t for t in self._checkpoints if t.is_alive()]
        thread = threading.Thread(target=self._checkpoint, name="digest-checkpoint", daemon=True)
        self._checkpoints.append(thread)
        thread.start()

    def _checkpoint(self) -> None:
        try:  # PASSIVE: never waits for readers or writers; SQLite releases the GIL throughout
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
                conn.commit()
        except SQLAlchemyError as exc:  # not fatal: the next checkpoint copies these pages
            log.warning("WAL checkpoint failed on %s: %s", self.label, exc)


__all__ = ["StoreError", "Transactions"]
