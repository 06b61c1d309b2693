"""The subscriber's own page of an issue (issue 14 part 4: "view in browser" with
the feedback links): its signed token, and the page through the real web app
(uvicorn, a real SMTP server, a real SQLite store): the reader's own picks and
order with the mail's feedback links, and every refusal."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from digest import pipeline
from digest.errors import TokenError
from digest.models import Digest
from digest.render import Renderer
from digest.render.archive import own_page
from digest.tokens import (
    FeedbackLink,
    ViewLink,
    make_feedback_token,
    make_token,
    make_view_token,
    read_feedback_token,
    read_view_token,
)
from tests.smtpserver import Recorder
from tests.test_feedback_browser import DIFFUSION, LANGUAGE, OTHER, READER, Site, mail, titles
from tests.test_render import assert_inert, digest, renderer  # noqa: F401
from tests.test_web_browser import off_thread, running, text_of

KEY = b"k" * 32
SECRETS = {7: "secret-of-seven", 8: "secret-of-eight"}


def raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def spelled(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def reason(token: str) -> str:
    with pytest.raises(TokenError) as info:
        read_view_token(KEY, token, SECRETS.get)
    return info.value.reason


def test_view_tokens_round_trip_and_refuse_every_change() -> None:
    link = ViewLink(7, 123)
    token = make_view_token(KEY, SECRETS[7], link)
    assert read_view_token(KEY, token, SECRETS.get) == link
    assert len(token) == 44  # 33 bytes: version 4, two ids, 16 of MAC
    other = raw(make_view_token(KEY, SECRETS[7], replace(link, digest_id=124)))
    assert reason(spelled(other[:17] + raw(token)[17:])) == "bad signature"  # its ids, this MAC
    assert reason(make_view_token(KEY, SECRETS[8], link)) == "bad signature"  # not 7's secret
    assert reason(make_view_token(b"x" * 32, SECRETS[7], link)) == "bad signature"
    assert reason(make_view_token(KEY, "s", replace(link, subscriber_id=9))) == (
        "unknown subscriber"
    )
    feedback = make_feedback_token(KEY, SECRETS[7], FeedbackLink(7, "p", 123, 0))
    assert reason(feedback) == "malformed"  # a feedback link opens no page
    with pytest.raises(TokenError, match="malformed"):
        read_feedback_token(KEY, token, SECRETS.get)  # and a view link gives no feedback
    assert reason(make_token(KEY, "manage", 7, SECRETS[7])) == "malformed"
    assert reason(token + "A") == "malformed"
    assert reason("not a token") == "malformed"


def test_the_own_page_is_the_issue_page_with_links_and_stays_inert(
    renderer: Renderer,  # noqa: F811
    digest: Digest,  # noqa: F811
) -> None:
    """Hostile feed text (a script title, a javascript: URL) on the own page: escaped
    and dropped as on the archive page, which it equals but for its feedback links."""
    links = {
        p.candidate.item_id: [("More like this", f"../feedback/t{p.candidate.item_id}/more")]
        for p in digest.picks
    }
    own = own_page(renderer, digest, links, archive="../archive/p/", public="../archive/p/x.html")
    assert_inert(own)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in own
    assert own.count('class="link feedback" href="../feedback/t') == len(digest.picks)
    shared = renderer.archive_page(digest, abstracts=[])
    assert "feedback" not in shared
    for marker in ('<meta name="robots" content="noindex">', "Your own page of this issue"):
        assert marker in own
        assert marker not in shared
    assert 'href="../archive/p/index.html">All issues' in own
    assert 'href="index.html">All issues' in shared


# -- through the web app -------------------------------------------------------------


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Site, Recorder]]:
    yield from running(Site, tmp_path, monkeypatch)


def view_link(msg: EmailMessage, base: str) -> str:
    """The mail's "View in browser" link; the same in both parts."""
    found = re.search(rf"View in browser: ({re.escape(base)}/view/\S+)", text_of(msg))
    assert found is not None
    assert f'href="{found[1]}"' in text_of(msg, "html")
    return found[1]


def feedback_links(html: str) -> list[str]:
    return re.findall(r'href="([^"]*/feedback/[^"]+)"', html)


def style(html: str) -> str:
    return html.split("<style>", 1)[1].split("</style>", 1)[0]


def two_days(s: Site, recorder: Recorder) -> tuple[EmailMessage, EmailMessage]:
    """Day 1 for both readers; the reader says "more" of the diffusion paper; day 2.
    The day-2 mails: the reader's (personal), the other's (the profile's)."""
    for who in (READER, OTHER):
        s.store.add_subscriber(who, ["papers"], now=datetime.now(UTC), status="active")
    off_thread(s.day, 1, [(DIFFUSION[0], "diffusion"), (LANGUAGE[0], "language")])
    reader = s.store.subscriber(READER)
    assert reader is not None
    liked = {c.title: c.item_id for c in s.store.items()}[DIFFUSION[0]]
    now = datetime.now(UTC)
    assert s.store.feedback_act(reader.id, "papers", liked, generation=0, action="more", now=now)
    off_thread(s.day, 2, [(DIFFUSION[1], "diffusion"), (LANGUAGE[1], "language")])
    pipeline.publish(s.settings, s.store, now)
    return mail(recorder, READER, 2), mail(recorder, OTHER, 2)


