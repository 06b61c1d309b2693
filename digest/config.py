"""Load and validate digest.yaml into the records of `digest.settings`. Every problem is
reported as `file:line: key: message`.

YAML is read with PyYAML's SafeLoader (what `yaml.safe_load` uses), extended
only to remember the line of each mapping key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from digest.errors import ConfigError
from digest.models import SOURCE_KINDS, SourceConfig
from digest.settings import (
    DEFAULT_STORE,
    DeliverySettings,
    EmailSettings,
    FetchSettings,
    Settings,
    SMTPSettings,
    WebSettings,
)

DEFAULT_CONFIG = Path("config/digest.yaml")
_UNSET = object()


class YamlMap(dict[str, Any]):
    """A mapping that knows the line of each of its keys (1-based)."""

    lines: dict[str, int]
    line: int


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        out = YamlMap({str(k): v for k, v in super().construct_mapping(node, deep=deep).items()})
        out.lines = {
            str(k.value): k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")
        }
        out.line = node.start_mark.line + 1
        return out


def _new_map(loader: _LineLoader, node: yaml.MappingNode) -> YamlMap:
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

    def mapping(self, value: Any, where: str, allowed: set[str], parent: Any = None) -> YamlMap:
        if not isinstance(value, dict):
            self.problem(parent, where.rsplit(".", 1)[-1], where, "must be a mapping")
            return YamlMap()
        for key in value:
            if str(key) not in allowed:
                hint = ", ".join(sorted(allowed))
                self.problem(
                    value, str(key), _join(where, str(key)), f"unknown key (known: {hint})"
                )
        return value if isinstance(value, YamlMap) else YamlMap(value)

    def get(
        self,
        mapping: YamlMap,
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
            self.problem(mapping, key, _join(where, key), f"must be {names}, not {kind_of(value)}")
            return default
        if check is not None and (msg := check(value)) is not None:
            self.problem(mapping, key, _join(where, key), msg)
            return default
        return value

    def keys(self, mapping: YamlMap, where: str, keys: dict[str, Key]) -> dict[str, Any]:
        """The `keys` set in `mapping` and valid, converted: arguments for a settings
        record, which keeps its own default for every key left out."""
        out: dict[str, Any] = {}
        for name, key in keys.items():
            value = self.get(mapping, name, where, key.types, default=_UNSET, check=key.check)
            if value is not _UNSET and key.convert is not None:
                value = key.convert(value)
            if value is not _UNSET and value is not None:
                out[name] = value
        return out

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def kind_of(value: Any) -> str:
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


class Key(NamedTuple):
    """How one YAML key is read: its types, a check, and a conversion of the value."""

    types: type | tuple[type, ...]
    check: Callable[[Any], str | None] | None = None
    convert: Callable[[Any], Any] | None = None


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"


def _at_least_one(value: int) -> str | None:
    return None if value > 0 else "must be at least 1"


def _not_negative(value: int) -> str | None:
    return None if value >= 0 else "must be >= 0"


def _security(value: str) -> str | None:
    return None if value in ("plain", "starttls", "tls") else "must be plain, starttls or tls"


def _size(value: int | str) -> str | None:
    return None if parse_size(value) else "must be a size like 20MB"


def _http_url(value: str) -> str | None:
    return None if re.match(r"^https?://[^/\s]+", value) else "must be an http(s) URL"


def _token_url(value: str) -> str | None:
    return None if "{token}" in value else "must contain {token}"


_FETCH = {
    "timeout": Key((int, float), _positive, float),
    "max_bytes": Key((int, str), _size, parse_size),
    "user_agent": Key(str, convert=lambda v: v or None),  # empty: the built-in one
}
_SMTP = {
    "port": Key(int, _positive),
    "security": Key(str, _security),
    "username": Key(str),
    "timeout": Key((int, float), _positive, float),
    "connections": Key(int, _positive),
    "rate": Key((int, float), _positive),
    "retries": Key(int, _not_negative),
}
_EMAIL = {
    "sender": Key(str),
    "domain": Key(str),
    "subject": Key(str),
    "unsubscribe_url": Key(str, _token_url),
    "unsubscribe_mailto": Key(str),
}
_WEB = {
    "site_url": Key(str, _http_url, lambda v: v.rstrip("/") + "/"),
    "feed_items": Key(int, _at_least_one),
    "subscribe_url": Key(str, _http_url),
}
_DELIVERIES = {"lease_seconds": Key((int, float), _positive, float), "batch": Key(int, _positive)}
_TOP_KEYS = {"store", "sources", "fetch", "profiles", "output", "templates", "email", *_WEB}
_TOP_KEYS |= {"deliveries"}
_SOURCE_KEYS = {"name", "kind", "url", "path", "reference_date", "enabled"}
# Paths in the file are relative to the file. Without a file the records' own
# defaults hold, relative to the working directory.
_PROFILES_IN_FILE = "profiles"
_OUTBOX_IN_FILE = "../out/outbox"


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


def _section(chk: Checker, top: YamlMap, key: str, keys: Iterable[str]) -> YamlMap:
    raw = top.get(key)
    return chk.mapping(raw, key, set(keys), top) if raw is not None else YamlMap()


def _smtp(chk: Checker, raw: Any, parent: YamlMap) -> SMTPSettings | None:
    m = chk.mapping(raw, "email.smtp", {"host", *_SMTP}, parent)
    host = chk.get(m, "host", "email.smtp", str)
    return SMTPSettings(host, **chk.keys(m, "email.smtp", _SMTP)) if host else None


def _email(chk: Checker, top: YamlMap, base: Path) -> EmailSettings:
    e = _section(chk, top, "email", {"outbox", "smtp", *_EMAIL})
    outbox = chk.get(e, "outbox", "email", str, default=_OUTBOX_IN_FILE)
    smtp = _smtp(chk, e["smtp"], e) if e.get("smtp") is not None else None
    return EmailSettings(
        **chk.keys(e, "email", _EMAIL), outbox=(base / outbox).resolve(), smtp=smtp
    )


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
    store = chk.get(top, "store", "", str, default=DEFAULT_STORE)
    sources = _sources(chk, top.get("sources"), base, top)
    fetch = FetchSettings(**chk.keys(_section(chk, top, "fetch", _FETCH), "fetch", _FETCH))
    profiles = chk.get(top, "profiles", "", str, default=_PROFILES_IN_FILE)
    output = chk.get(top, "output", "", str, default=str(WebSettings().output_dir))
    web = WebSettings(output_dir=(base / output).resolve(), **chk.keys(top, "", _WEB))
    templates = chk.get(top, "templates", "", str)
    email = _email(chk, top, base)
    sending = _section(chk, top, "deliveries", _DELIVERIES)
    deliveries = DeliverySettings(**chk.keys(sending, "deliveries", _DELIVERIES))
    chk.raise_if_any()
    return Settings(
        path=path,
        store_url=store,
        sources=sources,
        fetch=fetch,
        profiles_dir=(base / profiles).resolve(),
        templates_dir=(base / templates).resolve() if templates else None,
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
