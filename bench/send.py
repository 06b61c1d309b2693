"""Sending benchmark: `digest send` (the product's `pipeline.send`) to a local SMTP sink.

10,000 emails (100 profiles x 100 subscribers, ~30 kB each, text + HTML) go to an
aiosmtpd server on 127.0.0.1 that accepts and discards, in a process of its own.
"ours" is the whole send path with its real ledger on a real SQLite store: claims
in batches under a lease, each digest loaded and prepared, per subscriber an
unsubscribe token and `DigestMail.message`, `SMTPTransport` over 8 connections,
and every outcome written back to the ledger (batched, off the event loop).
The store holds the profiles' digests and their pending deliveries, recorded
before the clock starts.

Baselines, measured in the same run against the same sink:
  limit   the sink's own limit: pre-serialised bytes over 8 aiosmtplib connections;
  bare    the same messages built and sent by `SMTPTransport`, no store at all
          (what the ledger costs: ours vs bare);
  naive   an `email.message.EmailMessage` per subscriber (set_content + add_alternative)
          from the same prepared rendering, one smtplib connection per message; timed
          on a subsample and extrapolated (its prepares timed in full);
  stdlib  bare with only the MIME builder swapped: the same headers and bodies built
          by `email.message.EmailMessage` (quoted-printable) per subscriber, sent by
          the same SMTPTransport over 8 connections; sampled like naive. It says
          whether the hand-built builder in digest/render/mime.py earns its keep.
Targets: >= 75% of the limit, >= 2.5x naive.

    python bench/send.py            # 100 profiles x 100 subscribers
    python bench/send.py --quick    # 20 profiles x 50 subscribers
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import json
import multiprocessing as mp
import os
import random
import smtplib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from render import make_digests  # bench/render.py: a script's folder is on sys.path

from digest import pipeline, wiring
from digest.deliver.transport import SendResult, SMTPTransport
from digest.models import Digest, Entry, Pick
from digest.render import (
    DigestMail,
    Outgoing,
    Prepared,
    Recipient,
    Renderer,
    message_id,
    subject,
)
from digest.settings import EmailSettings, Settings, SMTPSettings
from digest.store import Store
from digest.tokens import make_token

CONNECTIONS = 8
PICKS = 10  # per digest: ~30 kB emails
KEY = b"bench-key-bench-key-bench-key-00"
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
SETTINGS = EmailSettings(
    sender="Paper Digest <digest@example.org>",
    domain="example.org",
    unsubscribe_url="https://digest.example.org/unsubscribe/{token}",
    unsubscribe_mailto="unsubscribe@example.org",
)


def _sink(ports: Any) -> None:
    """The SMTP sink: accepts every message, keeps nothing."""
    from aiosmtpd.smtp import SMTP

    class Discard:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Discard(), hostname="sink.test", loop=loop), "127.0.0.1", 0
        )
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(serve())


def _email(profile: str, s: int) -> str:
    return f"reader{s}@{profile}.example.net"


def _product(folder: Path, digests: list[Digest], per: int, port: int) -> tuple[Settings, Store]:
    """A store and settings as `digest send` finds them: the profiles' YAML files,
    their picks as stored items, and `per` active subscribers each."""
    profiles = folder / "profiles"
    profiles.mkdir()
    for d in digests:
        p = d.profile
        doc = {"name": p.name, "title": p.title, "timezone": p.timezone}
        doc["keywords"] = {t.text: t.weight for t in p.keywords}
        (profiles / f"{p.name}.yaml").write_text(json.dumps(doc))  # JSON is YAML
    smtp = SMTPSettings(
        "127.0.0.1", port, security="plain", connections=CONNECTIONS, local_hostname="bench"
    )
    settings = Settings(
        store_url=f"sqlite:///{folder / 'bench.db'}",
        profiles_dir=profiles,
        email=replace(SETTINGS, smtp=smtp),
    )
    store = wiring.open_store(settings.store_url)
    source = store.source("bench")
    entries = [
        Entry(c.title, c.summary, c.authors, link=c.url, arxiv_id=c.arxiv_id)
        for d in digests
        for c in (p.candidate for p in d.picks)
    ]
    store.add_entries(source.id, entries, rank=1, now=NOW)
    for d in digests:
        for s in range(per):
            store.add_subscriber(_email(d.profile.name, s), [d.profile.name], now=NOW)
    return settings, store


def _record(store: Store, digests: list[Digest]) -> None:
    """Each digest recorded with its stored items: its deliveries are now pending."""
    ids = {i.arxiv_id: i.item_id for i in store.items()}
    for d in digests:
        picks = [
            Pick(replace(p.candidate, item_id=ids[p.candidate.arxiv_id]), p.score, p.matched)
            for p in d.picks
        ]
        store.record_digest(d.profile, picks, upto_item_id=max(ids.values()), now=NOW)


def _ours(settings: Settings, store: Store, expected: int) -> float:
    """`digest send`: the product's send path, ledger and all."""
    assert settings.email.smtp is not None
    t0 = time.perf_counter()
    counts = pipeline.send(settings, store, NOW, via=SMTPTransport(settings.email.smtp))
    elapsed = time.perf_counter() - t0
    totals = pipeline.total(counts)
    if totals != {"sent": expected, "temporary": 0, "permanent": 0}:
        raise RuntimeError(f"expected {expected} sent, got {totals}")
    return elapsed


