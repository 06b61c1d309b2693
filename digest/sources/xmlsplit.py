"""Cut a big, well-formed feed into smaller feeds, so that feedparser never
holds all of it at once.

feedparser builds a dict per element of the whole document: for a 100 MB
feed that is several times its size in memory. Each piece here is the
document's head (declaration, root and channel up to the first item), a run of
whole items, and the document's tail, so feedparser reads every piece as the
same feed with fewer entries. Anything expat can't read cleanly (ill-formed
markup, an undeclared entity, UTF-16) stays one piece and keeps feedparser's
lenient parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.parsers import expat

_ITEMS = frozenset({"item", "entry"})  # RSS and RDF items, Atom entries


def item_spans(data: bytes) -> list[tuple[int, int]] | None:
    """Byte spans of the top-level items, in order; None when expat can't tell."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in data[:4]:
        return None  # UTF-16/32: byte offsets of ASCII markup would not be found below
    parser = expat.ParserCreate()  # no namespace processing: the local name is enough
    spans: list[tuple[int, int]] = []
    depth = 0
    item_depth = 0  # the depth of the first item; nested "entry" elements are not items
    start = 0
    odd = False  # a tag not found where expat put it: the bytes are not what they seem

    def on_start(name: str, _attrs: object) -> None:
        nonlocal depth, item_depth, start
        depth += 1
        if (item_depth in (0, depth)) and name.rpartition(":")[2] in _ITEMS:
            item_depth, start = depth, parser.CurrentByteIndex

    def on_end(name: str) -> None:
        nonlocal depth, odd
        if depth == item_depth:
            at = parser.CurrentByteIndex
            if at > start and data.startswith(b"</" + name.encode(), at):
                end = data.find(b">", at) + 1
            else:  # an empty element `<item/>`: no end tag
                end = data.find(b">", start) + 1
                odd = odd or data[end - 2 : end] != b"/>"
            spans.append((start, end))
        depth -= 1

    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    try:
        parser.Parse(data, True)
    except Exception:  # ExpatError, an unknown encoding (LookupError), ...: feedparser decides
        return None
    return None if odd else spans


def pieces(data: bytes, size: int) -> Iterator[bytes]:
    """`data` as feeds of about `size` bytes of items each, made one at a time;
    just `data` if it is small or unreadable."""
    spans = item_spans(data) if len(data) > size else None
    if not spans:
        yield data
        return
    head, tail = data[: spans[0][0]], data[spans[-1][1] :]
    first = spans[0][0]
    for i, (_, end) in enumerate(spans):
        if end - first >= size or i == len(spans) - 1:
            yield head + data[first:end] + tail
            first = spans[i + 1][0] if i + 1 < len(spans) else end
