"""Feedback: its signed tokens, the store's rule (a link acts in its generation only,
its replay changes nothing), and personal rankings, on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest import pipeline, service
from digest.errors import StoreError, TokenError
from digest.mailing import Subscriber
from digest.models import Profile
from digest.pipeline.personal import personal_picks
from digest.reasons import LIKE
from digest.settings import Settings
from digest.store import Store
from digest.tokens import FeedbackLink, make_feedback_token, make_token, read_feedback_token
from tests.test_feedback_browser import DIFFUSION, LANGUAGE, PROFILE, feed

KEY = b"k" * 32
NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)
SECRETS = {7: "secret-of-seven", 8: "secret-of-eight"}


def reason(token: str) -> str:
    with pytest.raises(TokenError) as info:
        read_feedback_token(KEY, token, SECRETS.get)
    return info.value.reason


def test_feedback_tokens_round_trip_and_refuse_every_change() -> None:
    link = FeedbackLink(7, "scaling", 123, 4)
    token = make_feedback_token(KEY, SECRETS[7], link)
    assert read_feedback_token(KEY, token, SECRETS.get) == link
    assert len(token) == 59  # 44 bytes: version 3, ids, generation, "scaling", 16 of MAC
    for other in (replace(link, item_id=124), replace(link, generation=5)):
        forged = make_feedback_token(KEY, SECRETS[7], other)
        assert reason(forged[:-22] + token[-22:]) == "bad signature"  # its head, this MAC
    theirs = make_feedback_token(KEY, SECRETS[8], replace(link, subscriber_id=8))
    assert reason(theirs[:-4] + "AAAA") == "bad signature"
    assert reason(make_feedback_token(b"x" * 32, SECRETS[7], link)) == "bad signature"
    assert reason(make_feedback_token(KEY, SECRETS[7], replace(link, subscriber_id=9))) == (
        "unknown subscriber"
    )
    assert reason(make_token(KEY, "manage", 7, SECRETS[7])) == "malformed"  # another kind
    assert reason("not a token") == "malformed"


@pytest.fixture
def site(tmp_path: Path, store_url: str) -> Iterator[tuple[Settings, Store]]:
    """On each engine in turn."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "papers.yaml").write_text(PROFILE, encoding="utf-8")
    settings = Settings(store_url=store_url, profiles_dir=profiles)
    with Store.open(settings.store_url) as store:
        for who in ("reader@example.org", "other@example.org"):
            store.add_subscriber(who, ["papers"], now=NOW, status="active")
        yield settings, store


# Each day's papers: one on diffusion, one on language models.
DAY = {d: [(DIFFUSION[d - 1], "diffusion"), (LANGUAGE[d - 1], "language")] for d in (1, 2)}


def the_reader(store: Store) -> Subscriber:
    found = store.subscriber("reader@example.org")
    assert found is not None
    return found


def ingest(settings: Settings, store: Store, day: int, papers: list[tuple[str, str]]) -> None:
    path = Path(str(settings.profiles_dir)).parent / f"day{day}.rss"
    path.write_text(feed(day, papers), encoding="utf-8")
    sources = pipeline.sources_for([str(path)])
    assert pipeline.ingest(settings, store, NOW + timedelta(days=day), sources=sources).new


def test_a_link_acts_once_in_its_generation(site: tuple[Settings, Store]) -> None:
    settings, store = site
    ingest(settings, store, 1, [(DIFFUSION[0], "diffusion")])
    (item,) = store.items()
    reader = the_reader(store)

    def follow(gen: int, action: str) -> service.Followed:
        link = FeedbackLink(reader.id, "papers", item.item_id, gen)
        token = make_feedback_token(KEY, reader.secret, link)
        return service.follow(store, KEY, token, action, NOW)

    with pytest.raises(TokenError, match="superseded"):
        follow(0, "undo")  # nothing to undo
    done = follow(0, "more")
    assert (done.changed, done.feedback.direction, done.feedback.generation) == (True, "more", 1)
    assert done.title == DIFFUSION[0]
    assert read_feedback_token(KEY, done.token, {reader.id: reader.secret}.get).generation == 1
    with pytest.raises(TokenError, match="malformed"):
        follow(1, "delete")
    assert follow(0, "more").changed is False  # the same link again: nothing changes
    with pytest.raises(TokenError, match="superseded"):
        follow(0, "less")  # made before the change: the later choice stands
    assert follow(1, "undo").feedback.direction == ""
    assert follow(1, "undo").changed is False
    for old in ("more", "less"):
        with pytest.raises(TokenError, match="superseded"):
            follow(0, old)  # an undo is not undone by the old links
    assert store.feedback_of(reader.id) == []
    assert follow(2, "less").feedback.direction == "less"  # the undo page's link
    (entry,) = store.feedback_of(reader.id)
    assert (entry.title, entry.direction, entry.at) == (DIFFUSION[0], "less", NOW)
    assert store.standing_feedback("papers") == {reader.id: {"more": [], "less": [item.item_id]}}
    assert store.feedback_generations("papers") == {reader.id: {item.item_id: 3}}
    other = store.subscriber("other@example.org")
    assert other is not None
    assert store.feedback_remove(other.id, entry.id, NOW) is False  # not theirs
    assert store.feedback_remove(reader.id, entry.id, NOW) is True
    assert store.feedback_of(reader.id) == []
    assert follow(3, "undo").changed is False  # removed on the manage page: it did that
    assert store.feedback_of(reader.id) == []


