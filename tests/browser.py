"""Headless Chromium (Debian's package) driven by Playwright, for browser tests.

Playwright never downloads a browser here: it is pointed at /usr/bin/chromium.
Screenshots go to test-artifacts/ so a person can look at them after a run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but Debian's chromium is not installed (.ci/run installs it)")
    pytest.skip("chromium is not installed (apt-get install chromium; see README Development)")


# Module scope: Playwright's sync API keeps an event loop running in this thread
# while it is open, and asyncio.run() in later tests would refuse to start.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        yield b
        b.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
