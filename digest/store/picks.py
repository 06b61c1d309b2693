"""Selection windows and digest issues: what each profile was given, and when.

A cycle reads its candidates once for all due profiles (`pool`); each
profile's window then picks from them in the selection room."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, select

from digest.issues import IssueHead
from digest.models import (
    Candidate,
    Digest,
    Hit,
    Pick,
    Pool,
    Profile,
    Seen,
    Window,
)
from digest.reasons import Reason
from digest.store import deliveries, schema
from digest.store.lookups import looked_up_items
from digest.store.statements import insert_for

_PAGE = 1000  # rows per look-back page, names per IN list
# A new profile's first digest reads at most this many of the newest items, so a
# store filled by one big import (every item within `first_digest_days`) is not
# read whole: memory stays flat in the store's size.
FIRST_DIGEST_ITEMS = 20_000


def _identity(r: Any) -> str:
    if r["arxiv_id"]:
        return f"arxiv:{r['arxiv_id']}"
    if r["doi"]:
        return f"doi:{r['doi']}"
    return f"item:{r['id']}"


def _seen(conn: Connection, ids: list[int]) -> dict[int, list[Seen]]:
    s, src = schema.sightings, schema.sources
    out: dict[int, list[Seen]] = {}
    for start in range(0, len(ids), 5000):
        q = (
            select(s, src.c.name)
            .join(src, src.c.id == s.c.source_id)
            .where(s.c.item_id.in_(ids[start : start + 5000]))
            .order_by(s.c.item_id, s.c.first_seen, src.c.name, s.c.version)
        )
        for row in conn.execute(q).mappings():
            out.setdefault(row["item_id"], []).append(
                Seen(
                    source=row["name"],
                    upvotes=row["upvotes"],
                    num_comments=row["num_comments"],
                    announce_type=row["announce_type"],
                    categories=tuple(json.loads(row["categories"])),
                    link=row["link"],
                )
            )
    return out


def candidates_of(conn: Connection, rows: Sequence[Any]) -> list[Candidate]:
    seen = _seen(conn, [r["id"] for r in rows])
    return [
        Candidate(
            item_id=r["id"],
            key=_identity(r),
            title=r["title"],
            summary=r["summary"],
            authors=tuple(json.loads(r["authors"])),
            url=r["link"],
            first_seen=r["first_seen"],
            published=r["published"],
            upvotes=r["upvotes"],
            seen=tuple(seen.get(r["id"], ())),
            arxiv_id=r["arxiv_id"],
            pdf_url=r["pdf_url"],
            categories=tuple(json.loads(r["categories"])),
            version=r["version"],
            doi=r["doi"],
        )
        for r in rows
    ]


def newest(
    conn: Connection, *, limit: int | None = None, since: datetime | None = None
) -> list[Candidate]:
    """Items, newest first seen first (ids follow arrival order)."""
    t = schema.items
    stmt = select(t).order_by(t.c.id.desc())
    if since is not None:
        stmt = stmt.where(t.c.first_seen >= since)
    if limit is not None:
        stmt = stmt.limit(limit)
    return candidates_of(conn, conn.execute(stmt).mappings().all())


def _lookback_start(conn: Connection, days: int) -> int:
    """The id after which a new profile's first digest starts: the items first
    seen within `days` of the newest arrival, at most FIRST_DIGEST_ITEMS. Ids
    follow arrival order, so this walks back from the newest in pages and never
    reads older rows. Looked-up papers arrived, but are not new: not counted."""
    t = schema.items
    cutoff: datetime | None = None
    below: int | None = None
    walked = 0
    while True:
        stmt = select(t.c.id, t.c.first_seen).where(t.c.id.not_in(looked_up_items()))
        stmt = stmt.order_by(t.c.id.desc()).limit(_PAGE)
        if below is not None:
            stmt = stmt.where(t.c.id < below)
        rows = conn.execute(stmt).all()
        for item_id, first_seen in rows:
            if cutoff is None:
                cutoff = first_seen - timedelta(days=days)
            if first_seen < cutoff or walked == FIRST_DIGEST_ITEMS:
                return int(item_id)
            walked += 1
        if len(rows) < _PAGE:
            return 0
        below = rows[-1][0]


def pool(conn: Connection, profiles: Sequence[Profile], *, since: datetime | None = None) -> Pool:
    """The candidates of all `profiles`, read in one query over the union of
    their windows: newer than each one's last digest (a new profile: its
    look-back), or first seen at or after `since` when given. An old paper a
    look-up brought in (`store/lookups.py`) is in no window."""
    t, ps, pi = schema.items, schema.profile_state, schema.profile_items
    names = [p.name for p in profiles]
    last: dict[str, int] = {}
    for start in range(0, len(names), _PAGE):
        q = select(ps.c.profile, ps.c.last_item_id).where(
            ps.c.profile.in_(names[start : start + _PAGE])
        )
        last.update((name, int(i or 0)) for name, i in conn.execute(q))
    after: dict[str, int] = {}
    starts: dict[int, int] = {}  # look-back days -> start id
    for p in profiles:
        if since is not None:
            after[p.name] = 0
        elif p.name in last:
            after[p.name] = last[p.name]
        else:
            days = p.first_digest_days
            if days not in starts:
                starts[days] = _lookback_start(conn, days)
            after[p.name] = starts[days]
    if not profiles:
        return Pool((), {})
    stmt = select(t).where(t.c.id.not_in(looked_up_items())).order_by(t.c.id)
    if since is not None:
        stmt = stmt.where(t.c.first_seen >= since)
    else:
        stmt = stmt.where(t.c.id > min(after.values()))
    found = candidates_of(conn, conn.execute(stmt).mappings().all())
    given: dict[str, set[int]] = {n: set() for n in names}
    if found:
        for start in range(0, len(names), _PAGE):
            q = select(pi.c.profile, pi.c.item_id).where(
                pi.c.profile.in_(names[start : start + _PAGE]),
                pi.c.item_id >= found[0].item_id,
            )
            for name, item_id in conn.execute(q):
                given[name].add(item_id)
    windows = {n: Window(after[n], since, frozenset(given[n])) for n in names}
    return Pool(tuple(found), windows)


def record_given(
    conn: Connection, profile: str, item_ids: Sequence[int], *, upto_item_id: int, now: datetime
) -> None:
    pi, ps = schema.profile_items, schema.profile_state
    if item_ids:
        conn.execute(
            insert_for(conn, pi).on_conflict_do_nothing(),
            [{"profile": profile, "item_id": i, "delivered_at": now} for i in item_ids],
        )
    # One statement, so two processes moving a new profile's window never collide.
    new = insert_for(conn, ps).values(profile=profile, last_item_id=upto_item_id)
    further = case((ps.c.last_item_id > upto_item_id, ps.c.last_item_id), else_=upto_item_id)
    conn.execute(
        new.values(last_success_at=now).on_conflict_do_update(
            index_elements=[ps.c.profile], set_={"last_item_id": further, "last_success_at": now}
        )
    )


def window_marks(conn: Connection, profiles: Sequence[str]) -> dict[str, int]:
    """How far each profile's window reached; 0 for one it never moved."""
    ps = schema.profile_state
    marks = dict.fromkeys(profiles, 0)
    for start in range(0, len(marks), _PAGE):
        q = select(ps.c.profile, ps.c.last_item_id).where(
            ps.c.profile.in_(list(profiles)[start : start + _PAGE])
        )
        marks.update((name, int(i or 0)) for name, i in conn.execute(q))
    return marks


