"""Rendering benchmark: per-profile preparation plus per-subscriber personalisation.

10,000 subscribers across 100 profiles (100 each); each profile's digest holds
~20 picks with realistic titles, abstracts (~150 words), author lists and
sightings. The fast path renders each digest once (`Renderer.prepare`: Jinja,
CSS inlining, size cap, plain text) and then `personalize`s it per subscriber
(unsubscribe URL substituted, escaped for HTML). Digests per second counts all
10,000 emails over the whole time, the 100 prepares included.

The baseline, measured in the same run on a subsample and extrapolated, renders
every subscriber's email from scratch with `html()` + `text()`. Target: >= 1,000
digests/s on the 2-core machine.

    python bench/render.py            # 100 profiles x 100 subscribers
    python bench/render.py --quick    # 20 profiles x 50 subscribers
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from digest.models import Candidate, Digest, Hit, Pick, Profile, Seen, Term
from digest.render import Renderer

TARGET = 1_000  # digests per second
TOPICS = (
    "scaling law", "batch size", "learning rate", "diffusion model", "flow matching",
    "mixture of experts", "reinforcement learning", "preference optimization", "tokenizer",
    "long context", "retrieval augmentation", "speculative decoding", "quantization",
    "knowledge distillation", "vision transformer", "reward model", "chain of thought",
    "state space model", "sparse attention", "data curation",
)  # fmt: skip
WORDS = (
    "we", "propose", "a", "novel", "method", "for", "efficient", "training", "of", "large",
    "language", "models", "that", "improves", "the", "accuracy", "and", "reduces", "compute",
    "our", "experiments", "show", "consistent", "gains", "across", "benchmarks", "tasks",
    "with", "minimal", "overhead", "theoretical", "analysis", "reveals", "why", "this",
    "works", "in", "practice", "robust", "to", "hyperparameters", "scale", "data", "regime",
)  # fmt: skip
NAMES = (
    "Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov",
    "Donald Knuth", "Frances Allen", "John McCarthy", "Leslie Lamport", "Shafi Goldwasser",
    "Yoshua Bengio", "Fei-Fei Li", "Geoffrey Hinton", "Daphne Koller", "Judea Pearl",
    "Karen Spärck Jones", "Ramanujan Srinivasa", "Zhang Wei", "Nguyễn Văn An", "Olga Ivanova",
)  # fmt: skip
SOURCES = ("arxiv-cs-lg", "arxiv-cs-cl", "hf-daily", "trending-page")


def _sentence(rng: random.Random, topic: str) -> str:
    words = rng.choices(WORDS, k=rng.randint(10, 22))
    words.insert(rng.randrange(len(words)), topic)
    return " ".join(words).capitalize() + "."


def _pick(rng: random.Random, n: int, terms: list[str], now: datetime) -> Pick:
    topic = rng.choice(terms)
    other = rng.choice(TOPICS)
    title = f"{topic.title()} meets {other}: {' '.join(rng.choices(WORDS, k=5))}"
    summary = " ".join(_sentence(rng, rng.choice((topic, other))) for _ in range(8))
    arxiv_id = f"2611.{n:05d}"
    seen = tuple(
        Seen(
            src,
            upvotes=rng.randint(0, 300) if src == "hf-daily" else None,
            num_comments=rng.randint(0, 20) if src == "hf-daily" else None,
            announce_type="new" if src.startswith("arxiv") else "",
            categories=("cs.LG", "cs.CL")[: rng.randint(1, 2)] if src.startswith("arxiv") else (),
        )
        for src in rng.sample(SOURCES, rng.randint(1, 3))
    )
    cand = Candidate(
        item_id=n,
        key=f"arxiv:{arxiv_id}",
        title=title,
        summary=summary,
        authors=tuple(rng.sample(NAMES, rng.randint(1, 12))),
        url=f"https://arxiv.org/abs/{arxiv_id}",
        first_seen=now - timedelta(hours=rng.randint(1, 30)),
        seen=seen,
        arxiv_id=arxiv_id,
    )
    hits = (Hit(topic, "title"), Hit(other, "abstract"))
    return Pick(cand, float(rng.randint(2, 12)), hits)


def make_digests(n_profiles: int, rng: random.Random) -> list[Digest]:
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    digests = []
    for i in range(n_profiles):
        terms = rng.sample(TOPICS, 4)
        profile = Profile(
            name=f"profile-{i}",
            title=f"{terms[0].title()} and {terms[1]} weekly",
            keywords=tuple(Term(t, 2) for t in terms),
            timezone=rng.choice(("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")),
        )
        picks = tuple(_pick(rng, i * 100 + j, terms, now) for j in range(rng.randint(17, 23)))
        digests.append(Digest(profile, picks, now, id=i + 1))
    return digests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 profiles x 50 subscribers")
    ap.add_argument("--naive-sample", type=int, default=200, help="subscribers for the baseline")
    args = ap.parse_args()
    n_profiles, per_profile = (20, 50) if args.quick else (100, 100)
    rng = random.Random(42)
    digests = make_digests(n_profiles, rng)
    renderer = Renderer(archive_url="https://digest.example.org/archive/")
    total = n_profiles * per_profile

    def url(p: int, s: int) -> str:
        return f"https://digest.example.org/unsubscribe?profile={p}&token={s:08x}{p:04x}"

    renderer.html(digests[0])  # templates compiled before timing
    t0 = time.perf_counter()
    prepared = [renderer.prepare(d) for d in digests]
    t_prepare = time.perf_counter() - t0
    html_bytes = text_bytes = 0
    for p, prep in enumerate(prepared):
        for s in range(per_profile):
            text, html = renderer.personalize(prep, unsubscribe_url=url(p, s))
            html_bytes += len(html)
            text_bytes += len(text)
    t_total = time.perf_counter() - t0
    rate = total / t_total

    sample = min(args.naive_sample, total)
    t0 = time.perf_counter()
    for k in range(sample):
        d = digests[k % n_profiles]
        renderer.html(d, unsubscribe_url=url(k, k))
        renderer.text(d, unsubscribe_url=url(k, k))
    t_naive = time.perf_counter() - t0
    naive_rate = sample / t_naive

    picks = sum(len(d.picks) for d in digests)
    print(
        f"profiles: {n_profiles}, subscribers: {total}, picks per digest: {picks / n_profiles:.1f}"
    )
    print(
        f"mean email: HTML {html_bytes / total / 1000:.1f} kB"
        f" (cap {renderer.max_html_bytes:,} B), text {text_bytes / total / 1000:.1f} kB"
    )
    print(
        f"prepare: {n_profiles} digests in {t_prepare:.2f} s"
        f" ({t_prepare / n_profiles * 1e3:.1f} ms each)"
    )
    print(f"personalize: {total} emails in {t_total - t_prepare:.3f} s")
    print(f"total: {t_total:.2f} s -> {rate:,.0f} digests/s")
    print(
        f"naive html()+text() per subscriber: {sample} in {t_naive:.2f} s -> {naive_rate:,.1f}"
        f" digests/s (extrapolated {total / naive_rate:,.0f} s for {total})"
    )
    print(f"speedup: {rate / naive_rate:,.0f}x")
    verdict = "PASS" if rate >= TARGET else "MISS"
    print(f"{verdict}: {rate:,.0f} digests/s (target >= {TARGET:,})")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
