"""Load and validate digest.yaml. Every problem is reported as `file:line: key: message`.

YAML is read with PyYAML's SafeLoader (what `yaml.safe_load` uses), extended
only to remember the line of each mapping key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from digest.errors import ConfigError
from digest.models import SOURCE_KINDS, SourceConfig

DEFAULT_STORE = "sqlite:///digest.db"
DEFAULT_CONFIG = Path("config/digest.yaml")
DEFAULT_MAX_BYTES = 20 * 10**6


class _Map(dict[str, Any]):
    """A mapping that knows the line of each of its keys (1-based)."""

    lines: dict[str, int]
    line: int


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        out = _Map({str(k): v for k, v in super().construct_mapping(node, deep=deep).items()})
        out.lines = {
            str(k.value): k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")
        }
        out.line = node.start_mark.line + 1
        return out


def _new_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    return loader.construct_mapping(node, deep=True)  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _new_map)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file safely; syntax errors become `file:line: message`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text: {exc}"]) from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError([f"{path}{line}: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: {exc}"]) from exc


class Checker:
    """Collects problems for one file; each names file:line and the key path."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.problems: list[str] = []

    def problem(self, mapping: Any, key: str | None, where: str, message: str) -> None:
        line = getattr(mapping, "lines", {}).get(key) if key is not None else None
        line = line or getattr(mapping, "line", None)
        loc = f"{self.path}:{line}" if line else f"{self.path}"
        self.problems.append(f"{loc}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: set[str], parent: Any = None) -> _Map:
        if not isinstance(value, dict):
            self.problem(parent, where.rsplit(".", 1)[-1], where, "must be a mapping")
            return _Map()
        for key in value:
            if str(key) not in allowed:
                hint = ", ".join(sorted(allowed))
                self.problem(
                    value, str(key), _join(where, str(key)), f"unknown key (known: {hint})"
                )
        return value if isinstance(value, _Map) else _Map(value)

    def get(
        self,
        mapping: _Map,
        key: str,
        where: str,
        types: type | tuple[type, ...],
        default: Any = None,
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        if key not in mapping or mapping[key] is None:
            return default
        value = mapping[key]
        # bool is an int in Python; a YAML `yes` must not pass for a number.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
            names = " or ".join(t.__name__ for t in _tuple(types))
            self.problem(mapping, key, _join(where, key), f"must be {names}, not {_kind(value)}")
            return default
        if check is not None and (msg := check(value)) is not None:
            self.problem(mapping, key, _join(where, key), msg)
            return default
        return value

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


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
    """`20MB`, `512 KiB` or a plain number of bytes."""
    if isinstance(value, int):
        return value if value > 0 else None
    m = _SIZE_RE.match(value)
    if not m or m.group(2).lower() not in _UNITS:
        return None
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


@dataclass(frozen=True, slots=True)
class FetchSettings:
    timeout: float = 30.0
    max_bytes: int = DEFAULT_MAX_BYTES
    user_agent: str = ""  # empty: the built-in polite default


@dataclass(frozen=True, slots=True)
class SMTPConfig:
    host: str
    port: int = 587
    security: str = "starttls"  # plain, starttls or tls
    username: str | None = None  # the password comes from $DIGEST_SMTP_PASSWORD
    timeout: float = 30.0
    connections: int = 4
    rate: float | None = None  # messages per second, all connections together
    retries: int = 3


@dataclass(frozen=True, slots=True)
class EmailConfig:
    sender: str = "digest@localhost"
    domain: str = "localhost"
    subject: str = "{title}: {papers}, {date}"
    unsubscribe_url: str = "http://localhost:8000/unsubscribe/{token}"
    unsubscribe_mailto: str = "unsubscribe@localhost"
    outbox: Path = Path("out/outbox")  # where messages go when no SMTP host is set
    smtp: SMTPConfig | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    path: Path | None = None
    store_url: str = DEFAULT_STORE
    sources: tuple[SourceConfig, ...] = ()
    fetch: FetchSettings = field(default_factory=FetchSettings)
    profiles_dir: Path | None = None  # None: no profiles configured
    output_dir: Path = Path("out")  # feeds and the archive are written here
    site_url: str = "http://localhost:8000/"  # where output_dir is served
    templates_dir: Path | None = None  # overrides for the bundled templates
    feed_items: int = 50
    email: EmailConfig = field(default_factory=EmailConfig)


_TOP_KEYS = {
    "store",
    "sources",
    "fetch",
    "profiles",
    "output",
    "site_url",
    "templates",
    "feed_items",
    "email",
}
_EMAIL_KEYS = {
    "sender",
    "domain",
    "subject",
    "unsubscribe_url",
    "unsubscribe_mailto",
    "outbox",
    "smtp",
}
_SMTP_KEYS = {
    "host",
    "port",
    "security",
    "username",
    "timeout",
    "connections",
    "rate",
    "retries",
}
_SOURCE_KEYS = {"name", "kind", "url", "path", "reference_date", "enabled"}
_FETCH_KEYS = {"timeout", "max_bytes", "user_agent"}


def _sources(chk: Checker, raw: Any, base: Path, parent: _Map) -> tuple[SourceConfig, ...]:
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
        name = chk.get(src, "name", where, str)
        kind = chk.get(
            src,
            "kind",
            where,
            str,
            check=lambda v: (
                None if v in SOURCE_KINDS else f"must be one of {', '.join(SOURCE_KINDS)}"
            ),
        )
        url = chk.get(src, "url", where, str)
        path = chk.get(src, "path", where, str)
        ref = chk.get(src, "reference_date", where, date)
        if not chk.get(src, "enabled", where, bool, default=True):
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


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def _security(value: str) -> str | None:
    return None if value in ("plain", "starttls", "tls") else "must be plain, starttls or tls"


def _smtp(chk: Checker, raw: Any, parent: _Map) -> SMTPConfig | None:
    m = chk.mapping(raw, "email.smtp", _SMTP_KEYS, parent)
    w = "email.smtp"
    host = chk.get(m, "host", w, str)
    if not host:
        return None
    return SMTPConfig(
        host=host,
        port=chk.get(m, "port", w, int, default=587, check=_positive),
        security=chk.get(m, "security", w, str, default="starttls", check=_security),
        username=chk.get(m, "username", w, str),
        timeout=float(chk.get(m, "timeout", w, (int, float), default=30, check=_positive)),
        connections=chk.get(m, "connections", w, int, default=4, check=_positive),
        rate=chk.get(m, "rate", w, (int, float), check=_positive),
        retries=chk.get(
            m, "retries", w, int, default=3, check=lambda v: None if v >= 0 else "must be >= 0"
        ),
    )


def _email(chk: Checker, raw: Any, base: Path, top: _Map) -> EmailConfig:
    d = EmailConfig()
    e = chk.mapping(raw, "email", _EMAIL_KEYS, top) if raw is not None else _Map()
    return EmailConfig(
        sender=chk.get(e, "sender", "email", str, default=d.sender),
        domain=chk.get(e, "domain", "email", str, default=d.domain),
        subject=chk.get(e, "subject", "email", str, default=d.subject),
        unsubscribe_url=chk.get(
            e,
            "unsubscribe_url",
            "email",
            str,
            default=d.unsubscribe_url,
            check=lambda v: None if "{token}" in v else "must contain {token}",
        ),
        unsubscribe_mailto=chk.get(
            e, "unsubscribe_mailto", "email", str, default=d.unsubscribe_mailto
        ),
        outbox=(base / chk.get(e, "outbox", "email", str, default="../out/outbox")).resolve(),
        smtp=_smtp(chk, e["smtp"], e) if e.get("smtp") is not None else None,
    )


def load_settings(path: Path | None) -> Settings:
    """Settings from `path`, or the built-in defaults when `path` is None."""
    if path is None:
        return Settings()
    raw = load_yaml(path)
    chk = Checker(path)
    if raw is None:
        raw = _Map()
    top = chk.mapping(raw, "", _TOP_KEYS)
    store = chk.get(top, "store", "", str, default=DEFAULT_STORE)
    sources = _sources(chk, top.get("sources"), path.parent, top)
    fetch_raw = top.get("fetch")
    fetch = FetchSettings()
    if fetch_raw is not None:
        f = chk.mapping(fetch_raw, "fetch", _FETCH_KEYS, top)
        size = chk.get(
            f,
            "max_bytes",
            "fetch",
            (int, str),
            check=lambda v: None if parse_size(v) else "must be a size like 20MB",
        )
        fetch = FetchSettings(
            timeout=float(
                chk.get(
                    f,
                    "timeout",
                    "fetch",
                    (int, float),
                    default=30.0,
                    check=lambda v: None if v > 0 else "must be positive",
                )
            ),
            max_bytes=(parse_size(size) if size else None) or DEFAULT_MAX_BYTES,
            user_agent=chk.get(f, "user_agent", "fetch", str, default=""),
        )
    profiles = chk.get(top, "profiles", "", str, default="profiles")
    output = chk.get(top, "output", "", str, default="out")
    site_url = chk.get(top, "site_url", "", str, default="http://localhost:8000/", check=_http_url)
    templates = chk.get(top, "templates", "", str)
    feed_items = chk.get(
        top,
        "feed_items",
        "",
        int,
        default=50,
        check=lambda v: None if v > 0 else "must be at least 1",
    )
    base = path.parent
    email = _email(chk, top.get("email"), base, top)
    chk.raise_if_any()
    return Settings(
        path=path,
        store_url=store,
        sources=sources,
        fetch=fetch,
        profiles_dir=(base / profiles).resolve(),
        output_dir=(base / output).resolve(),
        site_url=site_url.rstrip("/") + "/",
        templates_dir=(base / templates).resolve() if templates else None,
        feed_items=feed_items,
        email=email,
    )


def _http_url(value: str) -> str | None:
    return None if re.match(r"^https?://[^/\s]+", value) else "must be an http(s) URL"


def resolve_config_path(option: str | None) -> Path | None:
    """--config, then $DIGEST_CONFIG, then ./config/digest.yaml if present."""
    chosen = option or os.environ.get("DIGEST_CONFIG")
    if chosen:
        return Path(chosen)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def resolve_store_url(option: str | None, settings: Settings) -> str:
    """--db, then $DIGEST_DB, then the config's `store`."""
    return option or os.environ.get("DIGEST_DB") or settings.store_url
