"""Subscriptions per (address, profile) through the web app, the service and the
store (SQLite and PostgreSQL): one test per defect of issue 13 ("Consent and
identity"), each failing on the code before it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import text

from digest import service
from digest.models import Profile
from digest.pipeline import send
from digest.render import message_id
from digest.store import Store
from tests.test_web import ONE_CLICK, T0, Site, link_in

SITE = re.escape("https://papers.example.org/")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store_url: str) -> Iterator[Site]:
    """On a new store of each engine in turn: consent is the store's, on both."""
    with Site(tmp_path, monkeypatch, store_url) as s:
        yield s


def confirm_link(site: Site, email: str, nth: int = -1) -> str:
    return link_in(site.mail.to(email)[nth], SITE + "confirm/")


def digest_for(site: Site, profile: str) -> None:
    site.store.record_digest(
        Profile(name=profile, title=profile, send_empty=True), [], upto_item_id=0, now=site.clock()
    )


def mailed(site: Site) -> list[EmailMessage]:
    """Send what is due through the app's settings; the digests each address got."""
    before = len(site.mail.sent)
    send(site.settings, site.store, site.clock(), via=site.mail)
    out = []
    for m in site.mail.sent[before:]:
        out += [x for x in site.mail.to(m.recipient) if x["Message-ID"] == m.message_id]
    return out


def test_an_old_confirm_link_stays_dead_after_the_address_is_requested_again(site: Site) -> None:
    """The reported bug: subscribe, confirm, unsubscribe, someone re-requests the
    address, and the first confirmation link (within its 3 days) re-activated it."""
    site.subscribe("bea@example.org", ["scaling"])
    first = confirm_link(site, "bea@example.org")
    assert site.client.get(first).status_code == 200
    assert site.status("bea@example.org") == "active"
    site.store.set_subscriber_status(
        site.store.subscriber("bea@example.org").id,  # type: ignore[union-attr]
        "unsubscribed",
        site.clock(),
    )
    site.clock.now += timedelta(minutes=5)
    site.subscribe("bea@example.org", ["scaling"], client=site.new_client("192.0.2.50"))
    assert site.status("bea@example.org") == "pending"
    stale = site.client.get(first)
    assert stale.status_code == 400
    assert "no longer valid" in stale.text
    assert site.status("bea@example.org") == "pending"  # unchanged
    digest_for(site, "scaling")
    assert mailed(site) == []  # and nothing is mailed
    # The new link, and only it, confirms the new request.
    assert site.client.get(confirm_link(site, "bea@example.org")).status_code == 200
    assert site.status("bea@example.org") == "active"


def test_one_address_whatever_its_case(site: Site) -> None:
    sub = service.add(site.settings, site.store, "Reader@Example.org", ["scaling"], T0)
    assert sub.email == "Reader@example.org"  # as first given
    site.subscribe("READER@example.org", ["diffusion"])
    assert [s.email for s in site.store.subscribers()] == ["Reader@example.org"]
    removed = service.remove(site.store, "reader@example.org", T0)
    assert removed.id == sub.id
    assert site.status("rEaDeR@EXAMPLE.org") == "unsubscribed"


def test_one_click_stops_that_profile_only(site: Site) -> None:
    site.store.add_subscriber("dan@example.org", ["scaling", "diffusion"], now=T0)
    digest_for(site, "scaling")
    digest_for(site, "diffusion")
    mails = {m["List-Id"].split("<")[1].split(".")[0]: m for m in mailed(site)}
    assert set(mails) == {"scaling", "diffusion"}
    header = mails["scaling"]["List-Unsubscribe"]
    url = re.search(r"<(https://[^>]+)>", header)[1]  # type: ignore[index]
    r = site.new_client("192.0.2.9").post(
        url, content=b"List-Unsubscribe=One-Click", headers=ONE_CLICK
    )
    assert r.status_code == 200
    sub = site.store.subscriber("dan@example.org")
    assert sub is not None
    assert (sub.status, sub.profiles) == ("active", ("diffusion",))
    site.clock.now += timedelta(days=1)
    digest_for(site, "scaling")
    digest_for(site, "diffusion")
    assert [m["List-Id"].split("<")[1].split(".")[0] for m in mailed(site)] == ["diffusion"]
    # Its "unsubscribe from everything" link, from the first diffusion mail, still works.
    body = mails["diffusion"].get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    everything = re.search(r"Unsubscribe from everything:\s+(\S+)", body)[1]  # type: ignore[index]
    assert site.client.post(everything).status_code == 200
    assert site.status("dan@example.org") == "unsubscribed"


