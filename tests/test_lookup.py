"""Liked papers the store lacks are looked up by arXiv id in a configured arXiv
API source (issue 14): a fetch function in the unit tests, then a real loopback
HTTP server through `digest run`; a real SQLite file throughout."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.errors import FetchError
from digest.models import FetchResult, Profile, SourceConfig
from digest.pipeline.liking import api_query, liked_papers, look_up
from digest.selection.likes import like_entry
from digest.store import Store
from tests.httpserver import LoopbackServer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "arxiv-api"
NOW = datetime(2026, 12, 1, 6, tzinfo=UTC)


def answer(name: str) -> bytes:
    return next(SHARED.glob(f"id_{name}_s0_m100_*.xml")).read_bytes()


def liking(*ids: str) -> Profile:
    likes = tuple(like_entry(i, f"p.yaml:{n}") for n, i in enumerate(ids, 3))
    return Profile("p", "P", likes=likes)


def test_api_query_is_any_arxiv_api_location() -> None:
    base = "https://export.arxiv.org/api/query"
    assert api_query(f"{base}?search_query=cat:cs.LG&max_results=50") == base
    assert api_query("http://127.0.0.1:8000/api/query") == "http://127.0.0.1:8000/api/query"
    assert api_query("https://rss.arxiv.org/rss/cs.LG") is None
    assert api_query("listings/api/query") is None  # a local path is not asked


@pytest.mark.shared
def test_missing_liked_papers_are_fetched_by_id_and_stored(tmp_path: Path) -> None:
    asked: list[tuple[str, str]] = []

    def fetch(source: str, location: str, *, etag: str | None, last_modified: str | None):
        asked.append((source, location))
        if source == "down":
            raise FetchError(source, "HTTP 503")
        return FetchResult(answer("1605.08386"), location)

    sources = [
        SourceConfig("rss", "https://rss.arxiv.org/rss/cs.LG"),  # not an API: never asked
        SourceConfig("down", "https://export.arxiv.org/api/query?search_query=cat:cs.LG"),
        SourceConfig("api", "https://export.arxiv.org/api/query?search_query=cat:math.CO"),
    ]
    profile = liking("1605.08386v1", "Some Title Nobody Stored")
    with Store.open(f"sqlite:///{tmp_path / 'd.db'}") as store:
        assert liked_papers(store, [profile])[0]["p"] == []
        assert look_up(store, [profile], sources, fetch, NOW) == 1
        wanted = "https://export.arxiv.org/api/query?id_list=1605.08386&max_results=1"
        assert asked == [("down", wanted), ("api", wanted)]  # the failing one, then the next
        papers, missing = liked_papers(store, [profile])
        assert [p.title for p in papers["p"]] == ["Heat-bath random walks with Markov bases"]
        assert [m.text for m in missing] == ["Some Title Nobody Stored"]  # still reported
        asked.clear()
        assert look_up(store, [profile], sources, fetch, NOW) == 0
        assert asked == []  # stored now: nothing to ask; a title is never asked by id


@pytest.mark.shared
def test_digest_run_looks_up_a_liked_paper_on_a_loopback_api(
    tmp_path: Path, loopback_server: LoopbackServer
) -> None:
    server = loopback_server
    recent = next(SHARED.glob("q_testing_s0_m10_*.xml")).read_bytes()
    server.add("/api/query?search_query=cat:cs.LG", recent)  # the source's own ingest
    server.add("/api/query", answer("1707.08567"))  # an id_list look-up
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "p.yaml").write_text(
        'name: p\ntitle: P\nlike:\n  - "arXiv:1707.08567v1"\n  - "2401.00001"\nmin_score: 0\n'
    )
    cfg = tmp_path / "digest.yaml"
    cfg.write_text(
        f"store: sqlite:///{tmp_path / 'd.db'}\nprofiles: profiles\nsources:\n"
        f"  - name: api\n    url: {server.url('/api/query?search_query=cat:cs.LG')}\n"
    )
    run = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--now", NOW.isoformat()])
    assert run.exit_code in (0, 3), run.output
    lookups = [r.path for r in server.requests if "id_list=" in r.path]
    assert lookups == ["/api/query?id_list=1707.08567,2401.00001&max_results=2"]
    preview = CliRunner().invoke(cli, ["--config", str(cfg), "preview", "p", "--format", "json"])
    assert preview.exit_code == 0, preview.output
    assert "2401.00001" in preview.stderr  # not in the API's answer: reported
    assert "1707.08567" not in preview.stderr  # found and stored: the profile uses it
    with Store.open(f"sqlite:///{tmp_path / 'd.db'}") as store:
        (made,) = store.digests(Profile("p", "P"))
    liked = "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    assert len(made.picks) == 10  # the source's ten papers, ranked by likeness to it
    assert all(p.reasons[-1].term == liked for p in made.picks)
