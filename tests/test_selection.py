"""One-pass selection (`pipeline.select_due`) against the per-profile path it
replaced, on a real SQLite file and a real PostgreSQL database: same picks,
counts and windows."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from digest import pipeline
from digest.models import Candidate, Entry, Pick, Profile, Selection, Term
from digest.reasons import total
from digest.selection.match import Matcher
from digest.selection.rank import select
from digest.store import Store

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
PHRASES = (
    "scaling law", "Scaling Laws", "batch size", "Batch-Sizes", "batchsize", "learning rate",
    "learning-rate schedules", "step size", "diffusion model", "Diffusion Models", "score matching",
    "muP", "mu-P", "quantum", "cosmology", "sparse attention", "mixture of experts", "Café",
    "reinforcement learning", "RLHF", "reward model", "preference optimization", "LoRA",
    "low-rank adaptation", "warmup", "loss curve", "retrieval", "retrieval-augmented generation",
)  # fmt: skip
FILLER = "we study a method for the analysis of results on data with new bounds and experiments"
AUTHORS = ("Jared Kaplan", "José García", "Ada Lovelace", "Alan Turing", "Grace Hopper")
SOURCES = ("arxiv", "hf", "blog")


def _text(rng: random.Random, n_phrases: int, n_filler: int) -> str:
    words = FILLER.split()
    parts = [rng.choice(PHRASES) for _ in range(n_phrases)]
    parts += [rng.choice(words) for _ in range(n_filler)]
    rng.shuffle(parts)
    return " ".join(parts)


def _entries(rng: random.Random, start: int, n: int) -> list[Entry]:
    return [
        Entry(
            title=f"{_text(rng, rng.randint(0, 2), 6)} {i}",
            summary=_text(rng, rng.randint(0, 5), 60),
            authors=tuple(rng.sample(AUTHORS, rng.randint(0, 2))),
            arxiv_id=f"2611.{i:05d}",
            upvotes=rng.choice((None, 0, 3, 12)),
            published=NOW - timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 23)),
        )
        for i in range(start, start + n)
    ]


def _ingest(store: Store, rng: random.Random, start: int, n: int, now: datetime) -> None:
    """`n` papers, each seen in one source, some in two (two sightings, one item)."""
    batch = _entries(rng, start, n)
    home = [rng.randrange(len(SOURCES)) for _ in batch]
    for k, name in enumerate(SOURCES):
        src = store.source(name, location=name, kind="feed")
        mine = [e for e, h in zip(batch, home, strict=True) if h == k or rng.random() < 0.3]
        store.add_entries(src.id, mine, rank=3, now=now)


PROFILES = (
    Profile(
        "scaling",
        "Scaling",
        keywords=(Term("scaling law", 3), Term("batch size", 2), Term("/\\bmu-?P\\b/", 2)),
        exclude=("quantum", "cosmology"),
        authors=("Jared Kaplan",),
        min_score=2,
        max_items=5,
    ),
    Profile(
        "optim",  # overlaps with scaling
        "Optimisation",
        keywords=(
            Term("learning rate", 2),
            Term("batch size", 1),
            Term("warmup"),
            Term("step size"),
        ),
        sources=("arxiv",),
        max_items=8,
        title_weight=3,
    ),
    Profile(
        "diffusion",
        "Diffusion",
        keywords=(Term("diffusion model", 2), Term("score matching", 2)),
        exclude=("/\\bquantum\\b/",),
        sources=("hf", "blog"),
    ),
    Profile(
        "rl",
        "RL",
        keywords=(Term("reinforcement learning"), Term("RLHF", 2), Term("reward model")),
        authors=("José Garcia", "Alan Turing"),  # accent-insensitive
        min_score=1.5,
    ),
    Profile(
        "adapters",
        "Adapters",
        keywords=(Term("LoRA", 2), Term("low-rank adaptation", 2), Term("cafe")),
        max_items=3,
    ),
    Profile("rag", "RAG", keywords=(Term("retrieval"),), first_digest_days=30),
    Profile("new", "New", keywords=(Term("sparse attention"), Term("mixture of experts"))),
    Profile("people", "People", authors=("Grace Hopper", "Ada Lovelace"), min_score=1),
    Profile(  # terms the same but for case: scored once each, as `select` does
        "twice",
        "Twice",
        keywords=(Term("LoRA", 2), Term("lora", 1), Term("warmup")),
        authors=("Ada Lovelace", "ada lovelace"),
        max_items=4,
    ),
)


def _window_ids(
    store: Store, profile: Profile, since: datetime | None, every: list[Candidate]
) -> list[int]:
    """The per-profile window as the old path computed it, in its own SQL; a
    new profile looks back `first_digest_days` before the newest arrival."""
    name = {"p": profile.name}
    with store.engine.connect() as con:
        q = "SELECT item_id FROM profile_items WHERE profile = :p"
        given = {i for (i,) in con.execute(text(q), name)}
        q = "SELECT last_item_id FROM profile_state WHERE profile = :p"
        last = con.execute(text(q), name).fetchone()
    if since is not None:
        inside = [c for c in every if c.first_seen >= since]
    elif last is not None:
        inside = [c for c in every if c.item_id > last[0]]
    else:
        newest = max(c.first_seen for c in every)
        cutoff = newest - timedelta(days=profile.first_digest_days)
        inside = [c for c in every if c.first_seen >= cutoff]
    return [c.item_id for c in inside if c.item_id not in given]


def _per_profile(store: Store, profile: Profile, since: datetime | None = None) -> Selection:
    """Today's per-profile path: its own window, its own Matcher, every item matched again."""
    every = {
        c.item_id: c
        for c in store.pool([profile], since=datetime.min.replace(tzinfo=UTC)).candidates
    }
    cands = [every[i] for i in _window_ids(store, profile, since, list(every.values()))]
    matcher = Matcher([profile])
    results = {}
    for c in cands:
        r = matcher.match(c.title, c.summary, c.authors)
        results[c.item_id] = (r.for_profile(profile.name), profile.name in r.excluded)
    upto = max((c.item_id for c in cands), default=0)
    return Selection(select(profile, cands, results), len(cands), upto)


