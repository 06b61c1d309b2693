"""The web side: subscribe (double opt-in), one-click unsubscribe, feeds, archive.

from digest.web import WebServer, create_app

server = WebServer(create_app(settings, store), host="127.0.0.1", port=8000)
server.start()
...
server.stop()
"""

from __future__ import annotations

from digest.web.app import create_app
from digest.web.server import WebServer

__all__ = ["WebServer", "create_app"]