def test_resubscribing_to_one_profile_brings_back_no_other(site: Site) -> None:
    site.store.add_subscriber("eve@example.org", ["scaling", "diffusion"], now=T0)
    service.remove(site.store, "eve@example.org", T0)
    site.subscribe("eve@example.org", ["scaling"])
    assert site.client.get(confirm_link(site, "eve@example.org")).status_code == 200
    sub = site.store.subscriber("eve@example.org")
    assert sub is not None
    assert sub.profiles == ("scaling",)
    # The CLI too.
    service.remove(site.store, "eve@example.org", T0)
    sub = service.add(site.settings, site.store, "eve@example.org", ["diffusion"], T0)
    assert sub.profiles == ("diffusion",)


def test_the_manage_link_adds_drops_pauses_and_leaves(site: Site) -> None:
    site.store.add_subscriber("fay@example.org", ["scaling"], now=T0)
    digest_for(site, "scaling")
    (mail,) = mailed(site)
    body = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    manage = re.search(SITE + r"manage/\S+", body)[0]  # type: ignore[index]
    page = site.client.get(manage)
    assert page.status_code == 200
    assert "<script" not in page.text
    assert 'value="scaling" checked' in page.text
    action = re.search(r'action="([^"]+)"', page.text)[1]  # type: ignore[index]
    r = site.client.post(manage, data={"profile": ["scaling", "diffusion"]})
    assert r.status_code == 200
    assert "Saved" in r.text
    sub = site.store.subscriber("fay@example.org")
    assert sub is not None
    assert (sub.status, sub.profiles) == ("active", ("diffusion", "scaling"))  # no confirmation
    assert site.client.get(manage).status_code == 400  # that link was for the old state
    fresh = re.search(r'action="[./]*(manage/[^"]+)"', r.text)[1]  # type: ignore[index]
    assert fresh not in action
    r = site.client.post("/" + fresh, data={"profile": ["diffusion"], "pause": "yes"})
    sub = site.store.subscriber("fay@example.org")
    assert sub is not None
    assert (sub.status, sub.profiles) == ("paused", ("diffusion",))
    fresh = re.search(r'action="[./]*(manage/[^"]+)"', r.text)[1]  # type: ignore[index]
    site.client.post("/" + fresh, data={"leave": "yes"})
    assert site.status("fay@example.org") == "unsubscribed"


def test_the_consent_log_names_every_change_and_its_cause(site: Site) -> None:
    site.subscribe("gus@example.org", ["scaling"])
    site.client.get(confirm_link(site, "gus@example.org"))
    service.add(site.settings, site.store, "gus@example.org", ["diffusion"], T0)
    service.remove(site.store, "gus@example.org", T0, ["diffusion"])
    _, log = service.show(site.store, "GUS@example.org")
    assert [(e.cause, e.action, e.profiles, e.status) for e in log] == [
        ("web", "request", ("scaling",), "pending"),
        ("confirm", "confirm", ("scaling",), "active"),
        ("cli", "add", ("diffusion",), "active"),
        ("cli", "stop", ("diffusion",), "active"),
    ]
    assert [e.generation for e in log] == [1, 2, 3, 4]
    # A profile's recipients on every run change nothing, and so log nothing.
    for _ in range(3):
        site.store.add_subscriber(
            "gus@example.org", ["scaling"], now=T0, reactivate=False, cause="config"
        )
    assert len(service.show(site.store, "gus@example.org")[1]) == 4


