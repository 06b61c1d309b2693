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
    assert s.store_url == f"sqlite:///{tmp_path.resolve() / 'x.db'}"  # beside the file
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
    assert f"{p}:4: fetch.max_bytes: must be a size like 20MB (at most 1TB)" in text
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
    # A relative SQLite path is relative to the config file, like every other path.
    assert resolve_store_url(None, s) == f"sqlite:///{tmp_path.resolve()}/config/from-file.db"
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
    assert s.email.outbox == (tmp_path / "out" / "outbox").resolve()  # under `output`


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
        "8: email.smtp.retries: must be at least 0",
        "9: email.smtp.password: unknown key",
    ]
    found = sorted(err.value.problems, key=lambda m: int(m.split(":")[1]))
    assert len(found) == len(expected)
    assert [m.removeprefix(f"{p}:")[: len(e)] for m, e in zip(found, expected, strict=True)] == (
        expected
    )


def _smtp(line: str) -> str:
    return f"email:\n  smtp:\n    host: mx.example.org\n    {line}\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # ranges: ports, counts, finite positive numbers
        (_smtp("port: 99999999"), "4: email.smtp.port: must be at most 65535"),
        (_smtp("port: 0"), "4: email.smtp.port: must be at least 1"),
        (_smtp("connections: 0"), "4: email.smtp.connections: must be at least 1"),
        (_smtp("timeout: .inf"), "4: email.smtp.timeout: must be a finite number, not inf"),
        (_smtp("rate: .nan"), "4: email.smtp.rate: must be a finite number, not nan"),
        ("fetch:\n  timeout: 1.0e+400\n", "2: fetch.timeout: must be a finite number, not inf"),
        ("fetch:\n  max_bytes: 99999 GB\n", "2: fetch.max_bytes: must be a size like 20MB"),
        ("feed_items: 1000000\n", "1: feed_items: must be at most 10000"),
        ("deliveries:\n  lease_seconds: .nan\n", "2: deliveries.lease_seconds: must be a finite"),
        # the subject's placeholders
        ('email:\n  subject: "{title} {nope}"\n', "2: email.subject: unknown placeholder {nope}"),
        ('email:\n  subject: "{title.__class__}"\n', "2: email.subject: unknown placeholder"),
        ('email:\n  subject: "{0}"\n', "2: email.subject: unknown placeholder {0}"),
        ('email:\n  subject: "{title"\n', "2: email.subject: expected '}' before end of string"),
        ('email:\n  subject: "{count:q}"\n', "2: email.subject: cannot be filled in"),
        ('email:\n  subject: "a\\nBcc: x@y.org"\n', "2: email.subject: must not hold line breaks"),
        # URL schemes: http(s) (mailto for the mailto key; file for sources)
        (
            'email:\n  unsubscribe_url: "javascript:alert(1)//{token}"\n',
            "2: email.unsubscribe_url: must be an http(s) URL, not javascript: URL",
        ),
        (
            'email:\n  unsubscribe_mailto: "javascript:alert(1)"\n',
            "2: email.unsubscribe_mailto: 'javascript:alert(1)' is not an ASCII email address",
        ),
        ('site_url: "javascript:alert(1)"\n', "1: site_url: must be an http(s) URL"),
        (
            'sources:\n  - url: "javascript:alert(1)"\n',
            "2: sources[0].url: must be an http(s) or file: URL, not javascript: URL",
        ),
        ('email:\n  sender: "a@x.org\\r\\nBcc: b@y.org"\n', "2: email.sender: must not hold"),
        ("email:\n  domain: a b\n", "2: email.domain: 'a b' is not a domain name"),
        # the loader: impossible dates, huge numbers, deep nesting, duplicate keys
        (
            "sources:\n  - path: a\n    reference_date: 2025-02-30\n",
            "3: not a valid date: 2025-02-30 (day is out of range for month)",
        ),
        (f"feed_items: {'9' * 400}\n", "1: number too large"),
        (f"feed_items: {'9' * 5000}\n", "1: number too large"),
        ("fetch: " + "[" * 5000 + "]" * 5000 + "\n", "1: nested more than 64 levels deep"),
        (
            "feed_items: 5\nsite_url: http://x.org/\nfeed_items: 6\n",
            "3: duplicate key 'feed_items'",
        ),
        ("email:\n  sender: a@x.org\n  sender: b@x.org\n", "3: duplicate key 'sender'"),
        ("feed_items: !!int many\n", "1: cannot read this value"),
        ("feed_items: 5\x00\n", "1: special characters are not allowed"),
        # paths
        ("store: digest.db\n", "1: store: must be a store URL like sqlite:///digest.db"),
        ("profiles: nowhere\n", "1: profiles: "),
        ('output: ""\n', "1: output: must not be empty"),
    ],
)
def test_single_config_problems(tmp_path: Path, text: str, expected: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(p)
    assert len(err.value.problems) == 1, err.value.problems
    assert err.value.problems[0].startswith(f"{p}:{expected}"), err.value.problems[0]


def test_good_values_pass(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "email:\n"
        '  subject: "[{profile}] {title}: {count:>3} ({papers}) {date} {{x}}"\n'
        "  unsubscribe_url: https://x.org/u?t={token}\n"
        "  unsubscribe_mailto: mailto:unsub@x.org\n"
        "  domain: news.x.org\n"
        "  smtp:\n"
        "    host: 127.0.0.1\n"
        "    port: 65535\n"
        "sources:\n"
        "  - url: file:///srv/dump.txt\n"
        "    reference_date: 2024-02-29\n",
    )
    s = load_settings(p)
    assert s.email.unsubscribe_mailto == "unsub@x.org"
    assert s.email.smtp is not None
    assert s.email.smtp.port == 65535
    assert s.sources[0].reference_date == date(2024, 2, 29)


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("sqlite:///d.db", "sqlite:///{base}/d.db"),
        ("sqlite:///../d.db?timeout=5", "sqlite:///{parent}/d.db?timeout=5"),
        ("sqlite+pysqlite:///sub/d.db", "sqlite+pysqlite:///{base}/sub/d.db"),
        ("sqlite:////abs/d.db", "sqlite:////abs/d.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_a_relative_store_is_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str, expected: str
) -> None:
    (tmp_path / "etc").mkdir()
    monkeypatch.chdir(tmp_path)  # not where the store goes
    p = tmp_path / "etc" / "digest.yaml"
    p.write_text(f"store: {store!r}\n")
    base = (tmp_path / "etc").resolve()
    want = expected.format(base=base, parent=base.parent)
    assert load_settings(p).store_url == want
    assert load_settings(Path("etc/digest.yaml")).store_url == want  # a relative --config too
