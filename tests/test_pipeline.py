"""The cycle through pipeline's public functions, on each engine (a real SQLite file,
a real PostgreSQL database): the bundled sample files plus one source served over
loopback HTTP, mail to the outbox."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest import pipeline, service, wiring
from digest.config import load_settings
from digest.errors import DigestError
from digest.models import SourceConfig
from digest.settings import Settings
from tests.conftest import demo_config_at
from tests.httpserver import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent
MONDAY = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
RSS = (ROOT / "config" / "samples" / "arxiv-cs-lg.rss").read_bytes()


def _settings(tmp_path: Path, server: LoopbackServer, store: str | None) -> Settings:
    """The demo config on `store` (else a SQLite file) and temporary outputs, with the
    arXiv sample also served over HTTP (with an ETag, so a second fetch is a 304)."""
    cfg = demo_config_at(tmp_path, store)
    server.add("/cs.LG.rss", RSS, etag='"v1"', headers={"Content-Type": "application/rss+xml"})
    loaded = load_settings(cfg)
    served = SourceConfig(name="served", location=server.url("/cs.LG.rss"), kind="feed")
    return replace(loaded, sources=(*loaded.sources, served))


@pytest.fixture
def settings(tmp_path: Path, loopback_server: LoopbackServer, store_url: str) -> Settings:
    """On a new store of each engine in turn: the test runs once per engine."""
    return _settings(tmp_path, loopback_server, store_url)


@pytest.fixture
def sqlite_settings(tmp_path: Path, loopback_server: LoopbackServer) -> Settings:
    """On a SQLite file: what only SQLite does (a dry run copies the file)."""
    return _settings(tmp_path, loopback_server, None)


def outbox(settings: Settings) -> list[Path]:
    return sorted(settings.email.outbox.glob("*.eml"))


def snapshot(store: wiring.Store) -> dict[str, Any]:
    """All a cycle can change in the store, as its public reads show it."""
    return {
        "items": [(i.item_id, i.title) for i in store.items()],
        "sources": store.sources(),
        "runs": store.last_run(),
        "deliveries": store.deliveries(),
        "subscribers": store.subscribers(),
    }


def test_ingest_counts_each_paper_once_and_a_304_is_not_modified(settings: Settings) -> None:
    with wiring.open_store(settings.store_url) as store:
        first = pipeline.ingest(settings, store, MONDAY)
        by_name = {s.source: s for s in first.sources}
        assert first.errors == 0
        assert set(by_name) == {s.name for s in settings.sources}
        assert all(s.entries > 0 for s in first.sources)
        # The served copy holds the same papers as the file source: all duplicates.
        assert by_name["served"].new == 0
        assert by_name["served"].duplicates == by_name["arxiv-cs-lg"].entries
        assert first.new == store.count_items()
        assert first.entries == first.new + first.duplicates
        run = store.last_run("ingest")
        assert run is not None
        assert run.status == "ok"

        again = pipeline.ingest(settings, store, MONDAY + timedelta(hours=2))
        assert again.new == 0
        assert {s.source: s.not_modified for s in again.sources}["served"] is True
        assert store.count_items() == first.new


def test_a_digest_is_recorded_and_sent_once(settings: Settings) -> None:
    with wiring.open_store(settings.store_url) as store:
        report = pipeline.run_once(settings, store, MONDAY)
        made = {p.profile: p for p in report.profiles}
        assert set(made) == {"scaling", "diffusion"}
        assert all(p.picked > 0 and p.digest_id is not None for p in made.values())
        # Each profile's fixed recipients get its digest, one mail each.
        recipients = {p.name: len(p.recipients) for p in service.profiles(settings)}
        assert recipients == {"scaling": 1, "diffusion": 2}
        assert report.sent == {"sent": 3, "failed": 0}
        assert {p.profile: p.sent for p in report.profiles} == recipients
        assert len(outbox(settings)) == 3
        ledger = store.deliveries()
        assert sorted(r.digest_id for r in ledger) == sorted(p.digest_id for p in made.values())
        assert {r.profile: r.sent for r in ledger} == recipients
        assert all(r.pending == 0 for r in ledger)

        rerun = pipeline.run_once(settings, store, MONDAY + timedelta(days=1))
        assert rerun.ingest.new == 0
        assert all(p.picked == 0 and p.digest_id is None for p in rerun.profiles)
        assert rerun.sent == {"sent": 0, "failed": 0}
        assert len(outbox(settings)) == 3
        assert store.deliveries() == ledger
        assert pipeline.send(settings, store, MONDAY + timedelta(days=1)) == {}


def test_dry_run_leaves_store_outbox_and_archive_unchanged(sqlite_settings: Settings) -> None:
    settings = sqlite_settings
    with wiring.open_store(settings.store_url) as store:
        pipeline.ingest(settings, store, MONDAY)
        before = snapshot(store)
        report = pipeline.dry_run(settings, store, MONDAY)
        assert report.dry_run is True
        assert report.written == ()
        assert all(p.picked > 0 and p.digest_id is not None for p in report.profiles)
        assert report.sent == {"sent": 3, "failed": 0}  # to the copy's outbox
        assert snapshot(store) == before
    assert outbox(settings) == []
    assert not (settings.web.output_dir / "archive").exists()


def test_dry_run_needs_a_sqlite_file(sqlite_settings: Settings) -> None:
    settings = sqlite_settings
    with (
        wiring.open_store("sqlite://") as memory,
        pytest.raises(DigestError, match="needs a SQLite store file"),
    ):
        pipeline.dry_run(settings, memory, MONDAY)


def test_a_source_failing_three_times_is_stale_and_the_admin_hears_of_it(
    settings: Settings, tmp_path: Path
) -> None:
    gone = SourceConfig(name="gone", location=str(tmp_path / "missing.xml"))
    with wiring.open_store(settings.store_url) as store:
        states = []
        for n in range(service.STALE_AFTER):
            report = pipeline.ingest(settings, store, MONDAY + timedelta(hours=n), sources=[gone])
            assert report.errors == 1
            states.append(service.status(store)["sources"][0]["state"])
        assert states == ["failing"] * (service.STALE_AFTER - 1) + ["stale"]
        (notice,) = service.health_notices(store)
        assert notice.startswith(f"source gone is stale: {service.STALE_AFTER} failed fetches")
        run = store.last_run("ingest")
        assert run is not None
        assert run.status == "partial"


def test_a_profile_edited_between_two_reads_is_read_again(sqlite_settings: Settings) -> None:
    """The profiles a cycle reads several times are parsed once; an edit, even one of
    the same size within the same clock tick, is seen at the next read."""
    settings = sqlite_settings
    assert settings.profiles_dir is not None
    path = settings.profiles_dir / "scaling.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\nmin_score: 3\n" in text
    first = service.profiles(settings)
    assert service.profiles(settings) == first  # the same, from the cache
    for score in (9, 8):  # the same size each time
        path.write_text(text.replace("\nmin_score: 3\n", f"\nmin_score: {score}\n"), "utf-8")
        assert service.profile(settings, "scaling").min_score == score
