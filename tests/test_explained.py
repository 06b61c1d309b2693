"""Every pick in every output says why (issue 14): keyword-only, like-only and
hybrid profiles through `digest run` on the real listings and a real SQLite file,
then each recorded pick's explanation looked for in the mail (text and HTML), the
archive page, both items feeds and `preview` (Markdown, text and JSON, which
lists the picks in the order the run records them); and a reader's personal
ranking, made by their feedback, in their own mail and on their own page of it."""

from __future__ import annotations

import html
import json
import re
import warnings
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from digest.cli import cli
from digest.config import load_settings
from digest.models import Pick, Profile
from digest.render import md_escape
from digest.store import Store
from digest.web import create_app
from tests.conftest import listings_config_at

NOW = "2026-12-01T06:00:00+00:00"
LIKED = ("Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour",
         "An Empirical Model of Large-Batch Training")  # fmt: skip
LIKE = "like:\n" + "".join(f'  - "{t}"\n' for t in LIKED)
PROFILES = {
    "keywords": "keywords:\n  batch size: 3\n  step size: 2\nmin_score: 2\n",
    "likes": f"{LIKE}min_score: 1\n",
    "hybrid": f"{LIKE}keywords:\n  batch size: 3\n  learning rate: 1\nmin_score: 0\n",
}
MAIL = (  # the archive, the feeds and the mail in the outbox, with feedback links
    "output: out\nsite_url: https://digest.example.org/\n"
    "email:\n  sender: Digest <d@example.org>\n  domain: example.org\n  outbox: outbox\n"
)
pytestmark = pytest.mark.shared


def why(pick: Pick) -> str:
    """The explanation line every output shows, as `digest/render/views.py` words it."""
    return " ".join(f"Score {round(pick.score, 2):g} = {pick.because()}".split())


def invoke(cfg: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(cfg), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory, listings_dir: Path) -> dict[str, object]:
    """The previews, then one run: the store, the config and each profile's JSON preview."""
    tmp = tmp_path_factory.mktemp("explained")
    cfg = listings_config_at(tmp, listings_dir, MAIL)
    for name, rules in PROFILES.items():
        (tmp / "profiles" / f"{name}.yaml").write_text(
            f"name: {name}\ntitle: {name.title()}\n{rules}max_items: 12\n"
            f"recipients: [{name}@example.org]\n"
        )
    previews = {n: json.loads(invoke(cfg, "preview", n, "--format", "json")) for n in PROFILES}
    markdown = {n: invoke(cfg, "preview", n, "--format", "markdown") for n in PROFILES}
    text = {n: " ".join(invoke(cfg, "preview", n, "--format", "text").split()) for n in PROFILES}
    report = json.loads(invoke(cfg, "run", "--json", "--now", NOW))
    assert {p["profile"]: p["sent"] for p in report["profiles"]} == dict.fromkeys(PROFILES, 1)
    with Store.open(f"sqlite:///{tmp / 'd.db'}") as store:
        digests = {n: store.digests(Profile(n, n)) for n in PROFILES}
    return {"dir": tmp, "digests": digests, "json": previews, "md": markdown, "text": text}


def picks(cycle: dict[str, object], name: str) -> tuple[Pick, ...]:
    (made,) = cycle["digests"][name]  # type: ignore[index]
    assert len(made.picks) >= 5, name
    return tuple(made.picks)


def mail(cycle: dict[str, object], name: str) -> EmailMessage:
    outbox = Path(str(cycle["dir"])) / "outbox"
    found = []
    for eml in outbox.rglob("*.eml"):
        msg = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
        if str(msg["To"]).startswith(f"{name}@"):
            found.append(msg)
    (msg,) = found
    assert isinstance(msg, EmailMessage)
    return msg


