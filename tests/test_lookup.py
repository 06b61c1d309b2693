"""Liked papers the store lacks are looked up in the configured arXiv API sources
(issue 14): by arXiv id (an arXiv DOI names one), by exact title, never by a DOI
alone; misses are remembered; what a look-up brings in is no new paper to any
profile. A fetch function in the unit tests, then a real loopback HTTP server
through `digest run`; a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.errors import FetchError
from digest.models import Entry, FetchResult, Profile, SourceConfig
from digest.pipeline.liking import (
    RETRY_MISSES,
    api_query,
    liked_papers,
    look_up,
    title_query,
)
from digest.selection.likes import Like, keys_of, like_entry
from digest.store import Store
from digest.store.merge import RANK
from tests.httpserver import LoopbackServer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "arxiv-api"
NOW = datetime(2026, 12, 1, 6, tzinfo=UTC)
API = "https://export.arxiv.org/api/query"


def answer(name: str) -> bytes:
    return next(SHARED.glob(f"id_{name}_s0_m100_*.xml")).read_bytes()


def search_page() -> bytes:
    """A real arXiv API search answer: 100 papers with "testing" in them."""
    return next(SHARED.glob("q_testing_s0_m100_*.xml")).read_bytes()


def liking(*ids: str) -> Profile:
    likes = tuple(like_entry(i, f"p.yaml:{n}") for n, i in enumerate(ids, 3))
    return Profile("p", "P", likes=likes)


class Api:
    """A fetch function in the arXiv API's place: `id_list` answers the corpus
    page of those ids, a title search the "testing" page; "down" fails."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(
        self, source: str, location: str, *, etag: str | None, last_modified: str | None
    ) -> FetchResult:
        self.asked.append((source, location))
        if source == "down":
            raise FetchError(source, "HTTP 503")
        query = parse_qs(urlsplit(location).query)
        if "search_query" in query:
            return FetchResult(search_page(), location)
        return FetchResult(answer(query["id_list"][0].replace("/", "_")), location)


def test_api_query_is_any_arxiv_api_location() -> None:
    base = "https://export.arxiv.org/api/query"
    assert api_query(f"{base}?search_query=cat:cs.LG&max_results=50") == base
    assert api_query("http://127.0.0.1:8000/api/query") == "http://127.0.0.1:8000/api/query"
    assert api_query("https://rss.arxiv.org/rss/cs.LG") is None
    assert api_query("listings/api/query") is None  # a local path is not asked


def test_a_title_search_is_one_inert_phrase() -> None:
    like = like_entry('Scaling "Laws" (AND) OR: ANDNOT ti:x & y=1', "p.yaml:3")
    url = title_query(API, like.keys[0][6:])
    assert url == (
        f"{API}?search_query=ti:%22scaling+laws+and+or+andnot+ti+x+y+1%22&max_results=25"
    )
    assert parse_qs(urlsplit(url).query)["search_query"] == [
        'ti:"scaling laws and or andnot ti x y 1"'  # lower case: no operator, no field
    ]


def test_an_arxiv_doi_is_its_arxiv_id_in_any_case() -> None:
    for text in (
        "10.48550/arXiv.1605.08386",
        "10.48550/ARXIV.1605.08386v2",
        "https://doi.org/10.48550/arxiv.1605.08386",
        "doi:10.48550/ArXiv.1605.08386",
    ):
        assert like_entry(text, "p.yaml:3").keys == ("arxiv:1605.08386",), text
    assert keys_of(doi="10.48550/ARXIV.1605.08386", title="T") == ("arxiv:1605.08386", "title:t")
    # One whose id does not parse stays a DOI: it still names the paper.
    assert keys_of(doi="10.48550/arXiv.nonsense") == ("doi:10.48550/arxiv.nonsense",)


