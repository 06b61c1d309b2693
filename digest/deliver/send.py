"""Sending one message on its own (the web's confirmation mails): the digests' send
loop is `digest.pipeline.send`, over the same transports."""

from __future__ import annotations

import logging

from digest.deliver.transport import SendResult, Transport
from digest.render import Outgoing

log = logging.getLogger("digest.deliver")


async def send_one(transport: Transport, message: Outgoing) -> SendResult:
    """Hand one message to the transport; failures are logged, never raised."""
    results: list[SendResult] = []
    try:
        await transport.send([message], results.append)
    except Exception:
        log.exception("could not send %s", message.message_id)
        return SendResult(message.delivery_id, "temporary", "transport failed")
    result = results[0] if results else SendResult(message.delivery_id, "temporary", "lost")
    if result.status != "sent":
        log.warning("mail %s not sent: %s", message.message_id, result.error)
    return result