def test_the_view_is_the_readers_own_issue_with_the_mails_links(site) -> None:
    s, recorder = site
    mine, theirs = two_days(s, recorder)
    assert titles(mine)[0] == DIFFUSION[1]  # personal: the liked paper's neighbour first
    assert titles(theirs)[0] == LANGUAGE[1]
    with httpx.Client() as http:
        page = http.get(view_link(mine, s.base))
        other = http.get(view_link(theirs, s.base))
        assert page.status_code == other.status_code == 200
        # Their own picks in their order, each with the mail's own feedback links.
        shown = re.findall(r'<h2 class="title"[^>]*><a[^>]*>([^<]+)</a>', page.text)
        assert shown == titles(mine)
        assert re.findall(r'<h2 class="title"[^>]*><a[^>]*>([^<]+)</a>', other.text) == (
            titles(theirs)
        )
        assert feedback_links(page.text) == [
            u.replace(s.base + "/", "../") for u in feedback_links(text_of(mine, "html"))
        ]
        assert len(feedback_links(page.text)) == 4  # two items, more and less each
        assert set(feedback_links(page.text)).isdisjoint(feedback_links(other.text))
        # The archive's issue page, with its look and full abstracts; never cached.
        assert page.text.count('<article class="item" id="item-') == 2
        assert "<script" not in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["x-robots-tag"] == "noindex"
        # Its "public page" link is the published page, which has no feedback links.
        public = re.search(r'<a class="link" href="([^"]+)">The public page</a>', page.text)
        assert public is not None
        published = http.get(httpx.URL(page.url).join(public[1]))
        assert published.status_code == 200
        assert feedback_links(published.text) == []
        assert "Your own page" not in published.text
        assert style(page.text) == style(published.text)  # the same look


def test_a_view_link_acts_once_its_reader_has_left(site) -> None:
    s, recorder = site
    mine, _ = two_days(s, recorder)
    link = view_link(mine, s.base)
    reader = s.store.subscriber(READER)
    assert reader is not None
    with httpx.Client() as http:
        assert http.get(link).status_code == 200
        s.store.set_subscriber_status(reader.id, "unsubscribed", datetime.now(UTC))
        gone = http.get(link)
        assert gone.status_code == 410
        assert "You are not subscribed to this digest" in gone.text
        # Nothing of theirs: no picks, no feedback links; only the public page.
        for title in (*DIFFUSION, *LANGUAGE):
            assert title not in gone.text
        assert feedback_links(gone.text) == []
        assert re.search(r'href="\.\./archive/papers/[^"]+\.html"', gone.text)
        assert gone.headers["cache-control"] == "no-store"


def test_forged_and_stale_view_links_get_the_bad_link_page(site) -> None:
    s, recorder = site
    mine, _ = two_days(s, recorder)
    link = view_link(mine, s.base)
    token = link.rsplit("/", 1)[1]
    reader = s.store.subscriber(READER)
    assert reader is not None
    key = b"browser-test-key-0123456789abcdef"  # running()'s
    digest_id = read_view_token(key, token, {reader.id: reader.secret}.get).digest_id
    other = s.store.subscriber(OTHER)
    assert other is not None
    # The page reads one subscriber's rows only.
    assert set(s.store.personal_picks(digest_id)) == {reader.id}
    assert set(s.store.personal_picks(digest_id, reader.id)) == {reader.id}
    assert s.store.personal_picks(digest_id, other.id) == {}
    assert set(s.store.feedback_generations("papers", reader.id)) == {reader.id}
    assert s.store.feedback_generations("papers", other.id) == {}
    bad = {
        "forged": link.replace(token, token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")),
        "cut": link[:-5],
        "no such issue": link.replace(
            token, make_view_token(key, reader.secret, ViewLink(reader.id, digest_id + 99))
        ),
        "no such subscriber": link.replace(
            token, make_view_token(key, "whatever", ViewLink(reader.id + 99, digest_id))
        ),
        "a feedback token": link.replace(
            token, feedback_links(text_of(mine, "html"))[0].rsplit("/", 2)[1]
        ),
    }
    with httpx.Client() as http:
        for why, url in bad.items():
            answer = http.get(url)
            assert answer.status_code == 400, why
            assert "This link is not valid" in answer.text, why
            assert "fresh-link" in answer.text, why  # and the form for a fresh one
            assert DIFFUSION[1] not in answer.text, why
