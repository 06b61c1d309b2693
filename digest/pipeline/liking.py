"""Each profile's liked papers, found in the store, else looked up in the
configured arXiv API sources; the rest reported as `file:line`.

A like is looked up by its arXiv id (`id_list`; an arXiv DOI names one), else by
its title (a `ti:` phrase search, taken only when a result's normalised title is
the liked one and no DOI says otherwise). A DOI alone is never looked up: no
configured source kind searches DOIs (the arXiv API's results carry
`<arxiv:doi>`, but it has no DOI search field). A key no source had is remembered
with its time (`store/lookups.py`) and asked again after `RETRY_MISSES`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit, urlunsplit

from digest.errors import SourceError
from digest.identity import conflicts, normalize_title
from digest.models import Candidate, Entry, Pick, Profile, SourceConfig
from digest.selection.likes import Like, resolve
from digest.store import Store
from digest.store.merge import RANK
from digest.wiring import Fetcher

log = logging.getLogger("digest.pipeline")

RETRY_MISSES = timedelta(days=7)  # a key no source had is asked again after this
TITLES_PER_RUN = 25  # title searches per run, one request each: a big library takes a few runs
_BATCH = 100  # ids per arXiv API request (its own page size)
_TITLE_RESULTS = 25  # results read per title search: the exact title ranks among the first


def asked_key(like: Like) -> str | None:
    """The key a look-up asks for: the arXiv id, else the title; None for a DOI alone."""
    return next((k for k in like.keys if k.startswith(("arxiv:", "title:"))), None)


def unresolved_message(like: Like, missed: datetime | None = None) -> str:
    """What is said of a like the store lacks; `missed`: when no source had it."""
    head = f"{like.where}: liked paper {like.text!r} is not in the store"
    if asked_key(like) is None:
        return (
            f"{head}, and no source looks papers up by DOI (the arXiv API has no DOI search):"
            " like it by arXiv id or title, or ingest a source that has it"
        )
    if missed is not None:
        again = missed + RETRY_MISSES
        return (
            f"{head}: no configured source had it on {missed:%Y-%m-%d} (asked again from"
            f" {again:%Y-%m-%d}); ingest a source that has it"
        )
    return (
        f"{head} (`digest run` looks it up by arXiv id or title in any configured arXiv API"
        " source; else ingest a source that has it)"
    )


def liked_papers(
    store: Store, profiles: Sequence[Profile], *, quiet: bool = False
) -> tuple[dict[str, list[Candidate]], list[Like]]:
    """The stored liked papers of each profile with `like:` / `like_file:`, and
    the likes no stored item answers (each logged as a warning unless `quiet`)."""
    wanted = [p for p in profiles if p.likes]
    if not wanted:
        return {}, []
    found = store.items_by_key({key for p in wanted for like in p.likes for key in like.keys})
    out: dict[str, list[Candidate]] = {}
    missing: list[Like] = []
    for p in wanted:
        out[p.name], lost = resolve(p.likes, found)
        missing += lost
    if missing and not quiet:
        missed = store.lookup_misses({k for like in missing if (k := asked_key(like))})
        for like in missing:
            log.warning("%s", unresolved_message(like, missed.get(asked_key(like) or "")))
    return out, missing


def api_query(location: str) -> str | None:
    """The arXiv API query URL of a source at one (`…/api/query`, whatever its
    search), or None: only such a source can be asked for papers by id or title."""
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.path.endswith("/api/query"):
        return None
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def title_query(base: str, title: str) -> str:
    """The search for one normalised title as a phrase. Normalised, it holds only
    letters, digits and spaces, lower case: no quote, bracket or AND/OR can
    change the query."""
    search = {"search_query": f'ti:"{title}"', "max_results": _TITLE_RESULTS}
    return f"{base}?{urlencode(search, safe=':')}"


def _answers(entries: Sequence[Entry], like: Like) -> Entry | None:
    """The entry that is the liked paper: its id, else its normalised title (and no
    other DOI than the like's)."""
    keys = dict(k.split(":", 1) for k in like.keys)
    for e in entries:
        if e.arxiv_id and e.arxiv_id == keys.get("arxiv"):
            return e
        same = "arxiv" not in keys and normalize_title(e.title) == keys.get("title")
        if same and not conflicts(e, "", keys.get("doi", "")):
            return e
    return None


def look_up(
    store: Store,
    profiles: Sequence[Profile],
    sources: Sequence[SourceConfig],
    fetcher: Fetcher,
    now: datetime,
) -> int:
    """Ask the configured arXiv API sources for the liked papers the store lacks
    (by id, `_BATCH` a request; by title, one request each, `TITLES_PER_RUN` a
    run) and store what they answer as that source saw it, each an old paper no
    window holds. A source that fails is logged and the next one asked; a key
    that sources answered without it is remembered as a miss. Returns how many
    papers it stored; what none has stays reported by `liked_papers`."""
    _, missing = liked_papers(store, profiles, quiet=True)
    apis = [(src, base) for src in sources if (base := api_query(src.location))]
    wants = {k: like for like in missing if (k := asked_key(like))}
    if not apis or not wants:
        return 0
    missed = store.lookup_misses(wants)
    due = {k: wants[k] for k in sorted(wants) if k not in missed or missed[k] + RETRY_MISSES <= now}
    ids = [k for k in due if k.startswith("arxiv:")]
    titles = [k for k in due if k.startswith("title:")][:TITLES_PER_RUN]
    asks = [ids[i : i + _BATCH] for i in range(0, len(ids), _BATCH)] + [[k] for k in titles]
    left = {k for ask in asks for k in ask}  # not found yet
    answered: set[str] = set()  # keys a source answered, with the paper or without
    stored = 0
    for src, base in apis:
        for ask in ([k for k in ask if k in left] for ask in asks):
            if not ask:
                continue
            try:
                got = _ask(fetcher, src.name, base, ask)
            except (SourceError, ValueError) as exc:
                log.warning("source %s: looking up liked papers: %s", src.name, exc)
                break  # not asked again this run: the next source is
            answered.update(ask)
            found = {k: e for k in ask if (e := _answers(got, due[k])) is not None}
            if found:
                state = store.source(src.name, location=src.location, kind=src.kind or "")
                stored += store.add_looked_up(state.id, found, rank=RANK["feed"], now=now)
                left -= found.keys()
    store.record_misses(answered & left, now)
    return stored


def _ask(fetcher: Fetcher, source: str, base: str, keys: Sequence[str]) -> list[Entry]:
    """One request: the ids of `keys` (`id_list`), or the one title among them."""
    from digest.sources import read_document

    if keys[0].startswith("title:"):
        url = title_query(base, keys[0][6:])
    else:
        url = f"{base}?id_list={','.join(k[6:] for k in keys)}&max_results={len(keys)}"
    fetched = fetcher(source, url, etag=None, last_modified=None)
    entries, _ = read_document("feed", fetched.content or b"", url=fetched.url)
    return list(entries)


def suggest(
    store: Store, profile: Profile, since: datetime, limit: int = 10
) -> tuple[list[tuple[str, int]], list[Like]]:
    """`profiles suggest`: phrases of the profile's liked papers that it lacks,
    each with how many of its picks among the items first seen since `since`
    would change; and the likes the store does not hold. Records nothing."""
    from digest.selection.rank import pick_all
    from digest.selection.suggest import candidates, changes

    liked, missing = liked_papers(store, [profile])
    papers = liked.get(profile.name, [])
    if not papers:
        return [], missing
    pool = store.pool([profile], since=since)

    def select(p: Profile) -> list[Pick]:
        return pick_all([p], replace(pool, windows={p.name: pool.windows[profile.name]}), liked)[
            p.name
        ].picks

    terms = candidates(profile, papers, pool.candidates, limit)
    return changes(profile, terms, select), missing