def _recipients(digest: Digest, n: int) -> Iterator[Recipient]:
    assert digest.id is not None
    for s in range(n):
        sid = digest.id * 1000 + s
        token = make_token(KEY, "unsubscribe", sid, f"secret-{sid}")
        yield Recipient(sid, sid, _email(digest.profile.name, s), token)


def _outgoing(digests: list[Digest], per: int, renderer: Renderer) -> Iterator[Outgoing]:
    for d in digests:
        mail = DigestMail(d, renderer.prepare(d), renderer, SETTINGS, now=NOW)
        for r in _recipients(d, per):
            yield mail.message(r)


async def _bare(port: int, digests: list[Digest], per: int, renderer: Renderer) -> float:
    settings = SMTPSettings(
        "127.0.0.1", port, security="plain", connections=CONNECTIONS, local_hostname="bench"
    )
    results: list[SendResult] = []
    t0 = time.perf_counter()
    await SMTPTransport(settings).send(_outgoing(digests, per, renderer), results.append)
    elapsed = time.perf_counter() - t0
    bad = [r for r in results if r.status != "sent"]
    if len(results) != len(digests) * per or bad:
        raise RuntimeError(f"{len(results)} results, {len(bad)} not sent: {bad[:3]}")
    return elapsed


async def _limit(port: int, messages: list[Outgoing], total: int) -> float:
    """Pre-serialised bytes (one message per profile, cycled) over 8 plain connections,
    by the same MAIL, RCPT, DATA calls as SMTPTransport (no sizing pass, no retries)."""
    queue = iter(range(total))

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="bench")
        await smtp.connect()
        for i in queue:
            m = messages[i % len(messages)]
            size = [f"SIZE={len(m.data)}"] if smtp.supports_extension("size") else []
            await smtp.mail(m.sender, options=size)
            await smtp.rcpt(m.recipient)
            await smtp.data(m.data)
        await smtp.quit()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return time.perf_counter() - t0


def _stdlib(
    digests: list[Digest], mails: list[tuple[Prepared, DigestMail]], renderer: Renderer, n: int
) -> Iterator[Outgoing]:
    """`n` of the mails `_outgoing` makes, spread over the digests like naive's, each
    built by `EmailMessage` instead; `mails`: each digest's prepared rendering and mail."""
    for k in range(n):
        d, (prep, mail) = digests[k % len(digests)], mails[k % len(digests)]
        title = d.profile.title
        for r in _recipients(d, 1):
            url = mail.unsubscribe_url(r.token)
            text, html = renderer.personalize(prep, unsubscribe_url=url)
            msg = EmailMessage(policy=email.policy.SMTP)
            msg["From"] = SETTINGS.sender
            msg["To"] = r.email
            msg["Subject"] = subject(SETTINGS.subject, d)
            msg["Date"] = format_datetime(NOW)
            msg["List-Id"] = f"{title} <{d.profile.name}.example.org>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            msg["Precedence"] = "bulk"
            msg["Message-ID"] = mid = message_id(d.id or 0, r.subscriber_id, SETTINGS.domain)
            msg["List-Unsubscribe"] = f"<{url}>, <mailto:{SETTINGS.unsubscribe_mailto}>"
            msg.set_content(text, cte="quoted-printable")
            msg.add_alternative(html, subtype="html", cte="quoted-printable")
            yield Outgoing(r.delivery_id, r.email, mail.sender, mid, msg.as_bytes())


async def _send(port: int, messages: Iterator[Outgoing]) -> float:
    settings = SMTPSettings(
        "127.0.0.1", port, security="plain", connections=CONNECTIONS, local_hostname="bench"
    )
    results: list[SendResult] = []
    t0 = time.perf_counter()
    await SMTPTransport(settings).send(messages, results.append)
    if any(r.status != "sent" for r in results):
        raise RuntimeError(f"not sent: {[r for r in results if r.status != 'sent'][:3]}")
    return time.perf_counter() - t0


