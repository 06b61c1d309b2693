"""The `digest` group: global options, the context commands share, exit codes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from digest.settings import Settings
    from digest.wiring import Store

F = TypeVar("F", bound=Callable[..., Any])
# The README's "Exit status" line; tests/test_docs.py holds them to it.
EXIT_STORE = 1  # the store (or another part) failed; also any other DigestError
EXIT_USAGE = 2  # a bad option or argument, config or profile; nothing was written
EXIT_PARTIAL = 3  # done in part: some sources, mails or rows failed, the rest were done


@dataclass
class Context:
    config: str | None
    db: str | None
    loaded: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self.loaded is None:
            from digest.config import load_settings, resolve_config_path

            self.loaded = load_settings(resolve_config_path(self.config))
        return self.loaded

    @property
    def store_url(self) -> str:
        from digest import wiring

        return wiring.store_url(self.settings, self.db)

    def open_store(self) -> Store:
        from digest import wiring

        return wiring.open_store(self.store_url)


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"digest: {message}", err=True)
    sys.exit(code)


class DigestGroup(click.Group):
    """Turns package errors into clear messages and exit codes, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        from digest.errors import ConfigError, DigestError, OutputError, UsageError

        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            sys.exit(EXIT_USAGE)
        except (OutputError, UsageError) as exc:  # fix the command, the config or the folder
            fail(str(exc), EXIT_USAGE)
        except DigestError as exc:
            fail(str(exc), EXIT_STORE)


def parse_now(value: str | None) -> datetime:
    """`--now` (ISO 8601; naive means UTC), or the clock when not given."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO date or datetime: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def address(raw: str) -> str:
    """An email address from the command line; a usage error when it is not one."""
    from digest import service

    try:
        return service.address(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _when(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    return None if value is None else parse_now(value)


# Parsed before the command runs, so a bad value opens no store.
now_option = click.option(
    "--now",
    metavar="DATETIME",
    callback=lambda ctx, param, value: parse_now(value),
    help="Pretend it is this time (ISO 8601, UTC).",
)
since_option = click.option(
    "--since",
    metavar="DATETIME",
    callback=_when,
    help="Consider items first seen since then, instead of the profile's window.",
)


def format_option(choices: list[str], default: str) -> Callable[[F], F]:
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default=default, show_default=True
    )


@click.group(cls=DigestGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="digest", message="digest %(version)s")
@click.option(
    "--config",
    "config",
    metavar="PATH",
    envvar="DIGEST_CONFIG",
    help="Config file [env DIGEST_CONFIG; default ./config/digest.yaml].",
)
@click.option(
    "--db",
    "db",
    metavar="URL",
    envvar="DIGEST_DB",
    help="Store URL, e.g. sqlite:///digest.db [env DIGEST_DB].",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, config: str | None, db: str | None, verbose: int) -> None:
    """Self-hosted daily digests of research-paper listings.

    \b
    Example:
      digest ingest ../shared/listings --json
    """
    from digest.logs import setup_logging

    # The daemon's own events are at INFO: show them by default.
    setup_logging(max(verbose, 1) if ctx.invoked_subcommand == "serve" else verbose)
    ctx.obj = Context(config=config, db=db)


def main() -> None:
    cli(prog_name="digest")
