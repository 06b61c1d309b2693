"""The small mails of the web side: "confirm your subscription" (with a signed link
that expires), "you are already subscribed" (with an unsubscribe link) and a fresh
manage link (asked for on the page an old link lands on).
`digest.render.confirmation_mail` builds them; this adds the tokens and links, and
hands each to `send` (wiring gives `deliver.send.send_one` over the configured
transport).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from digest.mailing import Subscriber
from digest.render import Outgoing, confirmation_mail, sender
from digest.service import MANAGE_FOR, manage_token
from digest.settings import Settings
from digest.tokens import make_token
from digest.web.pages import Pages
from digest.web.urls import confirm_url, manage_url, unsubscribe_url

CONFIRM_FOR = timedelta(days=3)


class Mailer:
    def __init__(
        self,
        settings: Settings,
        pages: Pages,
        send: Callable[[Outgoing], Awaitable[object]],
        key: bytes,
    ) -> None:
        self.settings = settings
        self.pages = pages
        self._send = send
        self.key = key
        sender(settings.email)  # a bad sender fails here, at start-up, not at the first visitor

    def confirmation(self, sub: Subscriber, titles: Sequence[str], now: datetime) -> Outgoing:
        expires = now + CONFIRM_FOR
        token = make_token(  # good for this request only: any change moves the generation
            self.key, "confirm", sub.id, sub.secret, expires=expires, generation=sub.generation
        )
        link = confirm_url(self.settings, token)
        return self._mail("confirm", sub, titles, link, CONFIRM_FOR.days, now)

    def already(self, sub: Subscriber, titles: Sequence[str], now: datetime) -> Outgoing:
        token = make_token(self.key, "unsubscribe", sub.id, sub.secret, generation=sub.generation)
        link = unsubscribe_url(self.settings, token)
        return self._mail("already", sub, titles, link, 0, now)

    def manage(self, sub: Subscriber, now: datetime) -> Outgoing:
        """A fresh manage link, for the address an old link was sent to."""
        link = manage_url(self.settings, manage_token(self.key, sub, now))
        return self._mail("manage", sub, [], link, MANAGE_FOR.days, now)

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

    async def send(self, message: Outgoing) -> object:
        """Send one mail; failures are logged by the sender, never raised."""
        return await self._send(message)
