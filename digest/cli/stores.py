"""`digest store copy`: the store itself, moved to another database."""

from __future__ import annotations

import json

import click

from digest.cli.base import Context, cli


@cli.group("store")
def store_group() -> None:
    """The store itself."""


@store_group.command("copy")
@click.option("--to", "target", required=True, metavar="URL", help="An empty store's URL.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows copied per table as JSON.")
@click.pass_obj
def copy(obj: Context, target: str, as_json: bool) -> None:
    """Copy every row of the store (--db) into an empty one, SQLite or
    PostgreSQL, checking row counts per table. Stop digest processes first.

    \b
    Example:
      digest --db sqlite:///digest.db store copy --to postgresql+psycopg://digest@db/digest
    """
    with obj.open_store() as store:
        copied = store.copy_into(target)
    if as_json:
        click.echo(json.dumps(copied, indent=2, sort_keys=True))
        return
    for table, rows in copied.items():
        click.echo(f"{table:<16} {rows:>9,} rows")
    click.echo(f"copied {sum(copied.values()):,} rows; counts match in every table")
