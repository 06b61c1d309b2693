"""Runs that always end, `run` checking every profile before it writes, and a source
that went empty flagged in status. Real stores on both engines, a loopback server."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from digest import pipeline, service, wiring
from digest.cli import EXIT_USAGE, cli
from digest.config import load_settings
from digest.models import SourceConfig
from digest.settings import Settings
from tests.httpserver import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent
BAD = "keywords:\n  scaling: 1\nmax_items: lots\n"  # line 3: not a number
MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


def channel(*titles: str) -> bytes:
    items = "".join(
        f"<item><title>{t}</title><link>https://example.org/{i}</link>"
        f"<description>About {t}.</description></item>"
        for i, t in enumerate(titles)
    )
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<link>https://example.org/</link><description>d</description>{items}</channel></rss>"
    ).encode()


@pytest.fixture
def config(demo_config: Path) -> Path:
    return demo_config


@pytest.fixture
def settings(config: Path, store_url: str) -> Settings:
    return replace(load_settings(config), store_url=store_url)


def _one_source(
    settings: Settings, server: LoopbackServer, *titles: str, etag: str | None = None
) -> Settings:
    """The settings with one source, `papers`, a feed of `titles` the server serves."""
    url = server.add("/papers.rss", channel(*titles), etag=etag)
    return replace(settings, sources=(SourceConfig(name="papers", location=url, kind="feed"),))


def test_a_failed_publish_still_sends_and_the_next_run_publishes_it(
    settings: Settings, tmp_path: Path, loopback_server: LoopbackServer
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = _one_source(settings, loopback_server, "Scaling laws for batch size")
    out = blocker / "out"
    broken = replace(
        settings,
        web=replace(settings.web, output_dir=out),
        email=replace(settings.email, smtp=None, outbox=tmp_path / "outbox"),
    )
    with wiring.open_store(settings.store_url) as store:
        report = pipeline.run_once(broken, store, MONDAY)
        cycle = store.last_run("cycle")
        (scaling,) = [p for p in report.profiles if p.profile == "scaling"]
        assert scaling.digest_id is not None
        assert scaling.sent >= 1  # the mail went, though the archive could not be written
        assert str(blocker) in scaling.publish_error
        assert "is a file, not a folder" in scaling.publish_error
        assert report.written == ()
        assert cycle is not None
        assert cycle.status == "partial"
        assert cycle.report is not None
        assert str(blocker) in json.dumps(cycle.report)
        assert list((tmp_path / "outbox").glob("*.eml"))

        blocker.unlink()  # fixed; the next day brings nothing new for scaling
        again = pipeline.run_once(broken, store, MONDAY + timedelta(days=1))
        assert all(p.publish_error == "" for p in again.profiles)
        assert store.last_run("cycle").status == "ok"  # type: ignore[union-attr]
    pages = [p.name for p in (out / "archive" / "scaling").glob("*.html") if p.name != "index.html"]
    assert len(pages) == 1  # the missed issue
    assert pages[0].rsplit(".", 1)[0] in (out / "archive" / "scaling" / "index.html").read_text()


def test_run_with_an_unwritable_output_mails_and_exits_3(
    config: Path, tmp_path: Path, loopback_server: LoopbackServer
) -> None:
    url = loopback_server.add("/papers.rss", channel("Scaling laws for batch size"))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    text = config.read_text().replace("output: ../out", f"output: {blocker}/out")
    text = text.replace("outbox: ../out/outbox", f"outbox: {tmp_path}/outbox")
    paper = f"sources:\n  - name: papers\n    url: {url}\n    kind: feed\n"
    config.write_text(text.replace("sources:\n", paper, 1))  # one more source, a key given once
    result = CliRunner().invoke(cli, ["--config", str(config), "run", "--now", "2026-11-23T06:00"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert f"publish failed: cannot write {blocker}" in result.output
    assert list((tmp_path / "outbox").glob("*.eml"))
    # `publish` alone: one line naming the path, exit 2 (fix the config or the folder).
    alone = CliRunner().invoke(cli, ["--config", str(config), "publish"])
    assert alone.exit_code == 2, alone.output
    assert alone.stderr.strip().count("\n") == 0
    assert str(blocker) in alone.stderr


def test_an_ingest_stopped_by_an_exception_is_recorded_failed(settings: Settings) -> None:
    def interrupted(_rep: object) -> None:
        raise KeyboardInterrupt

    with wiring.open_store(settings.store_url) as store:
        with pytest.raises(KeyboardInterrupt):
            pipeline.ingest(settings, store, MONDAY, progress=interrupted)
        run = store.last_run("ingest")
        assert run is not None
        assert run.status == "failed"
        assert run.report == {"error": "KeyboardInterrupt: "}
        assert service.status(store)["last_run"]["status"] == "failed"


def test_run_with_a_bad_profile_exits_2_and_leaves_the_store_alone(
    config: Path, tmp_path: Path
) -> None:
    bad = config.parent / "profiles" / "zz-bad.yaml"
    bad.write_text(BAD)
    result = CliRunner().invoke(cli, ["--config", str(config), "run"])
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{bad}:" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "d.db").exists()

    bad.unlink()
    first = CliRunner().invoke(cli, ["--config", str(config), "run", "--now", "2026-11-23T06:00"])
    assert first.exit_code == 0, first.output
    before = (tmp_path / "d.db").read_bytes()
    bad.write_text(BAD)
    again = CliRunner().invoke(cli, ["--config", str(config), "run", "--now", "2026-11-24T06:00"])
    assert again.exit_code == EXIT_USAGE
    assert (tmp_path / "d.db").read_bytes() == before


def test_a_source_that_went_empty_twice_is_flagged(
    settings: Settings, loopback_server: LoopbackServer
) -> None:
    settings = _one_source(settings, loopback_server, "Alpha", "Beta", etag='"full"')

    def fetch(hours: int) -> str:
        with wiring.open_store(settings.store_url) as store:
            report = pipeline.ingest(settings, store, MONDAY + timedelta(hours=hours))
            assert report.errors == 0
            return service.status(store)["sources"][0]["state"]

    assert fetch(0) == "ok"
    loopback_server.add("/papers.rss", channel(), etag='"empty-1"')
    assert fetch(1) == "ok"  # once may be a quiet day
    assert fetch(2) == "ok"  # a 304: neither counts nor resets
    loopback_server.add("/papers.rss", channel(), etag='"empty-2"')
    assert fetch(3) == "empty"
    with wiring.open_store(settings.store_url) as store:
        (row,) = service.status(store)["sources"]
        assert row["empty_fetches"] == 2
        assert row["last_entries"] == MONDAY.isoformat()
        assert service.health_notices(store) == (
            "source papers gave no entries 2 runs in a row (last entries 2026-11-23)",
        )
    loopback_server.add("/papers.rss", channel("Gamma"), etag='"back"')
    assert fetch(4) == "ok"


def test_a_source_that_never_had_entries_stays_ok(
    settings: Settings, loopback_server: LoopbackServer
) -> None:
    settings = _one_source(settings, loopback_server)
    with wiring.open_store(settings.store_url) as store:
        for hours in range(3):
            pipeline.ingest(settings, store, MONDAY + timedelta(hours=hours))
        (state,) = store.sources()
        assert state.empty_fetches == 3
        assert state.last_entries_at is None
        assert service.health(state) == "ok"


def test_the_migration_backfills_last_entries_from_sightings(
    settings: Settings, loopback_server: LoopbackServer
) -> None:
    settings = _one_source(settings, loopback_server, "Alpha")
    with wiring.open_store(settings.store_url) as store:
        pipeline.ingest(settings, store, MONDAY)
    engine = create_engine(settings.store_url)
    with engine.begin() as conn:  # back to the store as the version before had it
        conn.execute(text("ALTER TABLE sources DROP COLUMN empty_fetches"))
        conn.execute(text("ALTER TABLE sources DROP COLUMN last_entries_at"))
        conn.execute(
            text("UPDATE meta SET value = :v WHERE key = 'schema_version'"),
            {"v": "7"},  # before v8 added them
        )
    engine.dispose()
    with wiring.open_store(settings.store_url) as store:
        (state,) = store.sources()
    assert state.empty_fetches == 0
    assert state.last_entries_at == MONDAY


def test_status_shows_the_failed_cycle_not_the_ingest_inside_it(settings: Settings) -> None:
    from digest.errors import StoreError

    def store_fails(source: str, location: str, **_kw: object) -> object:
        raise StoreError("the disk went away")

    with wiring.open_store(settings.store_url) as store:
        with pytest.raises(StoreError, match="the disk went away"):
            pipeline.run_once(settings, store, MONDAY, fetcher=store_fails)  # type: ignore[arg-type]
        last = service.status(store)["last_run"]
        nested = store.last_run("ingest")
    assert (last["kind"], last["status"]) == ("cycle", "failed")
    assert nested is not None
    assert nested.status == "failed"  # still there, when asked for by kind
    assert nested.id > last["id"]


def test_status_shows_a_finished_cycle_and_a_lone_ingest(
    settings: Settings, loopback_server: LoopbackServer
) -> None:
    settings = _one_source(settings, loopback_server, "Alpha")
    with wiring.open_store(settings.store_url) as store:
        pipeline.run_once(settings, store, MONDAY)
        assert service.status(store)["last_run"]["kind"] == "cycle"
        pipeline.ingest(settings, store, MONDAY + timedelta(hours=1))
        assert service.status(store)["last_run"]["kind"] == "ingest"
