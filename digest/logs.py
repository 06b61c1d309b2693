"""Logging for the command line and the daemon: JSON lines for machines, text for people.

`setup_logging` writes to stderr: one JSON object per event when stderr is not
a terminal (systemd's journal, Docker, a pipe), plain text when it is. Fields
given with `log.info(..., extra={...})` appear in both: JSON keeps their types,
text shows them as `key=value`.

A JSON event has `ts` (UTC, ISO 8601), `level`, `logger` and `event`. `event`
is `extra={"event": name}` when the caller gives one, else the message; in the
first case the message is kept as `message`. An `extra` field named like one
of these keys is written with a trailing underscore (`level_`).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

_CORE = ("ts", "level", "logger", "event", "message")
# Every attribute a plain LogRecord has; anything else came in through `extra`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}
_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a caller attached with `extra=`, in the order given."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        extras = extra_fields(record)
        event = extras.pop("event", None)
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": message if event is None else event,
        }
        if event is not None and message != str(event):
            out["message"] = message
        for key, value in extras.items():
            out[f"{key}_" if key in _CORE else key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`07:00:01 INFO  digest.pipeline: message key=value ...` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = extra_fields(record)
        extras.pop("event", None)
        if not extras:
            return text
        head, sep, tail = text.partition("\n")  # fields go on the message line, not the traceback
        fields = " ".join(f"{k}={_text(v)}" for k, v in extras.items())
        return f"{head} {fields}{sep}{tail}"


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or any(c.isspace() for c in text) else text


def setup_logging(
    verbose: int = 0, *, json_logs: bool | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every log record to `stream` (default stderr) at the level `verbose` asks.

    `verbose` 0 shows warnings, 1 info, 2 or more debug. `json_logs` None picks
    JSON when the stream is not a terminal. Calling it again replaces the
    handler it installed before; handlers others installed are left alone.
    """
    stream = sys.stderr if stream is None else stream
    if json_logs is None:
        isatty = getattr(stream, "isatty", None)
        json_logs = not (callable(isatty) and isatty())
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if json_logs else TextFormatter())
    handler.set_name("digest")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "digest"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(_LEVELS[max(0, min(verbose, 2))])
    return handler
