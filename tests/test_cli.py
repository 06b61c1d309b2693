"""The command line as a user meets it: exit codes, --help, and bad input refused
with file:line before anything is written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from digest.cli import EXIT_PARTIAL, EXIT_USAGE, cli

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-23T06:00:00"


def commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for name, cmd in sorted(group.commands.items()):
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out += commands(cmd, (*prefix, name))
    return out


ALL = commands(cli)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def config(demo_config: Path) -> Path:
    """The demo config, its store and outputs in tmp_path."""
    return demo_config


@pytest.fixture
def bad_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "digest.yaml"
    cfg.write_text(f"store: sqlite:///{tmp_path}/never.db\nfeed_items: lots\nbogus: 1\n")
    return cfg


def test_the_groups_and_commands_are_all_there() -> None:
    assert set(ALL) >= {
        ("ingest",),
        ("run",),
        ("publish",),
        ("send",),
        ("serve",),
        ("items",),
        ("preview",),
        ("render",),
        ("deliveries",),
        ("status",),
        ("profiles",),
        ("profiles", "check"),
        ("subscribers",),
        ("subscribers", "add"),
        ("subscribers", "remove"),
        ("subscribers", "list"),
        ("subscribers", "import"),
    }


@pytest.mark.parametrize("args", ALL, ids=" ".join)
def test_every_command_has_help(args: tuple[str, ...]) -> None:
    result = invoke(*args, "--help")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: cli {' '.join(args)}")
    cmd = cli
    for name in args:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    if not isinstance(cmd, click.Group):
        assert "Example" in result.output


def test_version_and_usage_errors() -> None:
    version = invoke("--version")
    assert version.exit_code == 0
    assert version.output.startswith("digest ")
    assert invoke("no-such-command").exit_code == EXIT_USAGE
    assert invoke("items", "--limit", "0").exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    "args",
    [("status",), ("items",), ("ingest",), ("run",), ("publish",), ("send",), ("deliveries",)],
    ids=" ".join,
)
def test_a_bad_config_exits_2_with_file_line_and_writes_nothing(
    bad_config: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    result = invoke("--config", str(bad_config), *args)
    assert result.exit_code == EXIT_USAGE
    assert f"{bad_config}:2: feed_items: must be int" in result.stderr
    assert f"{bad_config}:3: bogus: unknown key" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "never.db").exists()


def test_a_bad_config_through_the_real_entry_point(bad_config: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(bad_config), "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == EXIT_USAGE
    assert f"{bad_config}:2: feed_items" in done.stderr
    assert done.stdout == ""
    assert not (tmp_path / "never.db").exists()


def test_a_missing_config_file_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke("--config", str(tmp_path / "nope.yaml"), "status")
    assert result.exit_code == EXIT_USAGE
    assert f"{tmp_path / 'nope.yaml'}: cannot read" in result.stderr


def test_bad_values_are_usage_errors_and_open_no_store(config: Path, tmp_path: Path) -> None:
    cases = [
        ("ingest", "--now", "yesterday"),
        ("ingest", "--reference-date", "soon"),
        ("subscribers", "add", "not-an-address", "--profile", "scaling"),
        ("subscribers", "remove", "not-an-address"),
    ]
    for args in cases:
        result = invoke("--config", str(config), *args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert "Invalid value" in result.stderr, args
    assert not (tmp_path / "d.db").exists()


def test_an_unknown_profile_exits_1_and_opens_no_store(config: Path, tmp_path: Path) -> None:
    for args in (
        ("run", "--profile", "nope"),
        ("preview", "nope"),
        ("render", "nope"),
        ("subscribers", "add", "ada@example.org", "--profile", "nope"),
    ):
        result = invoke("--config", str(config), *args)
        assert result.exit_code == 1, (args, result.output)
        assert "digest: no profile named 'nope'" in result.stderr
    assert not (tmp_path / "d.db").exists()


def test_an_import_without_an_email_column_exits_2_and_writes_nothing(
    config: Path, tmp_path: Path
) -> None:
    people = tmp_path / "people.csv"
    people.write_text("name,profiles\nada,scaling\n")
    result = invoke("--config", str(config), "subscribers", "import", str(people))
    assert result.exit_code == EXIT_USAGE
    assert f"digest: {people}: needs a header row with an `email` column" in result.stderr
    assert not (tmp_path / "d.db").exists()


def test_a_failing_source_exits_3_and_the_others_are_kept(config: Path, tmp_path: Path) -> None:
    samples = ROOT / "config" / "samples"
    result = invoke(
        "--config",
        str(config),
        "ingest",
        str(samples / "arxiv-cs-lg.rss"),
        str(tmp_path / "missing.rss"),
        "--json",
        "--now",
        NOW,
    )
    assert result.exit_code == EXIT_PARTIAL
    report = json.loads(result.stdout)
    assert report["errors"] == 1
    ok, failed = report["sources"]
    assert ok["new"] > 0
    assert ok["error"] is None
    assert "not found" in failed["error"]


def test_a_sound_cycle_exits_0_and_status_reports_it(config: Path) -> None:
    run = invoke("--config", str(config), "run", "--now", NOW)
    assert run.exit_code == 0, run.output
    assert "dry run" not in run.stdout
    assert "papers)" in run.stdout.split("store:")[1].splitlines()[0]
    status = invoke("--config", str(config), "status", "--json")
    assert status.exit_code == 0
    out = json.loads(status.stdout)
    assert {s["state"] for s in out["sources"]} == {"ok"}
    assert out["last_run"]["status"] == "ok"
    assert out["subscribers"] == {"active": 2}
    assert out["deliveries"] == {
        "sent": 3,
        "pending": 0,
        "failed-temporary": 0,
        "failed-permanent": 0,
    }
    again = invoke("--config", str(config), "send")
    assert again.exit_code == 0
    assert again.stdout == "0 sent, 0 temporary, 0 permanent\n"
