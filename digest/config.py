"""Load and validate digest.yaml into the records of `digest.settings`. Every problem is
reported as `file:line: key: message`, all at once, before anything is opened or written.

YAML is read by `digest.safe_yaml` (a SafeLoader that also refuses duplicate keys,
deep nesting, huge numbers and impossible dates). Each value is checked here: ranges
(ports, counts, finite positive numbers), the subject's `{placeholders}`, URL schemes
(http, https, mailto; file for sources), addresses. Every relative path, the store's
included, is relative to the config file.
"""

from __future__ import annotations

import ipaddress
import os
import re
import string
from collections.abc import Callable, Iterable
from datetime import date
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from digest.models import SOURCE_KINDS, SourceConfig
from digest.safe_yaml import Checker, Key, YamlMap, between, kind_of, load_yaml, positive
from digest.settings import (
    DEFAULT_STORE,
    SUBJECT_FIELDS,
    DeliverySettings,
    EmailSettings,
    FetchSettings,
    Settings,
    SMTPSettings,
    WebSettings,
)

# The loader and checker, for whoever read YAML through this module before.
__all__ = ["Checker", "Key", "YamlMap", "kind_of", "load_settings", "load_yaml", "parse_size"]

DEFAULT_CONFIG = Path("config/digest.yaml")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 10**6,
    "mb": 10**6,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gib": 2**30,
}


def parse_size(value: int | str) -> int | None:
    """`20MB`, `512 KiB` or a plain number of bytes (None: not a size, or not 1 B-1 TB)."""
    if isinstance(value, int):
        n = value
    elif m := _SIZE_RE.match(value):
        if m.group(2).lower() not in _UNITS or len(m.group(1)) > 20:
            return None
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    else:
        return None
    return n if 0 < n <= 10**12 else None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_EMAIL_RE = re.compile(r"[^@\s<>(),;:\"]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_STORE_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://.*")
# sqlite:///relative.db (three slashes); four is an absolute path, none is in memory.
_SQLITE_RELATIVE = re.compile(r"(sqlite(?:\+\w+)?:///)(?![/~])(?!:memory:)(?!file:)([^?]+)(\?.*)?")


def _security(value: str) -> str | None:
    return None if value in ("plain", "starttls", "tls") else "must be plain, starttls or tls"


def _size(value: int | str) -> str | None:
    return None if parse_size(value) else "must be a size like 20MB (at most 1TB)"


def _text(value: str) -> str | None:
    """Text that goes into a header or a log line: one line, no control characters."""
    return "must not hold line breaks or control characters" if _CONTROL.search(value) else None


def _url_check(schemes: tuple[str, ...], what: str) -> Callable[[str], str | None]:
    """A check: an absolute URL with one of `schemes` (`javascript:` and relative
    URLs are refused), a host for http(s), and no spaces or control characters."""

    def check(value: str) -> str | None:
        if _CONTROL.search(value) or " " in value:
            return f"must be {what}, with no spaces or control characters"
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            return f"must be {what}: {exc}"
        scheme = parts.scheme.lower()
        if scheme not in schemes:
            return f"must be {what}, not {scheme + ':' if scheme else 'a relative'} URL"
        if scheme in ("http", "https") and not parts.hostname:
            return f"must be {what}, with a host name"
        return None

    return check


_http_url = _url_check(("http", "https"), "an http(s) URL")


def _proxies(value: list[Any]) -> str | None:
    """Addresses or networks (CIDR) whose X-Forwarded-For the web service believes."""
    import ipaddress

    for v in value:
        try:
            ipaddress.ip_network(str(v), strict=False)
        except ValueError:
            return f"{v!r} is not an IP address or network (like 172.17.0.1 or 10.0.0.0/8)"
    return None


def _token_url(value: str) -> str | None:
    if (msg := _http_url(value)) is not None:
        return msg
    if not value.isascii():
        return "must be ASCII (percent-encode other characters)"
    if value.count("{token}") != 1 or value.count("{") != 1 or value.count("}") != 1:
        return "must contain {token} once, and no other braces"
    return None


def _address(value: str) -> str | None:
    """An address, `Name <addr>` allowed: what mail headers can carry."""
    if _CONTROL.search(value):
        return "must not hold line breaks or control characters"
    addr = parseaddr(value)[1]
    if not _EMAIL_RE.fullmatch(addr) or not addr.isascii():
        return f"{value!r} is not an ASCII email address (name@example.org)"
    return None


