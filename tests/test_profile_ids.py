"""A profile id is kept in every table that names a profile (digests, windows,
subscriptions, feedback, jobs): one the store holds is accepted, a longer one is
a `file:line` problem at `profiles check`, never a failed run on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.models import Entry, Profile, Term
from digest.selection.profiles import load_profile
from digest.store import Store

LONGEST = "p" * 200
NOW = datetime(2026, 12, 1, 6, tzinfo=UTC)


def test_the_longest_profile_id_records_a_digest_and_its_feedback(store_url: str) -> None:
    profile = Profile(LONGEST, "Long", keywords=(Term("batch size"),), min_score=0)
    with Store.open(store_url) as store:
        src = store.source("s", location="x", kind="feed")
        store.add_entries(src.id, [Entry(title="On the batch size")], rank=1, now=NOW)
        (item,) = store.items()
        pick = store.pool([profile]).candidates[0]
        assert pick.item_id == item.item_id
        reader = store.add_subscriber("reader@example.org", [LONGEST], now=NOW)
        from digest.selection.rank import pick_all

        chosen = pick_all([profile], store.pool([profile]))[LONGEST].picks
        made = store.record_digest(profile, chosen, upto_item_id=item.item_id, now=NOW,
                                   personal={reader.id: chosen})  # fmt: skip
        assert made is not None
        store.feedback_act(reader.id, LONGEST, item.item_id, generation=0, action="more", now=NOW)
        assert [d.profile.name for d in store.digests(profile)] == [LONGEST]


def test_a_longer_profile_id_is_a_problem_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(f"title: T\nname: {LONGEST}p\nkeywords: [x]\n")
    result = CliRunner().invoke(cli, ["profiles", "check", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"{path}:2: name: " in result.stderr
    assert "at most 200 characters" in result.stderr
    path.write_text(f"title: T\nname: {LONGEST}\nkeywords: [x]\n")
    assert load_profile(path).name == LONGEST


@pytest.mark.parametrize("name", ["a", "a.b_c-d"])
def test_short_ids_stay_valid(tmp_path: Path, name: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: {name}\nkeywords: [x]\n")
    assert load_profile(path).name == name
