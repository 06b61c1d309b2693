"""A store that cannot be made, opened or written: one line that names it and
says what to do, exit status 1, no traceback, no SQL, no SQLAlchemy link."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import event

from digest.cli import cli
from digest.errors import StoreError
from digest.store import Store

SQL_WORDS = ("SELECT", "INSERT", "CREATE TABLE", "sqlalche.me", "Background on this error")


def status(config: Path, url: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--db", url, "status"])


def one_clear_line(result: Result, *names: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0]
    for word in SQL_WORDS:
        assert word not in lines[0]
    return lines[0]


def test_a_store_under_sys_names_the_path(demo_config: Path) -> None:
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no /sys here")
    line = one_clear_line(status(demo_config, "sqlite:////sys/kernel/digest/d.db"), "/sys/kernel")
    assert "choose another path" in line


def test_a_store_file_that_cannot_be_made_in_an_existing_folder(demo_config: Path) -> None:
    if not Path("/sys/kernel").is_dir():
        pytest.skip("no /sys here")
    line = one_clear_line(status(demo_config, "sqlite:////sys/kernel/d.db"), "/sys/kernel/d.db")
    assert "cannot be opened" in line


def test_a_file_in_the_store_path(demo_config: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("I am a file")
    line = one_clear_line(status(demo_config, f"sqlite:///{blocker}/sub/d.db"), str(blocker))
    assert "is a file, not a folder" in line


def test_a_home_folder_of_nobody(
    demo_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = one_clear_line(status(demo_config, "sqlite:///~nosuchuser/d.db"), "~nosuchuser")
    assert "no user 'nosuchuser'" in line
    assert not (tmp_path / "~nosuchuser").exists()  # no folder of that name made here


def test_tilde_is_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with Store.open("sqlite:///~/stores/d.db") as store:
        assert store.label == str(tmp_path / "stores" / "d.db")
    assert (tmp_path / "stores" / "d.db").is_file()


def test_a_file_that_is_not_a_store(demo_config: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just some text " * 200)
    line = one_clear_line(status(demo_config, f"sqlite:///{junk}"), str(junk))
    assert "is not a digest store or is damaged" in line


def test_a_write_error_names_the_store_without_sql(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    with Store.open(f"sqlite:///{db}") as store:
        # Waits 0.1 s for the lock, not 10: set after the store's own pragmas.
        event.listen(store.engine, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=100"))
        store.engine.dispose()
        other = sqlite3.connect(db)
        other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
        try:
            with pytest.raises(StoreError) as caught:
                store.start_run("ingest", datetime.now(UTC))
        finally:
            other.rollback()
            other.close()
    message = str(caught.value)
    assert str(db) in message
    assert "is busy" in message
    assert "run again" in message
    assert caught.value.store == str(db)
    for word in SQL_WORDS:
        assert word not in message


@pytest.mark.postgresql
def test_a_postgresql_database_that_does_not_exist(demo_config: Path, pg_server: str) -> None:
    url = pg_server.rstrip("/") + "/digest_nosuchdb"
    line = one_clear_line(status(demo_config, url), "digest_nosuchdb")
    assert "does not exist: create it" in line


@pytest.mark.postgresql
def test_a_postgresql_server_that_is_not_there(demo_config: Path) -> None:
    from tests.pg import free_port

    url = f"postgresql+psycopg://digest:s3cret@127.0.0.1:{free_port()}/digest"
    line = one_clear_line(status(demo_config, url), "127.0.0.1:")
    assert "cannot be reached" in line
    assert "s3cret" not in line