def test_only_subscribers_with_feedback_get_a_personal_ranking(
    site: tuple[Settings, Store],
) -> None:
    settings, store = site
    ingest(settings, store, 1, DAY[1])
    reader = the_reader(store)
    by_title = {c.title: c.item_id for c in store.items()}
    (made,) = pipeline.create_digests(settings, store, NOW + timedelta(days=1))
    assert made.digest_id is not None
    assert store.personal_picks(made.digest_id) == {}  # nobody has feedback: one ranking
    store.feedback_act(
        reader.id, "papers", by_title[DIFFUSION[0]], generation=0, action="more", now=NOW
    )
    ingest(settings, store, 2, DAY[2])
    (made,) = pipeline.create_digests(settings, store, NOW + timedelta(days=2))
    assert made.digest_id is not None
    personal = store.personal_picks(made.digest_id)
    assert set(personal) == {reader.id}
    shared = pipeline.pick(store, service.profile(settings, "papers"))  # window moved: empty
    assert shared.picks == []
    mine = personal[reader.id]
    assert [p.candidate.title for p in mine] == [DIFFUSION[1], LANGUAGE[1]]
    for p in mine:  # every pick explained: its keyword, and the liked paper it is near
        assert [r.field for r in p.reasons] == ["abstract", LIKE]
        assert p.reasons[-1].term == DIFFUSION[0]
        assert p.because().startswith("model 1 (abstract) + like “Diffusion denoising")


def test_less_like_this_ranks_neighbours_lower(site: tuple[Settings, Store]) -> None:
    settings, store = site
    ingest(settings, store, 1, DAY[1])
    ingest(settings, store, 2, DAY[2])
    c = {x.title: x for x in store.items()}
    profile: Profile = service.profile(settings, "papers")
    pool = store.pool([profile])
    liked = [c[DIFFUSION[0]]]
    both = personal_picks(profile, pool, liked, {1: ([], []), 2: ([], [c[LANGUAGE[0]]])})
    plain, against = ({p.candidate.title: p.score for p in both[k]} for k in (1, 2))
    # Near the disliked paper: lower, here below min_score 0.
    assert against.get(LANGUAGE[1], -1.0) < plain[LANGUAGE[1]]
    assert against[DIFFUSION[1]] == pytest.approx(plain[DIFFUSION[1]], abs=1.0)


def test_personal_picks_are_recorded_in_the_digests_own_transaction(
    site: tuple[Settings, Store],
) -> None:
    settings, store = site
    ingest(settings, store, 1, DAY[1])
    reader = the_reader(store)
    profile: Profile = service.profile(settings, "papers")
    sel = pipeline.pick(store, profile)
    assert sel.picks
    gone = replace(sel.picks[0], candidate=replace(sel.picks[0].candidate, item_id=10**9))
    window = {"upto_item_id": sel.upto_item_id, "window_after": 0, "now": NOW}
    # A personal pick that cannot be stored takes the digest down with it: a sender
    # never finds a digest whose personal rankings are missing.
    with pytest.raises(StoreError):
        store.record_digest(profile, sel.picks, personal={reader.id: [gone]}, **window)
    assert store.digests(profile) == []
    made = store.record_digest(profile, sel.picks, personal={reader.id: sel.picks[:1]}, **window)
    assert made is not None
    assert made.id is not None
    assert [p.candidate.item_id for p in store.personal_picks(made.id)[reader.id]] == [
        sel.picks[0].candidate.item_id
    ]
    # The run that loses the race for the window records no personal picks either.
    assert store.record_digest(profile, sel.picks, personal={reader.id: [gone]}, **window) is None
