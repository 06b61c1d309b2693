"""deploy/: the unit files parse, the container runs unprivileged, the env example is complete."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = ["digest.service", "digest-run.service", "digest-run.timer"]


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string((DEPLOY / name).read_text(encoding="utf-8"), source=name)
    return parser


@pytest.mark.parametrize("name", UNITS)
def test_units_parse(name: str) -> None:
    parsed = unit(name)
    assert parsed.has_section("Unit")
    assert parsed["Unit"]["Description"]


@pytest.mark.parametrize("name", ["digest.service", "digest-run.service"])
def test_services_run_digest_unprivileged_and_hardened(name: str) -> None:
    service = unit(name)["Service"]
    command = shlex.split(service["ExecStart"])
    assert command[0].endswith("/digest")
    expected = ["serve", "--host", "127.0.0.1", "--port", "8000"]
    assert command[1:] == (expected if name == "digest.service" else ["run"])
    assert service["User"] == "digest"
    assert service["EnvironmentFile"] == "/etc/digest/digest.env"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ReadWritePaths"] == service["WorkingDirectory"] == "/var/lib/digest"


def test_daemon_restarts_on_failure_and_stops_gently() -> None:
    service = unit("digest.service")["Service"]
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"
    assert unit("digest.service")["Install"]["WantedBy"] == "multi-user.target"


def test_timer_is_persistent() -> None:
    timer = unit("digest-run.timer")
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["OnCalendar"]
    assert unit("digest-run.service")["Service"]["Type"] == "oneshot"
    assert timer["Install"]["WantedBy"] == "timers.target"


def test_crontab_has_one_job_line() -> None:
    lines = [
        line
        for line in (DEPLOY / "crontab").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6
    assert all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5])
    assert "/etc/digest/digest.env" in fields[5]
    assert "digest run" in fields[5]


def test_dockerfile_runs_serve_as_non_root() -> None:
    lines = [
        line.strip()
        for line in (DEPLOY / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[0] == "FROM python:3.11-slim"
    users = [line.split(None, 1)[1] for line in lines if line.startswith("USER ")]
    assert users, "no USER instruction: the container would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    after_user = lines[lines.index(f"USER {users[-1]}") :]
    assert not any(line.startswith("RUN ") for line in after_user)
    assert lines[-1] == 'CMD ["digest", "serve", "--host", "0.0.0.0", "--port", "8000"]'
    assert "EXPOSE 8000" in lines
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in lines)
    assert any(line.startswith("VOLUME") and "/data" in line for line in lines)
    assert any(line.startswith('RUN pip install ".[postgres]"') for line in lines)


def test_compose_lists_the_three_services() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"digest", "postgres", "mailpit"} <= set(services)  # more: test_roles.py
    assert services["digest"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert "/data" in {v.split(":")[1] for v in services["digest"]["volumes"]}
    assert services["postgres"]["profiles"]  # not started by default
    assert "profiles" not in services["digest"]
    assert "profiles" not in services["mailpit"]
    ports = {p.rsplit(":", 1)[1] for p in services["mailpit"]["ports"]}
    assert ports == {"1025", "8025"}
    assert "mailpit" in services["mailpit"]["image"]


def env_names_read_by_the_code() -> set[str]:
    """Every `DIGEST_*` name written as a string literal in digest/: os.environ,
    os.getenv, click's envvar=, or a constant later passed to one of them."""
    names: set[str] = set()
    for path in (ROOT / "digest").rglob("*.py"):
        names |= set(re.findall(r"""["'](DIGEST_[A-Z0-9_]+)["']""", path.read_text()))
    return names


def test_env_example_names_every_variable_the_code_reads() -> None:
    example = (DEPLOY / "digest.env.example").read_text()
    documented = set(re.findall(r"^#?\s*(DIGEST_[A-Z0-9_]+)=", example, re.MULTILINE))
    read = env_names_read_by_the_code()
    assert {"DIGEST_CONFIG", "DIGEST_DB"} <= read  # the scan finds what it should
    assert read <= documented, f"missing from digest.env.example: {sorted(read - documented)}"
    assert {"DIGEST_SECRET_KEY", "DIGEST_SMTP_PASSWORD", "DIGEST_DB", "DIGEST_CONFIG"} <= documented


def test_env_example_holds_no_secret_values() -> None:
    for line in (DEPLOY / "digest.env.example").read_text().splitlines():
        m = re.match(r"^#?\s*(DIGEST_\w*(?:KEY|PASSWORD|TOKEN|SECRET)\w*)=(.*)$", line)
        if m:
            assert m.group(2) == "", f"{m.group(1)} has a value in the example"
            assert line.startswith("#"), f"{m.group(1)} should be commented out"