@pytest.fixture
def mixed(store_url: str) -> Iterator[Store]:
    """Three days of arrivals 5 days apart, and profiles at different points:
    a past digest, items given above its window, a preview-style given list."""
    store = Store.open(store_url)
    rng = random.Random(12)
    _ingest(store, rng, 0, 120, NOW - timedelta(days=10))
    first = pipeline.select_due(store, PROFILES)
    for name in ("scaling", "optim", "diffusion"):  # their first digest, 10 days ago
        sel = first[name]
        p = next(p for p in PROFILES if p.name == name)
        store.record_digest(
            p, sel.picks, upto_item_id=sel.upto_item_id, now=NOW - timedelta(days=10)
        )
    _ingest(store, rng, 1000, 120, NOW - timedelta(days=5))
    _ingest(store, rng, 2000, 120, NOW)
    newest = store.items(limit=40)
    # `rl` was given a few of the newest items by hand (its window did not move)
    store.record_given("rl", [i.item_id for i in newest[::7]], upto_item_id=0, now=NOW)
    # `adapters` had a digest five days ago
    store.record_given("adapters", [], upto_item_id=newest[-1].item_id - 150, now=NOW)
    yield store
    store.close()


def test_one_pass_picks_what_each_profile_picked_alone(mixed: Store) -> None:
    store = mixed
    together = pipeline.select_due(store, PROFILES)
    assert set(together) == {p.name for p in PROFILES}
    picked = 0
    for p in PROFILES:
        alone = _per_profile(store, p)
        assert together[p.name] == alone, p.name
        assert pipeline.pick(store, p) == alone, p.name  # preview's path: the same
        picked += len(alone.picks)
    assert picked > 20  # the store is not trivially empty for these profiles
    windows = {p.name: together[p.name].candidates for p in PROFILES}
    assert windows["new"] == 240 < windows["rag"] == 360  # 7 days back, and 30
    assert windows["scaling"] == 240  # after its digest of 10 days ago
    # `rl` has a window from id 0 (given by hand, nothing recorded): all but those 6
    assert windows["rl"] == 360 - 6


