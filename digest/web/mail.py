"""The small mails of double opt-in: "confirm your subscription" (with a signed link
that expires) and "you are already subscribed" (with an unsubscribe link), as text
and HTML from `templates/web/mail.*.j2`.

Every header value goes through `email.header_value`, so nothing a visitor typed can
add a header; From and the Message-ID's domain come from `settings.email`.
"""

from __future__ import annotations

import email.policy
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from digest.deliver.email import Outgoing, header_value
from digest.deliver.transport import SendResult, Transport
from digest.errors import DigestError
from digest.settings import Settings
from digest.store.subscribers import Subscriber
from digest.tokens import make_token
from digest.web.pages import Pages
from digest.web.urls import confirm_url, unsubscribe_url

log = logging.getLogger("digest.web")

CONFIRM_FOR = timedelta(days=3)
_ATOM = re.compile(r"[^a-z0-9-]+")


def _domain(text: str) -> str:
    parts = (_ATOM.sub("-", p.lower()).strip("-") for p in text.split("."))
    return ".".join(p for p in parts if p) or "localhost"


class Mailer:
    def __init__(self, settings: Settings, pages: Pages, transport: Transport, key: bytes) -> None:
        self.settings = settings
        self.pages = pages
        self.transport = transport
        self.key = key
        self.sender_header = header_value(settings.email.sender)
        name, addr = parseaddr(self.sender_header)
        if "@" not in addr or not addr.isascii():
            raise DigestError(f"email sender {settings.email.sender!r} is not an ASCII address")
        self.sender = addr
        self.site = header_value(name) or "Paper digest"
        self.domain = _domain(header_value(settings.email.domain))

    def confirmation(self, sub: Subscriber, titles: Sequence[str], now: datetime) -> Outgoing:
        expires = now + CONFIRM_FOR
        token = make_token(self.key, "confirm", sub.id, sub.secret, expires=expires)
        return self._message(
            sub,
            f"Confirm your subscription to {self.site}",
            kind="confirm",
            titles=titles,
            link=confirm_url(self.settings, token),
            days=CONFIRM_FOR.days,
            now=now,
        )

    def already(self, sub: Subscriber, titles: Sequence[str], now: datetime) -> Outgoing:
        token = make_token(self.key, "unsubscribe", sub.id, sub.secret)
        return self._message(
            sub,
            f"You are already subscribed to {self.site}",
            kind="already",
            titles=titles,
            link=unsubscribe_url(self.settings, token),
            days=0,
            now=now,
        )

    def _message(
        self,
        sub: Subscriber,
        subject: str,
        *,
        kind: str,
        titles: Sequence[str],
        link: str,
        days: int,
        now: datetime,
    ) -> Outgoing:
        context = {
            "kind": kind,
            "site": self.site,
            "titles": list(titles),
            "link": link,
            "days": days,
            "home": self.settings.web.site_url,
        }
        text = self.pages.render("web/mail.txt.j2", **context)
        html = self.pages.render("web/mail.html.j2", subject=subject, **context)
        mid = f"<{kind}-{sub.id}.{secrets.token_hex(8)}@{self.domain}>"
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = self.sender_header
        msg["To"] = header_value(sub.email)
        msg["Subject"] = header_value(subject)
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = mid
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return Outgoing(0, sub.email, self.sender, mid, msg.as_bytes())

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
