"""A full cycle on the bundled samples: ingest, digests, archive and feeds on disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from digest.cli import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    cfg = tmp_path / "config" / "digest.yaml"
    text = cfg.read_text().replace(
        "store: sqlite:///digest.db", f"store: sqlite:///{tmp_path}/d.db"
    )
    cfg.write_text(text)
    return cfg


def run(cfg: Path, *args: str) -> dict:
    result = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_full_cycle_writes_archive_and_feeds(config: Path, tmp_path: Path) -> None:
    report = run(config, "--now", "2026-11-23T06:00:00")
    assert report["ingest"]["errors"] == 0
    assert report["ingest"]["new"] > 10
    profiles = {p["profile"]: p for p in report["profiles"]}
    assert set(profiles) == {"scaling", "diffusion"}
    assert all(p["picked"] > 0 and p["digest_id"] for p in profiles.values())
    out = tmp_path / "out" / "archive"
    for name, p in profiles.items():
        base = out / name
        index = (base / "index.html").read_text()
        assert "<script" not in index
        pages = sorted(base.glob("2026-11-23-*.html"))
        assert len(pages) == 1
        for feed in ("feed.xml", "feed.atom", "digests.xml", "digests.atom"):
            parsed = feedparser.parse((base / feed).read_bytes())
            assert parsed.bozo == 0, (feed, parsed.get("bozo_exception"))
            expected = p["picked"] if feed.startswith("feed") else 1
            assert len(parsed.entries) == expected, feed
        assert str(base / "index.html") in report["written"]

    # Nothing new arrived: the next run makes no digest and repeats nothing.
    again = run(config, "--now", "2026-11-24T06:00:00")
    assert again["ingest"]["new"] == 0
    assert all(p["picked"] == 0 and p["digest_id"] is None for p in again["profiles"])
    for name in profiles:
        assert len(list((out / name).glob("2026-11-2*-*.html"))) == 1


def test_publish_and_render_commands(config: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config), "render", "scaling", "--format", "text"])
    assert result.exit_code == 0, result.output
    assert "Scaling laws" in result.stdout
    result = runner.invoke(
        cli,
        [
            "--config",
            str(config),
            "render",
            "scaling",
            "--format",
            "html",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "r" / "digest.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    run(config, "--now", "2026-11-23T06:00:00")
    shutil.rmtree(tmp_path / "out")
    result = runner.invoke(cli, ["--config", str(config), "publish", "diffusion"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "archive" / "diffusion" / "index.html").is_file()
    assert not (tmp_path / "out" / "archive" / "scaling").exists()
    result = runner.invoke(cli, ["--config", str(config), "publish", "nope"])
    assert result.exit_code == 1
    assert "no profile named 'nope'" in result.stderr


def test_dry_run_records_and_sends_nothing(config: Path, tmp_path: Path) -> None:
    report = run(config, "--dry-run", "--now", "2026-11-23T06:00:00")
    assert report["dry_run"] is True
    assert report["ingest"]["new"] > 10
    assert all(p["picked"] > 0 for p in report["profiles"])
    assert report["sent"]["sent"] > 0  # into a throwaway outbox
    assert not (tmp_path / "out").exists()
    from digest.store import Store

    with Store.open(f"sqlite:///{tmp_path}/d.db") as store:
        assert store.count_items() == 0
        assert store.last_run() is None
    # The real run afterwards still finds everything new.
    real = run(config, "--now", "2026-11-23T06:00:00")
    assert real["ingest"]["new"] == report["ingest"]["new"]
    assert real["dry_run"] is False


def test_profile_option_and_the_stored_run_report(config: Path, tmp_path: Path) -> None:
    report = run(config, "--profile", "diffusion", "--now", "2026-11-23T06:00:00")
    assert [p["profile"] for p in report["profiles"]] == ["diffusion"]
    assert (tmp_path / "out" / "archive" / "diffusion").is_dir()
    assert not (tmp_path / "out" / "archive" / "scaling").exists()
    from digest.store import Store

    with Store.open(f"sqlite:///{tmp_path}/d.db") as store:
        stored = store.last_run("cycle")
    assert stored is not None
    assert stored.status == "ok"
    assert stored.report is not None
    assert stored.report["profiles"] == report["profiles"]
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--profile", "nope"])
    assert result.exit_code == 1
    assert "no profile named 'nope'" in result.stderr


def test_publish_writes_an_issue_page_once(config: Path, tmp_path: Path) -> None:
    run(config, "--now", "2026-11-23T06:00:00")
    base = tmp_path / "out" / "archive" / "scaling"
    (page,) = base.glob("2026-11-23-*.html")
    page.write_bytes(b"published earlier")  # stands for a page made by an older template

    def publish(*args: str) -> list[str]:
        result = CliRunner().invoke(cli, ["--config", str(config), "publish", "scaling", *args])
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    written = publish()
    assert str(page) not in written
    assert page.read_bytes() == b"published earlier"
    assert {Path(p).name for p in written} == {
        "index.html", "feed.xml", "feed.atom", "digests.xml", "digests.atom"
    }  # fmt: skip

    page.unlink()  # as after a publish that failed halfway
    assert str(page) in publish()
    assert b"<html" in page.read_bytes()

    page.write_bytes(b"published earlier")
    assert str(page) in publish("--all")
    assert b"<html" in page.read_bytes()
