"""Where a paper can be read: the one rule every output (mail, archive, feeds)
takes its links from.

- arXiv id known: the abstract and the PDF on arxiv.org, without a version (the
  reader gets the newest; a versioned link next to an unversioned one confuses).
- Hugging Face: only for a paper seen there (a sighting, or its own link, on
  huggingface.co).
- Otherwise the source's own link (else its DOI), and a PDF the source gave.
Every URL is safe http(s) or "".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from digest.models import Candidate
from digest.render.sanitize import safe_url

_VERSION = re.compile(r"v\d+$")
_HF_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})


@dataclass(frozen=True, slots=True)
class Links:
    """A paper's links. `url` is the paper itself (what its title links to)."""

    url: str
    pdf: str = ""
    hugging_face: str = ""
    label: str = "Abstract"  # what `url` is: "Abstract" (arXiv), "Link", "DOI", "Hugging Face"

    def labelled(self) -> tuple[tuple[str, str], ...]:
        """(label, url) for each link there is, each URL once: Abstract, PDF, Hugging Face."""
        out: dict[str, str] = {}
        links = ((self.label, self.url), ("PDF", self.pdf), ("Hugging Face", self.hugging_face))
        for label, href in links:
            if href and href not in out.values():
                out[label] = href
        return tuple(out.items())


def _on_hf(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    return host.lower() in _HF_HOSTS


def paper_links(c: Candidate) -> Links:
    """The links of `c` by the rules above."""
    hf = next((s.link for s in c.seen if _on_hf(s.link)), c.url if _on_hf(c.url) else "")
    arxiv = _VERSION.sub("", c.arxiv_id.strip())
    if arxiv:
        hf_url = f"https://huggingface.co/papers/{arxiv}" if hf else ""
        return Links(
            safe_url(f"https://arxiv.org/abs/{arxiv}"),
            safe_url(f"https://arxiv.org/pdf/{arxiv}"),
            safe_url(hf_url),
        )
    own = safe_url(c.url)
    if own:
        label = "Hugging Face" if _on_hf(own) else "Link"
        return Links(own, safe_url(c.pdf_url), safe_url(hf), label)
    doi = safe_url(f"https://doi.org/{c.doi.strip()}") if c.doi.strip() else ""
    return Links(doi, safe_url(c.pdf_url), safe_url(hf), "DOI")
