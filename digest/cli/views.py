"""Commands that show things and record nothing: items, profiles check, preview,
render, deliveries, status."""

from __future__ import annotations

import json
from datetime import datetime

import click

from digest.cli.base import Context, cli, fail, format_option, parse_now, since_option


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.pass_obj
def items(obj: Context, as_json: bool, limit: int) -> None:
    """List stored papers, newest first.

    \b
    Example:
      digest items --limit 5 --json
    """
    from digest import service

    with obj.open_store() as store:
        rows = store.items(limit=limit)
    if as_json:
        out = [service.item_dict(i) for i in rows]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for i in rows:
        ident = f"arXiv:{i.arxiv_id}" if i.arxiv_id else (f"doi:{i.doi}" if i.doi else "-")
        click.echo(f"{i.item_id:>6}  {ident:<22} {i.title[:90]}")


@cli.group()
def profiles() -> None:
    """Interest profiles (one YAML file each)."""


@profiles.command("check")
@click.argument("path", required=False, type=click.Path(exists=True, dir_okay=True))
@click.pass_obj
def profiles_check(obj: Context, path: str | None) -> None:
    """Validate every profile; problems are printed as file:line: key: message.

    \b
    Examples:
      digest profiles check
      digest profiles check config/profiles/scaling.yaml
    """
    from pathlib import Path

    from digest import service

    target = Path(path) if path else obj.settings.profiles_dir
    if target is None:
        fail("no profiles folder configured; name a file or folder")
    found = service.check_profiles(obj.settings, target)
    for p in found:
        terms = len(p.keywords) + len(p.authors)
        click.echo(f"ok  {p.name:<20} {terms:>3} terms  {p.path}")
    click.echo(f"{len(found)} profiles valid")


@profiles.command("suggest")
@click.argument("profile")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 3650))
@click.pass_obj
def profiles_suggest(obj: Context, profile: str, days: int) -> None:
    """Keywords in PROFILE's liked papers that it lacks, each with how many of the
    picks among the last DAYS days' items adding it would change. Edits nothing.

    \b
    Examples:
      digest profiles suggest scaling
      digest profiles suggest scaling --days 30
    """
    from datetime import UTC, timedelta
    from datetime import datetime as dt

    from digest import pipeline, service

    chosen = service.profile(obj.settings, profile)
    with obj.open_store() as store:
        found, missing = pipeline.suggest(store, chosen, dt.now(UTC) - timedelta(days=days))
    for like in missing:
        click.echo(f"not in the store: {like.where}: {like.text}", err=True)
    if not chosen.likes:
        click.echo(f"{chosen.name} has no liked papers (like: or like_file:)")
    for term, n in found:
        click.echo(f"{term:<40} {n:>3} of the recent picks would change")


@cli.command()
@click.argument("profile")
@format_option(["markdown", "text", "json"], "text")
@since_option
@click.pass_obj
def preview(obj: Context, profile: str, fmt: str, since: datetime | None) -> None:
    """Show what PROFILE's next digest would hold; records nothing.

    \b
    Examples:
      digest preview scaling
      digest preview scaling --format json --since 2026-11-01
    """
    from digest import pipeline, service

    chosen = service.profile(obj.settings, profile)
    with obj.open_store() as store:
        picks = pipeline.pick(store, chosen, since=since).picks
    click.echo(service.preview(chosen, picks, fmt), nl=False)


@cli.command()
@click.argument("profile")
@format_option(["markdown", "html", "text"], "markdown")
@click.option(
    "--out",
    "out",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Write digest.<ext> into DIR instead of printing it.",
)
@click.pass_obj
def render(obj: Context, profile: str, fmt: str, out: str | None) -> None:
    """Render PROFILE's next digest, as it would be sent; records nothing.

    \b
    Examples:
      digest render scaling
      digest render scaling --format html --out /tmp/preview
    """
    from pathlib import Path

    from digest import pipeline, service, wiring
    from digest.models import Digest

    settings = obj.settings
    chosen = service.profile(settings, profile)
    with obj.open_store() as store:
        picks = pipeline.pick(store, chosen).picks
    digest = Digest(profile=chosen, picks=tuple(picks), created=parse_now(None))
    r = wiring.renderer(settings)
    body = {"markdown": r.markdown, "html": r.html, "text": r.text}[fmt](digest)
    if out is None:
        click.echo(body, nl=False)
        return
    ext = {"markdown": "md", "html": "html", "text": "txt"}[fmt]
    target = Path(out) / f"digest.{ext}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    except OSError as exc:
        fail(f"{target}: cannot write: {exc.strerror or exc}")
    click.echo(str(target))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def deliveries(obj: Context, as_json: bool) -> None:
    """Delivery state per digest: pending, sent, failed-temporary, failed-permanent.

    \b
    Example:
      digest deliveries --json
    """
    from digest import service

    with obj.open_store() as store:
        rows = [service.deliveries_dict(d) for d in store.deliveries()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(
            f"#{r['digest']:<5} {r['profile']:<16} {r['created'][:16]}  {r['papers']:>3} papers  "
            f"sent {r['sent']}, pending {r['pending']}, temporary {r['failed-temporary']}, "
            f"permanent {r['failed-permanent']}"
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Health at a glance: sources (failing, stale or just quiet), the last run,
    subscribers and deliveries.

    \b
    Example:
      digest status --json
    """
    from digest import service

    configured = {s.name for s in obj.settings.sources}
    with obj.open_store() as store:
        out = service.status(store)
    # What `ingest PATH` read once is in the store, but it is not a configured source.
    out["sources"] = [s for s in out["sources"] if s["name"] in configured]
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for s in out["sources"]:
        quiet = f"last new {s['last_new'][:10]}" if s["last_new"] else "nothing new yet"
        why = f": {s['last_error']}" if s["last_error"] else ""
        if s["state"] == "empty":
            why = f": no entries {s['empty_fetches']} runs in a row (last {s['last_entries'][:10]})"
        click.echo(f"{s['state']:<8} {s['name']:<28} {quiet}{why}")
    if out["last_run"]:
        r = out["last_run"]
        click.echo(f"last run #{r['id']} ({r['kind']}) {r['started'][:16]}: {r['status']}")
    subs = out["subscribers"]
    subs_line = ", ".join(f"{n} {k}" for k, n in sorted(subs.items())) or "none"
    click.echo(f"subscribers: {subs_line}")
    d = out["deliveries"]
    click.echo(
        f"deliveries: {d['sent']} sent, {d['pending']} pending, "
        f"{d['failed-temporary']} to retry, {d['failed-permanent']} failed"
    )