def plain(markup: str) -> str:
    """HTML as its reader sees it: tags out, entities read, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


@pytest.mark.parametrize("name", PROFILES)
def test_the_kind_of_explanation_follows_the_profile(cycle: dict[str, object], name: str) -> None:
    for p in picks(cycle, name):
        fields = {r.field for r in p.reasons}
        assert fields, p
        assert ("like" in fields) == (name != "keywords"), (name, p.reasons)
        if name == "likes":
            assert fields == {"like"}, p.reasons
    if name == "hybrid":  # a hybrid's picks show both kinds, in one window
        every = [{r.field for r in p.reasons} for p in picks(cycle, name)]
        assert any(f & {"title", "abstract"} and "like" in f for f in every), every


@pytest.mark.parametrize("name", PROFILES)
def test_every_pick_is_explained_in_the_mail(cycle: dict[str, object], name: str) -> None:
    msg = mail(cycle, name)
    text_part = msg.get_body(("plain",))
    html_part = msg.get_body(("html",))
    assert text_part is not None
    assert html_part is not None
    text = " ".join(text_part.get_content().split())
    shown = plain(html_part.get_content())
    for p in picks(cycle, name):
        assert why(p) in text, (name, why(p))
        assert why(p) in shown, (name, why(p))


@pytest.mark.parametrize("name", PROFILES)
def test_every_pick_is_explained_on_the_archive_page_and_in_the_feeds(
    cycle: dict[str, object], name: str
) -> None:
    base = Path(str(cycle["dir"])) / "out" / "archive" / name
    (page,) = base.glob("2026-12-01-*.html")
    shown = plain(page.read_text())
    for feed in ("feed.xml", "feed.atom"):
        parsed = feedparser.parse((base / feed).read_bytes())
        assert parsed.bozo == 0, feed
        entries = {e.title: plain(e.summary) for e in parsed.entries}
        for p in picks(cycle, name):
            assert p.because() in " ".join(entries[p.candidate.title].split()), (feed, p)
    for p in picks(cycle, name):
        assert why(p) in shown, (name, why(p))


@pytest.mark.parametrize("name", PROFILES)
def test_preview_shows_the_run_s_picks_in_its_order_with_their_explanations(
    cycle: dict[str, object], name: str
) -> None:
    got = cycle["json"][name]  # type: ignore[index]
    made = picks(cycle, name)
    assert [p["title"] for p in got] == [p.candidate.title for p in made]  # rank order
    assert [p["score"] for p in got] == [p.score for p in made]
    for entry, p in zip(got, made, strict=True):
        assert {"title", "score", "matched", "reasons"} <= set(entry), entry
        assert [(h["term"], h["field"]) for h in entry["matched"]] == [
            (h.term, h.field) for h in p.matched
        ]
        assert [r["term"] for r in entry["reasons"]] == [r.term for r in p.reasons]
        if name != "keywords":
            assert entry["like"]["title"] in LIKED
            assert entry["like"]["similarity"] > 0
        assert p.because() in cycle["text"][name], (name, p.because())  # type: ignore[index]
        assert md_escape(p.because()) in cycle["md"][name], (name, p.because())  # type: ignore[index]


def test_every_personal_pick_is_explained_in_its_readers_mail(tmp_path: Path) -> None:
    """A reader with feedback gets a ranking of their own: each of its picks says
    why in their mail (text and HTML), the liked paper named where it counts."""
    from tests.test_feedback_browser import DIFFUSION, LANGUAGE, PROFILE, feed

    with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; httpx works
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "papers.yaml").write_text(PROFILE)
    rss = tmp_path / "today.rss"
    cfg = tmp_path / "digest.yaml"
    cfg.write_text(
        f"store: sqlite:///{tmp_path / 'd.db'}\nprofiles: profiles\n{MAIL}"
        f"sources:\n  - name: today\n    kind: feed\n    path: {rss}\n"
    )
    for who in ("reader@example.org", "other@example.org"):
        invoke(cfg, "subscribers", "add", who, "--profile", "papers")
    rss.write_text(feed(1, [(DIFFUSION[0], "diffusion"), (LANGUAGE[0], "language")]))
    invoke(cfg, "run", "--now", "2026-11-01T06:00:00+00:00")
    with Store.open(f"sqlite:///{tmp_path / 'd.db'}") as store:
        reader = store.subscriber("reader@example.org")
        assert reader is not None
        liked = next(c.item_id for c in store.items() if c.title == DIFFUSION[0])
        store.feedback_act(
            reader.id,
            "papers",
            liked,
            generation=0,
            action="more",
            now=datetime(2026, 11, 1, 7, tzinfo=UTC),
        )
    rss.write_text(feed(2, [(DIFFUSION[1], "diffusion"), (LANGUAGE[1], "language")]))
    for old in (tmp_path / "outbox").rglob("*.eml"):
        old.unlink()
    invoke(cfg, "run", "--now", "2026-11-02T06:00:00+00:00")
    with Store.open(f"sqlite:///{tmp_path / 'd.db'}") as store:
        latest = max(store.digests(Profile("papers", "P")), key=lambda d: d.id or 0)
        assert latest.id is not None
        mine = store.personal_picks(latest.id)[reader.id]
    assert mine[0].candidate.title == DIFFUSION[1]
    assert any(r.field == "like" and r.term == DIFFUSION[0] for p in mine for r in p.reasons)
    cycle = {"dir": tmp_path}
    settings = load_settings(cfg)
    for who, picked in (("reader", mine), ("other", latest.picks)):
        msg = mail(cycle, who)
        text_part, html_part = msg.get_body(("plain",)), msg.get_body(("html",))
        assert text_part is not None
        assert html_part is not None
        text = " ".join(text_part.get_content().split())
        shown = plain(html_part.get_content())
        # and the mail's "View in browser" page, the reader's own issue
        view = re.search(r"View in browser: https://digest\.example\.org(/view/\S+)", text)
        assert view is not None, text
        with Store.open(settings.store_url) as store:
            page = TestClient(create_app(settings, store)).get(view[1])
        assert page.status_code == 200, page.text
        own = plain(page.text)
        for p in picked:
            assert why(p) in text, (who, why(p))
            assert why(p) in shown, (who, why(p))
            assert why(p) in own, (who, why(p))
