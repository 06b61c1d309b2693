"""The `Store`'s run records: each cycle, ingest, ... as one row that always ends.

A run started while another is open in the same thread (a cycle's ingest) is
nested in it: `last_run()` shows the runs nobody started from inside another.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select

from digest.errors import StoreError
from digest.models import RunRecord
from digest.store import schema
from digest.store.transactions import StoreMixin

log = logging.getLogger("digest.store")


class RunMethods(StoreMixin):
    """Mixed into the Store, which supplies the transactions."""

    _open = threading.local()  # .runs: this thread's open run ids, outermost first

    def _open_runs(self) -> list[int]:
        runs: list[int] | None = getattr(self._open, "runs", None)
        if runs is None:
            runs = self._open.runs = []
        return runs

    def start_run(self, kind: str, now: datetime, *, parent: int | None = None) -> int:
        values = {"kind": kind, "started_at": now, "parent_id": parent}
        with self._tx() as conn:
            result = conn.execute(schema.runs.insert().values(**values))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    @contextmanager
    def run(self, kind: str, now: datetime) -> Iterator[int]:
        """A run row that always ends: an exception records it `failed`, then goes on.
        Inside another run of this thread, it is that run's child."""
        stack = self._open_runs()
        run_id = self.start_run(kind, now, parent=stack[-1] if stack else None)
        stack.append(run_id)
        try:
            yield run_id
        except BaseException as exc:
            try:
                self.finish_run(run_id, now, "failed", {"error": f"{type(exc).__name__}: {exc}"})
            except StoreError:  # the store itself failing: the original error says more
                log.exception("could not record run %d as failed", run_id)
            raise
        finally:
            stack.remove(run_id)

    def finish_run(self, run_id: int, now: datetime, status: str, report: dict[str, Any]) -> None:
        t = schema.runs
        with self._tx() as conn:
            conn.execute(
                t.update()
                .where(t.c.id == run_id)
                .values(finished_at=now, status=status, report=json.dumps(report, sort_keys=True))
            )

    def last_run(self, kind: str | None = None) -> RunRecord | None:
        """The newest run of `kind`; without one, the newest that is not nested in
        another (a cycle, not the ingest inside it)."""
        t = schema.runs
        stmt = select(t).order_by(t.c.id.desc()).limit(1)
        stmt = stmt.where(t.c.kind == kind) if kind else stmt.where(t.c.parent_id.is_(None))
        with self._tx() as conn:
            row = conn.execute(stmt).mappings().first()
        if row is None:
            return None
        report = json.loads(row["report"]) if row["report"] else None
        return RunRecord(
            row["id"], row["kind"], row["started_at"], row["finished_at"], row["status"], report
        )