def _naive(port: int, digests: list[Digest], per: int, renderer: Renderer, n: int) -> float:
    """Seconds for `n` subscribers, prepares not included."""
    prepared = [renderer.prepare(d) for d in digests]
    t0 = time.perf_counter()
    for k in range(n):
        d, prep = digests[k % len(digests)], prepared[k % len(digests)]
        r = next(_recipients(d, 1 + k // len(digests) % per))
        url = SETTINGS.unsubscribe_url.replace("{token}", r.token)
        text, html = renderer.personalize(prep, unsubscribe_url=url)
        msg = EmailMessage()
        msg["From"] = SETTINGS.sender
        msg["To"] = r.email
        msg["Subject"] = f"{d.profile.title}: {len(d.picks)} new papers"
        msg["Message-ID"] = message_id(d.id or 0, r.subscriber_id, SETTINGS.domain)
        msg["List-Unsubscribe"] = f"<{url}>"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        with smtplib.SMTP("127.0.0.1", port, local_hostname="bench") as smtp:
            smtp.send_message(msg)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 profiles x 50 subscribers")
    ap.add_argument("--naive-sample", type=int, default=300, help="messages for the baseline")
    ap.add_argument("--rounds", type=int, default=5, help="they take turns this many times")
    args = ap.parse_args()
    n_profiles, per = (20, 50) if args.quick else (100, 100)
    total, rounds = n_profiles * per, max(1, min(args.rounds, n_profiles))
    os.environ.setdefault(wiring.SECRET_KEY_ENV, KEY.decode())

    ports: Any = mp.Queue()
    sink = mp.Process(target=_sink, args=(ports,), daemon=True)
    sink.start()
    port = int(ports.get(timeout=30))
    tmp = tempfile.TemporaryDirectory(prefix="digest-bench-send-")
    try:
        digests = make_digests(n_profiles, random.Random(42))
        digests = [replace(d, picks=d.picks[:PICKS]) for d in digests]
        renderer = Renderer(archive_url="https://digest.example.org/archive/")
        samples = [next(_outgoing([d], 1, renderer)) for d in digests]  # also warms templates
        size = sum(len(m.data) for m in samples) / len(samples)
        t0 = time.perf_counter()
        settings, store = _product(Path(tmp.name), digests, per, port)
        t_setup = time.perf_counter() - t0
        # They take turns on slices of the work, so that a machine whose load
        # changes over the run weighs on each of them alike.
        t_ours = t_bare = t_limit = t_naive = t_stdlib = 0.0
        sample = max(1, min(args.naive_sample, total) // rounds) * rounds
        for i in range(rounds):
            part = digests[i * n_profiles // rounds : (i + 1) * n_profiles // rounds]
            _record(store, part)  # before the clock: what `digest run` leaves to send
            t_limit += asyncio.run(_limit(port, samples, len(part) * per))
            t_ours += _ours(settings, store, len(part) * per)
            t_bare += asyncio.run(_bare(port, part, per, renderer))
            t0 = time.perf_counter()
            for d in part:
                renderer.prepare(d)  # the naive sender prepares each digest once too
            t_naive += time.perf_counter() - t0
            t_sample = _naive(port, part, per, renderer, sample // rounds)
            t_naive += t_sample * len(part) * per / (sample // rounds)
            t0 = time.perf_counter()
            # Every prepare and DigestMail, as bare makes them; the messages sampled.
            mails = [(p := renderer.prepare(d), DigestMail(d, p, renderer, SETTINGS, now=NOW))
                     for d in part]  # fmt: skip
            t_stdlib += time.perf_counter() - t0
            made = _stdlib(part, mails, renderer, sample // rounds)
            t_sample = asyncio.run(_send(port, made))
            t_stdlib += t_sample * len(part) * per / (sample // rounds)
        ledger = store.ledger()
        store.close()
    finally:
        sink.terminate()
        sink.join()
        tmp.cleanup()
    if len(ledger) != total or {r.status for r in ledger} != {"sent"}:
        raise RuntimeError(f"ledger: {len(ledger)} rows, not all sent")

    ours, bare = total / t_ours, total / t_bare
    naive, limit, stdlib = total / t_naive, total / t_limit, total / t_stdlib
    print(f"profiles: {n_profiles}, subscribers: {total}, picks per digest: {PICKS}")
    print(f"mean message: {size / 1000:.1f} kB on the wire (quoted-printable text + HTML)")
    print(f"store set up (items, subscribers) in {t_setup:.1f} s, not timed")
    print(f"ours:  {total} in {t_ours:.1f} s -> {ours:,.0f} messages/s (pipeline.send, ledger)")
    print(f"bare:  {total} in {t_bare:.1f} s -> {bare:,.0f} messages/s (transport, no store)")
    print(f"naive: {sample} sampled -> {naive:,.0f} messages/s (extrapolated {t_naive:,.0f} s)")
    print(f"stdlib: {sample} sampled -> {stdlib:,.0f} messages/s (extrapolated {t_stdlib:,.0f} s)")
    print(f"limit: {total} pre-serialised in {t_limit:.1f} s -> {limit:,.0f} messages/s")
    ok_naive, ok_limit = ours >= 2.5 * naive, ours >= 0.75 * limit
    print(f"ledger and claims cost: ours at {ours / bare:.0%} of bare")
    print(f"{'PASS' if ok_naive else 'MISS'}: {ours / naive:.1f}x naive (target >= 2.5x)")
    print(
        f"{'PASS' if ok_limit else 'MISS'}: {ours / limit:.0%} of the sink's limit (target >= 75%)"
    )
    print(f"info: {bare / stdlib:.1f}x bare with email.message building the MIME")
    return 0 if ok_naive and ok_limit else 1


if __name__ == "__main__":
    sys.exit(main())
