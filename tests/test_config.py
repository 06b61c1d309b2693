from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from digest.config import load_settings, parse_size, resolve_config_path, resolve_store_url
from digest.errors import ConfigError
from digest.settings import (
    DEFAULT_STORE,
    EmailSettings,
    FetchSettings,
    SMTPSettings,
    WebSettings,
)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "digest.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults_without_a_file() -> None:
    s = load_settings(None)
    assert s.store_url == DEFAULT_STORE
    assert s.sources == ()


def test_sources_resolve_paths_against_the_config(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "store: sqlite:///x.db\n"
        "sources:\n"
        "  - name: a\n"
        "    path: feeds/a.xml\n"
        "  - url: https://example.org/rss\n"
        "    kind: feed\n"
        "  - name: dump\n"
        "    kind: listing\n"
        "    path: d.txt\n"
        "    reference_date: 2025-01-10\n"
        "  - name: disabled\n"
        "    path: off.txt\n"
        "    enabled: false\n"
        "fetch:\n"
        "  timeout: 5\n"
        "  max_bytes: 1MiB\n",
    )
    s = load_settings(p)
    assert s.store_url == "sqlite:///x.db"
    assert [x.name for x in s.sources] == ["a", "https://example.org/rss", "dump"]
    assert s.sources[0].location == str((tmp_path / "feeds/a.xml").resolve())
    assert s.sources[0].kind is None
    assert s.sources[1].kind == "feed"
    assert s.sources[2].reference_date == date(2025, 1, 10)
    assert s.fetch.timeout == 5.0
    assert s.fetch.max_bytes == 1024 * 1024


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    p = write(tmp_path, "store: sqlite:///x.db\nsources:\n  - name: a\n    pathh: a.xml\n")
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    problems = err.value.problems
    assert f"{p}:4: sources[0].pathh: unknown key" in problems[0]


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "stor: x\n"
        "fetch:\n"
        "  timeout: fast\n"
        "  max_bytes: huge\n"
        "sources:\n"
        "  - name: a\n"
        "    kind: podcast\n"
        "    path: a\n"
        "  - name: b\n"
        "    url: https://x\n"
        "    path: b\n"
        "  - name: a\n"
        "    path: c\n",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    text = "\n".join(err.value.problems)
    assert f"{p}:1: stor: unknown key" in text
    assert f"{p}:3: fetch.timeout: must be int or float, not a string" in text
    assert f"{p}:4: fetch.max_bytes: must be a size like 20MB" in text
    assert f"{p}:7: sources[0].kind: must be one of listing, feed, hf" in text
    assert "sources[1]: needs exactly one of `url` or `path`" in text
    assert f"{p}:12: sources[2].name: duplicate source name 'a'" in text
    assert len(err.value.problems) == 6


def test_boolean_is_not_a_number(tmp_path: Path) -> None:
    p = write(tmp_path, "fetch:\n  timeout: yes\n")
    with pytest.raises(
        ConfigError, match=r":2: fetch.timeout: must be int or float, not a boolean"
    ):
        load_settings(p)


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    p = write(tmp_path, "sources:\n  - name: a\n   path: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    assert err.value.problems[0].startswith(f"{p}:")
    assert err.value.problems[0].split(":")[1].isdigit()


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    p = write(tmp_path, "store: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="could not determine a constructor"):
        load_settings(p)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    p = write(tmp_path, "- just\n- a list\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (10, 10),
        ("20MB", 20_000_000),
        ("512 KiB", 524_288),
        ("1.5 kb", 1500),
        ("x", None),
        (0, None),
        ("3 parsecs", None),
    ],
)
def test_parse_size(value: int | str, expected: int | None) -> None:
    assert parse_size(value) == expected


def test_precedence_of_config_and_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIGEST_CONFIG", raising=False)
    monkeypatch.delenv("DIGEST_DB", raising=False)
    assert resolve_config_path(None) is None
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "digest.yaml").write_text("store: sqlite:///from-file.db\n")
    assert resolve_config_path(None) == Path("config/digest.yaml")
    monkeypatch.setenv("DIGEST_CONFIG", "other.yaml")
    assert resolve_config_path(None) == Path("other.yaml")
    assert resolve_config_path("cli.yaml") == Path("cli.yaml")
    s = load_settings(Path("config/digest.yaml"))
    assert resolve_store_url(None, s) == "sqlite:///from-file.db"
    monkeypatch.setenv("DIGEST_DB", "sqlite:///env.db")
    assert resolve_store_url(None, s) == "sqlite:///env.db"
    assert resolve_store_url("sqlite:///cli.db", s) == "sqlite:///cli.db"


