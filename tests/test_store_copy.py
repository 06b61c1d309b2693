"""`digest store copy --to URL`: SQLite to a real PostgreSQL server and back."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from digest.cli import cli
from digest.models import Entry, Profile
from digest.store import Store, schema
from tests.conftest import demo_config_at

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-23T06:00:00"
pytestmark = pytest.mark.postgresql


def digest(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def everything(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in key order, as the store's types read them."""
    with Store.open(url) as store, store.engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
            for t in schema.metadata.sorted_tables
        }


def a_day_of_digest(tmp_path: Path, url: str) -> None:
    """One real cycle on the bundled config: items, sightings, runs, digests,
    subscribers and their deliveries (to the outbox)."""
    cfg = demo_config_at(tmp_path, url)
    result = digest("--config", str(cfg), "run", "--json", "--now", NOW)
    assert json.loads(result.stdout)["sent"]["sent"] > 0, result.output
    # What the cycle leaves empty here: feedback, a personal ranking, a look-up's miss
    # (one with a key far over any index's limit).
    at = datetime(2026, 11, 23, 7, tzinfo=UTC)
    with Store.open(url) as store:
        (made, *_) = store.digests(Profile("scaling", "S"))
        reader = store.add_subscriber("reader@example.org", ["scaling"], now=at)
        item = made.picks[0].candidate.item_id
        store.feedback_act(reader.id, "scaling", item, generation=0, action="more", now=at)
        store.record_digest(Profile("personal", "P"), made.picks, upto_item_id=item, now=at,
                            window_after=0, personal={reader.id: made.picks[:2]})  # fmt: skip
        store.record_misses(["title:" + "long " * 600, "arxiv:2401.00001"], at)


def test_a_store_moves_to_postgresql_and_back_with_every_row(
    tmp_path: Path, new_store_url: Callable[[str], str]
) -> None:
    sqlite, pg, back = new_store_url("sqlite"), new_store_url("postgresql"), new_store_url("sqlite")
    a_day_of_digest(tmp_path, sqlite)
    before = everything(sqlite)
    filled = ("items", "item_keys", "sightings", "digests", "deliveries", "subscribers",
              "consent_log", "feedback", "personal_picks", "lookups")  # fmt: skip
    assert all(before[t] for t in filled), {t: len(before[t]) for t in filled}

    result = digest("--db", sqlite, "store", "copy", "--to", pg, "--json")
    assert result.exit_code == 0, result.output
    copied = json.loads(result.stdout)
    assert copied == {t: len(rows) for t, rows in before.items() if t != "meta"}
    assert everything(pg) == before

    result = digest("--db", pg, "store", "copy", "--to", back)
    assert result.exit_code == 0, result.output
    assert "counts match in every table" in result.stdout
    assert everything(back) == before

    # The copy goes on where the original left off: new ids follow the copied ones.
    with Store.open(pg) as store:
        src = store.source("a-new-source", location="x", kind="feed")
        assert src.id > max(r[0] for r in before["sources"])
        assert store.add_entries(src.id, [Entry(title="After the move")], rank=1,
                                 now=datetime(2026, 11, 24, tzinfo=UTC)).new == 1  # fmt: skip
        assert store.start_run("ingest", datetime(2026, 11, 24, tzinfo=UTC)) > len(before["runs"])


def test_a_copy_into_a_store_that_holds_rows_is_refused_and_changes_nothing(
    tmp_path: Path, new_store_url: Callable[[str], str]
) -> None:
    sqlite, pg = new_store_url("sqlite"), new_store_url("postgresql")
    for url in (sqlite, pg):
        with Store.open(url) as store:
            src = store.source(f"s-{url[:6]}", location="x", kind="feed")
            store.add_entries(src.id, [Entry(title=url[:6])], rank=1,
                              now=datetime(2026, 11, 24, tzinfo=UTC))  # fmt: skip
    kept = everything(pg)
    result = CliRunner().invoke(cli, ["--db", sqlite, "store", "copy", "--to", pg])
    assert result.exit_code == 1
    assert "already holds rows in" in result.output
    assert everything(pg) == kept
