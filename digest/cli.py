"""`digest` command line: a thin layer over digest.pipeline and digest.store.

Imports of anything heavy happen inside commands, so `digest --help` is quick.
Exit status: 0 all sound, 2 usage or config error, 3 some sources failed.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from digest.settings import Settings
    from digest.store import Store

EXIT_USAGE = 2
EXIT_PARTIAL = 3


@dataclass
class Context:
    config: str | None
    db: str | None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from digest.config import load_settings, resolve_config_path

            self._settings = load_settings(resolve_config_path(self.config))
        return self._settings

    def open_store(self) -> Store:
        from digest.config import resolve_store_url
        from digest.store import Store

        return Store.open(resolve_store_url(self.db, self.settings))


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(f"digest: {message}", err=True)
    sys.exit(code)


class DigestGroup(click.Group):
    """Turns package errors into clear messages and exit codes, not tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        from digest.errors import ConfigError, DigestError

        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(problem, err=True)
            sys.exit(EXIT_USAGE)
        except DigestError as exc:
            fail(str(exc), 1)


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO date or datetime: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


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


@cli.command()
@click.argument("locations", nargs=-1, metavar="[PATH_OR_URL]...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--reference-date",
    metavar="YYYY-MM-DD",
    help="Resolve year-less dates in listing dumps against this date.",
)
@click.option("--now", metavar="DATETIME", help="Pretend it is this time (ISO 8601, UTC).")
@click.pass_obj
def ingest(
    obj: Context,
    locations: tuple[str, ...],
    as_json: bool,
    reference_date: str | None,
    now: str | None,
) -> None:
    """Fetch sources and store each paper once.

    With no arguments, every configured source; otherwise the given files,
    directories (every file in them) or URLs, their kind sniffed.

    \b
    Examples:
      digest ingest
      digest ingest ../shared/listings --json
      digest ingest https://rss.arxiv.org/rss/cs.LG
    """
    from dataclasses import replace

    from digest import pipeline

    ref = None
    if reference_date:
        try:
            ref = date.fromisoformat(reference_date)
        except ValueError:
            raise click.BadParameter(f"not a date: {reference_date!r}") from None
    settings = obj.settings
    sources = pipeline.sources_for(locations) if locations else list(settings.sources)
    if ref is not None:
        sources = [replace(s, reference_date=ref) for s in sources]
    if not sources:
        fail("no sources configured; name files or URLs, or add `sources:` to the config")
    progress = None
    bar: Any = None
    if not as_json and sys.stderr.isatty() and len(sources) > 3:
        bar = click.progressbar(length=len(sources), label="ingesting", file=sys.stderr)
        bar.__enter__()

        def progress(_rep: Any) -> None:
            bar.update(1)

    with obj.open_store() as store:
        try:
            report = pipeline.ingest(settings, store, _now(now), sources=sources, progress=progress)
        finally:
            if bar is not None:
                bar.__exit__(None, None, None)
    if as_json:
        click.echo(json.dumps(pipeline.ingest_report_dict(report), indent=2))
    else:
        for s in report.sources:
            if s.error:
                click.echo(f"error  {s.source}: {s.error}", err=True)
            for w in s.warnings:
                click.echo(f"warn   {s.source}: {w}", err=True)
        click.echo(
            f"{len(report.sources)} sources, {report.entries} entries: {report.new} new, "
            f"{report.duplicates} duplicates, {report.errors} failed"
        )
    if report.errors:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the run report as JSON.")
