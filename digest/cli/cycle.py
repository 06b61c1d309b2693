"""The cycle's commands: ingest, run, publish, send, serve."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import click

from digest.cli.base import EXIT_PARTIAL, Context, cli, fail, now_option
from digest.settings import INGEST_EVERY, MISFIRE_GRACE_TIME

if TYPE_CHECKING:
    from digest.models import RunReport, SourceConfig, SourceReport

T = TypeVar("T")


def _each(
    obj: Context,
    profile: str | None,
    now: datetime,
    step: Callable[..., T],
) -> T:
    """One pipeline step for PROFILE, or for every profile."""
    from digest import service

    if profile:
        service.chosen(obj.settings, [profile])  # an unknown one: exit 2, no store opened
    with obj.open_store() as store:
        return step(obj.settings, store, now, names=[profile] if profile else None)


def _adhoc(locations: tuple[str, ...], configured: Sequence[SourceConfig]) -> list[SourceConfig]:
    """The sources the command line names: a missing path, or a folder with no file
    in it or below it, is a usage error (exit 2) before the store is opened."""
    from pathlib import Path

    from digest import pipeline

    for loc in locations:
        path = Path(loc)
        if "://" in loc:
            continue
        if not path.exists():
            fail(f"{loc}: no such file or folder")
        if path.is_dir() and not pipeline.sources_for([loc]):
            fail(f"{loc}: nothing to ingest: no files in this folder or below it")
    return pipeline.sources_for(locations, configured)  # a configured location keeps its name


@cli.command()
@click.argument("locations", nargs=-1, metavar="[PATH_OR_URL]...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--reference-date",
    metavar="YYYY-MM-DD",
    help="Resolve year-less dates in listing dumps against this date.",
)
@now_option
@click.pass_obj
def ingest(
    obj: Context,
    locations: tuple[str, ...],
    as_json: bool,
    reference_date: str | None,
    now: datetime,
) -> None:
    """Fetch sources and store each paper once.

    With no arguments, every configured source; otherwise the given files,
    directories (every file in them and below them) or URLs, their kind sniffed.
    Those are ingested once: they do not become configured sources.

    \b
    Examples:
      digest ingest
      digest ingest ../shared/listings --json
      digest ingest https://rss.arxiv.org/rss/cs.LG
    """
    from dataclasses import replace

    from digest import pipeline, service

    ref = None
    if reference_date:
        try:
            ref = date.fromisoformat(reference_date)
        except ValueError:
            raise click.BadParameter(f"not a date: {reference_date!r}") from None
    settings = obj.settings
    sources = _adhoc(locations, settings.sources) if locations else list(settings.sources)
    if ref is not None:
        sources = [replace(s, reference_date=ref) for s in sources]
    if not sources:
        fail("no sources configured; name files or URLs, or add `sources:` to the config")
    with ExitStack() as stack:
        progress = None
        if not as_json and sys.stderr.isatty() and len(sources) > 3:
            bar = stack.enter_context(
                click.progressbar(length=len(sources), label="ingesting", file=sys.stderr)
            )

            def progress(_rep: SourceReport) -> None:
                bar.update(1)

        store = stack.enter_context(obj.open_store())
        report = pipeline.ingest(settings, store, now, sources=sources, progress=progress)
    if as_json:
        click.echo(json.dumps(service.ingest_report(report), indent=2))
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
@now_option
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
def run(obj: Context, as_json: bool, now: datetime, names: tuple[str, ...], dry_run: bool) -> None:
    """Run one full cycle: ingest, select, render, publish, send.

    \b
    Examples:
      digest run
      digest run --profile scaling --dry-run
    """
    from digest import pipeline, service

    settings = obj.settings
    chosen = list(names) or None
    service.chosen(settings, chosen)  # every profile checked before the store is opened
    with obj.open_store() as store:
        cycle = pipeline.dry_run if dry_run else pipeline.run_once
        report = cycle(settings, store, now, names=chosen)
        where = service.store_label(store)
    if as_json:
        click.echo(json.dumps(service.run_report(report), indent=2))
    else:
        _print_run(obj, report, where)
    if report.ingest.errors or report.sent["failed"] or _publish_failure(report):
        sys.exit(EXIT_PARTIAL)


def _publish_failure(report: RunReport) -> str:
    return next((p.publish_error for p in report.profiles if p.publish_error), "")


def _print_run(obj: Context, report: RunReport, where: str) -> None:
    click.echo("sources:")
    for s in report.ingest.sources:
        if s.error:
            state = "error: " + s.error
        else:
            state = "not modified" if s.not_modified else f"{s.new} new, {s.duplicates} duplicates"
        click.echo(f"  {s.source:<24} {s.entries:>5} entries  {state}")
    click.echo("profiles:")
    for p in report.profiles:
        made = f"digest #{p.digest_id}" if p.digest_id else "no digest"
        if p.recorded_elsewhere:
            made = "digest already recorded by another process"
        click.echo(
            f"  {p.profile:<24} {p.candidates:>5} candidates, {p.picked:>3} picked, {made}, "
            f"{p.sent} sent, {p.failed} failed"
        )
    sent = report.sent
    click.echo(f"email:   {sent['sent']} sent, {sent['failed']} failed (see digest deliveries)")
    if failure := _publish_failure(report):
        click.echo(f"publish failed: {failure} (the next run publishes what is missing)")
    if report.dry_run:
        click.echo("dry run: nothing was sent or recorded")
        return
    settings = obj.settings
    if settings.email.smtp is None:
        click.echo(f"outbox:  {settings.email.outbox}")
    click.echo(f"store:   {where}")
    click.echo(f"archive: {settings.web.output_dir / 'archive'}")
    for p in report.profiles:
        base = settings.web.output_dir / "archive" / p.profile
        click.echo(f"  {p.profile}: {base / 'index.html'}")
        click.echo(f"  {' ' * len(p.profile)}  feeds {base / 'feed.xml'}, {base / 'feed.atom'}")


def _per_profile(f: Callable[..., None]) -> click.Command:
    """A command over PROFILE, or every profile, at --now."""
    return cli.command()(click.argument("profile", required=False)(now_option(click.pass_obj(f))))


@cli.command()
@click.argument("profile", required=False)
@click.option(
    "--all", "rebuild", is_flag=True, help="Rewrite every issue page too (after a template change)."
)
@now_option
@click.pass_obj
def publish(obj: Context, profile: str | None, rebuild: bool, now: datetime) -> None:
    """Write the feeds and the HTML archive of PROFILE, or of every profile.

    Issue pages already published are kept; --all writes them all again.

    \b
    Examples:
      digest publish
      digest publish scaling
      digest publish --all
    """
    from functools import partial

    from digest import pipeline

    for path in _each(obj, profile, now, partial(pipeline.publish, rebuild=rebuild)):
        click.echo(str(path))


@_per_profile
def send(obj: Context, profile: str | None, now: datetime) -> None:
    """Send what is pending and retry temporary failures whose time came.

    \b
    Examples:
      digest send
      digest send scaling
    """
    from digest import pipeline

    counts = _each(obj, profile, now, pipeline.send)
    for name, per in sorted(counts.items()):
        click.echo(f"{name}: " + ", ".join(f"{n} {k}" for k, n in per.items()))
    totals = pipeline.total(counts)
    click.echo(", ".join(f"{n} {k}" for k, n in totals.items()))
    if totals["temporary"] or totals["permanent"]:
        sys.exit(EXIT_PARTIAL)


@cli.command()
@click.option(
    "--ingest-every",
    metavar="HOURS",
    type=click.FloatRange(min=0.05),
    default=INGEST_EVERY / timedelta(hours=1),
    show_default=True,
    help="How often to fetch the sources.",
)
@click.option(
    "--misfire-grace",
    metavar="SECONDS",
    type=click.IntRange(min=1),
    default=MISFIRE_GRACE_TIME,
    show_default=True,
    help="How late a missed digest may still run once.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Web service address.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--no-web", is_flag=True, help="Run the scheduler only, no web service.")
@click.option(
    "--role",
    type=click.Choice(["all", "scheduler", "worker", "web"]),
    default="all",
    show_default=True,
    help="all: one process does everything. Or one part of a multi-process deployment "
    "on one store: scheduler (one active, others stand by), worker (any number), web.",
)
@click.option(
    "--poll",
    metavar="SECONDS",
    type=click.FloatRange(min=0.05),
    default=5.0,
    show_default=True,
    help="scheduler/worker: how often to look for due work, or for the lock.",
)
@click.option("--until-idle", is_flag=True, help="worker: exit when no job is ready.")
@click.pass_obj
def serve(
    obj: Context,
    ingest_every: float,
    misfire_grace: int,
    host: str,
    port: int,
    no_web: bool,
    role: str,
    poll: float,
    until_idle: bool,
) -> None:
    """Run the daemon: fetch sources on an interval; build, publish and send each
    profile's digest on its schedule, in its time zone; and serve the subscribe
    pages, unsubscribe links, feeds and archive over HTTP. SIGTERM finishes the
    job in hand and exits cleanly. With --role, several processes share that work
    through the store (see deploy/README.md).

    \b
    Examples:
      digest --config /etc/digest/digest.yaml serve --ingest-every 2
      digest serve --role worker
    """
    from digest import wiring

    settings = obj.settings
    url = obj.store_url
    if role != "all":
        from digest import roles

        with roles.stop_on_signals() as stop, wiring.open_store(url) as store:
            if role == "scheduler":
                every, grace = timedelta(hours=ingest_every), timedelta(seconds=misfire_grace)
                status = roles.run_scheduler(
                    settings, store, stop, ingest_every=every, grace=grace, poll=poll
                )
            elif role == "worker":
                status = roles.run_worker(settings, store, stop, poll=poll, until_idle=until_idle)
            else:
                status = roles.run_web(settings, store, stop, host=host, port=port)
        sys.exit(status)
    from digest.schedule import serve as run_daemon

    with ExitStack() as stack:
        if not no_web:
            from digest.web import WebServer, create_app

            store = stack.enter_context(wiring.open_store(url))
            app = create_app(settings, store)
            proxies = settings.web.trusted_proxies
            web = WebServer(app, host=host, port=port, trusted_proxies=proxies)
            web.start()
            stack.callback(web.stop)
        status = run_daemon(
            settings,
            url,
            ingest_every=timedelta(hours=ingest_every),
            misfire_grace_time=misfire_grace,
        )
    sys.exit(status)
