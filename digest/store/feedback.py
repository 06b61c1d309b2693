"""Feedback ("more like this", "less like this") per (subscriber, profile, item), the
personal picks it makes, and schema version 11, which brought both.

One row per (subscriber, profile, item): its direction ("more", "less", or "" once
undone or removed), when it last changed, and its generation, which every change
moves on by one. A signed link names the generation it was made in: it acts only
in that one, and a link whose change is already the state one generation later is
its own replay (nothing changes). So an undo is never undone by the old link again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from digest.mailing import Feedback
from digest.models import PROFILE_ID_CHARS, Candidate, Pick
from digest.store import picks, schema
from digest.store.statements import insert_for
from digest.store.transactions import StoreMixin

feedback = Table(  # on schema.metadata: created by v11, copied by `store copy`
    "feedback",
    schema.metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("profile", String(PROFILE_ID_CHARS), nullable=False),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("direction", String(8), nullable=False),  # more, less, "" (undone or removed)
    Column("generation", Integer, nullable=False),  # moves on with every change
    Column("at", schema.UTCDateTime, nullable=False),  # the last change
    UniqueConstraint("subscriber_id", "profile", "item_id", name="uq_feedback"),
    Index("ix_feedback_profile", "profile", "direction"),
)

# A personalised subscriber's picks of one digest, in their order (as digest_items).
personal_picks = Table(
    "personal_picks",
    schema.metadata,
    Column("digest_id", Integer, ForeignKey("digests.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), nullable=False),
    Column("score", Float, nullable=False),
    Column("matched", Text, nullable=False),  # as digest_items.matched
)

_TARGET = {"more": "more", "less": "less", "undo": ""}  # the direction each action leaves


def migrate_v11(conn: Connection) -> None:
    feedback.create(conn, checkfirst=True)
    personal_picks.create(conn, checkfirst=True)


def _entry(r: Any, title: str = "") -> Feedback:
    keys = ("id", "subscriber_id", "profile", "item_id", "direction", "generation", "at")
    return Feedback(**{k: r[k] for k in keys}, title=title)


def remove(conn: Connection, subscriber_id: int, feedback_id: int, now: datetime) -> bool:
    """The manage page's "remove": that feedback undone (a later link made before it
    is superseded). False when it is not this subscriber's or is undone already."""
    f = feedback
    where = (f.c.id == feedback_id) & (f.c.subscriber_id == subscriber_id) & (f.c.direction != "")
    done = conn.execute(
        f.update().where(where).values(direction="", generation=f.c.generation + 1, at=now)
    )
    return bool(done.rowcount)


def entries(conn: Connection, subscriber_id: int) -> list[Feedback]:
    """The subscriber's standing feedback (more or less), newest first, with titles."""
    f, t = feedback, schema.items
    rows = conn.execute(
        select(f, t.c.title)
        .join(t, t.c.id == f.c.item_id)
        .where(f.c.subscriber_id == subscriber_id, f.c.direction != "")
        .order_by(f.c.at.desc(), f.c.id.desc())
    ).mappings()
    return [_entry(r, r["title"]) for r in rows]


def generations(
    conn: Connection, profile: str, subscriber_id: int | None = None
) -> dict[int, dict[int, int]]:
    """subscriber id -> item id -> the generation of their feedback on it, for those
    with any on `profile` (none: 0, what a mail's link is made in); one subscriber's
    with `subscriber_id`."""
    f = feedback
    where = f.c.profile == profile
    if subscriber_id is not None:
        where &= f.c.subscriber_id == subscriber_id
    rows = conn.execute(select(f.c.subscriber_id, f.c.item_id, f.c.generation).where(where))
    out: dict[int, dict[int, int]] = {}
    for sid, item, gen in rows:
        out.setdefault(int(sid), {})[int(item)] = int(gen)
    return out


def standing(conn: Connection, profile: str) -> dict[int, dict[str, list[int]]]:
    """subscriber id -> {"more": item ids, "less": item ids} of their standing
    feedback on `profile`'s items (only subscribers who have some)."""
    f = feedback
    rows = conn.execute(
        select(f.c.subscriber_id, f.c.direction, f.c.item_id)
        .where(f.c.profile == profile, f.c.direction != "")
        .order_by(f.c.subscriber_id, f.c.id)
    )
    out: dict[int, dict[str, list[int]]] = {}
    for sid, direction, item in rows:
        out.setdefault(int(sid), {"more": [], "less": []})[direction].append(int(item))
    return out


