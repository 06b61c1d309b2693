"""Selection benchmark: the product's one-pass path, on a real SQLite store.

Part 1 (issue 12's target): 1,000 profiles of 20 terms each (ML phrases of 1-3
words, a popular few shared by many profiles, a few `/regex/` terms and author
names) against 10,000 new synthetic items (titles ~10 words, abstracts ~150
words) in a SQLite store this script writes. It times `pipeline.select_due`, the
function `digest run` and `digest preview` select with (store read, one matcher
pass, every profile's window), against a naive per-profile regex loop measured in
the same run on a subsample: one `re.compile(r"\\b(?:t1|t2|...)\\b", re.I)` per
profile over each item's title and abstract. Targets (2-core machine): under
5 s, and at least 200x the naive loop's pairs per second.

Part 2 (issue 12's workload): 50 profiles of 15 terms, 10,000 new items in a
store of 200,000 (`--store`), each profile with a digest before the new items
came. The per-profile path `run` used to take (each profile reads, decodes and
matches its window again: `pipeline.pick` per profile) against `select_due`,
same run, same picks. Then a new profile's first digest (its 7-day look-back)
against reading the whole store, as a new profile did before.

Part 3 (issue 14): 100 profiles x 10,000 new items, each profile once with
keywords only and once with 5 `like:` papers too, both through `select_due` in
the same run (best of three, interleaved): under 2 s beyond keyword matching;
and one profile's similarity model over the pool under 1 s. Wall and CPU time
both: on a shared machine the CPU time is the steadier.

    python bench/selection.py            # the full run
    python bench/selection.py --quick    # 200 profiles x 2,000 items; 20,000-item store
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from digest import pipeline
from digest.models import Entry, Profile, Term
from digest.selection.rank import pick_all
from digest.store import Store

SINGLE = (
    "transformer", "diffusion", "quantization", "distillation", "pruning", "tokenizer",
    "alignment", "hallucination", "interpretability", "robustness", "calibration",
    "retrieval", "reasoning", "planning", "agents", "benchmarks", "pretraining",
    "finetuning", "RLHF", "DPO", "LoRA", "MoE", "ViT", "CLIP", "NeRF", "GAN", "VAE",
    "SGD", "Adam", "dropout", "watermarking", "jailbreak", "unlearning", "federated",
    "multimodal", "segmentation", "captioning", "grounding", "compression", "sparsity",
)  # fmt: skip
MODIFIERS = (
    "sparse", "dense", "contrastive", "self-supervised", "multimodal", "causal", "masked",
    "linear", "low-rank", "adaptive", "efficient", "robust", "federated", "continual",
    "few-shot", "zero-shot", "in-context", "long-context", "vision-language", "graph",
    "neural", "stochastic", "Bayesian", "variational", "adversarial", "generative",
    "autoregressive", "latent", "hierarchical", "recurrent", "convolutional", "equivariant",
    "probabilistic", "differentiable", "offline", "online", "model-based", "multi-agent",
    "instruction", "preference", "reward", "policy", "token", "speculative", "mixed-precision",
    "quantized", "distributed", "parallel", "retrieval-augmented", "chain-of-thought",
    "small", "large", "deep", "shallow", "kernel", "spectral", "optimal", "scalable",
    "batch", "step", "learning", "scaling", "weight",
)  # fmt: skip
HEADS = (
    "attention", "transformer", "language model", "diffusion model", "learning",
    "representation", "retrieval", "decoding", "inference", "training", "optimization",
    "gradient descent", "reinforcement learning", "embedding", "tokenization", "alignment",
    "distillation", "pruning", "quantization", "benchmark", "evaluation", "generation",
    "reasoning", "planning", "agent", "memory", "routing", "experts", "normalization",
    "regularization", "initialization", "scheduler", "optimizer", "size", "rate", "decay",
    "law", "network", "encoder", "decoder", "objective", "loss", "sampling", "search",
    "fine-tuning", "pre-training", "adapter", "prompting", "verification", "calibration",
)  # fmt: skip
FILLER = (
    "we", "propose", "a", "novel", "method", "that", "improves", "the", "results", "on",
    "several", "tasks", "and", "show", "our", "approach", "outperforms", "prior", "work",
    "in", "this", "paper", "study", "with", "of", "for", "to", "by", "is", "are", "which",
    "significantly", "experiments", "demonstrate", "across", "settings", "while", "using",
    "new", "framework", "based", "analysis", "data", "performance", "existing", "methods",
    "however", "remains", "challenging", "address", "problem", "introduce", "code", "available",
)  # fmt: skip
REGEXES = ("/\\bLLa?MA-?\\d/", "/GPT-?4o?\\b/", "/\\bv\\d+\\.\\d+\\b/", "/\\bO\\(n\\^?2\\)/")
SURNAMES = (
    "Smith", "Müller", "García", "Zhang", "Wang", "Kim", "Nguyen", "Rossi", "Dubois", "Li",
    "Chen", "Liu", "Kumar", "Singh", "Sato", "Suzuki", "Novak", "Kowalski", "Silva", "Santos",
    "Johnson", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Anderson", "Thomas",
    "Martin", "Lee", "Walker", "Hall", "Young", "King", "Wright", "Lopez", "Hill", "Scott",
)  # fmt: skip
GIVEN = (
    "Anna", "José", "Wei", "Priya", "Ola", "Hiro", "Lena", "Omar", "Sara", "Tomás", "Jun",
    "Yuki", "Ravi", "Maria", "John", "David", "Elena", "Ahmed", "Fatima", "Noah", "Emma",
    "Lucas", "Mia", "Chloé", "Björn", "Zoë", "Raj", "Mei", "Ivan", "Olga",
)  # fmt: skip


def vocabulary(rng: random.Random) -> list[str]:
    vocab = set(SINGLE)
    vocab.update(f"{m} {h}" for m in MODIFIERS for h in HEADS)
    for _ in range(1000):  # some 3-word phrases
        a, b = rng.sample(MODIFIERS, 2)
        vocab.add(f"{a} {b} {rng.choice(HEADS).split()[0]}")
    return sorted(vocab)


def author_names() -> tuple[list[str], list[str]]:
    """All authors (~45,000), and a prolific 2,000 that profiles follow."""
    everyone = [f"{g} {chr(65 + k)}. {s}" for g in GIVEN for s in SURNAMES for k in range(26)]
    return everyone, everyone[::15][:2000]


def make_profiles(n: int, vocab: list[str], rng: random.Random, n_terms: int = 20) -> list[Profile]:
    popular = vocab[:: max(1, len(vocab) // 100)][:100]  # a popular few, shared widely
    authors = author_names()[1]
    profiles = []
    for i in range(n):
        terms = set(rng.sample(popular, 5))
        while len(terms) < n_terms:
            terms.add(rng.choice(vocab))
        words = [Term(t, 1.0 + (k % 3)) for k, t in enumerate(sorted(terms))]
        if i % 20 == 0:  # one profile in 20 has a regular expression
            words[-1] = Term(REGEXES[i // 20 % len(REGEXES)])
        profiles.append(
            Profile(
                name=f"p{i}",
                title=f"Profile {i}",
                keywords=tuple(words),
                exclude=(rng.choice(vocab),) if i % 4 == 0 else (),
                authors=tuple(rng.sample(authors, i % 3)),
            )
        )
    return profiles


def variant(phrase: str, rng: random.Random) -> str:
    """The phrase as papers write it: sometimes plural, hyphenated, capitalised."""
    r = rng.random()
    if r < 0.2:
        phrase += "s"
    elif r < 0.3:
        phrase = phrase.replace(" ", "-")
    elif r < 0.4:
        phrase = phrase.title()
    return phrase


def text(n_words: int, vocab: list[str], rng: random.Random) -> str:
    out: list[str] = []
    while len(out) < n_words:
        if rng.random() < 0.25:
            out.append(variant(rng.choice(vocab), rng))
        else:
            out.extend(rng.sample(FILLER, 2))
    return " ".join(out)


def make_items(n: int, vocab: list[str], rng: random.Random) -> list[tuple[str, str, list[str]]]:
    everyone, prolific = author_names()
    return [
        (
            text(10, vocab, rng),
            text(150, vocab, rng) + ".",
            [rng.choice(prolific if rng.random() < 0.2 else everyone) for _ in range(5)],
        )
        for _ in range(n)
    ]


Item = tuple[str, str, list[str]]


def naive(profiles: list[Profile], items: list[Item], *, per_field: bool) -> float:
    """Per profile, one regex alternation over each item's title and abstract:
    all matches per field (what the matcher reports), or just the first match
    anywhere (cheaper). Returns seconds."""
    t0 = time.perf_counter()
    regexes = [
        re.compile(r"\b(?:" + "|".join(re.escape(t.text) for t in p.keywords) + r")\b", re.I)
        for p in profiles
    ]
    found = 0
    for rx in regexes:
        for title, summary, _ in items:
            if per_field:
                found += len(rx.findall(title)) + len(rx.findall(summary))
            else:
                found += rx.search(f"{title}\n{summary}") is not None
    return time.perf_counter() - t0


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def cpu_timed(fn: Callable[[], T]) -> tuple[float, float, T]:
    """Wall and CPU seconds: on a shared machine the CPU time is the steadier."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def peak_mb(fn: Callable[[], object]) -> float:
    """Peak Python allocation while `fn` runs (tracemalloc), in MB."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def fill(store: Store, items: list[Item], start: int, n: int, now: datetime) -> float:
    """Store `n` papers (texts from `items`, cycled) as one source saw them at `now`."""
    src = store.source("bench", location="bench", kind="feed")
    t0 = time.perf_counter()
    for lo in range(start, start + n, 20_000):
        batch = [
            Entry(
                title=f"{items[i % len(items)][0]} {i}",
                summary=items[i % len(items)][1],
                authors=tuple(items[i % len(items)][2]),
                arxiv_id=f"{2401 + i // 100_000}.{i % 100_000:05d}",
            )
            for i in range(lo, min(lo + 20_000, start + n))
        ]
        store.add_entries(src.id, batch, rank=3, now=now)
    return time.perf_counter() - t0


def product(args: argparse.Namespace, vocab: list[str], folder: Path) -> tuple[float, float]:
    """Part 1: seconds for `select_due` over all profiles, and the speedup."""
    n_profiles, n_items = (200, 2_000) if args.quick else (1_000, 10_000)
    sub_profiles, sub_items = (10, 200) if args.quick else (20, 500)
    rng = random.Random(20261123)
    profiles = make_profiles(n_profiles, vocab, rng)
    items = make_items(n_items, vocab, rng)
    pairs = n_profiles * n_items
    print(f"part 1: {n_profiles} profiles x {n_items} new items = {pairs:,} pairs")
    with Store.open(f"sqlite:///{folder / 'part1.db'}") as store:
        took = fill(store, items, 0, n_items, datetime.now(UTC))
        print(f"  store written in {took:.1f} s (not timed below)")
        total, cpu, sel = cpu_timed(lambda: pipeline.select_due(store, profiles))  # cold
        read, pool = timed(lambda: store.pool(profiles))
        matched, _ = timed(lambda: pick_all(profiles, pool))
    n_picks = sum(len(s.picks) for s in sel.values())
    print(
        f"  pipeline.select_due: {total:.2f} s ({cpu:.2f} s CPU), {n_picks:,} picks,"
        f" {pairs / total:,.0f} pairs/s"
        f" (again, in parts: {read:.2f} s store read, {matched:.2f} s matcher + windows)"
    )
    sub = profiles[:sub_profiles], items[:sub_items]
    naive_rate = 0.0
    naive_cpu = 0.0
    for per_field, label in ((True, "all matches per field"), (False, "first match only")):
        elapsed, spent, _ = cpu_timed(lambda: naive(*sub, per_field=per_field))  # noqa: B023
        r = sub_profiles * sub_items / elapsed
        if r > naive_rate:
            naive_rate, naive_cpu = r, sub_profiles * sub_items / spent
        print(
            f"  naive regex loop ({label}): {sub_profiles} x {sub_items} in {elapsed:.2f} s"
            f" ({spent:.2f} s CPU), {r:,.0f} pairs/s (whole selection: {pairs / r:,.0f} s)"
        )
    speedup = pairs / total / naive_rate  # against the faster naive variant
    print(
        f"  speedup over the naive loop: {speedup:,.0f}x"
        f" (in CPU time: {pairs / cpu / naive_cpu:,.0f}x)"
    )
    return total, speedup


def workload(args: argparse.Namespace, vocab: list[str], folder: Path) -> None:
    """Part 2: the per-profile path against the one pass, and a new profile."""
    n_profiles, n_new, n_store = (20, 2_000, 20_000) if args.quick else (50, 10_000, args.store)
    rng = random.Random(7)
    profiles = make_profiles(n_profiles, vocab, rng, n_terms=15)
    texts = make_items(min(n_new, 10_000), vocab, rng)
    now = datetime.now(UTC)
    print(f"part 2: {n_profiles} profiles x 15 terms, {n_new:,} new items, {n_store:,}-item store")
    with Store.open(f"sqlite:///{folder / 'part2.db'}") as store:
        old = fill(store, texts, 0, n_store - n_new, now - timedelta(days=30))
        for p in profiles:  # each had a digest before the new items came
            store.record_given(p.name, [], upto_item_id=n_store - n_new, now=now)
        old += fill(store, texts, n_store - n_new, n_new, now)
        print(f"  store written in {old:.1f} s (not timed below)")
        each, alone = timed(lambda: {p.name: pipeline.pick(store, p) for p in profiles})
        once, together = timed(lambda: pipeline.select_due(store, profiles))
        same = "same picks" if alone == together else "PICKS DIFFER"
        print(
            f"  per-profile path (pipeline.pick per profile): {each:.2f} s; "
            f"one pass (select_due): {once:.2f} s; {each / once:.1f}x faster, {same}"
        )
        fresh = [Profile("fresh", "Fresh", keywords=profiles[0].keywords)]
        whole = datetime.min.replace(tzinfo=UTC)  # a new profile's window before: every item

        def everything() -> object:
            return pick_all(fresh, store.pool(fresh, since=whole))

        def first() -> object:
            return pipeline.select_due(store, fresh)

        t_first, sel = timed(first)
        t_all, _ = timed(everything)
        print(
            f"  new profile's first digest: {t_first:.2f} s, {peak_mb(first):.0f} MB peak,"
            f" {sel['fresh'].candidates:,} candidates; reading the whole store as before:"
            f" {t_all:.2f} s, {peak_mb(everything):.0f} MB peak"
        )


def likes(args: argparse.Namespace, vocab: list[str], folder: Path) -> None:
    """Part 3 (issue 14): the same profiles with and without 5 `like:` papers
    each, through `select_due`, same store, same run; and one profile's model."""
    from dataclasses import replace

    from digest.pipeline.liking import liked_papers
    from digest.selection.likes import like_entry
    from digest.selection.similar import Model

    n_profiles, n_items = (20, 2_000) if args.quick else (100, 10_000)
    rng = random.Random(14)
    plain = make_profiles(n_profiles, vocab, rng)
    items = make_items(n_items, vocab, rng)
    liked = [
        replace(p, likes=tuple(like_entry(f"2401.{rng.randrange(n_items):05d}", "bench:1")
                               for _ in range(5)))
        for p in plain
    ]  # fmt: skip
    print(f"part 3: {n_profiles} profiles x {n_items:,} new items, keyword-only vs 5 liked each")
    with Store.open(f"sqlite:///{folder / 'part3.db'}") as store:
        fill(store, items, 0, n_items, datetime.now(UTC))
        pipeline.select_due(store, plain)  # warm
        kw, with_likes = [], []
        for _ in range(3):  # interleaved, best of three: the machine is shared
            kw.append(cpu_timed(lambda: pipeline.select_due(store, plain))[:2])
            with_likes.append(cpu_timed(lambda: pipeline.select_due(store, liked))[:2])
        (base, base_cpu), (both, both_cpu) = min(kw), min(with_likes)
        print(
            f"  select_due keyword-only: {base:.2f} s ({base_cpu:.2f} s CPU); with likes:"
            f" {both:.2f} s ({both_cpu:.2f} s CPU); {both - base:.2f} s"
            f" ({both_cpu - base_cpu:.2f} s CPU) beyond keyword matching"
        )
        print(f"  [{'PASS' if both - base < 2 else 'MISS'}] {both - base:.2f} s < 2 s")
        pool = store.pool(liked[:1])
        papers, _ = liked_papers(store, liked[:1])
        build = min(
            cpu_timed(lambda: Model(pool.candidates, papers).likeness(liked[0].name))[:2]
            for _ in range(3)
        )
        print(
            f"  one profile's model over {len(pool.candidates):,} candidates:"
            f" {build[0]:.2f} s ({build[1]:.2f} s CPU), best of three"
        )
        print(f"  [{'PASS' if build[0] < 1 else 'MISS'}] {build[0]:.2f} s < 1 s")
        print("  left out: likes found by title (the store looks them up by key, the same)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smaller run")
    ap.add_argument("--store", type=int, default=200_000, help="part 2's store size")
    ap.add_argument("--only", choices=("1", "2", "3"), help="run one part")
    args = ap.parse_args()
    vocab = vocabulary(random.Random(20261123))
    with tempfile.TemporaryDirectory(prefix="digest-bench-") as tmp:
        if args.only in (None, "1"):
            total, speedup = product(args, vocab, Path(tmp))
            if args.quick:
                print("  (targets apply to the full run: 1,000 x 10,000 < 5 s, >= 200x)")
            else:
                print(f"  [{'PASS' if total < 5 else 'MISS'}] select_due {total:.2f} s < 5 s")
                print(f"  [{'PASS' if speedup >= 200 else 'MISS'}] {speedup:,.0f}x >= 200x")
        if args.only in (None, "2"):
            workload(args, vocab, Path(tmp))
        if args.only in (None, "3"):
            likes(args, vocab, Path(tmp))


if __name__ == "__main__":
    main()