def test_shipped_config_is_valid() -> None:
    shipped = Path(__file__).resolve().parent.parent / "config" / "digest.yaml"
    s = load_settings(shipped)
    assert {x.name for x in s.sources} >= {"arxiv-cs-lg", "hf-daily", "trending-page"}
    for src in s.sources:
        assert Path(src.location).is_file(), src.location


def test_keys_left_out_keep_the_records_defaults(tmp_path: Path) -> None:
    p = write(tmp_path, "fetch:\n  timeout: 5\nemail:\n  smtp:\n    host: mx.example.org\n")
    s = load_settings(p)
    assert s.fetch == FetchSettings(timeout=5.0)
    assert s.fetch.max_bytes == 20_000_000  # "20MB", as the shipped digest.yaml says
    assert s.email.smtp == SMTPSettings("mx.example.org")
    assert s.web == WebSettings(output_dir=(tmp_path / "out").resolve())
    e = EmailSettings()
    assert (s.email.sender, s.email.subject, s.email.unsubscribe_url) == (
        e.sender,
        e.subject,
        e.unsubscribe_url,
    )
    assert s.email.outbox == (tmp_path / "../out/outbox").resolve()


def test_email_and_smtp_are_read_into_the_adapters_records(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "site_url: https://papers.example.org\n"
        "feed_items: 7\n"
        "fetch:\n"
        "  user_agent: ''\n"
        "email:\n"
        "  sender: Digest <d@example.org>\n"
        "  unsubscribe_url: https://papers.example.org/u/{token}\n"
        "  outbox: mail\n"
        "  smtp:\n"
        "    host: mx.example.org\n"
        "    port: 465\n"
        "    security: tls\n"
        "    username: digest\n"
        "    timeout: 10\n"
        "    rate: 2.5\n"
        "    retries: 0\n",
    )
    s = load_settings(p)
    assert s.web.site_url == "https://papers.example.org/"
    assert s.web.feed_items == 7
    assert s.fetch.user_agent == FetchSettings().user_agent  # empty means the built-in one
    assert s.email.sender == "Digest <d@example.org>"
    assert s.email.unsubscribe_url == "https://papers.example.org/u/{token}"
    assert s.email.outbox == (tmp_path / "mail").resolve()
    assert s.email.smtp == SMTPSettings(
        "mx.example.org",
        port=465,
        security="tls",
        username="digest",
        timeout=10.0,
        rate=2.5,
        retries=0,
    )
    assert s.email.smtp.password is None  # never from the file


def test_bad_email_and_smtp_values_are_all_reported(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "feed_items: 0\n"
        "site_url: ftp://x\n"
        "email:\n"
        "  unsubscribe_url: https://x.org/u\n"
        "  smtp:\n"
        "    host: mx\n"
        "    security: ssl\n"
        "    retries: -1\n"
        "    password: hunter2\n",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    expected = [
        "1: feed_items: must be at least 1",
        "2: site_url: must be an http(s) URL",
        "4: email.unsubscribe_url: must contain {token}",
        "7: email.smtp.security: must be plain, starttls or tls",
        "8: email.smtp.retries: must be >= 0",
        "9: email.smtp.password: unknown key",
    ]
    found = sorted(err.value.problems, key=lambda m: int(m.split(":")[1]))
    assert len(found) == len(expected)
    assert [m.removeprefix(f"{p}:")[: len(e)] for m, e in zip(found, expected, strict=True)] == (
        expected
    )