def test_every_pick_is_explained_and_its_reasons_add_up(mixed: Store) -> None:
    """Both paths (the one-pass tally and `select`) give each pick the reasons
    that make its score, each term and author once; the store keeps them."""
    store = mixed
    together = pipeline.select_due(store, PROFILES)
    fields: set[str] = set()
    for p in PROFILES:
        for pick in together[p.name].picks:
            assert pick.reasons, (p.name, pick)
            assert total(pick.reasons) == pick.score, (p.name, pick)
            keys = [(r.field == "author", r.term.casefold()) for r in pick.reasons]
            assert len(keys) == len(set(keys)), pick.reasons
            assert [(h.term, h.field) for h in pick.matched] == [
                (r.term, r.field) for r in pick.reasons
            ]
            fields |= {r.field for r in pick.reasons}
    assert fields == {"title", "abstract", "author"}
    scaling = next(p for p in PROFILES if p.name == "scaling")
    sel = together["scaling"]
    recorded = store.record_digest(scaling, sel.picks, upto_item_id=sel.upto_item_id, now=NOW)
    assert recorded is not None
    (back,) = [d for d in store.digests(scaling) if d.id == recorded.id]
    assert back.picks == tuple(sel.picks)  # reasons, factors and values survive the store


def test_one_pass_with_since_matches_the_per_profile_path(mixed: Store) -> None:
    store = mixed
    since = NOW - timedelta(days=6)
    together = pipeline.select_due(store, PROFILES, since=since)
    for p in PROFILES:
        assert together[p.name] == _per_profile(store, p, since), p.name
    # Never an item a profile was already given, even looking back past its window.
    older = pipeline.select_due(store, PROFILES, since=NOW - timedelta(days=30))
    given = {c.candidate.item_id for c in _recorded(store, "scaling")}
    assert given
    assert given.isdisjoint(c.candidate.item_id for c in older["scaling"].picks)


def _recorded(store: Store, name: str) -> list[Pick]:
    p = next(p for p in PROFILES if p.name == name)
    return [pick for d in store.digests(p) for pick in d.picks]


def test_a_recorded_digest_moves_only_its_own_window(mixed: Store) -> None:
    store = mixed
    before = pipeline.select_due(store, PROFILES)
    sel = before["optim"]
    optim = next(p for p in PROFILES if p.name == "optim")
    store.record_digest(optim, sel.picks, upto_item_id=sel.upto_item_id, now=NOW)
    after = pipeline.select_due(store, PROFILES)
    assert after["optim"].candidates == 0
    assert after["optim"].picks == []
    assert {n: s for n, s in after.items() if n != "optim"} == {
        n: s for n, s in before.items() if n != "optim"
    }


def _fill(store: Store, start: int, n: int, now: datetime) -> None:
    src = store.source("bulk", location="bulk", kind="feed")
    rng = random.Random(start)
    for lo in range(start, start + n, 2000):
        store.add_entries(src.id, _entries(rng, lo, min(2000, start + n - lo)), rank=3, now=now)


def test_a_new_profile_reads_only_its_look_back(tmp_path: Path) -> None:
    """Its first digest costs the same in a store 5 times the size: only the
    last week's items are read, whatever lies before them."""
    new = Profile("new", "New", keywords=(Term("batch size"),))
    peaks = []
    for n, old in enumerate((1_000, 5_000)):
        with Store.open(f"sqlite:///{tmp_path / f'{n}.db'}") as store:
            _fill(store, 100_000, old, NOW - timedelta(days=30))
            _fill(store, 200_000, 300, NOW - timedelta(days=6))
            _fill(store, 300_000, 300, NOW)
            tracemalloc.start()
            sel = pipeline.select_due(store, [new])["new"]
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            assert sel.candidates == 600
            assert sel.picks
            assert all(p.candidate.first_seen >= NOW - timedelta(days=7) for p in sel.picks)
    assert peaks[1] < peaks[0] * 1.3, peaks


def test_a_first_digest_reads_at_most_the_newest_items_of_a_store_filled_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One big import: every item is within `first_digest_days` of the newest, so
    the days alone would read the whole store. The count bound keeps it flat."""
    from digest.store import picks

    store = Store.open(f"sqlite:///{tmp_path / 'd.db'}")
    _ingest(store, random.Random(3), 0, 60, NOW)
    every = sorted(c.item_id for c in store.items())
    assert len(every) == 60
    new = next(p for p in PROFILES if p.name == "new")
    assert len(store.pool([new]).candidates) == 60  # the days bound alone: all of them
    monkeypatch.setattr(picks, "FIRST_DIGEST_ITEMS", 25)
    pool = store.pool([new])
    assert sorted(c.item_id for c in pool.candidates) == every[-25:]  # the newest 25
    assert pipeline.select_due(store, [new])["new"].candidates == 25
