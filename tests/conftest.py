"""Shared fixtures. `shared_dir` is ../shared: skipped when absent, unless CI=true."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def feedparser_corpus(shared_dir: Path) -> Path:
    return shared_dir / "corpora" / "feedparser-tests"


@pytest.fixture(scope="session")
def arxiv_api_corpus(shared_dir: Path) -> Path:
    return shared_dir / "corpora" / "arxiv-api"


# A real HTTP server on 127.0.0.1 for any test that asks for it.
from tests.httpserver import loopback_server  # noqa: E402, F401