def record_digest(
    conn: Connection,
    profile: Profile,
    chosen: Sequence[Pick],
    *,
    upto_item_id: int,
    now: datetime,
    window_after: int | None = None,
) -> Digest | None:
    """None, recording nothing, when another process already recorded the
    profile's digest for the window that started at `window_after`."""
    d, di = schema.digests, schema.digest_items
    head = {"profile": profile.name, "created_at": now, "count": len(chosen)}
    found = conn.execute(
        insert_for(conn, d)
        .values(**head, window_after=window_after)
        .on_conflict_do_nothing(index_elements=[d.c.profile, d.c.window_after])
        .returning(d.c.id)
    ).scalar()
    if found is None:
        return None
    digest_id = int(found)
    if chosen:
        conn.execute(
            di.insert(),
            [
                {
                    "digest_id": digest_id,
                    "position": n,
                    "item_id": p.candidate.item_id,
                    "score": p.score,
                    "matched": why_json(p),
                }
                for n, p in enumerate(chosen)
            ],
        )
    record_given(
        conn,
        profile.name,
        [p.candidate.item_id for p in chosen],
        upto_item_id=upto_item_id,
        now=now,
    )
    deliveries.create(conn, digest_id, profile.name, now)
    return Digest(profile=profile, picks=tuple(chosen), created=now, id=digest_id)


def why_json(p: Pick) -> str:
    """A pick's hits, and its reasons when it has them (older rows: hits only)."""
    hits = [[h.term, h.field] for h in p.matched]
    if not p.reasons:
        return json.dumps(hits)
    reasons = [[r.term, r.field, r.value, r.factor] for r in p.reasons]
    return json.dumps({"matched": hits, "reasons": reasons})


