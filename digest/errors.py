"""One exception tree. Every error names the thing that failed.

    DigestError                 the root: anything raised on purpose (bad input, a
    │                           digest that cannot be mailed, an unknown profile)
    ├── ConfigError             .problems: every `file:line: key: message` found
    ├── UsageError              the command names what is not there (a profile, a path)
    ├── SourceError             .source: the source's name
    │   ├── FetchError          the bytes did not arrive (HTTP, timeout, size, file)
    │   └── ParseError          they arrived but are not the expected kind
    ├── StoreError              .store: the store cannot be opened, migrated or written
    ├── OutputError             .path: a published file or folder cannot be written
    └── TokenError              .reason: why a signed token was refused

A face turns any DigestError into a message and an exit code (or an HTTP status);
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DigestError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(DigestError):
    """A config or profile file is invalid; carries every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class UsageError(DigestError):
    """The command line asks for what is not there: an unknown profile, a missing
    path. Exit status 2, like a bad option, and nothing is opened or written."""


class SourceError(DigestError):
    """A source could not be fetched or parsed. `source` is its name."""

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}")


class FetchError(SourceError):
    """The transport failed: HTTP status, timeout, size cap, missing file."""


class ParseError(SourceError):
    """The bytes arrived but are not a document of the expected kind."""


class StoreError(DigestError):
    """The store cannot be opened, migrated or written. `store` names it (a
    SQLite file's path, or the URL without its password) when known."""

    def __init__(self, message: str, *, store: str = "") -> None:
        self.store = store
        super().__init__(message)


class OutputError(DigestError):
    """A published file or its folder cannot be made or written (no permission,
    a file in the way, the disk full). `path` names it."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"cannot write {path}: {reason}; make it writable or set `output:` elsewhere"
        )


class TokenError(DigestError):
    """A signed token (unsubscribe, confirm) is not valid; `reason` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invalid token: {reason}")
