"""The command line as a user meets it: exit codes, --help, and bad input refused
with file:line before anything is written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from digest.cli import EXIT_PARTIAL, EXIT_USAGE, cli
from tests.conftest import demo_config_at

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
        (tmp_path / "missing.rss").as_uri(),  # a URL that fails, not a mistyped path
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


def test_an_unknown_profile_exits_2_and_opens_no_store(config: Path, tmp_path: Path) -> None:
    for args in (
        ("run", "--profile", "nope"),
        ("preview", "nope"),
        ("render", "nope"),
        ("publish", "nope"),
        ("send", "nope"),
        ("subscribers", "add", "ada@example.org", "--profile", "nope"),
    ):
        result = invoke("--config", str(config), *args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert "digest: no profile named 'nope'" in result.stderr
    assert not (tmp_path / "d.db").exists()


def test_removing_an_unknown_subscriber_or_profile_exits_2_and_changes_nothing(
    config: Path,
) -> None:
    """`subscribers remove` reports success only for what it removed."""
    base = ("--config", str(config), "subscribers")
    assert invoke(*base, "add", "Ada@Example.org", "--profile", "scaling").exit_code == 0
    for args, said in (
        (("nobody@example.org",), "digest: no subscriber nobody@example.org: nothing removed"),
        (("ada@example.org", "--profile", "nope"), "digest: no profile named 'nope'"),
    ):
        result = invoke(*base, "remove", *args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert said in result.stderr
        assert result.stdout == ""
    shown = invoke(*base, "show", "nobody@example.org")
    assert shown.exit_code == EXIT_USAGE
    assert "digest: no subscriber nobody@example.org" in shown.stderr
    listed = json.loads(invoke(*base, "list", "--json").stdout)
    ada = next(s for s in listed if s["email"] == "Ada@example.org")
    assert ada["status"] == "active"
    assert ada["profiles"] == ["scaling"]
    done = invoke(*base, "remove", "ADA@example.org")
    assert done.exit_code == 0
    assert done.stdout == "Ada@example.org: unsubscribed, receives nothing\n"


def test_a_mistyped_path_exits_2_and_opens_no_store(config: Path, tmp_path: Path) -> None:
    sample = ROOT / "config" / "samples" / "arxiv-cs-lg.rss"
    result = invoke("--config", str(config), "ingest", str(sample), str(tmp_path / "mising.rss"))
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"digest: {tmp_path / 'mising.rss'}: no such file or folder" in result.stderr
    assert not (tmp_path / "d.db").exists()  # not even the good file was ingested


def test_ingest_dir_recurses(config: Path, tmp_path: Path) -> None:
    top = tmp_path / "dumps"
    (top / "2026" / "11").mkdir(parents=True)
    (top / ".git").mkdir()
    shutil.copy(ROOT / "config" / "samples" / "arxiv-cs-lg.rss", top / "2026" / "11" / "a.rss")
    shutil.copy(ROOT / "config" / "samples" / "lab-blog.json", top / "b.json")
    (top / ".git" / "config").write_text("[core]\n")
    result = invoke("--config", str(config), "ingest", str(top), "--json", "--now", NOW)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    names = [s["source"] for s in report["sources"]]
    assert names == [str(top / "b.json"), str(top / "2026" / "11" / "a.rss")]
    assert all(s["new"] > 0 for s in report["sources"])


def test_a_folder_with_nothing_to_ingest_says_so(config: Path, tmp_path: Path) -> None:
    (tmp_path / "empty" / "only" / "folders").mkdir(parents=True)
    result = invoke("--config", str(config), "ingest", str(tmp_path / "empty"))
    assert result.exit_code == EXIT_USAGE
    assert "nothing to ingest: no files in this folder or below it" in result.stderr
    assert "no sources configured" not in result.stderr
    assert not (tmp_path / "d.db").exists()


def test_ad_hoc_paths_do_not_become_configured_sources(config: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.rss"
    shutil.copy(ROOT / "config" / "samples" / "arxiv-cs-lg.rss", extra)
    assert invoke("--config", str(config), "ingest", str(extra), "--now", NOW).exit_code == 0
    status = json.loads(invoke("--config", str(config), "status", "--json").stdout)
    assert status["sources"] == []
    assert invoke("--config", str(config), "ingest", "--now", NOW).exit_code == 0
    status = json.loads(invoke("--config", str(config), "status", "--json").stdout)
    configured = ["arxiv-cs-lg", "arxiv-api", "hf-daily", "trending-page", "lab-blog"]
    assert sorted(s["name"] for s in status["sources"]) == sorted(configured)
    text = invoke("--config", str(config), "status").stdout
    assert str(extra) not in text


def test_the_store_and_the_default_outbox_are_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = demo_config_at(tmp_path, store="sqlite:///d.db")  # relative
    text = cfg.read_text()
    cfg.write_text(re.sub(r"(?m)^  outbox: .*\n", "", text))  # the default outbox
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke("--config", str(cfg), "run", "--now", NOW)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "config" / "d.db").is_file()
    assert list(elsewhere.iterdir()) == []
    assert sorted((tmp_path / "out" / "outbox").glob("*.eml"))  # output is ../out
    assert f"outbox:  {(tmp_path / 'out' / 'outbox').resolve()}" in result.stdout


def test_render_to_a_folder_that_cannot_be_made_is_a_usage_error(
    config: Path, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "sub"  # below a file: cannot be made
    result = invoke("--config", str(config), "render", "scaling", "--out", str(out))
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"digest: {out / 'digest.md'}: cannot write" in result.stderr
    assert "Traceback" not in result.output


HOSTILE_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>t</title><link>https://example.org/</link>
<description>d</description>
<item><title>Scaling law *bold* [click](javascript:alert(1))
&lt;b&gt;x&lt;/b&gt; _u_ `c` # h</title>
<link>https://example.org/p1</link><guid>p1</guid>
<description>a scaling law study</description></item>
<item><title>Scaling law with a bad link</title>
<link>javascript:alert(2)</link><guid>p2</guid>
<description>scaling law</description></item>
</channel></rss>
"""


def test_preview_markdown_escapes_like_render(config: Path, tmp_path: Path) -> None:
    from digest.render import md_escape

    feed = tmp_path / "hostile.rss"
    feed.write_text(HOSTILE_FEED)
    assert invoke("--config", str(config), "ingest", str(feed), "--now", NOW).exit_code == 0
    preview = invoke("--config", str(config), "preview", "scaling", "--format", "markdown")
    render = invoke("--config", str(config), "render", "scaling", "--format", "markdown")
    assert preview.exit_code == 0, preview.output
    assert render.exit_code == 0, render.output
    title = "Scaling law *bold* [click](javascript:alert(1)) x _u_ `c` # h"  # tags stripped
    escaped = md_escape(title)
    assert escaped != title
    assert f"[{escaped}](https://example.org/p1)" in render.stdout
    assert f"[{escaped}](https://example.org/p1)" in preview.stdout
    assert title not in preview.stdout
    assert "javascript:" not in preview.stdout.replace(escaped, "")
    assert "](javascript:alert(2))" not in preview.stdout
