"""Structured logs: JSON lines off a terminal, text on one, `extra` fields in both."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.logs import setup_logging


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    out = []
    for line in stream.getvalue().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def test_json_off_a_terminal_with_extra_fields() -> None:
    stream = io.StringIO()
    setup_logging(1, stream=stream)
    before = datetime.now(UTC)
    logging.getLogger("digest.pipeline").info(
        "source %s: %d new", "arxiv", 3, extra={"source": "arxiv", "new": 3, "ok": True}
    )
    (event,) = lines(stream)
    assert stream.getvalue().count("\n") == 1
    assert event == {
        "ts": event["ts"],
        "level": "info",
        "logger": "digest.pipeline",
        "event": "source arxiv: 3 new",
        "source": "arxiv",
        "new": 3,
        "ok": True,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["ts"])
    ts = datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
    assert abs((ts - before).total_seconds()) < 5


def test_an_event_name_in_extra_keeps_the_message() -> None:
    stream = io.StringIO()
    setup_logging(1, stream=stream)
    counts = {"sent": 2, "failed": 0}
    logging.getLogger("digest.pipeline").info("send: %s", counts, extra={"event": "send", **counts})
    (event,) = lines(stream)
    assert event["event"] == "send"
    assert event["message"] == "send: {'sent': 2, 'failed': 0}"
    assert (event["sent"], event["failed"]) == (2, 0)


def test_clashing_and_odd_extra_fields() -> None:
    stream = io.StringIO()
    setup_logging(1, stream=stream)
    when = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    logging.getLogger("x").info(
        "hello", extra={"level": "mine", "ts": 1, "path": Path("/a b"), "when": when}
    )
    (event,) = lines(stream)
    assert event["level"] == "info"
    assert event["level_"] == "mine"
    assert event["ts_"] == 1
    assert event["path"] == "/a b"
    assert event["when"] == "2026-11-23 07:00:00+00:00"


def test_exceptions_stay_on_one_line() -> None:
    stream = io.StringIO()
    setup_logging(0, stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("digest.schedule").exception("job failed", extra={"job": "ingest"})
    assert stream.getvalue().count("\n") == 1
    (event,) = lines(stream)
    assert event["level"] == "error"
    assert event["job"] == "ingest"
    assert "ValueError: boom" in event["exc"]
    assert "Traceback" in event["exc"]


def test_text_on_a_terminal() -> None:
    stream = Tty()
    setup_logging(1, stream=stream)
    logging.getLogger("digest.pipeline").info(
        "ingested", extra={"new": 3, "source": "arxiv cs.LG", "event": "ingest"}
    )
    out = stream.getvalue()
    assert not out.startswith("{")
    assert re.fullmatch(
        r'\d\d:\d\d:\d\d INFO  digest.pipeline: ingested new=3 source="arxiv cs.LG"\n', out
    )


def test_explicit_choice_wins_over_the_terminal_check() -> None:
    tty, pipe = Tty(), io.StringIO()
    setup_logging(1, json_logs=True, stream=tty)
    logging.getLogger("a").info("one")
    setup_logging(1, json_logs=False, stream=pipe)
    logging.getLogger("a").info("two")
    assert [e["event"] for e in lines(tty)] == ["one"]
    assert "INFO  a: two" in pipe.getvalue()


@pytest.mark.parametrize(
    ("verbose", "shown"),
    [(0, ["warning"]), (1, ["info", "warning"]), (2, ["debug", "info", "warning"]), (5, None)],
)
def test_verbosity(verbose: int, shown: list[str] | None) -> None:
    stream = io.StringIO()
    setup_logging(verbose, stream=stream)
    log = logging.getLogger("digest.test")
    log.debug("debug")
    log.info("info")
    log.warning("warning")
    expected = shown if shown is not None else ["debug", "info", "warning"]
    assert [e["event"] for e in lines(stream)] == expected


def test_calling_again_replaces_only_its_own_handler() -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    first, second = io.StringIO(), io.StringIO()
    setup_logging(1, stream=first)
    setup_logging(1, stream=second)
    logging.getLogger("a").info("once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1
    assert other in logging.getLogger().handlers
    assert sum(h.get_name() == "digest" for h in logging.getLogger().handlers) == 1


def test_default_stream_is_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(0)
    logging.getLogger("a").warning("careful", extra={"n": 1})
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err) | {"ts": 0} == {
        "ts": 0,
        "level": "warning",
        "logger": "a",
        "event": "careful",
        "n": 1,
    }