def _mailto(value: str) -> str | None:
    return _address(value.removeprefix("mailto:"))


def _domain(value: str) -> str | None:
    ok = len(value) <= 253 and _DOMAIN_RE.fullmatch(value)
    return None if ok else f"{value!r} is not a domain name (like example.org)"


def _host(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return _domain(value)
    return None


def subject_problem(template: str) -> str | None:
    """Why `template` cannot be a Subject, or None: only the known `{fields}`, each
    bare (no `.attr` or `[index]`), with a format spec that works."""
    if (msg := _text(template)) is not None:
        return msg
    known = ", ".join("{" + f + "}" for f in SUBJECT_FIELDS)
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        return f"{exc} (write a literal brace as {{{{ or }}}})"
    for field in fields:
        if field not in SUBJECT_FIELDS:
            return f"unknown placeholder {{{field}}} (known: {known})"
    sample = {"title": "T", "count": 1, "papers": "1 new paper", "date": "2025-01-01"}
    try:
        template.format(**sample, profile="p")
    except (ValueError, TypeError) as exc:
        return f"cannot be filled in: {exc}"
    return None


def _path(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    return "must not hold control characters" if _CONTROL.search(value) else None


def _store(value: str) -> str | None:
    if _STORE_RE.fullmatch(value) and not _CONTROL.search(value):
        return None
    return "must be a store URL like sqlite:///digest.db or postgresql+psycopg://host/db"


def store_beside(url: str, base: Path) -> str:
    """A SQLite URL with a relative path made relative to `base` (the config's folder)."""
    m = _SQLITE_RELATIVE.fullmatch(url)
    if m is None:
        return url
    return f"{m.group(1)}{(base / m.group(2)).resolve()}{m.group(3) or ''}"


_COUNT = between(1, 10_000)
_SECONDS = between(0.001, 86_400, "seconds")
_FETCH = {
    "timeout": Key((int, float), _SECONDS, float),
    "max_bytes": Key((int, str), _size, parse_size),
    "user_agent": Key(str, _text, lambda v: v or None),  # empty: the built-in one
}
_SMTP = {
    "port": Key(int, between(1, 65535)),
    "security": Key(str, _security),
    "username": Key(str, _text),
    "timeout": Key((int, float), _SECONDS, float),
    "connections": Key(int, between(1, 1000)),
    "rate": Key((int, float), positive),
    "retries": Key(int, between(0, 100)),
}
_EMAIL = {
    "sender": Key(str, _address),
    "domain": Key(str, _domain),
    "subject": Key(str, subject_problem),
    "unsubscribe_url": Key(str, _token_url),
    "unsubscribe_mailto": Key(str, _mailto, lambda v: v.removeprefix("mailto:")),
}
_WEB = {
    "site_url": Key(str, _http_url, lambda v: v.rstrip("/") + "/"),
    "feed_items": Key(int, _COUNT),
    "subscribe_url": Key(str, _http_url),
    "trusted_proxies": Key(list, _proxies, tuple),
}
_DELIVERIES = {
    "lease_seconds": Key((int, float), between(1, 7 * 86_400, "seconds"), float),
    "batch": Key(int, between(1, 100_000)),
}
_TOP_KEYS = {"store", "sources", "fetch", "profiles", "output", "templates", "email", *_WEB}
_TOP_KEYS |= {"deliveries"}
_SOURCE_KEYS = {"name", "kind", "url", "path", "reference_date", "enabled"}
_source_url = _url_check(("http", "https", "file"), "an http(s) or file: URL")
# Paths in the file are relative to the file. Without a file the records' own
# defaults hold, relative to the working directory.
_PROFILES_IN_FILE = "profiles"


def _kind(value: str) -> str | None:
    return None if value in SOURCE_KINDS else f"must be one of {', '.join(SOURCE_KINDS)}"


def _sources(chk: Checker, raw: Any, base: Path, parent: YamlMap) -> tuple[SourceConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        chk.problem(parent, "sources", "sources", "must be a list of sources")
        return ()
    out: list[SourceConfig] = []
    names: set[str] = set()
    for n, raw_src in enumerate(raw):
        where = f"sources[{n}]"
        src = chk.mapping(raw_src, where, _SOURCE_KEYS, parent)
        before = len(chk.problems)
        name = chk.get(src, "name", where, str, check=_text)
        kind = chk.get(src, "kind", where, str, check=_kind)
        url = chk.get(src, "url", where, str, check=_source_url)
        path = chk.get(src, "path", where, str, check=_path)
        ref = chk.get(src, "reference_date", where, date)
        if not chk.get(src, "enabled", where, bool, default=True):
            continue
        if len(chk.problems) > before:  # a bad url or path: no location to make
            names.add(name or "")
            continue
        if (url is None) == (path is None):
            chk.problem(src, None, where, "needs exactly one of `url` or `path`")
            continue
        location = url if url is not None else str((base / path).resolve())
        name = name or location
        if name in names:
            chk.problem(src, "name", f"{where}.name", f"duplicate source name {name!r}")
        names.add(name)
        out.append(SourceConfig(name=name, location=location, kind=kind, reference_date=ref))
    return tuple(out)


def _section(chk: Checker, top: YamlMap, key: str, keys: Iterable[str]) -> YamlMap:
    raw = top.get(key)
    return chk.mapping(raw, key, set(keys), top) if raw is not None else YamlMap()


def _smtp(chk: Checker, raw: Any, parent: YamlMap) -> SMTPSettings | None:
    m = chk.mapping(raw, "email.smtp", {"host", *_SMTP}, parent)
    host = chk.get(m, "host", "email.smtp", str, check=_host)
    return SMTPSettings(host, **chk.keys(m, "email.smtp", _SMTP)) if host else None


def _email(chk: Checker, top: YamlMap, base: Path, output: Path) -> EmailSettings:
    e = _section(chk, top, "email", {"outbox", "smtp", *_EMAIL})
    outbox = chk.get(e, "outbox", "email", str, check=_path)
    smtp = _smtp(chk, e["smtp"], e) if e.get("smtp") is not None else None
    where = (base / outbox).resolve() if outbox else output / "outbox"
    return EmailSettings(**chk.keys(e, "email", _EMAIL), outbox=where, smtp=smtp)


def _folder(chk: Checker, top: YamlMap, key: str, base: Path) -> Path | None:
    """A folder the file names (relative to it), which must exist."""
    value = chk.get(top, key, "", str, check=_path)
    if value is None:
        return None
    folder: Path = (base / value).resolve()
    if not folder.is_dir():
        chk.problem(top, key, key, f"{folder} is not a folder")
    return folder


def load_settings(path: Path | None) -> Settings:
    """Settings from `path`, or the built-in defaults when `path` is None."""
    if path is None:
        return Settings()
    raw = load_yaml(path)
    chk = Checker(path)
    if raw is None:
        raw = YamlMap()
    top = chk.mapping(raw, "", _TOP_KEYS)
    base = path.parent
    store = chk.get(top, "store", "", str, DEFAULT_STORE, _store)
    sources = _sources(chk, top.get("sources"), base, top)
    fetch = FetchSettings(**chk.keys(_section(chk, top, "fetch", _FETCH), "fetch", _FETCH))
    profiles = _folder(chk, top, "profiles", base) or (base / _PROFILES_IN_FILE).resolve()
    output = chk.get(top, "output", "", str, str(WebSettings().output_dir), _path)
    web = WebSettings(output_dir=(base / output).resolve(), **chk.keys(top, "", _WEB))
    templates = _folder(chk, top, "templates", base)
    email = _email(chk, top, base, web.output_dir)
    sending = _section(chk, top, "deliveries", _DELIVERIES)
    deliveries = DeliverySettings(**chk.keys(sending, "deliveries", _DELIVERIES))
    chk.raise_if_any()
    return Settings(
        path=path,
        store_url=store_beside(store, base),
        sources=sources,
        fetch=fetch,
        profiles_dir=profiles,
        templates_dir=templates,
        web=web,
        email=email,
        deliveries=deliveries,
    )


def resolve_config_path(option: str | None) -> Path | None:
    """--config, then $DIGEST_CONFIG, then ./config/digest.yaml if present."""
    chosen = option or os.environ.get("DIGEST_CONFIG")
    if chosen:
        return Path(chosen)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def resolve_store_url(option: str | None, settings: Settings) -> str:
    """--db, then $DIGEST_DB, then the config's `store`."""
    return option or os.environ.get("DIGEST_DB") or settings.store_url