@pytest.mark.shared
def test_ids_then_titles_are_looked_up_and_misses_remembered(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api()
    sources = [
        SourceConfig("rss", "https://rss.arxiv.org/rss/cs.LG"),  # not an API: never asked
        SourceConfig("down", f"{API}?search_query=cat:cs.LG"),
        SourceConfig("api", f"{API}?search_query=cat:math.CO"),
    ]
    bib = [  # as a like_file gives them, with the file's lines
        Like(keys_of(title="Mutation Testing"), "Mutation Testing", "l.bib:1"),  # in many titles
        Like(
            keys_of(
                doi="10.1145/3106237.3106277",
                title="FAIRNESS testing -- testing software for discrimination",
            ),
            "Fairness testing",
            "l.bib:9",
        ),
        # The page has this title, but with another DOI: another paper.
        Like(
            keys_of(doi="10.9999/other", title="Metamorphic Testing for Pose Estimation Systems"),
            "Metamorphic",
            "l.bib:17",
        ),
    ]
    profile = Profile(
        "p",
        "P",
        likes=(
            like_entry("10.48550/arXiv.1605.08386", "p.yaml:3"),
            like_entry("Property-Based Mutation Testing", "p.yaml:4"),
            like_entry("10.1145/3395363.3397376", "p.yaml:5"),  # a DOI alone: never asked
            *bib,
        ),
    )
    with Store.open(store_url) as store:
        assert liked_papers(store, [profile])[0]["p"] == []
        assert look_up(store, [profile], sources, api, NOW) == 3
        titles = [u for s, u in api.asked if s == "api" and "search_query" in u]
        ids = [u for s, u in api.asked if "id_list" in u]
        assert ids == [f"{API}?id_list=1605.08386&max_results=1"] * 2  # down, then api
        assert [s for s, _ in api.asked] == ["down", "api", "api", "api", "api", "api"]
        assert title_query(API, "property based mutation testing") in titles
        assert len(titles) == 4  # the failing source was asked once, then no more this run
        papers, missing = liked_papers(store, [profile])
        assert sorted(p.title for p in papers["p"]) == [
            "Fairness Testing: Testing Software for Discrimination",
            "Heat-bath random walks with Markov bases",
            "Property-Based Mutation Testing",
        ]
        assert store.count_items() == 3  # one paper from each page: not the page's 100
        assert [m.where for m in missing] == ["p.yaml:5", "l.bib:1", "l.bib:17"]
        caplog.clear()
        with caplog.at_level(logging.WARNING, "digest.pipeline"):
            liked_papers(store, [profile])
        said = "\n".join(caplog.messages)
        assert "p.yaml:5: liked paper '10.1145/3395363.3397376' is not in the store, and no" in said
        assert "looks papers up by DOI" in said
        assert "l.bib:17: liked paper 'Metamorphic' is not in the store: no configured source" in (
            said
        )
        assert "had it on 2026-12-01 (asked again from 2026-12-08)" in said

        api.asked.clear()  # a day on: what no source had is not asked again
        assert look_up(store, [profile], sources, api, NOW + timedelta(days=1)) == 0
        assert api.asked == []
        assert look_up(store, [profile], sources, api, NOW + RETRY_MISSES) == 0
        again = sorted(parse_qs(urlsplit(u).query)["search_query"][0] for _, u in api.asked)
        pose = 'ti:"metamorphic testing for pose estimation systems"'
        assert again == [pose, pose, 'ti:"mutation testing"']  # the interval is over: asked again


@pytest.mark.shared
def test_a_looked_up_paper_is_in_no_window_but_stays_liked(store_url: str) -> None:
    fresh = Entry("A Fresh Paper On Testing", arxiv_id="2611.00001")
    with Store.open(store_url) as store:
        listing = store.source("listing", location="https://example.org/rss")
        store.add_entries(listing.id, [fresh], rank=RANK["feed"], now=NOW - timedelta(days=3))
        (new,) = store.items()
        store.record_given("moved", [], upto_item_id=0, now=NOW)  # a window from the start
        sources = [SourceConfig("api", API)]
        assert look_up(store, [liking("1605.08386")], sources, Api(), NOW) == 1
        assert store.count_items() == 2
        for name in ("moved", "new"):  # a profile's next window; a new one's look-back
            assert [c.item_id for c in store.candidates(name)] == [new.item_id], name
        month = NOW - timedelta(days=30)
        assert [c.item_id for c in store.candidates("x", since=month)] == [new.item_id]
        # The new profile looks back a day from the newest arrival: the fresh paper's,
        # not the look-up's three days later.
        short = store.pool([Profile("short", "S", first_digest_days=1)])
        assert [c.item_id for c in short.candidates] == [new.item_id]
        papers, _ = liked_papers(store, [liking("1605.08386")])
        assert [p.title for p in papers["p"]] == ["Heat-bath random walks with Markov bases"]


@pytest.mark.shared
def test_digest_run_looks_up_a_liked_paper_on_a_loopback_api(
    tmp_path: Path, loopback_server: LoopbackServer, store_url: str
) -> None:
    server = loopback_server
    recent = next(SHARED.glob("q_testing_s0_m10_*.xml")).read_bytes()
    server.add("/api/query?search_query=cat:cs.LG", recent)  # the source's own ingest
    server.add("/api/query", answer("1707.08567"))  # an id_list look-up
    wanted = title_query("", "property based mutation testing")
    server.add(f"/api/query{wanted}", search_page())
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "p.yaml").write_text(
        'name: p\ntitle: P\nlike:\n  - "arXiv:1707.08567v1"\n  - "2401.00001"\n'
        "  - Property-Based Mutation Testing\nmin_score: 0\n"
    )
    (tmp_path / "profiles" / "other.yaml").write_text(
        "name: other\ntitle: O\nkeywords:\n  - testing\n  - information theory\n"
        "  - mutation testing\n"
    )
    cfg = tmp_path / "digest.yaml"
    cfg.write_text(
        f"store: {store_url}\nprofiles: profiles\nsources:\n"
        f"  - name: api\n    url: {server.url('/api/query?search_query=cat:cs.LG')}\n"
    )
    run = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--now", NOW.isoformat()])
    assert run.exit_code in (0, 3), run.output
    lookups = [r.path for r in server.requests if "id_list=" in r.path or "ti:" in r.path]
    assert lookups == [
        "/api/query?id_list=1707.08567,2401.00001&max_results=2",
        f"/api/query{wanted}",
    ]
    preview = CliRunner().invoke(cli, ["--config", str(cfg), "preview", "p", "--format", "json"])
    assert preview.exit_code == 0, preview.output
    assert "2401.00001" in preview.stderr  # not in the API's answer: reported
    assert "no configured source had it on 2026-12-01" in preview.stderr
    assert "1707.08567" not in preview.stderr  # found and stored: the profile uses it
    assert "Property-Based" not in preview.stderr
    with Store.open(store_url) as store:
        (made,) = store.digests(Profile("p", "P"))
        (others,) = store.digests(Profile("other", "O"))
    liked = "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    assert len(made.picks) == 10  # the source's ten papers, ranked by likeness to them
    assert {p.reasons[-1].term for p in made.picks} <= {liked, "Property-Based Mutation Testing"}
    # The looked-up papers match `other`'s keywords, yet they are old: not in its digest.
    assert len(others.picks) == 10
    assert not {liked, "Property-Based Mutation Testing"} & {
        p.candidate.title for p in others.picks
    }
    # A second run in the same week asks the API for nothing but its own ingest.
    server.requests.clear()
    later = (NOW + timedelta(hours=1)).isoformat()
    run = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--now", later])
    assert run.exit_code in (0, 3), run.output
    assert [r.path for r in server.requests] == ["/api/query?search_query=cat:cs.LG"]
