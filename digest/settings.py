"""The settings records: one per adapter, each default stated here and nowhere else.

`digest.config` parses digest.yaml straight into these; a key left out of the file
keeps the default below. The adapters take their own record as it is:
`sources.fetch.fetch` a `FetchSettings`, `SMTPTransport` an `SMTPSettings`, the
digest mail an `EmailSettings`. Secrets are never here from YAML: the SMTP password
is filled in from the environment by whoever builds the transport.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal

from digest import __version__
from digest.models import SourceConfig

DEFAULT_STORE = "sqlite:///digest.db"  # in a config file: beside the file
SUBJECT_FIELDS = ("title", "count", "papers", "date", "profile")  # EmailSettings.subject's
# `digest serve`'s timing (command-line options, not in digest.yaml).
INGEST_EVERY = timedelta(hours=2)
MISFIRE_GRACE_TIME = 3600  # seconds a missed digest may still run late, once
Security = Literal["plain", "starttls", "tls"]


@dataclass(frozen=True, slots=True)
class FetchSettings:
    timeout: float = 30.0  # seconds, for each of connect/read/write/pool
    max_bytes: int = 20 * 10**6  # of decoded body; "20MB", as README and digest.yaml say
    max_redirects: int = 5
    user_agent: str = (
        f"digest/{__version__} (+https://github.com/digest-dev/digest; research digest bot)"
    )


@dataclass(frozen=True, slots=True)
class SMTPSettings:
    host: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None  # from the environment, never from YAML
    timeout: float = 30.0  # seconds, per connect and per command
    connections: int = 4
    rate: float | None = None  # messages per second, all connections together
    retries: int = 3
    backoff: float = 1.0  # seconds before the first retry, doubled each time
    ca_file: str | None = None  # a private CA to trust instead of the system's
    local_hostname: str | None = None  # EHLO name; default: this host's FQDN


@dataclass(frozen=True, slots=True)
class EmailSettings:
    sender: str = "digest@localhost"  # From; "Name <addr>" allowed
    domain: str = "localhost"  # for Message-ID and List-Id
    # Fields: title, count, papers ("1 new paper", "12 new papers"), date, profile.
    subject: str = "{title}: {papers}, {date}"
    unsubscribe_url: str = "http://localhost:8000/unsubscribe/{token}"  # https in production
    unsubscribe_mailto: str = "unsubscribe@localhost"
    outbox: Path = Path("out/outbox")  # no SMTP host: messages go here (`output`/outbox)
    smtp: SMTPSettings | None = None


@dataclass(frozen=True, slots=True)
class WebSettings:
    """The published site: the folder feeds and the archive are written to, and the
    public URL it is served at (links in feeds and emails use it)."""

    output_dir: Path = Path("out")
    site_url: str = "http://localhost:8000/"  # always ends in "/"
    feed_items: int = 50  # entries per feed
    # The web service's subscribe form, linked from the archive; "": the archive
    # offers the feeds only (a plain static server has no form).
    subscribe_url: str = ""
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For is believed: none by
    # default, so a visitor cannot rotate the header past the per-IP limits.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How senders share the ledger: each claims `batch` deliveries at a time and
    holds them `lease_seconds` (renewed while it lives; a dead sender's claims are
    free again once the lease runs out)."""

    lease_seconds: float = 300.0
    batch: int = 200


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path | None = None  # the file these came from; None: built-in defaults
    store_url: str = DEFAULT_STORE
    sources: tuple[SourceConfig, ...] = ()
    fetch: FetchSettings = field(default_factory=FetchSettings)
    profiles_dir: Path | None = None  # None: no profiles configured
    templates_dir: Path | None = None  # overrides for the bundled templates
    web: WebSettings = field(default_factory=WebSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    deliveries: DeliverySettings = field(default_factory=DeliverySettings)
