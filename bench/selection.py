"""Selection benchmark: the one-pass matcher against a naive per-profile regex loop.

1,000 profiles of 20 terms each (ML phrases of 1-3 words, a popular few shared
by many profiles, a few `/regex/` terms and author names) are matched against
10,000 synthetic items (titles ~10 words, abstracts ~150 words from the same
vocabulary plus filler). Prints the matcher's time for the whole selection
(automaton build reported separately and included), profile-item pairs per
second, and the speedup over a naive loop measured in the same run on a
subsample: one `re.compile(r"\\b(?:t1|t2|...)\\b", re.I)` per profile, run over
each item's title and abstract. Targets (2-core machine): whole selection < 5 s,
>= 200x the naive loop.

    python bench/selection.py            # 1,000 profiles x 10,000 items
    python bench/selection.py --quick    # 200 profiles x 2,000 items
"""

from __future__ import annotations

import argparse
import random
import re
import time
from dataclasses import replace

from digest.models import Profile, Term
from digest.selection.match import Matcher

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


def make_profiles(n: int, vocab: list[str], rng: random.Random) -> list[Profile]:
    popular = vocab[:: max(1, len(vocab) // 100)][:100]  # a popular few, shared widely
    authors = author_names()[1]
    profiles = []
    for i in range(n):
        terms = set(rng.sample(popular, 5))
        while len(terms) < 20:
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


def run(matcher: Matcher, items: list[Item]) -> tuple[float, int, int, int]:
    """Seconds to match every item, and totals of hits, matched and excluded profiles."""
    t0 = time.perf_counter()
    n_hits = n_matched = n_excluded = 0
    for title, summary, authors in items:
        result = matcher.match(title, summary, authors)
        n_matched += len(result.hits)
        n_hits += sum(len(h) for h in result.hits.values())
        n_excluded += len(result.excluded)
    return time.perf_counter() - t0, n_hits, n_matched, n_excluded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 profiles x 2,000 items")
    args = ap.parse_args()
    n_profiles, n_items = (200, 2_000) if args.quick else (1_000, 10_000)
    sub_profiles, sub_items = (10, 200) if args.quick else (20, 500)

    rng = random.Random(20261123)
    vocab = vocabulary(rng)
    profiles = make_profiles(n_profiles, vocab, rng)
    items = make_items(n_items, vocab, rng)
    pairs = n_profiles * n_items
    print(f"{n_profiles} profiles x {n_items} items = {pairs:,} pairs; vocabulary {len(vocab)}")

    t0 = time.perf_counter()
    matcher = Matcher(profiles)
    build = time.perf_counter() - t0
    elapsed, n_hits, n_matched, n_excluded = run(matcher, items)
    total = build + elapsed
    rate = pairs / total
    print(f"matcher: build {build:.2f} s, match {elapsed:.2f} s, total {total:.2f} s")
    print(
        f"  per item: {n_hits / n_items:.1f} hits, {n_matched / n_items:.1f} profiles matched, "
        f"{n_excluded / n_items:.1f} excluded"
    )
    print(f"  {rate:,.0f} pairs/s ({n_items / elapsed:,.0f} items/s against all profiles)")
    # What the /regex/ terms cost: the same profiles without them, on a subsample.
    plain = [replace(p, keywords=tuple(t for t in p.keywords if not t.is_regex)) for p in profiles]
    sample = items[: n_items // 5]
    with_rx = run(matcher, sample)[0]
    without = run(Matcher(plain), sample)[0]
    n_rx = len({t.text for p in profiles for t in p.keywords if t.is_regex})
    print(
        f"  of which {n_rx} distinct /regex/ terms (in {n_profiles // 20} profiles): "
        f"{(with_rx - without) / len(sample) * 1e6:.0f} µs/item"
    )

    sub = profiles[:sub_profiles], items[:sub_items]
    naive_rate = 0.0
    for per_field, label in ((True, "all matches per field"), (False, "first match only")):
        elapsed = naive(*sub, per_field=per_field)
        r = sub_profiles * sub_items / elapsed
        naive_rate = max(naive_rate, r)
        print(
            f"naive regex loop ({label}): {sub_profiles} x {sub_items} in {elapsed:.2f} s, "
            f"{r:,.0f} pairs/s (full selection: {pairs / r:,.0f} s)"
        )
    speedup = rate / naive_rate  # against the faster naive variant
    print(f"speedup: {speedup:,.0f}x")
    if args.quick:
        print("(targets apply to the full run: 1,000 x 10,000 < 5 s, speedup >= 200x)")
        return
    print(f"[{'PASS' if total < 5 else 'MISS'}] whole selection {total:.2f} s < 5 s")
    print(f"[{'PASS' if speedup >= 200 else 'MISS'}] speedup {speedup:,.0f}x >= 200x")


if __name__ == "__main__":
    main()
