"""The small mails of double opt-in, for the web side: "confirm your subscription"
(with a signed link that expires) and "you are already subscribed" (with an
unsubscribe link). `digest.render.confirmation_mail` builds them; this adds the
tokens and links, and hands each mail to the transport.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from digest.deliver.transport import SendResult, Transport
from digest.models import Subscriber
from digest.render import Outgoing, confirmation_mail
from digest.render.mime import sender
from digest.settings import Settings
from digest.tokens import make_token
from digest.web.pages import Pages
from digest.web.urls import confirm_url, unsubscribe_url

log = logging.getLogger("digest.web")

CONFIRM_FOR = timedelta(days=3)


class Mailer:
    def __init__(self, settings: Settings, pages: Pages, transport: Transport, key: bytes) -> None:
        self.settings = settings
        self.pages = pages
        self.transport = transport
        self.key = key
        sender(settings.email)  # a bad sender fails here, at start-up, not at the first visitor

    def confirmation(self, sub: Subscriber, titles: Sequence[str], now: datetime) -> Outgoing:
        expires = now + CONFIRM_FOR
        token = make_token(self.key, "confirm", sub.id, sub.secret, expires=expires)
        link = confirm_url(self.settings, token)
        return self._mail("confirm", sub, titles, link, CONFIRM_FOR.days, now)

    def already(self, sub: Subscriber, titles: Sequence[str], now: datetime) -> Outgoing:
        token = make_token(self.key, "unsubscribe", sub.id, sub.secret)
        link = unsubscribe_url(self.settings, token)
        return self._mail("already", sub, titles, link, 0, now)

    def _mail(
        self, kind: str, sub: Subscriber, titles: Sequence[str], link: str, days: int, now: datetime
    ) -> Outgoing:
        return confirmation_mail(
            self.pages.env,
            self.settings.email,
            kind=kind,
            to=sub.email,
            subscriber_id=sub.id,
            titles=titles,
            link=link,
            days=days,
            home=self.settings.web.site_url,
            now=now,
        )

    async def send(self, message: Outgoing) -> SendResult:
        """Hand one message to the transport; failures are logged, never raised."""
        results: list[SendResult] = []
        try:
            await self.transport.send([message], results.append)
        except Exception:
            log.exception("could not send %s", message.message_id)
            return SendResult(message.delivery_id, "temporary", "transport failed")
        result = results[0] if results else SendResult(message.delivery_id, "temporary", "lost")
        if result.status != "sent":
            log.warning("mail %s not sent: %s", message.message_id, result.error)
        return result
