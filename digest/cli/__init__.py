"""`digest` command line: thin click commands over digest.pipeline and digest.service.

One module per command group: `cycle` (ingest, run, publish, send, serve), `views`
(items, preview, render, profiles check, deliveries, status), `people` (subscribers),
`stores` (store copy).
Imports of anything heavy happen inside commands, so `digest --help` is quick.
Exit status (`base.EXIT_*`, as the README says): 0 all sound, 1 store error, 2 usage or
config error (nothing written), 3 done in part (some sources, mails or rows failed).
"""

from __future__ import annotations

from digest.cli import cycle, people, stores, views
from digest.cli.base import EXIT_PARTIAL, EXIT_STORE, EXIT_USAGE, cli, main

__all__ = [
    "EXIT_PARTIAL",
    "EXIT_STORE",
    "EXIT_USAGE",
    "cli",
    "cycle",
    "main",
    "people",
    "stores",
    "views",
]