def test_message_ids_differ_across_stores(site: Site, tmp_path: Path) -> None:
    other = Store.open(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        ids = {site.store.store_id(), other.store_id()}
        assert len(ids) == 2
        assert all(re.fullmatch(r"[0-9a-f]{16}", i) for i in ids)
        mids = {message_id(1, 1, "example.org", i) for i in ids}
        assert len(mids) == 2
    finally:
        other.close()
    site.store.add_subscriber("hal@example.org", ["scaling"], now=T0)
    digest_for(site, "scaling")
    (mail,) = mailed(site)
    assert mail["Message-ID"] == f"<digest-{site.store.store_id()}.1.1@example.org>"


def test_every_mail_links_view_feed_manage_and_unsubscribe(site: Site) -> None:
    site.store.add_subscriber("ida@example.org", ["scaling"], now=T0)
    digest_for(site, "scaling")
    (mail,) = mailed(site)
    text_ = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = mail.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    for label in (
        "View in browser",
        "Feed",
        "Manage your subscriptions",
        "Unsubscribe from this digest",
        "Unsubscribe from everything",
    ):
        assert label in text_
        assert label in html
    assert "https://papers.example.org/archive/scaling/feed.xml" in text_
    assert re.search(r"View in browser: https://papers.example.org/view/[\w-]{44}\r?\n", text_)


def test_list_json_keeps_its_fields(site: Site) -> None:
    service.add(site.settings, site.store, "Jo@Example.org", ["scaling", "diffusion"], T0)
    service.remove(site.store, "jo@example.org", T0, ["scaling"])
    (row,) = [service.subscriber_dict(s) for s in site.store.subscribers()]
    assert (row["email"], row["profiles"], row["status"]) == (
        "Jo@example.org",
        ["diffusion"],
        "active",
    )
    service.remove(site.store, "jo@example.org", T0, ["diffusion"])
    (row,) = [service.subscriber_dict(s) for s in site.store.subscribers()]
    assert (row["profiles"], row["status"]) == ([], "unsubscribed")


def test_the_migration_merges_case_twins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = Store.open(url)
    with store.engine.begin() as conn:  # the store as the version before kept it
        conn.execute(text("DROP INDEX ix_subscribers_identity"))
        conn.execute(text("DELETE FROM meta WHERE key = 'store_id'"))
        conn.execute(
            text(
                "UPDATE meta SET value = '9' WHERE key = 'schema_version'"  # before v10
            )
        )
        for i, (email, status) in enumerate(
            [
                ("Reader@Example.org", "active"),
                ("reader@example.org", "unsubscribed"),
                ("READER@example.org", "active"),
                ("solo@example.org", "pending"),
            ],
            1,
        ):
            conn.execute(
                text(
                    "INSERT INTO subscribers (id, email, status, secret, created_at)"
                    " VALUES (:i, :e, :s, 'x', '2026-01-01 00:00:00')"
                ),
                {"i": i, "e": email, "s": status},
            )
        for sid, profile in [(1, "scaling"), (2, "diffusion"), (3, "broad"), (4, "scaling")]:
            conn.execute(
                text("INSERT INTO subscriptions (subscriber_id, profile) VALUES (:i, :p)"),
                {"i": sid, "p": profile},
            )
    store.close()
    store = Store.open(url)  # migrates
    try:
        subs = {s.email: s for s in store.subscribers()}
        assert set(subs) == {"Reader@Example.org", "solo@example.org"}
        reader = subs["Reader@Example.org"]
        assert (reader.status, reader.profiles) == ("active", ("broad", "scaling"))
        assert store.subscriber("READER@EXAMPLE.ORG") == reader
        (event,) = store.consent_log(reader.id)
        assert event.cause == "migration"
        assert "reader@example.org" in event.detail
        assert "READER@example.org" in event.detail
        assert subs["solo@example.org"].pending == ("scaling",)
        assert len(store.store_id()) == 16
    finally:
        store.close()