def why(got: Any) -> tuple[tuple[Hit, ...], tuple[Reason, ...]]:
    if isinstance(got, list):
        return tuple(Hit(term, field) for term, field in got), ()
    hits = tuple(Hit(term, field) for term, field in got["matched"])
    return hits, tuple(Reason(*r) for r in got["reasons"])


def digests(
    conn: Connection, profile: Profile, *, limit: int | None, digest_id: int | None = None
) -> list[Digest]:
    d, di, t = schema.digests, schema.digest_items, schema.items
    stmt = select(d).where(d.c.profile == profile.name).order_by(d.c.id.desc()).limit(limit)
    if digest_id is not None:
        stmt = stmt.where(d.c.id == digest_id)
    heads = conn.execute(stmt).mappings().all()
    if not heads:
        return []
    rows = (
        conn.execute(
            select(di.c.digest_id, di.c.score, di.c.matched, t)
            .join(t, t.c.id == di.c.item_id)
            .where(di.c.digest_id.in_([h["id"] for h in heads]))
            .order_by(di.c.digest_id, di.c.position)
        )
        .mappings()
        .all()
    )
    by_item = {c.item_id: c for c in candidates_of(conn, rows)}
    chosen: dict[int, list[Pick]] = {}
    for r in rows:
        pick = Pick(by_item[r["id"]], r["score"], *why(json.loads(r["matched"])))
        chosen.setdefault(r["digest_id"], []).append(pick)
    return [
        Digest(
            profile=profile,
            picks=tuple(chosen.get(h["id"], ())),
            created=h["created_at"],
            id=h["id"],
        )
        for h in heads
    ]


TOP_TITLES = 3  # titles an issue's head carries (issue 15: the index shows three)


def heads(conn: Connection, profile: Profile, *, limit: int | None) -> list[IssueHead]:
    """The newest `limit` issues (all: None) with their counts and top titles, in two
    small queries: no candidates, sightings or JSON."""
    d, di, t = schema.digests, schema.digest_items, schema.items
    stmt = select(d.c.id, d.c.created_at, d.c.count).where(d.c.profile == profile.name)
    rows = conn.execute(stmt.order_by(d.c.id.desc()).limit(limit)).all()
    titles: dict[int, list[str]] = {}
    for start in range(0, len(rows), _PAGE):
        q = (
            select(di.c.digest_id, t.c.id, t.c.arxiv_id, t.c.doi, t.c.title)
            .join(t, t.c.id == di.c.item_id)
            .where(
                di.c.digest_id.in_([r[0] for r in rows[start : start + _PAGE]]),
                di.c.position < TOP_TITLES,
            )
            .order_by(di.c.digest_id, di.c.position)
        )
        for r in conn.execute(q).mappings():
            titles.setdefault(r["digest_id"], []).append(r["title"] or _identity(r))
    return [
        IssueHead(profile, i, created, int(count or 0), tuple(titles.get(i, ())))
        for i, created, count in rows
    ]


def recent(
    conn: Connection, profile: Profile, *, papers: int, also: Collection[int] = ()
) -> list[Digest]:
    """The fewest newest digests whose picks hold `papers` distinct papers (all, if
    they never do), plus those with an id in `also`; newest first. The counts say
    how many; a paper picked twice can leave it short, so then it reads more."""
    d = schema.digests
    q = select(d.c.id, d.c.count).where(d.c.profile == profile.name).order_by(d.c.id.desc())
    heads = conn.execute(q).all()
    n, total = 0, 0
    while n < len(heads) and (total < papers or n == 0):
        total += heads[n][1]
        n += 1
    while True:
        found = digests(conn, profile, limit=n) if n else []
        if n >= len(heads) or len({p.candidate.key for x in found for p in x.picks}) >= papers:
            break
        n = min(len(heads), 2 * n)
    have = {x.id for x in found}
    found += [
        x
        for i in sorted(set(also) - have, reverse=True)
        for x in digests(conn, profile, limit=1, digest_id=i)
    ]
    return sorted(found, key=lambda x: x.id or 0, reverse=True)


def by_keys(conn: Connection, keys: Collection[str]) -> dict[str, Candidate]:
    """The items known by any of `keys` (identity keys, as `digest.identity`
    gives them), by key: how a profile's liked papers are found."""
    k, t = schema.item_keys, schema.items
    stored = {schema.stored_key(key): key for key in keys}
    rows: list[Any] = []
    names = list(stored)
    for start in range(0, len(names), _PAGE):
        q = select(k.c.key, t).join(t, t.c.id == k.c.item_id)
        rows += conn.execute(q.where(k.c.key.in_(names[start : start + _PAGE]))).mappings().all()
    found = {c.item_id: c for c in candidates_of(conn, rows)}
    return {stored[r["key"]]: found[r["id"]] for r in rows}
