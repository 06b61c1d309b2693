"""Send: every delivery that is due, claimed under a lease, its outcome in the ledger."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from digest import service, wiring
from digest.mailing import Due
from digest.models import Pick
from digest.settings import Settings
from digest.store import Store

if TYPE_CHECKING:
    from digest.deliver.transport import Transport
    from digest.render import Outgoing

log = logging.getLogger("digest.pipeline")  # one logger for the cycle, as before the split

# A permanent failure with one of these codes: the mailbox does not exist.
_BOUNCE = re.compile(r"^\s*(550|551|553)\b")


def send(
    settings: Settings,
    store: Store,
    now: datetime,
    *,
    names: Sequence[str] | None = None,
    via: Transport | None = None,
) -> dict[str, dict[str, int]]:
    """Send every delivery that is due: pending ones and temporary failures whose
    retry time came, claimed in batches under a lease so that several senders at
    once never send one twice. Outcomes are written in batches off the event loop,
    a row `sent` only once the server accepted it. Returns counts of sent,
    temporary and permanent per profile. A recipient whose mailbox does not exist
    (550, 551, 553) is marked bounced: never mailed again."""
    import asyncio

    from digest.deliver.transport import SendResult
    from digest.render import DigestMail, Recipient, message_id, profile_url
    from digest.render.mime import VIEW_TOKEN
    from digest.store.deliveries import Mark

    profiles = {p.name: p for p in service.profiles(settings)}
    counts: dict[str, dict[str, int]] = {}
    rows: dict[int, Due] = {}
    # (digest, subscriber with a personal ranking, else 0) -> its mail, made once
    mails: dict[tuple[int, int], DigestMail | None] = {}
    personal: dict[int, dict[int, list[Pick]]] = {}  # digest -> subscriber -> picks
    generations: dict[str, dict[int, dict[int, int]]] = {}  # of feedback, per profile
    key, render = wiring.secret_key(settings), wiring.renderer(settings)
    store_id, site = store.store_id(), settings.web.site_url
    claims = store.claims(
        now,
        lease=settings.deliveries.lease_seconds,
        batch=settings.deliveries.batch,
        profiles=names,
        message_id=lambda digest_id, sub: message_id(
            digest_id, sub, settings.email.domain, store_id
        ),
    )

    def mail(d: Due) -> DigestMail | None:
        if d.digest_id not in personal:
            personal[d.digest_id] = store.personal_picks(d.digest_id)
        mine = personal[d.digest_id].get(d.subscriber_id)
        at = (d.digest_id, d.subscriber_id if mine is not None else 0)
        if at not in mails:
            profile = profiles.get(d.profile)
            digest = store.digest(profile, d.digest_id) if profile else None
            digest = service.with_notices(store, digest) if digest else None
            if digest and mine is not None:
                digest = replace(digest, picks=tuple(mine))
            mails[at] = None
            if digest:  # with links to the reader's own page of it, its feed, and manage
                url = profile_url(site, digest.profile)
                view = f"{site}view/{VIEW_TOKEN}" if site else ""  # filled per subscriber
                pages = {"view_url": view, "feed_url": f"{url}feed.xml"}
                prepared = render.prepare(digest, links=True, **pages)
                mails[at] = DigestMail(
                    digest, prepared, render, settings.email, now=now, site_url=site
                )
        return mails[at]

    def feedback(d: Due, built: DigestMail) -> dict[int, str]:
        """The tokens of the mail's "more / less like this" links for this subscriber."""
        if not site:
            return {}
        if d.profile not in generations:
            generations[d.profile] = store.feedback_generations(d.profile)
        gens = generations[d.profile].get(d.subscriber_id, {})
        items = [p.candidate.item_id for p in built.digest.picks]
        return service.link_tokens(key, d.subscriber_id, d.secret, d.profile, items, gens)

    def outgoing() -> Iterator[Outgoing]:
        # Built lazily, as the claims come: sending starts at once, memory stays flat.
        for d in claims:
            rows[d.delivery_id] = d
            if (built := mail(d)) is None:
                on_result(SendResult(d.delivery_id, "permanent", "profile was removed"))
                continue
            t = service.mail_tokens(key, d, now)  # this profile, every one, manage
            who = Recipient(
                d.delivery_id,
                d.subscriber_id,
                d.email,
                t.unsubscribe,
                d.message_id,
                t.everything,
                t.manage,
                feedback(d, built),
                service.view_token(key, d) if site else "",
            )
            yield built.message(who)

    def on_result(result: SendResult) -> None:
        row = rows.pop(result.delivery_id)
        per = counts.setdefault(row.profile, {"sent": 0, "temporary": 0, "permanent": 0})
        per[result.status] += 1
        bounced = result.status == "permanent" and bool(_BOUNCE.match(result.error or ""))
        mark = Mark(result.delivery_id, result.status, result.error)
        claims.put(replace(mark, bounced=row.subscriber_id) if bounced else mark)

    try:
        asyncio.run((via or wiring.transport(settings)).send(outgoing(), on_result))
    finally:
        claims.close()
    totals = total(counts)
    log.info("send: %s", totals, extra={"event": "send", **totals})
    return counts


def total(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    out = {"sent": 0, "temporary": 0, "permanent": 0}
    for per in counts.values():
        for k, n in per.items():
            out[k] += n
    return out
