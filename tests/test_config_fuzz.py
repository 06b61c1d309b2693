"""Malformed config and profile files, built here, through `digest run`: every one
is refused with exit status 2 and a `file:line` problem on stderr, none reaches a
traceback, and the store file is never created (nothing is written at all)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from digest.cli import EXIT_USAGE, cli

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-23T06:00:00"
SOURCES = "sources:\n  - name: s\n    path: feed.rss\n"
GOOD_PROFILE = "title: Scaling\nkeywords:\n  scaling law: 2\n"
DEEP = 5000


def _config(extra: str = "", sources: str = SOURCES) -> str:
    return f"store: sqlite:///store.db\nprofiles: profiles\noutput: out\n{sources}{extra}"


def _smtp(line: str) -> str:
    return _config(f"email:\n  smtp:\n    host: mx.example.org\n    {line}\n")


def _email(line: str) -> str:
    return _config(f"email:\n  {line}\n")


def _source(line: str) -> str:
    return _config(sources=f"sources:\n  - name: s\n    {line}\n")


# (id, digest.yaml text or bytes); the profile is a good one.
CONFIGS: list[tuple[str, str | bytes]] = [
    ("port-0", _smtp("port: 0")),
    ("port-65536", _smtp("port: 65536")),
    ("port-99999999", _smtp("port: 99999999")),
    ("port-negative", _smtp("port: -1")),
    ("connections-0", _smtp("connections: 0")),
    ("retries-negative", _smtp("retries: -1")),
    ("smtp-timeout-nan", _smtp("timeout: .nan")),
    ("smtp-timeout-inf", _smtp("timeout: .inf")),
    ("rate-minus-inf", _smtp("rate: -.inf")),
    ("smtp-host-with-space", _smtp("port: 25\n    host: mx example")),
    ("feed-items-0", _config("feed_items: 0\n")),
    ("feed-items-400-digits", _config(f"feed_items: {'9' * 400}\n")),
    ("feed-items-5000-digits", _config(f"feed_items: {'9' * 5000}\n")),
    ("feed-items-huge-float", _config(f"feed_items: 1{'0' * 400}.5\n")),
    ("date-feb-30", _source("path: a.txt\n    reference_date: 2025-02-30")),
    ("date-feb-29-not-leap", _source("path: a.txt\n    reference_date: 2025-02-29")),
    ("date-month-13", _source("path: a.txt\n    reference_date: 2025-13-01")),
    ("date-tagged-nonsense", _source("path: a.txt\n    reference_date: !!timestamp soon")),
    ("subject-unknown-placeholder", _email('subject: "{title} {nope}"')),
    ("subject-unbalanced", _email('subject: "{title"')),
    ("subject-attribute", _email('subject: "{title.__class__}"')),
    ("subject-positional", _email('subject: "{0} papers"')),
    ("subject-empty-field", _email('subject: "{} papers"')),
    ("subject-bad-spec", _email('subject: "{count:q}"')),
    ("subject-line-break", _email('subject: "a\\r\\nBcc: x@example.org"')),
    ("unsubscribe-javascript", _email('unsubscribe_url: "javascript:alert(1)//{token}"')),
    ("unsubscribe-no-token", _email("unsubscribe_url: https://example.org/u")),
    ("unsubscribe-relative", _email('unsubscribe_url: "/u/{token}"')),
    ("unsubscribe-two-placeholders", _email('unsubscribe_url: "https://x.org/{token}/{id}"')),
    ("mailto-javascript", _email('unsubscribe_mailto: "javascript:alert(1)"')),
    ("sender-not-an-address", _email("sender: nobody")),
    ("sender-header-injection", _email('sender: "a@example.org\\r\\nBcc: x@example.org"')),
    ("domain-with-space", _email("domain: a b")),
    ("site-url-javascript", _config('site_url: "javascript:alert(1)"\n')),
    ("site-url-ftp", _config("site_url: ftp://example.org/\n")),
    ("site-url-bad-port", _config("site_url: http://example.org:99999/\n")),
    ("source-url-javascript", _source('url: "javascript:alert(1)"')),
    ("source-url-data", _source('url: "data:text/plain,hello"')),
    ("source-path-nul", _source('path: "a\\0b"')),
    ("source-path-empty", _source('path: ""')),
    ("duplicate-top-key", _config("feed_items: 5\nfeed_items: 6\n")),
    ("duplicate-nested-key", _email("sender: a@example.org\n  sender: b@example.org")),
    ("duplicate-source-key", _source("path: a.txt\n    path: b.txt")),
    ("nesting-flow-lists", _config("fetch: " + "[" * DEEP + "]" * DEEP + "\n")),
    ("nesting-flow-maps", _config("fetch: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n")),
    ("nesting-block-lists", _config("fetch:\n  timeout:\n    " + "- " * DEEP + "x\n")),
    ("max-bytes-400-digits", _config(f"fetch:\n  max_bytes: '{'9' * 400} GB'\n")),
    ("max-bytes-over-1tb", _config("fetch:\n  max_bytes: 99999 GB\n")),
    ("fetch-timeout-overflow", _config("fetch:\n  timeout: 1.0e+400\n")),
    ("lease-nan", _config("deliveries:\n  lease_seconds: .nan\n")),
    ("batch-0", _config("deliveries:\n  batch: 0\n")),
    ("tagged-int-nonsense", _config("feed_items: !!int many\n")),
    ("tagged-float-nonsense", _config("feed_items: !!float many\n")),
    ("python-object", _config("templates: !!python/object/apply:os.system ['true']\n")),
    ("two-documents", _config("---\nfeed_items: 5\n")),
    ("tab-indentation", _config("fetch:\n\ttimeout: 5\n")),
    ("nul-byte", _config("feed_items: 5\x00\n")),
    ("not-utf8", _config("site_url: http://example.org/\n").encode() + b"# \xff\xfe\n"),
    ("store-empty", _config().replace("sqlite:///store.db", '""')),
    ("store-not-a-url", _config().replace("sqlite:///store.db", "store.db")),
    ("profiles-folder-missing", _config().replace("profiles: profiles", "profiles: profils")),
    ("templates-folder-missing", _config("templates: my-templates\n")),
]

# (id, profiles/p.yaml text or bytes); the config is a good one.
PROFILES: list[tuple[str, str | bytes]] = [
    ("weight-nan", "keywords:\n  scaling: .nan\n"),
    ("weight-inf", "keywords:\n  scaling: .inf\n"),
    ("weight-minus-inf", "keywords:\n  scaling: -.inf\n"),
    ("weight-zero", "keywords:\n  scaling: 0\n"),
    ("weight-negative", "keywords:\n  scaling: -1\n"),
    ("weight-400-digits", f"keywords:\n  scaling: {'9' * 400}\n"),
    ("weight-overflow-float", "keywords:\n  scaling: 1.0e+400\n"),
    ("weight-too-large", "keywords:\n  scaling: 1.0e+300\n"),
    ("weight-boolean", "keywords:\n  scaling: yes\n"),
    ("duplicate-keyword", "keywords:\n  scaling: 1\n  law: 2\n  scaling: 3\n"),
    ("duplicate-keyword-case", "keywords:\n  scaling: 1\n  Scaling: 3\n"),
    ("duplicate-top-key", "title: A\nkeywords: [x]\ntitle: B\n"),
    ("duplicate-exclude", "keywords: [x]\nexclude: [y, y]\n"),
    ("min-score-nan", "keywords: [x]\nmin_score: .nan\n"),
    ("min-score-overflow", "keywords: [x]\nmin_score: 1.0e+400\n"),
    ("title-weight-inf", "keywords: [x]\ntitle_weight: .inf\n"),
    ("max-items-0", "keywords: [x]\nmax_items: 0\n"),
    ("max-items-huge", "keywords: [x]\nmax_items: 1000000000000\n"),
    ("max-items-5000-digits", f"keywords: [x]\nmax_items: {'9' * 5000}\n"),
    ("first-digest-days-huge", "keywords: [x]\nfirst_digest_days: 99999\n"),
    ("nesting", "keywords: [x]\ndescription: " + "[" * DEEP + "]" * DEEP + "\n"),
    ("nesting-block", "keywords:\n  " + "- " * DEEP + "x\n"),
    ("impossible-date", "keywords: [x]\ndescription: 2025-02-30\n"),
    ("schedule-hour-25", "keywords: [x]\nschedule: mon-fri 25:00\n"),
    ("unknown-timezone", "keywords: [x]\ntimezone: Mars/Olympus\n"),
    ("bad-recipient", "keywords: [x]\nrecipients: [not-an-address]\n"),
    ("bad-regex", "keywords:\n  /(unclosed/: 1\n"),
    ("empty-exclude", "keywords: [x]\nexclude: ['']\n"),
    ("nul-byte", "keywords: [x]\x00\n"),
    ("not-utf8", b"keywords: [x]\ntitle: \xff\n"),
    ("python-object", "keywords: [x]\ntitle: !!python/object/apply:os.system ['true']\n"),
]


def _lay_out(tmp_path: Path, config: str | bytes, profile: str | bytes) -> Path:
    cfg = tmp_path / "digest.yaml"
    (tmp_path / "profiles").mkdir()
    for path, text in ((cfg, config), (tmp_path / "profiles" / "p.yaml", profile)):
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return cfg


def _assert_refused(tmp_path: Path, blamed: Path, code: int, stderr: str, stdout: str) -> None:
    assert code == EXIT_USAGE, stderr
    assert re.search(rf"^{re.escape(str(blamed))}:\d+: ", stderr, re.MULTILINE), stderr
    assert "Traceback" not in stderr + stdout
    assert stdout == ""
    # Nothing written: neither the store nor any output, beside the config or here.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["digest.yaml", "profiles"]


def test_there_are_at_least_40_cases() -> None:
    assert len(CONFIGS) + len(PROFILES) >= 40
    assert len({n for n, _ in CONFIGS}) == len(CONFIGS)
    assert len({n for n, _ in PROFILES}) == len(PROFILES)


@pytest.mark.parametrize(("name", "text"), CONFIGS, ids=[n for n, _ in CONFIGS])
def test_a_malformed_config_exits_2_with_file_line_and_writes_nothing(
    tmp_path: Path, name: str, text: str | bytes
) -> None:
    cfg = _lay_out(tmp_path, text, GOOD_PROFILE)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--now", NOW])
    assert isinstance(result.exception, SystemExit), result.exception  # not a crash
    _assert_refused(tmp_path, cfg, result.exit_code, result.stderr, result.stdout)


@pytest.mark.parametrize(("name", "text"), PROFILES, ids=[n for n, _ in PROFILES])
def test_a_malformed_profile_exits_2_with_file_line_and_writes_nothing(
    tmp_path: Path, name: str, text: str | bytes
) -> None:
    cfg = _lay_out(tmp_path, _config(), text)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "run", "--now", NOW])
    assert isinstance(result.exception, SystemExit), result.exception
    _assert_refused(
        tmp_path, tmp_path / "profiles" / "p.yaml", result.exit_code, result.stderr, result.stdout
    )


def test_the_good_files_are_accepted(tmp_path: Path) -> None:
    """The baseline every case above breaks one thing of is itself valid."""
    cfg = _lay_out(tmp_path, _config(), GOOD_PROFILE)
    result = CliRunner().invoke(cli, ["--config", str(cfg), "profiles", "check"])
    assert result.exit_code == 0, result.output
    assert "1 profiles valid" in result.stdout


@pytest.mark.parametrize(
    "name", ["nesting-flow-lists", "feed-items-5000-digits", "date-feb-30", "duplicate-top-key"]
)
def test_through_the_real_entry_point(tmp_path: Path, name: str) -> None:
    cfg = _lay_out(tmp_path, dict(CONFIGS)[name], GOOD_PROFILE)
    done = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(cfg), "run", "--now", NOW],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    _assert_refused(tmp_path, cfg, done.returncode, done.stderr, done.stdout)
