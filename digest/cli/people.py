"""`digest subscribers ...`: people who get digests by email."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from digest.cli.base import EXIT_PARTIAL, Context, address, cli, fail, parse_now


@cli.group()
def subscribers() -> None:
    """People who get digests by email."""


@subscribers.command("add")
@click.argument("email")
@click.option("--profile", "profiles", multiple=True, required=True, help="Repeatable.")
@click.pass_obj
def subscribers_add(obj: Context, email: str, profiles: tuple[str, ...]) -> None:
    """Add (or re-activate) a confirmed subscriber of one or more profiles.

    \b
    Example:
      digest subscribers add ada@example.org --profile scaling --profile diffusion
    """
    from digest import service

    address(email)  # usage errors before the store is opened
    service.chosen(obj.settings, profiles)
    with obj.open_store() as store:
        sub = service.add(obj.settings, store, email, profiles, parse_now(None))
    click.echo(f"{sub.email}: {sub.status}, follows {', '.join(sub.profiles)}")


@subscribers.command("remove")
@click.argument("email")
@click.option("--profile", "profiles", multiple=True, help="Stop only these (repeatable).")
@click.pass_obj
def subscribers_remove(obj: Context, email: str, profiles: tuple[str, ...]) -> None:
    """Unsubscribe an address from the named profiles, or from everything: it is
    kept, marked, and never mailed those again.

    \b
    Example:
      digest subscribers remove ada@example.org --profile diffusion
    """
    from digest import service

    email = address(email)
    known = [p.name for p in service.profiles(obj.settings)]
    with obj.open_store() as store:
        sub = service.remove(store, email, parse_now(None), profiles, known)
    receives = ", ".join(sub.profiles) or "nothing"
    click.echo(f"{sub.email}: {sub.status}, receives {receives}")


@subscribers.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def subscribers_show(obj: Context, email: str, as_json: bool) -> None:
    """Show one address: what it receives and its consent log, every change with
    its time and cause (web, confirm, cli, import, one-click, bounce, manage, ...).

    \b
    Example:
      digest subscribers show ada@example.org
    """
    from digest import service

    address(email)
    with obj.open_store() as store:
        sub, events = service.show(store, email)
    if as_json:
        out = {**service.subscriber_dict(sub), "log": [service.consent_dict(e) for e in events]}
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"{sub.email}: {sub.status}, receives {', '.join(sub.profiles) or 'nothing'}")
    if sub.pending:
        click.echo(f"  awaiting confirmation: {', '.join(sub.pending)}")
    for e in events:
        what = f"{e.action} {' '.join(e.profiles)}".strip()
        line = f"  {e.at.isoformat(timespec='seconds')}  {e.cause:<9} {what} -> {e.status}"
        click.echo(line + (f" ({e.detail})" if e.detail else ""))


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def subscribers_list(obj: Context, as_json: bool) -> None:
    """List subscribers with their status and profiles.

    \b
    Example:
      digest subscribers list --json
    """
    from digest import service

    with obj.open_store() as store:
        subs = store.subscribers()
    if as_json:
        click.echo(json.dumps([service.subscriber_dict(s) for s in subs], indent=2))
        return
    for s in subs:
        click.echo(f"{s.email:<40} {s.status:<13} {', '.join(s.profiles)}")


@subscribers.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def subscribers_import(obj: Context, path: str) -> None:
    """Import a CSV with columns `email` and `profiles` (separated by `;` or spaces).
    Bad rows are reported with their line number; good rows are kept.

    \b
    Example:
      digest subscribers import people.csv
    """
    from digest import service

    try:
        rows = service.read_import(obj.settings, Path(path))
    except ValueError as exc:
        fail(str(exc))
    with obj.open_store() as store:
        imported = service.import_subscribers(store, rows, parse_now(None))
    for problem in rows.problems:
        click.echo(problem, err=True)
    click.echo(f"imported {imported} subscribers, {len(rows.problems)} rows rejected")
    if rows.problems:
        sys.exit(EXIT_PARTIAL)
