"""Personal rankings: a subscriber's feedback on a profile personalises their own
digest of it. Their "more like this" items join the profile's liked papers for them
and their "less like this" ones count against (`rank.pick_all`'s `disliked`), in
the same window, with the same rules and explanations as the profile's picks.

Only subscribers with standing feedback get one: everyone else shares the
profile's ranking and render. All of one profile's personal rankings come from one
`pick_all` pass (one profile copy per subscriber, named `<profile>/<subscriber id>`)
and are recorded with the digest, so the mail sent later is the one selected now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from digest.models import Candidate, Pick, Pool, Profile
from digest.store import Store


def personal_picks(
    profile: Profile,
    pool: Pool,
    liked: Sequence[Candidate],
    feedback: Mapping[int, tuple[Sequence[Candidate], Sequence[Candidate]]],
) -> dict[int, list[Pick]]:
    """subscriber id -> their picks from `profile`'s window of `pool`, for each
    subscriber in `feedback` (id -> (more like these, less like these))."""
    from digest.selection.rank import pick_all

    if not feedback:
        return {}
    copies = {sid: replace(profile, name=f"{profile.name}/{sid}") for sid in feedback}
    window = pool.windows[profile.name]
    mine = Pool(pool.candidates, {p.name: window for p in copies.values()})
    likes = {copies[sid].name: [*liked, *more] for sid, (more, _) in feedback.items()}
    dislikes = {copies[sid].name: list(less) for sid, (_, less) in feedback.items() if less}
    chosen = pick_all(list(copies.values()), mine, likes, dislikes)
    return {sid: chosen[p.name].picks for sid, p in copies.items()}


def personalise(
    store: Store, profile: Profile, pool: Pool, liked: Sequence[Candidate]
) -> dict[int, list[Pick]]:
    """The personal picks from `profile`'s window for its subscribers with standing
    feedback (still subscribed to it), to be recorded with its digest."""
    standing = store.standing_feedback(profile.name)
    subs = {sid: store.subscriber_by_id(sid) for sid in standing}
    standing = {
        sid: f
        for sid, f in standing.items()
        if (s := subs[sid]) is not None and s.status == "active" and profile.name in s.profiles
    }
    papers = store.items_by_id(
        sorted({i for f in standing.values() for d in f.values() for i in d})
    )
    feedback = {
        sid: (
            [papers[i] for i in f["more"] if i in papers],
            [papers[i] for i in f["less"] if i in papers],
        )
        for sid, f in standing.items()
    }
    return personal_picks(profile, pool, liked, feedback)
