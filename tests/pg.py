"""A PostgreSQL server for the tests: the one DIGEST_TEST_PG_URL names, or a
throwaway cluster started here from the initdb/pg_ctl found on this machine.

Each test gets a database of its own (`fresh_database`), dropped afterwards, so
tests on PostgreSQL stay as independent as tests on a new SQLite file.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

ENV = "DIGEST_TEST_PG_URL"
SERVER_SETTINGS = (  # a test cluster: durability buys nothing, speed does
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=200",
)


class Unavailable(Exception):
    """No PostgreSQL server can be had; the message says why."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_bin(name: str) -> str | None:
    """`name` on PATH, else in the newest /usr/lib/postgresql/*/bin (Debian)."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> int:
        major = Path(path).parent.parent.name
        return int(major) if major.isdigit() else 0

    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    return versions[-1] if versions else None


class Cluster:
    """initdb + pg_ctl in a temporary folder, on a free loopback port; as the
    `postgres` user when run as root, since initdb refuses root."""

    def __init__(self) -> None:
        initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise Unavailable("no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no `postgres` user") from None
            self.user = "postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="digest-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.dir, entry.pw_uid, entry.pw_gid)

    def _run(self, *cmd: str) -> None:
        argv = ["runuser", "-u", self.user, "--", *cmd] if self.user else list(cmd)
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if done.returncode:
            raise Unavailable(f"{Path(cmd[0]).name} failed: {(done.stderr or done.stdout)[-800:]}")

    def start(self) -> str:
        """Start the cluster; returns its base URL (no database name)."""
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale=C", "--no-sync")  # fmt: skip
        options = " ".join(f"-c {s}" for s in SERVER_SETTINGS)
        options += f" -c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir}"
        self._run(self.pg_ctl, "-D", str(self.data), "-l", str(self.dir / "log"),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}"

    def stop(self) -> None:
        with suppress(Unavailable):
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def _admin(server: str) -> object:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server).set(drivername="postgresql", database="postgres")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def server_base(url: str) -> str:
    """The URL without its database: where new databases are made."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=None).render_as_string(hide_password=False)


def check_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable("psycopg is not installed (pip install -e '.[test]')") from None


def check(server: str) -> None:
    """Raise Unavailable unless `server` answers."""
    check_driver()
    import psycopg

    try:
        with _admin(server):  # type: ignore[attr-defined]
            pass
    except psycopg.Error as exc:
        raise Unavailable(f"cannot connect to {server}: {exc}") from exc


def create_database(server: str) -> str:
    """A new, empty database on `server`; returns its URL."""
    from sqlalchemy.engine import make_url

    name = f"digest_t_{uuid.uuid4().hex[:12]}"
    with _admin(server) as conn:  # type: ignore[attr-defined]
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    """Drop it even if a test left connections open (PostgreSQL 13+)."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    with _admin(server_base(url)) as conn:  # type: ignore[attr-defined]
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(server: str) -> Iterator[str]:
    """A new, empty database on `server` for one test; dropped afterwards."""
    url = create_database(server)
    try:
        yield url
    finally:
        drop_database(url)


class Databases:
    """The stores of one test, all removed when it ends. A PostgreSQL server
    is asked for only when a PostgreSQL store is, so SQLite-only use never skips."""

    def __init__(self, request: Any, folder: Path, engine: str = "sqlite") -> None:
        self.request = request
        self.folder = folder
        self.engine = engine
        self.named: dict[str, str] = {}
        self.made: list[str] = []

    def at(self, name: str) -> str:
        """The store called `name` in this test, on its engine: made on first use."""
        if name not in self.named:
            if self.engine == "sqlite":
                self.named[name] = f"sqlite:///{self.folder / name}"
            else:
                self.named[name] = self.new(self.engine)
        return self.named[name]

    def new(self, engine: str) -> str:
        """A new, empty store on `engine` ("sqlite" or "postgresql")."""
        if engine == "sqlite":
            url = f"sqlite:///{self.folder / f'store-{len(self.made)}.db'}"
        elif engine == "postgresql":
            url = create_database(self.request.getfixturevalue("pg_server"))
        else:
            raise ValueError(f"unknown engine {engine!r}")
        self.made.append(url)
        return url

    def __enter__(self) -> Databases:
        ACTIVE[self.folder] = self
        return self

    def __exit__(self, *exc: object) -> None:
        ACTIVE.pop(self.folder, None)
        for url in self.made:
            if url.startswith("postgresql"):
                drop_database(url)


ACTIVE: dict[Path, Databases] = {}  # a test's tmp_path -> its stores, while it runs


def store_url_at(folder: Path, name: str = "d.db") -> str:
    """The URL of store `name` of the test whose tmp_path is `folder`: on the
    engine the `store_engine` fixture chose, else a SQLite file in `folder`."""
    active = ACTIVE.get(folder)
    return active.at(name) if active else f"sqlite:///{folder / name}"
