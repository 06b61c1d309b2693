"""Profiles and preview through the CLI, on the real listings and a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.store import Store

SIZE_PROFILE = """\
name: size
title: Sizes in training
keywords:
  batch size: 3
  step size: 2
  model size: 2
exclude: [quantum]
min_score: 2
max_items: 500
"""


@pytest.fixture
def setup(listings_config: Path) -> Path:
    (listings_config.parent / "profiles" / "size.yaml").write_text(SIZE_PROFILE)
    return listings_config


def preview(cfg: Path, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(
        cli, ["--config", str(cfg), "preview", "size", "--format", "json", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.shared
def test_size_profile_picks_every_variant_and_explains(setup: Path) -> None:
    picks = preview(setup)
    titles = {p["title"] for p in picks}
    assert "Bellman Optimal Step-size Straightening of Flow-Matching Models" in titles
    assert (
        "Power Scheduler: A Batch Size and Token Number Agnostic Learning Rate Scheduler" in titles
    )
    # "size" alone, without a profile term, is not enough.
    assert "Size and Shape Constraints of (486958) Arrokoth from Stellar Occultations" not in titles
    for p in picks:
        assert p["score"] >= 2
        assert p["matched"], p
        assert {m["term"] for m in p["matched"]} <= {"batch size", "step size", "model size"}
        assert {m["field"] for m in p["matched"]} <= {"title", "abstract"}
        assert p["key"]
    scores = [p["score"] for p in picks]
    assert scores == sorted(scores, reverse=True)
    bellman = next(p for p in picks if p["title"].startswith("Bellman"))
    assert {"term": "step size", "field": "title"} in bellman["matched"]
    # What is listed is what counted: each term once, and the values add up to the score.
    for p in picks:
        terms = [m["term"] for m in p["matched"]]
        assert len(terms) == len(set(terms)), p
        reasons = p["reasons"]
        assert [(r["term"], r["field"]) for r in reasons] == [
            (m["term"], m["field"]) for m in p["matched"]
        ]
        assert round(sum(r["value"] for r in reasons), 9) == p["score"]


@pytest.mark.shared
def test_preview_records_nothing_and_a_delivery_prevents_repeats(
    setup: Path, tmp_path: Path
) -> None:
    first = preview(setup)
    assert first == preview(setup)  # previewing twice changes nothing
    assert len(first) > 5
    with Store.open(f"sqlite:///{tmp_path / 'd.db'}") as store:
        cands = {c.key: c.item_id for c in store.candidates("size")}
        given = [cands[p["key"]] for p in first[:3]]
        store.record_given("size", given, upto_item_id=0, now=datetime(2026, 11, 23, tzinfo=UTC))
    second = preview(setup)
    assert {p["key"] for p in second} == {p["key"] for p in first[3:]}
    # After a digest that covered everything, the window is empty until new items come.
    with Store.open(f"sqlite:///{tmp_path / 'd.db'}") as store:
        top = max(c.item_id for c in store.candidates("size"))
        store.record_given(
            "size",
            [cands[p["key"]] for p in second],
            upto_item_id=top,
            now=datetime(2026, 11, 23, tzinfo=UTC),
        )
    assert preview(setup) == []
    # --since looks back past the window but still never repeats a delivered item.
    assert preview(setup, "--since", "2000-01-01") == []


@pytest.mark.shared
def test_text_and_markdown_show_the_same_picks_as_json(setup: Path) -> None:
    picks = preview(setup)
    shown = {}
    for fmt in ("text", "markdown"):
        result = CliRunner().invoke(
            cli, ["--config", str(setup), "preview", "size", "--format", fmt]
        )
        assert result.exit_code == 0, result.output
        shown[fmt] = result.stdout.splitlines()
    text, markdown = shown["text"], shown["markdown"]
    assert text[0] == f"Sizes in training: {len(picks)} papers"
    # per pick: "<score>  <title>", then its reasons indented
    assert [line.strip().split("  ", 1)[1] for line in text[1::2]] == [p["title"] for p in picks]
    assert [float(line.split()[0]) for line in text[1::2]] == [p["score"] for p in picks]
    # then the contributions that make the score, each "term value (field ...)"
    for line, p in zip(text[2::2], picks, strict=True):
        parts = line.strip().split(" + ")
        assert len(parts) == len(p["reasons"])
        for part, r in zip(parts, p["reasons"], strict=True):
            assert part.startswith(f"{r['term']} {r['value']:g} ({r['field']}"), (part, r)
    assert markdown[:3] == ["# Sizes in training", "", f"{len(picks)} papers"]
    items = [line for line in markdown if line.startswith("- ")]
    assert len(items) == len(picks)
    for line, p in zip(items, picks, strict=True):
        assert f" — score {p['score']:g}; {p['matched'][0]['term']} " in line
        url = str(p["url"] or "")  # only an http(s) URL becomes a link, as in `render`
        assert (f"]({url}) — " in line) == url.startswith(("http://", "https://"))


def test_profiles_check_reports_every_problem(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nkeywords: {x: 1}\nmax_itmes: 3\n")
    (tmp_path / "b.yaml").write_text(
        "name: b\nkeywords:\n  ok: 1\n  bad: heavy\ntimezone: Mars/Base\n"
    )
    result = CliRunner().invoke(cli, ["profiles", "check", str(tmp_path)])
    assert result.exit_code == 2
    err = result.stderr
    assert f"{tmp_path / 'a.yaml'}:3: max_itmes: unknown key" in err
    assert f"{tmp_path / 'b.yaml'}:4: keywords.bad:" in err
    assert f"{tmp_path / 'b.yaml'}:5: timezone:" in err


def test_profiles_check_accepts_the_shipped_profiles() -> None:
    shipped = Path(__file__).resolve().parent.parent / "config" / "profiles"
    result = CliRunner().invoke(cli, ["profiles", "check", str(shipped)])
    assert result.exit_code == 0, result.output
    assert "2 profiles valid" in result.stdout


def test_preview_of_an_unknown_profile_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    cfg = tmp_path / "digest.yaml"
    cfg.write_text(f"store: sqlite:///{tmp_path / 'd.db'}\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "preview", "nope"])
    assert result.exit_code == 2  # a usage error, as the README says
    assert "no profile named 'nope'" in result.stderr


def test_sources_given_on_the_command_line_keep_their_configured_names(
    demo_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = demo_config.parent / "samples"
    monkeypatch.chdir(demo_config.parent)  # a relative path names the same file
    args = ["--config", str(demo_config), "ingest", "samples/hf-daily-papers.json"]
    result = CliRunner().invoke(cli, [*args, str(samples / "arxiv-cs-lg.rss")])
    assert result.exit_code == 0, result.output
    odd = tmp_path / "elsewhere.rss"  # not configured: named by its path, shown by its file name
    odd.write_bytes((samples / "arxiv-cs-lg.rss").read_bytes())
    result = CliRunner().invoke(cli, ["--config", str(demo_config), "ingest", str(odd)])
    assert result.exit_code == 0, result.output
    with Store.open(f"sqlite:///{tmp_path / 'd.db'}") as store:
        names = {s.name: s.kind for s in store.sources()}
    assert names == {"hf-daily": "hf", "arxiv-cs-lg": "feed", str(odd): ""}
    result = CliRunner().invoke(
        cli, ["--config", str(demo_config), "preview", "scaling", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    picks = json.loads(result.stdout)
    assert picks
    seen = {s for p in picks for s in p["sources"]}
    assert seen == {"hf-daily", "arxiv-cs-lg", str(odd)}
    text = CliRunner().invoke(cli, ["--config", str(demo_config), "render", "scaling"]).stdout
    assert "from arxiv-cs-lg (new), hf-daily" in " ".join(text.split())
    assert ", elsewhere.rss (new)" in text
    assert str(samples) not in text
    assert str(tmp_path) not in text
