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

Feedback (issue 14), the second part: what 10% personalised subscribers cost. Each
profile has a window of 200 candidates; its digest mails (`DigestMail.message`,
what `pipeline.send` builds, with every item's two signed feedback links and the
signed "view in browser" link) go to
all its subscribers. The profile's own digest is its ranking of that window (made
before timing). With 0% (the baseline, same run) all share it and one render; with
10%, each of those gets a personal ranking
(`pipeline.personal.personal_picks`, one `pick_all` pass per profile: two "more
like this" and one "less like this" each) and their own render. Its figures are
CPU time (wall time beside), as the 2-core test machine is shared. Left out: the
store (reading feedback, writing personal picks) and SMTP.

    python bench/render.py            # 100 profiles x 100 subscribers
    python bench/render.py --quick    # 20 profiles x 50 subscribers
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from digest import service
from digest.models import Candidate, Digest, Hit, Pick, Pool, Profile, Seen, Term, Window
from digest.pipeline.personal import personal_picks
from digest.render import DigestMail, Recipient, Renderer
from digest.render.mime import VIEW_TOKEN
from digest.selection.rank import pick_all
from digest.settings import EmailSettings
from digest.tokens import ViewLink, make_view_token

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
    feedback(renderer, n_profiles, per_profile, rng)
    return 0 if rate >= TARGET else 1


KEY = b"bench-key-0123456789abcdef"
SITE = "https://digest.example.org/"
MAIL = EmailSettings(
    sender="Digest <digest@example.org>",
    domain="example.org",
    unsubscribe_url=SITE + "unsubscribe/{token}",
)


def mails(
    renderer: Renderer,
    digest: Digest,
    per_profile: int,
    personal: dict[int, list[Pick]],
    now: datetime,
) -> tuple[int, float, float]:
    """Every subscriber's mail of one digest, as `pipeline.send` builds them:
    (bytes, CPU seconds rendering, CPU seconds filling in per subscriber)."""
    t0 = time.process_time()
    pages = {"view_url": f"{SITE}view/{VIEW_TOKEN}", "feed_url": f"{SITE}feed.xml"}

    def built_for(d: Digest) -> DigestMail:
        prepared = renderer.prepare(d, links=True, **pages)
        return DigestMail(d, prepared, renderer, MAIL, now=now, site_url=SITE)

    built = {0: built_for(digest)}
    for sid, picks in personal.items():
        built[sid] = built_for(Digest(digest.profile, tuple(picks), digest.created, id=digest.id))
    t1 = time.process_time()
    size = 0
    for sid in range(1, per_profile + 1):
        mail = built.get(sid, built[0])
        items = [p.candidate.item_id for p in mail.digest.picks]
        links = service.link_tokens(KEY, sid, "secret", digest.profile.name, items, {})
        view = make_view_token(KEY, "secret", ViewLink(sid, digest.id or 0))
        who = Recipient(sid, sid, f"r{sid}@example.org", "t", "", "a", "m", links, view)
        size += len(mail.message(who).data)
    return size, t1 - t0, time.process_time() - t1


def feedback(renderer: Renderer, n_profiles: int, per_profile: int, rng: random.Random) -> None:
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    profiles = make_digests(n_profiles, rng)
    import digest.selection.blend  # noqa: F401  (numpy, scipy: imported before timing)

    print("\nfeedback: every item with two signed links; personalised subscribers ranked alone")
    times: dict[int, list[float]] = {}
    wall: dict[int, float] = {}  # the shared 2-core machine: CPU time is the figure
    for share in (0, 10):
        # Each share on papers of its own (nothing rendered before), in one window per
        # profile; the profile's own digest is its ranking of that window, as in
        # `pipeline.create_digests`, made before timing: both shares have it.
        windows, own = [], []
        for d in profiles:
            terms = [t.text for t in d.profile.keywords]
            base = (share + 1) * 1_000_000 + (d.id or 0) * 1000
            cands = [_pick(rng, base + j, terms, now).candidate for j in range(200)]
            pool = Pool(tuple(cands), {d.profile.name: Window()})
            windows.append((cands, pool))
            own.append(tuple(pick_all([d.profile], pool)[d.profile.name].picks))
        ranking = render = fill = 0.0
        personalised = per_profile * share // 100
        w0 = time.perf_counter()
        for d, (cands, pool), picks in zip(profiles, windows, own, strict=True):
            t0 = time.process_time()
            fb = {
                sid: (rng.sample(cands, 2), rng.sample(cands, 1))
                for sid in range(1, personalised + 1)
            }
            mine = personal_picks(d.profile, pool, [], fb)
            ranking += time.process_time() - t0
            shared = Digest(d.profile, picks, now, id=d.id)
            _, r, f = mails(renderer, shared, per_profile, mine, now)
            render, fill = render + r, fill + f
        wall[share] = time.perf_counter() - w0
        times[share] = [ranking, render, fill]
        total = ranking + render + fill
        print(
            f"  {share:>2}% personalised"
            f" ({personalised * n_profiles} of {per_profile * n_profiles}), CPU time:"
            f" ranking {ranking:.2f} s, render {render:.2f} s, per-subscriber fill {fill:.2f} s"
            f" = {total:.2f} s ({per_profile * n_profiles / total:,.0f} mails/s;"
            f" {wall[share]:.2f} s wall)"
        )
    ratio = sum(times[10]) / sum(times[0])
    print(
        f"  10% personalised costs {ratio:.2f}x the 0% baseline of the same run in CPU time"
        f" ({wall[10] / wall[0]:.2f}x wall)"
    )


if __name__ == "__main__":
    sys.exit(main())