@click.option("--now", metavar="DATETIME", help="Pretend it is this time (ISO 8601, UTC).")
@click.option(
    "--profile",
    "names",
    multiple=True,
    metavar="P",
    help="Only this profile's digest (repeatable); every source is still fetched.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Do everything on a throwaway copy: nothing is sent or recorded.",
)
@click.pass_obj
def run(
    obj: Context, as_json: bool, now: str | None, names: tuple[str, ...], dry_run: bool
) -> None:
    """Run one full cycle: ingest, select, render, publish, send.

    \b
    Examples:
      digest run
      digest run --profile scaling --dry-run
    """
    from digest import pipeline
    from digest.config import resolve_store_url

    settings = obj.settings
    for name in names:
        pipeline.find_profile(settings, name)
    chosen = list(names) or None
    if dry_run:
        url = resolve_store_url(obj.db, settings)
        report = pipeline.dry_run(settings, url, _now(now), names=chosen)
    with obj.open_store() as store:
        if not dry_run:
            report = pipeline.run_once(settings, store, _now(now), names=chosen)
        total = store.count_items()
        url = store.engine.url.render_as_string(hide_password=True)
    if as_json:
        click.echo(json.dumps(pipeline.run_report_dict(report), indent=2))
    else:
        click.echo("sources:")
        for s in report.ingest.sources:
            state = (
                "error: " + s.error
                if s.error
                else (
                    "not modified" if s.not_modified else f"{s.new} new, {s.duplicates} duplicates"
                )
            )
            click.echo(f"  {s.source:<24} {s.entries:>5} entries  {state}")
        click.echo("profiles:")
        for p in report.profiles:
            made = f"digest #{p.digest_id}" if p.digest_id else "no digest"
            click.echo(
                f"  {p.profile:<24} {p.candidates:>5} candidates, {p.picked:>3} picked, {made}, "
                f"{p.sent} sent, {p.failed} failed"
            )
        sent = report.sent
        click.echo(f"email:   {sent['sent']} sent, {sent['failed']} failed (see digest deliveries)")
        if report.dry_run:
            click.echo("dry run: nothing was sent or recorded")
            return
        if settings.email.smtp is None:
            click.echo(f"outbox:  {settings.email.outbox}")
        click.echo(f"store:   {url} ({total} papers)")
        click.echo(f"archive: {settings.web.output_dir / 'archive'}")
        for p in report.profiles:
            base = settings.web.output_dir / "archive" / p.profile
            click.echo(f"  {p.profile}: {base / 'index.html'}")
            click.echo(f"  {' ' * len(p.profile)}  feeds {base / 'feed.xml'}, {base / 'feed.atom'}")
    if report.ingest.errors or report.sent["failed"]:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.argument("profile")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "html", "text"]),
    default="markdown",
    show_default=True,
)
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

    from digest import pipeline
    from digest.models import Digest

    settings = obj.settings
    chosen = pipeline.find_profile(settings, profile)
    with obj.open_store() as store:
        picks = pipeline.pick(store, chosen).picks
    digest = Digest(profile=chosen, picks=tuple(picks), created=_now(None))
    r = pipeline.renderer(settings)
    body = {"markdown": r.markdown, "html": r.html, "text": r.text}[fmt](digest)
    if out is None:
        click.echo(body, nl=False)
        return
    ext = {"markdown": "md", "html": "html", "text": "txt"}[fmt]
    path = Path(out) / f"digest.{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    click.echo(str(path))


@cli.command()
@click.argument("profile", required=False)
@click.option("--now", metavar="DATETIME", help="Pretend it is this time (ISO 8601, UTC).")
@click.pass_obj
def publish(obj: Context, profile: str | None, now: str | None) -> None:
    """Write the feeds and the HTML archive of PROFILE, or of every profile.

    \b
    Examples:
      digest publish
      digest publish scaling
    """
    from digest import pipeline

    with obj.open_store() as store:
        written = pipeline.publish(
            obj.settings, store, _now(now), names=[profile] if profile else None
        )
    for path in written:
        click.echo(str(path))


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
    with obj.open_store() as store:
        rows = store.items(limit=limit)
    if as_json:
        click.echo(json.dumps([_item_json(i) for i in rows], indent=2, ensure_ascii=False))
        return
    for i in rows:
        ident = f"arXiv:{i.arxiv_id}" if i.arxiv_id else (f"doi:{i.doi}" if i.doi else "-")
        click.echo(f"{i.id:>6}  {ident:<22} {i.title[:90]}")


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

    from digest.selection.profiles import load_profile, load_profiles

    target = Path(path) if path else obj.settings.profiles_dir
    if target is None:
        fail("no profiles folder configured; name a file or folder")
    sources = {s.name for s in obj.settings.sources}
    found = [load_profile(target, sources)] if target.is_file() else load_profiles(target, sources)
    for p in found:
        terms = len(p.keywords) + len(p.authors)
        click.echo(f"ok  {p.name:<20} {terms:>3} terms  {p.path}")
    click.echo(f"{len(found)} profiles valid")


