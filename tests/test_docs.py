"""The README documents every command, each with an example, like sqlite-utils does."""

from __future__ import annotations

import re
from pathlib import Path

import click

from digest.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


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
