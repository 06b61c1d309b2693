"""The one Jinja environment: digests, archive pages, feeds' pages and the web side.

Templates ship inside the package (`digest/templates/`, package data), found with
`PackageLoader` wherever the package is installed. A configured `templates:` folder
goes in front, so any one file in it overrides the bundled one of the same name.
HTML and XML templates autoescape; Markdown (`*.md.j2`) and plain text (`*.txt.j2`)
do not: their feed text goes through the `md` and `wrap` filters instead.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jinja2

from digest.render.views import md_escape, wrap


def environment(override: Path | None = None) -> jinja2.Environment:
    """The environment for `override` (a folder of templates, or None). One per folder:
    compiled templates are shared by everything that renders."""
    return _environment(override)  # one cache key however it is called


@functools.lru_cache(maxsize=8)
def _environment(override: Path | None) -> jinja2.Environment:
    bundled = jinja2.PackageLoader("digest", "templates")
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(override)] if override else []
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([*loaders, bundled]),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html.j2", "xml.j2", "html", "xml"),
            disabled_extensions=("txt.j2", "md.j2"),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["wrap"] = wrap
    return env
