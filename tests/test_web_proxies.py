"""`X-Forwarded-For` is believed only from the proxies in `trusted_proxies`
(none by default), against a real uvicorn server on 127.0.0.1: rotating the
header from anywhere else does not get round the per-IP limit of subscribe."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from digest.config import load_settings
from digest.errors import ConfigError
from digest.web import WebServer
from tests.test_web import Site, csrf

LIMIT = 5  # subscribe POSTs per IP a minute (digest/web/app.py)


@contextmanager
def served(site: Site, trusted: tuple[str, ...] = ()) -> Iterator[httpx.Client]:
    server = WebServer(site.app, host="127.0.0.1", port=0, trusted_proxies=trusted)
    server.start()
    try:
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            yield client
    finally:
        server.stop()


def subscribe(client: httpx.Client, email: str, forwarded: str) -> int:
    headers = {"X-Forwarded-For": forwarded}
    form = client.get("/", headers=headers)
    data = {"csrf": csrf(form.text), "email": email, "profile": "scaling"}
    return client.post("/subscribe", data=data, headers=headers).status_code


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    with Site(tmp_path, monkeypatch) as s:
        yield s


def test_a_rotating_header_from_an_untrusted_peer_is_ignored(site: Site) -> None:
    with served(site) as client:
        codes = [subscribe(client, f"r{n}@example.org", f"198.51.100.{n}") for n in range(7)]
    assert codes == [200] * LIMIT + [429, 429]


def test_a_trusted_proxy_passes_on_each_visitor(site: Site) -> None:
    with served(site, trusted=("127.0.0.1",)) as client:
        rotating = [subscribe(client, f"r{n}@example.org", f"198.51.100.{n}") for n in range(7)]
        # One visitor behind the proxy is still limited; a forged hop before it is
        # not believed (the proxy appends the address it saw last).
        one = [
            subscribe(client, f"s{n}@example.org", f"10.9.9.{n}, 203.0.113.50") for n in range(7)
        ]
    assert rotating == [200] * 7
    assert one == [200] * LIMIT + [429, 429]


def test_a_trusted_network_in_cidr_form(site: Site) -> None:
    with served(site, trusted=("127.0.0.0/8",)) as client:
        codes = [subscribe(client, f"r{n}@example.org", f"198.51.100.{n}") for n in range(7)]
    assert codes == [200] * 7


def test_trusted_proxies_in_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "digest.yaml"
    cfg.write_text("trusted_proxies: [172.17.0.1, 10.0.0.0/8]\n")
    assert load_settings(cfg).web.trusted_proxies == ("172.17.0.1", "10.0.0.0/8")
    assert load_settings(None).web.trusted_proxies == ()
    cfg.write_text("site_url: http://localhost:8000/\ntrusted_proxies: [localhost]\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg)
    assert f"{cfg}:2:" in caught.value.problems[0]
    assert "IP address or network" in caught.value.problems[0]
