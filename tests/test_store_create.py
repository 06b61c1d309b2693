"""Several processes creating one new store at once, on SQLite and PostgreSQL:
every one of them opens it, and it ends at the current schema, made once."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from digest.store import Store
from digest.store.schema import SCHEMA_VERSION

PROCESSES = 6
ROUNDS = 4  # new stores per engine: each round all processes open one at the same moment

# Each process waits for each round's moment, then opens (and so creates) that store.
OPENER = """
import sys, time
from digest.store import Store
start, urls = float(sys.argv[1]), sys.argv[2:]
for n, url in enumerate(urls):
    time.sleep(max(0.0, start + n * 0.4 - time.time()))
    Store.open(url).close()
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def test_processes_creating_one_new_store_at_once_all_succeed(
    engine: str, new_store_url: Callable[[str], str]
) -> None:
    urls = [new_store_url(engine) for _ in range(ROUNDS)]
    start = time.time() + 3.0  # every process imported and waiting by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(start), *urls],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    errors = []
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        if proc.returncode:
            errors.append(err.decode()[-1500:])
    assert errors == []
    for url in urls:
        with Store.open(url, migrate=False) as store:
            assert store.schema_version() == SCHEMA_VERSION
            with store.engine.connect() as conn:
                rows = conn.exec_driver_sql("SELECT key, value FROM meta").all()
            assert rows == [("schema_version", str(SCHEMA_VERSION))]
