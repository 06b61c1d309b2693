"""Load and validate interest profiles: one YAML file per profile in a folder.

Every problem is reported as `file:line: key: message` (through `config.Checker`),
and all problems of all files are raised together in one `ConfigError`. Problems
inside a list (`exclude[1]`) carry the line of the list's key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digest.errors import ConfigError
from digest.models import PROFILE_ID_CHARS, Profile, Term
from digest.safe_yaml import Checker, YamlMap, kind_of, load_yaml
from digest.selection.likes import profile_likes
from digest.selection.match import check_regex

_KEYS = {"name", "title", "keywords", "exclude", "authors", "sources", "min_score"}
_KEYS |= {"max_items", "title_weight", "schedule", "timezone", "send_empty", "recipients", "admin"}
_KEYS |= {"first_digest_days", "description", "like", "like_file", "like_weight"}
_DEFAULT = {f.name: f.default for f in fields(Profile)}  # each default stated once, in Profile
_SUFFIXES = (".yaml", ".yml")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# archive/<name>/ sits beside archive/index.html; hosts that serve /index as
# index.html (and case-blind file systems) would mix the two up.
_RESERVED = frozenset({"index", "index.html"})
_EMAIL_RE = re.compile(r"[^@\s<>(),;:\"]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_WORD_RE = re.compile(r"[^\W_]")  # what digest.selection.match makes tokens of
_MAX_WEIGHT = 1e6  # a score is a sum of weights: it stays finite
# blend's unit in a window without keyword hits (likes alone): 0-10 at the default like_weight
NO_KEYWORDS = 20.0
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LOADED: dict[tuple[Any, ...], tuple[Profile, ...]] = {}  # see load_profiles


def parse_schedule(text: str) -> tuple[tuple[int, ...], int, int]:
    """`mon-fri 07:00` -> ((0, 1, 2, 3, 4), 7, 0); days are 0 = Monday.

    Days: `daily`, a day name, a range `mon-fri` (forwards only) or a comma list
    of these; then the time as HH:MM (24-hour). Raises ValueError with the reason.
    """
    parts = re.sub(r"\s*([,-])\s*", r"\1", text.strip().lower()).split()
    if len(parts) != 2:
        raise ValueError('must be days then a time, like "mon-fri 07:00" or "daily 18:30"')
    days_text, time_text = parts
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", time_text)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"time {time_text!r} is not HH:MM between 00:00 and 23:59")
    if days_text == "daily":
        return tuple(range(7)), int(m.group(1)), int(m.group(2))
    days: set[int] = set()
    for part in days_text.split(","):
        lo, dash, hi = part.partition("-")
        for day in (lo, hi) if dash else (lo,):
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r} (use {', '.join(DAYS)} or daily)")
        first, last = DAYS.index(lo), DAYS.index(hi if dash else lo)
        if last < first:
            raise ValueError(f"day range {part!r} runs backwards")
        days.update(range(first, last + 1))
    return tuple(sorted(days)), int(m.group(1)), int(m.group(2))


def _schedule_problem(text: str) -> str | None:
    try:
        parse_schedule(text)
    except ValueError as exc:
        return str(exc)
    return None


def _timezone_problem(name: str) -> str | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return f"unknown time zone {name!r} (use an IANA name like Europe/Berlin)"
    return None


def term_problem(text: str) -> str | None:
    """Why `text` cannot be a keyword or exclude term, or None when it can.

    A plain term needs a letter or digit to match anything; a regex must be one
    the matcher can use.
    """
    if not text.strip():
        return "must not be empty"
    if not Term(text).is_regex:
        return None if _WORD_RE.search(text) else "has no letters or digits: it can never match"
    return check_regex(text)


def _email_problem(text: str) -> str | None:
    if _EMAIL_RE.fullmatch(text):
        return None
    return f"{text!r} does not look like an email address (name@example.org)"


def _name_problem(text: str) -> str | None:
    if not _NAME_RE.fullmatch(text):
        return f"{text!r} is not a profile id (letters, digits, '.', '_', '-')"
    if len(text) > PROFILE_ID_CHARS:
        return f"a profile id has at most {PROFILE_ID_CHARS} characters, this one {len(text)}"
    if text.lower() in _RESERVED:
        return f"{text!r} is taken by the archive's site index (archive/index.html)"
    return None


def _author_problem(text: str) -> str | None:
    return None if _WORD_RE.search(text) else "has no letters or digits: it can never match"


def _empty_problem(text: str) -> str | None:
    return None if text.strip() else "must not be empty"


def _strings(
    chk: Checker,
    top: YamlMap,
    key: str,
    check: Callable[[str], str | None] | None = None,
    fold: bool = True,
) -> tuple[str, ...]:
    """A list of strings under `key`: non-strings, empties and duplicates are problems."""
    raw = top.get(key)
    if raw is None:
        return ()
    if not isinstance(raw, list):
        chk.problem(top, key, key, "must be a list of strings")
        return ()
    out: list[str] = []
    seen: set[str] = set()
    for n, value in enumerate(raw):
        where = f"{key}[{n}]"
        if not isinstance(value, str):
            chk.problem(top, key, where, f"must be a string, not {kind_of(value)}")
        elif not value.strip():
            chk.problem(top, key, where, "must not be empty")
        elif check is not None and (msg := check(value)) is not None:
            chk.problem(top, key, where, msg)
        elif (value.casefold() if fold else value) in seen:
            chk.problem(top, key, where, f"duplicate {value!r}")
        else:
            seen.add(value.casefold() if fold else value)
            out.append(value)
    return tuple(out)


def _keywords(chk: Checker, top: YamlMap) -> tuple[Term, ...]:
    raw = top.get("keywords")
    if raw is None or isinstance(raw, list):
        return tuple(Term(t) for t in _strings(chk, top, "keywords", term_problem))
    if not isinstance(raw, dict):
        chk.problem(top, "keywords", "keywords", "must be a mapping of term: weight, or a list")
        return ()
    kw = raw if isinstance(raw, YamlMap) else YamlMap(raw)
    out: list[Term] = []
    seen: set[str] = set()
    for text in kw:
        if hasattr(kw, "lines") and text not in kw.lines:  # unquoted yes/no/null: YAML changed it
            chk.problem(kw, None, "keywords", f"a term YAML read as {text}: quote it")
            continue
        if (msg := term_problem(text)) is not None:
            chk.problem(kw, text, f"keywords.{text}", msg)
            continue
        if text.casefold() in seen:
            chk.problem(kw, text, f"keywords.{text}", "duplicate term (case is ignored)")
            continue
        seen.add(text.casefold())
        before = len(chk.problems)  # `term:` with no value: weight 1
        weight = chk.get(kw, text, "keywords", (int, float), 1.0, _weight)
        if len(chk.problems) == before:
            out.append(Term(text, float(weight)))
    return tuple(out)


def _not_negative(value: float) -> str | None:
    if value < 0:
        return "must not be negative"
    return None if value <= _MAX_WEIGHT else f"must be at most {_MAX_WEIGHT:g}"


def _weight(value: float) -> str | None:
    """A keyword's weight: positive (.nan and .inf are refused by the checker)."""
    if value <= 0:
        return "must be a positive weight (drop the term, or use `exclude:`)"
    return None if value <= _MAX_WEIGHT else f"must be at most {_MAX_WEIGHT:g}"


