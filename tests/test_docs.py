"""The README documents every command, each with an example, like sqlite-utils does,
and every example in its Commands section runs: in README order, against a
temporary copy of config/ (its store, outputs and outbox inside the copy).

What cannot run offline or forever is stood in for, and only that: the arXiv URL
is served from the bundled sample over loopback HTTP, `/tmp/preview` and
`/etc/digest/digest.yaml` are temporary paths, and `serve` listens on a free port
and gets SIGTERM once it has started (its documented exit status is then 0).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from digest.cli import cli
from tests.httpserver import LoopbackServer

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS_SECTION = README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
EXAMPLES = [
    line.strip()
    for block in re.findall(r"```sh\n(.*?)```", COMMANDS_SECTION, re.S)
    for line in block.splitlines()
    if line.strip().startswith("digest ")
]
ARXIV_URL = "https://rss.arxiv.org/rss/cs.LG"
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        if isinstance(cmd, click.Group):
            out += _commands(cmd, f"{full} ")
        else:
            out.append((full, cmd))
    return out


COMMANDS = _commands(cli)


def test_there_are_commands() -> None:
    assert {"ingest", "items", "run", "preview", "profiles check"} <= {n for n, _ in COMMANDS}


def test_every_command_has_a_readme_section_with_an_example() -> None:
    for name, _ in COMMANDS:
        heading = re.search(rf"^### `digest {re.escape(name)}\b.*$", README, re.M)
        assert heading, f"README has no section for `digest {name}`"
        section = README[heading.end() :].split("\n### ", 1)[0]
        assert f"digest {name}" in section.split("```", 1)[1], f"no example for `digest {name}`"


def test_every_command_help_has_an_example() -> None:
    for name, cmd in COMMANDS:
        assert "Example" in (cmd.help or ""), f"`digest {name}` --help has no example"


def _invoked(example: str) -> list[str]:
    """The command words and arguments of an example, its global options left out."""
    words = shlex.split(example)[1:]
    while words and words[0].startswith("-"):
        words = words[2:] if words[0] in ("--config", "--db") else words[1:]
    return words


def test_the_examples_are_found() -> None:
    # At least one per command, invoking it; run below, in this order.
    assert len(EXAMPLES) >= len(COMMANDS)
    for name, _ in COMMANDS:
        words = name.split()
        assert any(_invoked(e)[: len(words)] == words for e in EXAMPLES), name


def test_every_command_section_is_a_command() -> None:
    documented = re.findall(r"^### `digest ([a-z]+(?: [a-z]+)?)\b", COMMANDS_SECTION, re.M)
    names = {n for n, _ in COMMANDS} | {n.split()[0] for n, _ in COMMANDS}
    assert documented
    assert [d for d in documented if d not in names] == []


class Workspace:
    """A folder like a checkout: config/ copied, ../shared beside it."""

    def __init__(self, base: Path, shared: Path, server: LoopbackServer) -> None:
        self.root = base / "work"
        shutil.copytree(ROOT / "config", self.root / "config")
        (base / "shared").symlink_to(shared)
        (self.root / "people.csv").write_text(
            "email,profiles\nada@example.org,scaling\ngrace@example.org,scaling;diffusion\n"
        )
        samples = ROOT / "config" / "samples"
        server.add("/rss/cs.LG", (samples / "arxiv-cs-lg.rss").read_bytes())
        self.stand_ins = {
            ARXIV_URL: server.url("/rss/cs.LG"),
            "/tmp/preview": str(base / "preview"),
            "/etc/digest/digest.yaml": str(self.root / "config" / "digest.yaml"),
        }

    def args(self, example: str) -> list[str]:
        for real, stand_in in self.stand_ins.items():
            example = example.replace(real, stand_in)
        return shlex.split(example)[1:]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, shared_dir: Path) -> Iterator[Workspace]:
    with LoopbackServer() as server:
        yield Workspace(tmp_path_factory.mktemp("readme"), shared_dir, server)


def _serve(args: list[str], cwd: Path) -> int:
    """`digest serve ...` in a process of its own: SIGTERM once it has started."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "digest", *args, "--port", "0"]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "daemon_started" in line or "daemon started" in line:
            break
        if time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert any("daemon" in s and "started" in s for s in seen), "".join(seen)
    return code


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_runs(
    example: str,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws = workspace
    monkeypatch.chdir(ws.root)
    for var in ("DIGEST_CONFIG", "DIGEST_DB", *PROXY_VARS):
        monkeypatch.delenv(var, raising=False)
    args = ws.args(example)
    if "serve" in args:
        assert _serve(args, ws.root) == 0
        return
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, f"{example}\n{result.output}"
    assert result.stdout, f"{example} printed nothing"


def test_the_exit_codes_are_the_readme_s() -> None:
    from digest.cli import EXIT_PARTIAL, EXIT_STORE, EXIT_USAGE

    line = re.search(r"Exit status: (.*?)\.\n\n", COMMANDS_SECTION, re.S)
    assert line, "the Commands section states the exit statuses"
    text = " ".join(line.group(1).split())
    said = dict(re.findall(r"(\d) (.+?)(?:, (?=\d )|$)", text))
    assert said.keys() == {"0", "1", "2", "3"}
    assert said[str(EXIT_STORE)].startswith("store error")
    assert said[str(EXIT_USAGE)].startswith("usage or config error")
    assert said[str(EXIT_PARTIAL)].startswith("done in part")


def test_the_readme_names_every_system_package_the_tests_need() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    packages = set(re.findall(r"apt_install ([\w.+-]+)", ci))
    assert packages >= {"chromium", "postgresql"}
    dev = README.split("\n## Development\n", 1)[1]
    install = re.search(r"apt-get install ([\w.+ -]+)", dev)
    assert install, "Development says which system packages to install"
    assert packages <= set(install.group(1).split())
