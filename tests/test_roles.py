"""Many processes on one store (`digest serve --role ...`), on SQLite and on a real
PostgreSQL server: the leader lock, the job queue, a scheduler killed with SIGKILL
and its standby taking over, two workers on one queue, web rate limits shared by
two app instances and by two `--role web` processes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest import roles, service, wiring
from digest.config import load_settings
from digest.settings import EmailSettings, Settings, WebSettings
from digest.web import create_app
from tests.test_web import csrf

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
POLL = 0.2  # seconds: the processes' --poll
TAKEOVER = 10.0  # seconds a standby may take, process start-up on a busy machine included


@pytest.fixture
def url(store_url: str) -> str:
    """A new, empty store: the test runs once on SQLite, once on PostgreSQL."""
    return store_url


# -- the store's coordination: lock, queue, counters --------------------------


def test_one_leader_at_a_time_and_the_lock_frees_on_release(url: str) -> None:
    with wiring.open_store(url) as a, wiring.open_store(url) as b:
        first, second = a.coordination.leader(), b.coordination.leader()
        assert first.acquire()
        assert first.alive()
        assert not second.acquire()
        first.release()
        assert second.acquire()
        assert not first.acquire()
        second.release()


def test_a_job_is_queued_once_per_kind_profile_and_time(url: str) -> None:
    with wiring.open_store(url) as store:
        q = store.coordination
        assert q.enqueue("digest", "alpha", T0, T0)
        assert not q.enqueue("digest", "alpha", T0, T0 + timedelta(seconds=5))
        assert q.enqueue("digest", "beta", T0, T0)
        assert q.enqueue("digest", "alpha", T0 + timedelta(days=1), T0)
        assert len(q.jobs()) == 3
        # not due yet: nothing to claim before its time
        assert q.claim("w", T0 - timedelta(seconds=1), timedelta(minutes=1)) is None


def test_concurrent_claims_never_hand_out_a_job_twice(url: str) -> None:
    with wiring.open_store(url) as store:
        for i in range(60):
            store.coordination.enqueue("digest", f"p{i}", T0, T0)
        claimed: list[tuple[str, int]] = []
        lock = threading.Lock()

        def work(name: str) -> None:
            with wiring.open_store(url) as own:
                while (job := own.coordination.claim(name, T0, timedelta(minutes=5))) is not None:
                    with lock:
                        claimed.append((name, job.id))
                    assert own.coordination.finish(job.id, name, T0)

        threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = [job_id for _, job_id in claimed]
        assert len(ids) == len(set(ids)) == 60
        done = store.coordination.jobs("done")
        assert len(done) == 60
        assert all(j.attempts == 1 for j in done)


def test_a_job_whose_worker_died_is_claimed_again_after_its_lease(url: str) -> None:
    with wiring.open_store(url) as store:
        q = store.coordination
        q.enqueue("ingest", "", T0, T0)
        lease = timedelta(seconds=30)
        job = q.claim("dead", T0, lease)
        assert job is not None
        assert q.claim("alive", T0 + timedelta(seconds=29), lease) is None
        again = q.claim("alive", T0 + timedelta(seconds=31), lease)
        assert again is not None
        assert (again.id, again.attempts) == (job.id, 2)
        assert not q.finish(job.id, "dead", T0 + timedelta(seconds=40))  # its lease is gone
        assert q.finish(job.id, "alive", T0 + timedelta(seconds=40))
        (done,) = q.jobs("done")
        assert done.worker == "alive"


def test_the_plan_coalesces_missed_slots_into_the_latest(tmp_path: Path) -> None:
    settings = _config(tmp_path, {"alpha": "daily 05:30", "beta": "daily 06:30"})
    plan = roles.due_jobs(settings, T0, ingest_every=timedelta(hours=2), grace=timedelta(hours=1))
    assert ("ingest", "", T0) in plan  # 06:00 starts a two-hour slot
    assert ("digest", "alpha", T0 - timedelta(minutes=30)) in plan
    assert not any(p == "beta" for _, p, _ in plan)  # not due until 06:30
    later = roles.due_jobs(
        settings, T0 + timedelta(hours=3), ingest_every=timedelta(hours=2), grace=timedelta(hours=1)
    )
    assert ("ingest", "", T0 + timedelta(hours=2)) in later
    assert not any(p == "alpha" for _, p, _ in later)  # 05:30 is past its grace time


# -- processes: digest serve --role ... ---------------------------------------


def _config(folder: Path, schedules: dict[str, str]) -> Settings:
    """The bundled samples as sources; one profile per schedule, each mailing one
    fixed recipient (to the outbox) and sending even an empty digest."""
    config = folder / "config"
    if not config.exists():
        shutil.copytree(ROOT / "config" / "samples", config / "samples")
        text = (ROOT / "config" / "digest.yaml").read_text()
        (config / "digest.yaml").write_text(text.replace("../out", "out"))
    profiles = config / "profiles"
    profiles.mkdir(exist_ok=True)
    for name, when in schedules.items():
        (profiles / f"{name}.yaml").write_text(
            f"name: {name}\nkeywords: [diffusion, scaling, language model]\n"
            f'schedule: "{when}"\ntimezone: UTC\nsend_empty: true\n'
            f"recipients: [{name}@example.org]\n"
        )
    return load_settings(config / "digest.yaml")


def _now_schedule() -> str:
    """A daily schedule at the current minute: due at once, within the grace time."""
    return datetime.now(UTC).strftime("daily %H:%M")


class Proc:
    """`digest serve --role ...` in a process of its own; its JSON log events read as they come."""

    def __init__(self, settings: Settings, url: str, *args: str) -> None:
        assert settings.path is not None
        self.events: list[dict[str, Any]] = []
        config, argv = str(settings.path), ["serve", "--poll", str(POLL), *args]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "digest", "--config", config, "--db", url, *argv],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "DIGEST_SECRET_KEY": "k" * 32},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def saw(self, event: str) -> bool:
        return any(e["event"] == event for e in list(self.events))

    def wait_for(self, event: str, within: float) -> float:
        started = time.monotonic()
        while not self.saw(event):
            assert self.proc.poll() is None or self.saw(event), f"exited: {self.events[-5:]}"
            assert time.monotonic() - started < within, f"no {event} in {within}s: {self.events}"
            time.sleep(0.02)
        return time.monotonic() - started

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self._reader.join(timeout=5)
        return code


def test_the_standby_scheduler_takes_over_from_a_killed_one(tmp_path: Path, url: str) -> None:
    when = _now_schedule()  # the same all through: a changed schedule is a new job
    settings = _config(tmp_path, {"alpha": when})
    first = Proc(settings, url, "--role", "scheduler")
    second = None
    try:
        first.wait_for("scheduler_active", 30)
        second = Proc(settings, url, "--role", "scheduler")
        second.wait_for("scheduler_standby", 30)
        with wiring.open_store(url) as store:
            deadline = time.monotonic() + 10
            while not any(j.profile == "alpha" for j in store.coordination.jobs()):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(timeout=10)
            took = second.wait_for("scheduler_active", TAKEOVER)
            assert took < TAKEOVER
            # it is active: a profile added now gets its job from the second one
            settings = _config(tmp_path, {"alpha": when, "beta": when})
            deadline = time.monotonic() + 10
            while not any(j.profile == "beta" for j in store.coordination.jobs()):
                assert time.monotonic() < deadline, "the new leader queued nothing"
                time.sleep(0.05)
            assert not second.saw("scheduler_lost")
            worker = Proc(settings, url, "--role", "worker", "--until-idle")
            assert worker.proc.wait(timeout=120) == 0
            worker.stop()
            jobs = Counter((j.kind, j.profile) for j in store.coordination.jobs())
            assert jobs[("digest", "alpha")] == jobs[("digest", "beta")] == 1
            assert jobs[("ingest", "")] == 1
            assert {j.status for j in store.coordination.jobs()} == {"done"}
            for name in ("alpha", "beta"):
                (profile,) = [p for p in service.profiles(settings) if p.name == name]
                assert len(store.digests(profile)) == 1  # recorded once, whoever queued it
            mails = list((settings.email.outbox).glob("*.eml"))
            assert len(mails) == 2
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
        if second is not None:
            assert second.stop() == 0


def test_two_workers_share_one_queue_and_run_each_job_once(tmp_path: Path, url: str) -> None:
    names = [f"p{i}" for i in range(8)]
    settings = _config(tmp_path, dict.fromkeys(names, "daily 23:59"))
    with wiring.open_store(url) as store:
        # due a moment from now, so both workers are up and polling when it comes
        due = datetime.now(UTC) + timedelta(seconds=4)
        store.coordination.enqueue("ingest", "", due - timedelta(seconds=1), due)
        for name in names:
            store.coordination.enqueue("digest", name, due, due)
        workers = [Proc(settings, url, "--role", "worker") for _ in range(2)]
        try:
            for w in workers:
                w.wait_for("worker_started", 30)
            deadline = time.monotonic() + 40
            while {j.status for j in store.coordination.jobs()} - {"done", "failed"}:
                assert time.monotonic() < deadline, (
                    store.coordination.jobs(),
                    [w.events[-3:] for w in workers],
                )
                time.sleep(0.1)
        finally:
            codes = [w.stop() for w in workers]
        assert codes == [0, 0]
        jobs = store.coordination.jobs()
        assert {j.status for j in jobs} == {"done"}
        events = [e for w in workers for e in w.events]
        assert len({e["worker"] for e in events if e["event"] == "job_done"}) == 2  # both worked
        ran = Counter(e["job"] for e in events if e["event"] == "job_done")
        assert sorted(ran) == sorted(j.id for j in jobs)
        assert set(ran.values()) == {1}  # each job done once, by one worker
        failed = Counter(e["job"] for e in events if e["event"] == "job_failed")
        assert all(j.attempts == 1 + failed[j.id] for j in jobs)  # a failure is retried
        for profile in service.profiles(settings):
            assert len(store.digests(profile)) == 1
        assert len(list(settings.email.outbox.glob("*.eml"))) == len(names)


# -- web: rate limits shared by every web process -----------------------------


def test_rate_limits_are_shared_by_two_apps_on_one_store(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    monkeypatch.setenv("DIGEST_SECRET_KEY", "k" * 32)
    settings = Settings(
        store_url=url,
        profiles_dir=ROOT / "config" / "profiles",
        web=WebSettings(output_dir=tmp_path / "out", site_url="https://papers.example.org/"),
        email=EmailSettings(
            sender="Paper digest <digest@example.org>",
            domain="example.org",
            unsubscribe_url="https://papers.example.org/unsubscribe/{token}",
            outbox=tmp_path / "outbox",
        ),
    )
    now = datetime(2026, 11, 23, 6, 0, 10, tzinfo=UTC)  # early in its minute: one window
    with wiring.open_store(url) as one, wiring.open_store(url) as two:
        apps = [create_app(settings, s, now=lambda: now, shared_limits=True) for s in (one, two)]
        clients = [
            TestClient(app, base_url="https://papers.example.org", client=("203.0.113.7", 5))
            for app in apps
        ]

        def subscribe(client: TestClient, n: int) -> int:
            token = csrf(client.get("/").text)
            data = {"csrf": token, "email": f"r{n}@example.org", "profile": "scaling"}
            return client.post("/subscribe", data=data).status_code

        codes = [subscribe(clients[n % 2], n) for n in range(5)]
        assert codes == [200] * 5
        assert subscribe(clients[0], 5) == 429
        assert subscribe(clients[1], 6) == 429  # the other process counts the same
        elsewhere = TestClient(apps[1], base_url="https://papers.example.org", client=("::1", 5))
        assert subscribe(elsewhere, 7) == 200  # counted per client address


# -- deploy/compose.yaml: the multi-process layout (no Docker engine here) ---


def test_compose_shows_postgres_a_scheduler_workers_and_web() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    services = compose["services"]

    def role(name: str) -> str:
        command = services[name]["command"]
        return str(command[command.index("--role") + 1])

    assert {role(n) for n in ("scheduler", "scheduler-standby", "worker", "web")} == {
        "scheduler",
        "worker",
        "web",
    }
    assert services["scheduler-standby"]["profiles"] == ["standby"]  # optional
    for name in ("scheduler", "worker", "web"):
        service_ = services[name]
        assert service_["profiles"] == ["scale"]
        assert service_["environment"]["DIGEST_DB"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in service_["environment"]["DIGEST_DB"]
        assert service_["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service_["read_only"] is True
        assert service_["cap_drop"] == ["ALL"]
    assert "scale" in services["postgres"]["profiles"]
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"
    assert "DIGEST_WORKERS" in str(services["worker"]["deploy"]["replicas"])
    assert "DIGEST_WEB" in str(services["web"]["deploy"]["replicas"])
    assert "--host" in services["web"]["command"]
    # the single-process default stays on SQLite, without a profile
    assert services["digest"]["environment"]["DIGEST_DB"].startswith("sqlite:")
    assert "--role" not in services["digest"]["command"]


def test_two_web_processes_count_one_rate_limit(tmp_path: Path, url: str) -> None:
    """Two `digest serve --role web` on one store: a client's sixth subscribe in a
    minute is refused by either, however its requests were spread over them."""
    import httpx

    settings = _config(tmp_path, {"scaling": "daily 23:59"})
    webs = [Proc(settings, url, "--role", "web", "--port", "0") for _ in range(2)]
    try:
        for web in webs:
            web.wait_for("web_started", 120)  # start-up under a loaded CI machine
        bases = [next(e["url"] for e in w.events if e["event"] == "web_started") for w in webs]
        clients = [httpx.Client(base_url=b, headers={"Host": "localhost:8000"}) for b in bases]

        def subscribe(client: httpx.Client, n: int) -> int:
            token = csrf(client.get("/").text)
            data = {"csrf": token, "email": f"w{n}@example.org", "profile": "scaling"}
            return client.post("/subscribe", data=data).status_code

        if datetime.now(UTC).second > 40:  # the counters' windows are minutes: start early in one
            time.sleep(61 - datetime.now(UTC).second)
        codes = [subscribe(clients[n % 2], n) for n in range(7)]
        assert codes == [200] * 5 + [429] * 2  # the fifth went to the first, the sixth to the other
        for client in clients:
            client.close()
    finally:
        codes = [w.stop() for w in webs]
    assert codes == [0, 0]