def _at_least_one(value: int) -> str | None:
    if value < 1:
        return "must be at least 1"
    return None if value <= 10_000 else "must be at most 10000"


def _days_problem(value: int) -> str | None:
    return None if 1 <= value <= 3650 else "must be a number of days from 1 to 3650"


def _source_check(known: Collection[str] | None) -> Callable[[str], str | None] | None:
    """Names must be configured sources, when the configuration names any: a
    misspelt one would otherwise match nothing, and the profile stay silent."""
    if not known:
        return None
    names = ", ".join(sorted(known))
    return lambda name: None if name in known else f"unknown source {name!r} (configured: {names})"


def _build(
    chk: Checker, raw: Any, path: Path, sources: Collection[str] | None
) -> tuple[Profile, YamlMap]:
    """The profile (defaults where a value is invalid) and its top mapping."""
    if raw is not None and not isinstance(raw, dict):
        chk.problem(None, None, "profile", "must be a mapping of settings")
    top = chk.mapping(raw, "", _KEYS) if isinstance(raw, dict) else YamlMap()
    name = chk.get(top, "name", "", str, check=_name_problem)
    if name is None:
        name = path.stem
        if "name" not in top and (msg := _name_problem(name)) is not None:
            chk.problem(None, None, "name", f"{msg}: set `name:` or rename the file")
    if isinstance(raw, dict | None) and not any(
        map(top.get, ("keywords", "authors", "like", "like_file"))
    ):
        chk.problem(
            top,
            "keywords" if "keywords" in top else None,
            "keywords",
            "no keywords and no authors: this profile can never match anything",
        )
    before = len(chk.problems)
    keywords = _keywords(chk, top)
    authors = _strings(chk, top, "authors", _author_problem)
    min_score = float(
        chk.get(top, "min_score", "", (int, float), _DEFAULT["min_score"], _not_negative)
    )
    title_weight = float(
        chk.get(top, "title_weight", "", (int, float), _DEFAULT["title_weight"], _not_negative)
    )
    likes = profile_likes(chk, top, path, _strings(chk, top, "like", _empty_problem))
    like_weight = float(
        chk.get(top, "like_weight", "", (int, float), _DEFAULT["like_weight"], _not_negative)
    )
    best = sum(t.weight for t in keywords) * max(title_weight, 1.0) + len(authors)
    best += like_weight * max(best, NO_KEYWORDS) if likes else 0.0  # K* or, with no hit, 20
    if len(chk.problems) == before and (keywords or authors or likes) and best < min_score:
        chk.problem(top, "min_score", "min_score", f"unreachable: the best score is {best:g}")
    profile = Profile(
        name=name,
        title=chk.get(top, "title", "", str, default=name, check=_empty_problem),
        description=chk.get(top, "description", "", str, _DEFAULT["description"]),
        likes=likes,
        like_weight=like_weight,
        keywords=keywords,
        exclude=_strings(chk, top, "exclude", term_problem),
        authors=authors,
        sources=_strings(chk, top, "sources", _source_check(sources), fold=False),
        min_score=min_score,
        max_items=chk.get(top, "max_items", "", int, _DEFAULT["max_items"], _at_least_one),
        title_weight=title_weight,
        schedule=chk.get(top, "schedule", "", str, _DEFAULT["schedule"], _schedule_problem),
        timezone=chk.get(top, "timezone", "", str, _DEFAULT["timezone"], _timezone_problem),
        send_empty=chk.get(top, "send_empty", "", bool, _DEFAULT["send_empty"]),
        admin=chk.get(top, "admin", "", bool, _DEFAULT["admin"]),
        path=str(path),
        recipients=_strings(chk, top, "recipients", _email_problem),
        first_digest_days=chk.get(
            top, "first_digest_days", "", int, _DEFAULT["first_digest_days"], _days_problem
        ),
    )
    return profile, top