def record_personal(conn: Connection, digest_id: int, chosen: Mapping[int, Sequence[Pick]]) -> None:
    rows = [
        {
            "digest_id": digest_id,
            "subscriber_id": sid,
            "position": n,
            "item_id": p.candidate.item_id,
            "score": p.score,
            "matched": picks.why_json(p),
        }
        for sid, mine in chosen.items()
        for n, p in enumerate(mine)
    ]
    if rows:
        conn.execute(personal_picks.insert(), rows)


def personal(
    conn: Connection, digest_id: int, subscriber_id: int | None = None
) -> dict[int, list[Pick]]:
    """subscriber id -> their picks of the digest, for those it was personalised for
    (with `subscriber_id`, for that one only)."""
    pp, t = personal_picks, schema.items
    where = pp.c.digest_id == digest_id
    if subscriber_id is not None:
        where &= pp.c.subscriber_id == subscriber_id
    rows = (
        conn.execute(
            select(pp.c.subscriber_id, pp.c.score, pp.c.matched, t)
            .join(t, t.c.id == pp.c.item_id)
            .where(where)
            .order_by(pp.c.subscriber_id, pp.c.position)
        )
        .mappings()
        .all()
    )
    by_item = {c.item_id: c for c in picks.candidates_of(conn, rows)}
    out: dict[int, list[Pick]] = {}
    for r in rows:
        pick = Pick(by_item[r["id"]], r["score"], *picks.why(json.loads(r["matched"])))
        out.setdefault(r["subscriber_id"], []).append(pick)
    return out


def items_by_id(conn: Connection, ids: Sequence[int]) -> dict[int, Candidate]:
    t = schema.items
    rows = conn.execute(select(t).where(t.c.id.in_(list(ids)))).mappings().all()
    return {c.item_id: c for c in picks.candidates_of(conn, rows)}


class FeedbackMethods(StoreMixin):
    """The `Store`'s feedback (mixed into it, as `likes.LikeMethods`)."""

    def feedback_act(
        self,
        subscriber_id: int,
        profile: str,
        item_id: int,
        *,
        generation: int,
        action: str,
        now: datetime,
    ) -> tuple[Feedback, bool] | None:
        """Apply a link's `action` made in `generation`: (the feedback after, whether it
        changed), or None when a later change superseded the link."""
        f = feedback
        where = (f.c.subscriber_id == subscriber_id) & (f.c.profile == profile)
        where &= f.c.item_id == item_id
        with self._write_tx() as conn:
            row = conn.execute(select(f).where(where)).mappings().first()
            have, direction = (row["generation"], row["direction"]) if row else (0, "")
            target = _TARGET[action]
            if have == generation + 1 and direction == target and row is not None:
                return _entry(row), False  # this link, used before
            if have != generation or (row is None and not target):
                return None
            values = {"direction": target, "generation": generation + 1, "at": now}
            # A concurrent first click inserts nothing here; a concurrent change, with the
            # generation in the WHERE, updates nothing: then the row says what happened.
            if row is None:
                new = {"subscriber_id": subscriber_id, "profile": profile, "item_id": item_id}
                stmt = insert_for(conn, f).values(**new, **values).on_conflict_do_nothing()
                done = conn.execute(stmt)
            else:
                up = f.update().where(where & (f.c.generation == have)).values(**values)
                done = conn.execute(up)
            found = conn.execute(select(f).where(where)).mappings().one()
            if done.rowcount:
                return _entry(found), True
            same = (found["generation"], found["direction"]) == (generation + 1, target)
            return (_entry(found), False) if same else None

    def feedback_remove(self, subscriber_id: int, feedback_id: int, now: datetime) -> bool:
        with self._write_tx() as conn:
            return remove(conn, subscriber_id, feedback_id, now)

    def feedback_of(self, subscriber_id: int) -> list[Feedback]:
        with self._tx() as conn:
            return entries(conn, subscriber_id)

    def feedback_generations(
        self, profile: str, subscriber_id: int | None = None
    ) -> dict[int, dict[int, int]]:
        with self._tx() as conn:
            return generations(conn, profile, subscriber_id)

    def standing_feedback(self, profile: str) -> dict[int, dict[str, list[int]]]:
        with self._tx() as conn:
            return standing(conn, profile)

    def personal_picks(
        self, digest_id: int, subscriber_id: int | None = None
    ) -> dict[int, list[Pick]]:
        with self._tx() as conn:
            return personal(conn, digest_id, subscriber_id)

    def items_by_id(self, ids: Sequence[int]) -> dict[int, Candidate]:
        if not ids:
            return {}
        with self._tx() as conn:
            return items_by_id(conn, ids)
