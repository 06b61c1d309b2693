"""Shared fixtures. `shared_dir` is ../shared: skipped when absent, unless CI=true.

`store_url` runs a test once per engine: a new SQLite file, and a new database
on a real PostgreSQL server (tests/pg.py), which skips with the reason when no
server can be had, unless CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import pg

ROOT = Path(__file__).resolve().parent.parent


def demo_config_at(tmp_path: Path, store: str | None = None) -> Path:
    """A copy of the bundled config/ under tmp_path, its store a file there (or `store`)."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    cfg = tmp_path / "config" / "digest.yaml"
    url = store or f"sqlite:///{tmp_path}/d.db"
    cfg.write_text(cfg.read_text().replace("sqlite:///digest.db", url))
    return cfg


@pytest.fixture
def demo_config(tmp_path: Path) -> Path:
    return demo_config_at(tmp_path)


SHARED = Path(__file__).resolve().parent.parent.parent / "shared"


def _shared() -> Path:
    if SHARED.is_dir():
        return SHARED
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but the shared data folder {SHARED} is missing")
    pytest.skip(f"shared data folder {SHARED} is absent")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _shared()


@pytest.fixture(scope="session")
def listings_dir(shared_dir: Path) -> Path:
    return shared_dir / "listings"


@pytest.fixture
def listings_config(tmp_path: Path, listings_dir: Path) -> Path:
    """A config in tmp_path (SQLite store, empty `profiles/`) whose store holds
    ../shared/listings, ingested as on 2025-06-01."""
    return listings_config_at(tmp_path, listings_dir)


def listings_config_at(folder: Path, listings_dir: Path, more: str = "") -> Path:
    """`listings_config` in `folder`, its digest.yaml ending with `more`."""
    from click.testing import CliRunner

    from digest.cli import cli

    (folder / "profiles").mkdir()
    cfg = folder / "digest.yaml"
    cfg.write_text(f"store: sqlite:///{folder / 'd.db'}\nprofiles: profiles\n{more}")
    result = CliRunner().invoke(
        cli, ["--config", str(cfg), "ingest", str(listings_dir), "--reference-date", "2025-06-01"]
    )
    assert result.exit_code == 0, result.output
    return cfg


@pytest.fixture(scope="session")
def feedparser_corpus(shared_dir: Path) -> Path:
    return shared_dir / "corpora" / "feedparser-tests"


@pytest.fixture(scope="session")
def arxiv_api_corpus(shared_dir: Path) -> Path:
    return shared_dir / "corpora" / "arxiv-api"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but PostgreSQL is unavailable: {reason}")
    pytest.skip(f"PostgreSQL unavailable ({reason}); set {pg.ENV} or install postgresql")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A PostgreSQL server URL without a database: $DIGEST_TEST_PG_URL's, or a
    throwaway cluster started for this session and stopped after it."""
    given = os.environ.get(pg.ENV)
    if given:
        base = pg.server_base(given)
        try:
            pg.check(base)
        except pg.Unavailable as exc:
            pytest.fail(f"{pg.ENV}={given} does not work: {exc}")
        yield base
        return
    cluster = None
    try:
        pg.check_driver()
        cluster = pg.Cluster()
        base = cluster.start()
        pg.check(base)
    except pg.Unavailable as exc:
        if cluster is not None:
            cluster.stop()
        _unavailable(str(exc))
    assert cluster is not None
    try:
        yield base
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for this test (dropped afterwards)."""
    with pg.fresh_database(pg_server) as url:
        yield url


ENGINES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql))


@pytest.fixture(params=ENGINES)
def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Runs the test once per engine ("sqlite", "postgresql"). Meanwhile
    `tests.pg.store_url_at(tmp_path, name)` names a store on that engine: a
    file in tmp_path, or a new PostgreSQL database dropped after the test."""
    with pg.Databases(request, tmp_path, str(request.param)):
        yield str(request.param)


@pytest.fixture
def store_url(store_engine: str, tmp_path: Path) -> str:
    """A new, empty store on each engine in turn: the test runs once per engine."""
    return pg.store_url_at(tmp_path, "digest.db")


@pytest.fixture
def new_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """`new_store_url(engine)`: a new, empty store on "sqlite" or "postgresql"."""
    databases = pg.ACTIVE.get(tmp_path)
    if databases is not None:  # the test also runs per engine: one list of stores
        yield databases.new
        return
    with pg.Databases(request, tmp_path) as databases:
        yield databases.new


# A real HTTP server on 127.0.0.1 for any test that asks for it.
from tests.httpserver import loopback_server  # noqa: E402, F401