@cli.command()
@click.argument("profile")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--since",
    metavar="DATETIME",
    help="Consider items first seen since then, instead of the profile's window.",
)
@click.pass_obj
def preview(obj: Context, profile: str, fmt: str, since: str | None) -> None:
    """Show what PROFILE's next digest would hold; records nothing.

    \b
    Examples:
      digest preview scaling
      digest preview scaling --format json --since 2026-11-01
    """
    from digest import pipeline

    chosen = pipeline.find_profile(obj.settings, profile)
    with obj.open_store() as store:
        picks = pipeline.pick(store, chosen, since=_now(since) if since else None).picks
    if fmt == "json":
        out = [
            {
                "title": p.candidate.title,
                "score": p.score,
                "matched": [{"term": h.term, "field": h.field} for h in p.matched],
                "key": p.candidate.key,
                "url": p.candidate.url,
                "sources": list(p.candidate.sources),
            }
            for p in picks
        ]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    if fmt == "markdown":
        click.echo(f"# {chosen.title}\n\n{len(picks)} papers\n")
        for p in picks:
            title = p.candidate.title.replace("[", "\\[").replace("]", "\\]")
            click.echo(f"- [{title}]({p.candidate.url}) — score {p.score:g}; {p.because()}")
        return
    click.echo(f"{chosen.title}: {len(picks)} papers")
    for p in picks:
        click.echo(f"{p.score:>6g}  {p.candidate.title}\n        {p.because()}")