def load_profile(path: Path, sources: Collection[str] | None = None) -> Profile:
    """One profile file; raises ConfigError with every problem found in it.
    `sources`: the configured source names, which `sources:` must pick from."""
    chk = Checker(path)
    profile, _ = _build(chk, load_yaml(path), path, sources)
    chk.raise_if_any()
    return profile


def load_profiles(folder: Path, sources: Collection[str] | None = None) -> list[Profile]:
    """Every `*.yaml` / `*.yml` in `folder` (not below it), sorted by name.

    All problems of all files are raised in one ConfigError; two files with the
    same profile name are a problem. Hidden files (`.x.yaml`) are skipped.
    """
    if not folder.is_dir():
        raise ConfigError([f"{folder}: not a folder of profiles"])
    paths = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in _SUFFIXES and not p.name.startswith(".") and p.is_file()
    )
    # A cycle asks for the profiles several times; parsing the YAML again is most
    # of the cost. Keyed on every file's bytes, so an edit is always seen.
    try:
        key = (
            folder,
            frozenset(sources or ()),
            sources is None,
            tuple((p, p.read_bytes()) for p in paths),
        )
    except OSError:
        key = None
    if key is not None and (hit := _LOADED.get(key)) is not None:
        return list(hit)
    problems: list[str] = []
    profiles: list[Profile] = []
    seen: dict[str, Path] = {}
    for path in paths:
        chk = Checker(path)
        try:
            raw = load_yaml(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        profile, top = _build(chk, raw, path, sources)
        if (other := seen.get(profile.name)) is not None:
            chk.problem(
                top if "name" in top else None,
                "name",
                "name",
                f"duplicate profile name {profile.name!r} (also in {other})",
            )
        seen.setdefault(profile.name, path)
        profiles.append(profile)
        problems.extend(chk.problems)
    if problems:
        raise ConfigError(problems)
    found = sorted(profiles, key=lambda p: p.name)
    if key is not None:
        if len(_LOADED) >= 8:
            _LOADED.clear()
        _LOADED[key] = tuple(found)
    return found
