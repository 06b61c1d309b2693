"""Read YAML safely and check it: the loader of digest.yaml, the profiles and
anything else a user writes in YAML, and the `Checker` that turns what is wrong
with the values into `file:line: key: message` problems.

The loader is PyYAML's SafeLoader (what `yaml.safe_load` uses), extended to
remember the line of each mapping key, and to refuse with `file:line`, never a
traceback, what a config never needs: a key given twice in one mapping (YAML
would silently keep the last), nesting deeper than `MAX_DEPTH`, an integer too
large for any setting, an impossible date (`2025-02-30`), a file over `MAX_BYTES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from digest.errors import ConfigError

MAX_DEPTH = 64  # PyYAML composes recursively: 5,000 levels would overflow the stack
MAX_INT = 2**63 - 1  # no setting is larger; a 400-digit number is a mistake
MAX_BYTES = 4 * 2**20  # a config or profile is a few kB
_MERGE_TAG = "tag:yaml.org,2002:merge"
_UNSET = object()


class YamlMap(dict[str, Any]):
    """A mapping that knows the line of each of its keys (1-based)."""

    lines: dict[str, int]
    line: int


class _LineLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
            # a value PyYAML's own constructors choke on, e.g. `!!int x`
            mark = node.start_mark
            raise ConstructorError(None, None, f"cannot read this value: {exc}", mark) from exc

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(node.value)
        if sum(c.isdigit() for c in text) > 30:
            raise ConstructorError(None, None, "number too large", node.start_mark)
        value = super().construct_yaml_int(node)
        if abs(value) > MAX_INT:
            raise ConstructorError(None, None, "number too large", node.start_mark)
        return value

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(
                None, None, f"not a valid date: {node.value} ({exc})", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = str(self.construct_object(key_node))
            line = key_node.start_mark.line + 1
            if key in first:
                raise ConstructorError(
                    "in this mapping",
                    node.start_mark,
                    f"duplicate key {key_node.value!r} (first on line {first[key]})",
                    key_node.start_mark,
                )
            first[key] = line
        out = YamlMap({str(k): v for k, v in super().construct_mapping(node, deep=deep).items()})
        out.lines = {
            str(k.value): k.start_mark.line + 1 for k, _ in node.value if hasattr(k, "value")
        }
        out.line = node.start_mark.line + 1
        return out


def _new_map(loader: _LineLoader, node: yaml.MappingNode) -> YamlMap:
    return loader.construct_mapping(node, deep=True)  # type: ignore[return-value]


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _new_map)
_LineLoader.add_constructor("tag:yaml.org,2002:int", _LineLoader.construct_yaml_int)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _LineLoader.construct_yaml_timestamp)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file safely; every error becomes `file:line: message`."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    if len(data) > MAX_BYTES:
        raise ConfigError([f"{path}:1: {len(data)} bytes: too large for a config file"])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError([f"{path}:{line}: not UTF-8 text: {exc.reason}"]) from exc
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path | str) -> Any:
    """`text` read as YAML (as `load_yaml` reads a file); errors name `path`."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError([f"{path}:{mark.line + 1 if mark else 1}: {exc.problem or exc}"]) from exc
    except yaml.reader.ReaderError as exc:  # a character YAML refuses, e.g. NUL
        at = text.count("\n", 0, exc.position) + 1
        what = f"{exc.reason} (character #x{exc.character:04x})"
        raise ConfigError([f"{path}:{at}: {what}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}:1: {exc}"]) from exc
    except RecursionError as exc:  # not reached below MAX_DEPTH; kept as a last guard
        raise ConfigError([f"{path}:1: nested too deeply"]) from exc


class Key(NamedTuple):
    """How one YAML key is read: its types, a check, and a conversion of the value."""

    types: type | tuple[type, ...]
    check: Callable[[Any], str | None] | None = None
    convert: Callable[[Any], Any] | None = None


class Checker:
    """Collects problems for one file; each names file:line and the key path."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self.problems: list[str] = []

    def problem(self, mapping: Any, key: str | None, where: str, message: str) -> None:
        line = getattr(mapping, "lines", {}).get(key) if key is not None else None
        line = line or getattr(mapping, "line", None) or 1
        self.problems.append(f"{self.path}:{line}: {where}: {message}")

    def mapping(self, value: Any, where: str, allowed: set[str], parent: Any = None) -> YamlMap:
        if not isinstance(value, dict):
            self.problem(parent, where.rsplit(".", 1)[-1], where, "must be a mapping")
            return YamlMap()
        for key in value:
            if str(key) not in allowed:
                hint = ", ".join(sorted(allowed))
                self.problem(value, str(key), join(where, str(key)), f"unknown key (known: {hint})")
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
            self.problem(mapping, key, join(where, key), f"must be {names}, not {kind_of(value)}")
            return default
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(mapping, key, join(where, key), f"must be a finite number, not {value}")
            return default
        if check is not None and (msg := check(value)) is not None:
            self.problem(mapping, key, join(where, key), msg)
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


def join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def kind_of(value: Any) -> str:
    return {
        dict: "a mapping",
        YamlMap: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), type(value).__name__)


def between(lo: float, hi: float, what: str = "") -> Callable[[float], str | None]:
    """A check: `lo <= value <= hi` (`what` names the unit in the message)."""
    unit = f" {what}" if what else ""

    def check(value: float) -> str | None:
        if value < lo:
            return f"must be at least {lo:g}{unit}"
        return None if value <= hi else f"must be at most {hi:g}{unit}"

    return check


def positive(value: float) -> str | None:
    return None if value > 0 else "must be positive"