_EMAIL_RE = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def normalize_email(raw: str) -> str:
    """Trimmed and lower-cased; raises click.BadParameter when it is not an address."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL_RE.match(email):
        raise click.BadParameter(f"not an email address: {raw!r}")
    return email


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
    from digest import pipeline

    address = normalize_email(email)
    for name in profiles:
        pipeline.find_profile(obj.settings, name)
    with obj.open_store() as store:
        sub = store.add_subscriber(address, profiles, now=_now(None))
    click.echo(f"{sub.email}: {sub.status}, follows {', '.join(sub.profiles)}")


@subscribers.command("remove")
@click.argument("email")
@click.pass_obj
def subscribers_remove(obj: Context, email: str) -> None:
    """Unsubscribe an address: it is kept, marked, and never mailed again.

    \b
    Example:
      digest subscribers remove ada@example.org
    """
    address = normalize_email(email)
    with obj.open_store() as store:
        sub = store.subscriber(address)
        if sub is None:
            fail(f"no subscriber {address}", 1)
        store.set_subscriber_status(sub.id, "unsubscribed", _now(None))
    click.echo(f"{address}: unsubscribed")


@subscribers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def subscribers_list(obj: Context, as_json: bool) -> None:
    """List subscribers with their status and profiles.

    \b
    Example:
      digest subscribers list --json
    """
    with obj.open_store() as store:
        subs = store.subscribers()
    if as_json:
        out = [
            {
                "email": s.email,
                "status": s.status,
                "profiles": list(s.profiles),
                "created": s.created_at.isoformat(),
                "confirmed": s.confirmed_at.isoformat() if s.confirmed_at else None,
            }
            for s in subs
        ]
        click.echo(json.dumps(out, indent=2))
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
    import csv

    from digest import pipeline

    known = {p.name for p in pipeline.load_profiles(obj.settings)}
    good: list[tuple[str, list[str]]] = []
    bad = 0
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "email" not in reader.fieldnames:
            fail(f"{path}: needs a header row with an `email` column")
        for row in reader:
            line = reader.line_num
            try:
                address = normalize_email(row.get("email") or "")
            except click.BadParameter as exc:
                click.echo(f"{path}:{line}: {exc.message}", err=True)
                bad += 1
                continue
            names = re.split(r"[;\s]+", (row.get("profiles") or "").strip())
            names = [n for n in names if n]
            unknown = [n for n in names if n not in known]
            if not names or unknown:
                why = f"unknown profile {unknown[0]!r}" if unknown else "no profiles"
                click.echo(f"{path}:{line}: {address}: {why}", err=True)
                bad += 1
                continue
            good.append((address, names))
    with obj.open_store() as store:
        now = _now(None)
        for address, names in good:
            store.add_subscriber(address, names, now=now)
    click.echo(f"imported {len(good)} subscribers, {bad} rows rejected")
    if bad:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.argument("profile", required=False)
@click.option("--now", metavar="DATETIME", help="Pretend it is this time (ISO 8601, UTC).")
@click.pass_obj
def send(obj: Context, profile: str | None, now: str | None) -> None:
    """Send what is pending and retry temporary failures whose time came.

    \b
    Examples:
      digest send
      digest send scaling
    """
    from digest import pipeline

    with obj.open_store() as store:
        names = [profile] if profile else None
        counts = pipeline.send(obj.settings, store, _now(now), names=names)
    for name, per in sorted(counts.items()):
        click.echo(f"{name}: " + ", ".join(f"{n} {k}" for k, n in per.items()))
    totals = pipeline.total(counts)
    click.echo(", ".join(f"{n} {k}" for k, n in totals.items()))
    if totals["temporary"] or totals["permanent"]:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.pass_obj
def deliveries(obj: Context, as_json: bool) -> None:
    """Delivery state per digest: pending, sent, failed-temporary, failed-permanent.

    \b
    Example:
      digest deliveries --json
    """
    with obj.open_store() as store:
        rows = store.deliveries()
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
@click.option(
    "--ingest-every",
    metavar="HOURS",
    type=click.FloatRange(min=0.05),
    default=2.0,
    show_default=True,
    help="How often to fetch the sources.",
)
@click.option(
    "--misfire-grace",
    metavar="SECONDS",
    type=click.IntRange(min=1),
    default=3600,
    show_default=True,
    help="How late a missed digest may still run once.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Web service address.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--no-web", is_flag=True, help="Run the scheduler only, no web service.")
@click.pass_obj
def serve(
    obj: Context, ingest_every: float, misfire_grace: int, host: str, port: int, no_web: bool
) -> None:
    """Run the daemon: fetch sources on an interval; build, publish and send each
    profile's digest on its schedule, in its time zone; and serve the subscribe
    pages, unsubscribe links, feeds and archive over HTTP. SIGTERM finishes the
    job in hand and exits cleanly.

    \b
    Example:
      digest --config /etc/digest/digest.yaml serve --ingest-every 2
    """
    from datetime import timedelta

    from digest.config import resolve_store_url
    from digest.schedule import serve as run_daemon

    settings = obj.settings
    url = resolve_store_url(obj.db, settings)
    web = None
    if not no_web:
        from digest.store import Store
        from digest.web import WebServer, create_app

        web = WebServer(create_app(settings, Store.open(url)), host=host, port=port)
        web.start()
    try:
        status = run_daemon(
            settings,
            url,
            ingest_every=timedelta(hours=ingest_every),
            misfire_grace_time=misfire_grace,
        )
    finally:
        if web is not None:
            web.stop()
    sys.exit(status)


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
    from collections import Counter

    from digest.pipeline import STALE_AFTER

    with obj.open_store() as store:
        sources = store.sources()
        last = store.last_run()
        subs = Counter(s.status for s in store.subscribers())
        ledger = store.deliveries()
    out: dict[str, Any] = {
        "sources": [
            {
                "name": s.name,
                "state": "stale"
                if s.consecutive_failures >= STALE_AFTER
                else "failing"
                if s.consecutive_failures
                else "ok",
                "consecutive_failures": s.consecutive_failures,
                "last_error": s.last_error,
                "last_success": s.last_success_at.isoformat() if s.last_success_at else None,
                "last_new": s.last_new_at.isoformat() if s.last_new_at else None,
            }
            for s in sources
        ],
        "last_run": None
        if last is None
        else {
            "id": last["id"],
            "kind": last["kind"],
            "status": last["status"],
            "started": last["started_at"].isoformat(),
        },
        "subscribers": dict(subs),
        "deliveries": {
            k: sum(r[k] for r in ledger)
            for k in ("sent", "pending", "failed-temporary", "failed-permanent")
        },
    }
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for s in out["sources"]:
        quiet = f"last new {s['last_new'][:10]}" if s["last_new"] else "nothing new yet"
        why = f": {s['last_error']}" if s["last_error"] else ""
        click.echo(f"{s['state']:<8} {s['name']:<28} {quiet}{why}")
    if out["last_run"]:
        r = out["last_run"]
        click.echo(f"last run #{r['id']} ({r['kind']}) {r['started'][:16]}: {r['status']}")
    subs_line = ", ".join(f"{n} {k}" for k, n in sorted(subs.items())) or "none"
    click.echo(f"subscribers: {subs_line}")
    d = out["deliveries"]
    click.echo(
        f"deliveries: {d['sent']} sent, {d['pending']} pending, "
        f"{d['failed-temporary']} to retry, {d['failed-permanent']} failed"
    )


def _item_json(i: Any) -> dict[str, Any]:
    return {
        "id": i.id,
        "title": i.title,
        "summary": i.summary,
        "authors": list(i.authors),
        "link": i.link,
        "pdf_url": i.pdf_url,
        "arxiv_id": i.arxiv_id or None,
        "version": i.version,
        "doi": i.doi or None,
        "published": i.published.isoformat() if i.published else None,
        "first_seen": i.first_seen.isoformat(),
        "categories": list(i.categories),
        "upvotes": i.upvotes,
    }


def main() -> None:
    cli(prog_name="digest")
