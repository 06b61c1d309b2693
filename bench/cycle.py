"""The whole daily cycle, through the product's own entry point: `digest run`.

Workload (issue 12): 5 arXiv-style RSS sources of 2,000 new entries each, 50
profiles of 15 terms, 1,000 subscribers of 3 profiles each (3,000 mails, written
to the outbox), on a store that already holds 200,000 items first seen more than
a week earlier, after a quiet cycle the day before (so every profile has had
its first digest, as on any day but the first).

Baseline, measured in the same run: `digest ingest` of the same 5 sources into
another copy of the same store. Both are timed as whole `digest` processes
(start-up included), each on a fresh copy of the base store synced to disk. The
target is on wall time; each process's CPU time (user + system, all its threads) is
printed too, and their ratio, which says more on a machine busy with other work.

    python bench/cycle.py            # the workload above; target run <= 2.5x ingest
    python bench/cycle.py --quick    # 20,000-item store, 5 x 400 entries, 200 subscribers
    python bench/cycle.py --rounds 3 # the pair measured 3 times, each with its own baseline

Then bench/publish.py: 30 days of digests for the same 50 profiles, one new
source file a day, `pipeline.publish` (what `digest run` and `digest publish`
call) timed on day 1 and day 30: day 30 should be within 1.5x of day 1.

Left out: fetching over HTTP (sources are local files, as in `make demo`) and
SMTP (the outbox transport writes .eml files; bench/send.py measures SMTP).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

DIGEST = str(Path(sys.executable).with_name("digest"))
BASE_DAY = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
RUN_DAY = BASE_DAY + timedelta(days=14)
TARGET = 2.5

PHRASES = (
    "scaling law", "batch size", "learning rate", "diffusion model", "language model",
    "reinforcement learning", "graph neural network", "contrastive learning", "vision transformer",
    "mixture of experts", "speculative decoding", "retrieval augmented generation", "quantization",
    "knowledge distillation", "in-context learning", "chain of thought", "reward model",
    "preference optimization", "instruction tuning", "tokenizer", "state space model",
    "long context", "sparse attention", "federated learning", "continual learning",
    "protein folding", "weather forecasting", "point cloud", "neural radiance field",
    "image segmentation", "speech recognition", "machine translation", "code generation",
    "theorem proving", "causal inference", "bayesian optimization", "gaussian process",
    "optimal transport", "score matching", "flow matching", "energy based model",
    "adversarial robustness", "membership inference", "differential privacy", "watermarking",
    "interpretability", "mechanistic circuits", "sparse autoencoder", "world model",
    "robot manipulation", "motion planning", "multi-agent", "game theory", "time series",
    "anomaly detection", "recommender system", "hyperparameter transfer", "weight decay",
    "warmup", "loss landscape", "grokking", "double descent", "kernel regime",
)  # fmt: skip
FILLER = (
    "we", "propose", "method", "results", "show", "that", "our", "approach", "improves",
    "over", "strong", "baselines", "across", "tasks", "and", "datasets", "with", "fewer",
    "parameters", "experiments", "demonstrate", "analysis", "novel", "framework", "study",
)  # fmt: skip
SURNAMES = ("Okafor", "Lindqvist", "Tanaka", "Moreau", "Silva", "Novak", "Haddad", "Kim")


def _text(rng: random.Random, words: int, phrases: int) -> str:
    out = [rng.choice(FILLER) for _ in range(words)]
    for _ in range(phrases):
        out.insert(rng.randrange(len(out) + 1), rng.choice(PHRASES))
    return " ".join(out)


def _paper(rng: random.Random, n: int) -> dict[str, str]:
    return {
        "id": f"{2400 + n // 90000:04d}.{n % 90000 + 10000:05d}",
        "title": _text(rng, 8, 1).capitalize(),
        "abstract": _text(rng, 120, 3).capitalize() + ".",
        "authors": ", ".join(f"A. {rng.choice(SURNAMES)}" for _ in range(rng.randint(1, 5))),
    }


def write_base(folder: Path, rng: random.Random, count: int, per_file: int = 10_000) -> None:
    """The store's history: JSON Feeds (digest reads them with its own parser), each
    under the fetch size cap."""
    folder.mkdir()
    for first in range(0, count, per_file):
        _write_json_feed(folder / f"{first:07d}.json", rng, first, min(per_file, count - first))


def _write_json_feed(path: Path, rng: random.Random, first: int, count: int) -> None:
    items = []
    for n in range(first, first + count):
        p = _paper(rng, n)
        items.append(
            {
                "id": f"https://arxiv.org/abs/{p['id']}",
                "url": f"https://arxiv.org/abs/{p['id']}",
                "title": p["title"],
                "content_text": p["abstract"],
                "authors": [{"name": a} for a in p["authors"].split(", ")],
                "date_published": BASE_DAY.isoformat(),
            }
        )
    doc = {"version": "https://jsonfeed.org/version/1.1", "title": "history", "items": items}
    path.write_text(json.dumps(doc), encoding="utf-8")


def write_rss(path: Path, rng: random.Random, first: int, count: int) -> None:
    day = RUN_DAY.strftime("%a, %d %b %Y 00:00:00 -0500")
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{path.stem} updates on arXiv.org</title><link>http://rss.arxiv.org/</link>"
        f"<description>new papers</description><pubDate>{day}</pubDate>"
    ]
    for n in range(first, first + count):
        p = _paper(rng, n)
        parts.append(
            f"<item><title>{escape(p['title'])}</title>"
            f"<link>https://arxiv.org/abs/{p['id']}</link>"
            f"<description>arXiv:{p['id']}v1 Announce Type: new \nAbstract: "
            f"{escape(p['abstract'])}</description>"
            f'<guid isPermaLink="false">oai:arXiv.org:{p["id"]}v1</guid>'
            f"<category>cs.LG</category><pubDate>{day}</pubDate>"
            f"<arxiv:announce_type>new</arxiv:announce_type>"
            f"<dc:creator>{escape(p['authors'])}</dc:creator></item>"
        )
    parts.append("</channel></rss>")
    path.write_text("".join(parts), encoding="utf-8")


def write_profiles(folder: Path, rng: random.Random, count: int, terms: int) -> list[str]:
    folder.mkdir(parents=True)
    names = []
    for i in range(count):
        name = f"p{i:03d}"
        chosen = rng.sample(PHRASES, terms)
        lines = [f"name: {name}", f"title: Profile {i}", "keywords:"]
        lines += [f"  {t}: {rng.randint(1, 3)}" for t in chosen]
        lines += ["min_score: 2", "max_items: 20", 'schedule: "daily 07:00"', "timezone: UTC"]
        (folder / f"{name}.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        names.append(name)
    return names


def write_config(root: Path, sources: list[Path], name: str = "digest.yaml") -> Path:
    lines = [
        "profiles: profiles",
        "output: out",
        "site_url: https://papers.example.org/",
        "email:",
        '  sender: "Digest <digest@example.org>"',
        "  domain: example.org",
        "  outbox: out/outbox",
        "sources:" if sources else "sources: []",
    ]
    for s in sources:
        lines += [f"  - name: {s.stem}", "    kind: feed", f"    path: {s.name}"]
    path = root / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def digest(config: Path, db: Path, *args: str) -> float:
    """Run one `digest` process; return its wall time in seconds."""
    return timed(config, db, *args)[0]


def timed(config: Path, db: Path, *args: str) -> tuple[float, float]:
    """Run one `digest` process; return its wall time and its CPU time (user + system,
    of all its threads), in seconds: on a busy machine the CPU time says more."""
    cmd = [DIGEST, "--config", str(config), "--db", f"sqlite:///{db}", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return took, cpu


def fresh_copy(base: Path, to: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{to}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(base, to)
    os.sync()  # so the copy's write-back does not land inside the measurement
    return to


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    ap.add_argument(
        "--rounds", type=int, default=1, help="ingest and run, each round on fresh copies"
    )
    ap.add_argument("--no-publish", action="store_true", help="leave out bench/publish.py")
    args = ap.parse_args()
    store_items, per_source, subs = (20_000, 400, 200) if args.quick else (200_000, 2_000, 1_000)
    rng = random.Random(12)
    root = Path(tempfile.mkdtemp(prefix="digest-cycle-"))
    try:
        sources = [root / f"arxiv-{k}.rss" for k in range(5)]
        for k, src in enumerate(sources):
            write_rss(src, rng, store_items + k * per_source, per_source)
        names = write_profiles(root / "profiles", rng, 50, 15)
        config = write_config(root, sources)
        history = root / "history"
        write_base(history, rng, store_items)
        rows = ["email,profiles"]
        rows += [f"r{i}@example.org,{';'.join(rng.sample(names, 3))}" for i in range(subs)]
        csv = root / "subscribers.csv"
        csv.write_text("\n".join(rows) + "\n", encoding="utf-8")

        base = root / "base.db"
        built = digest(config, base, "ingest", str(history), "--now", BASE_DAY.isoformat())
        digest(config, base, "subscribers", "import", str(csv))
        shutil.rmtree(history)
        # Yesterday's cycle, with nothing new: every profile has had a digest, as on
        # any day but the first. Its time is each new profile's first-digest cost.
        quiet = write_config(root, [], "yesterday.yaml")
        yesterday = (RUN_DAY - timedelta(days=1)).isoformat()
        first = digest(quiet, base, "run", "--now", yesterday)
        shutil.rmtree(root / "out", ignore_errors=True)
        print(f"base store: {store_items:,} items in {built:.1f} s; {subs:,} subscribers x 3")
        print(f"yesterday's run (50 first digests, nothing new): {first:.2f} s")

        now = RUN_DAY.isoformat()
        for n in range(1, args.rounds + 1):  # each round its own baseline, just before
            ingest_db = fresh_copy(base, root / "ingest.db")
            t_ingest, c_ingest = timed(config, ingest_db, "ingest", "--now", now)
            shutil.rmtree(root / "out", ignore_errors=True)
            t_run, c_run = timed(config, fresh_copy(base, root / "run.db"), "run", "--now", now)
            mails = len(list((root / "out" / "outbox").glob("*.eml")))
            ratio = t_run / t_ingest
            print(f"round {n}:")
            print(
                f"  digest ingest (baseline): {t_ingest:6.2f} s, CPU {c_ingest:6.2f} s"
                f"  ({5 * per_source:,} entries)"
            )
            print(
                f"  digest run:               {t_run:6.2f} s, CPU {c_run:6.2f} s"
                f"  ({mails:,} mails to the outbox)"
            )
            verdict = "PASS" if ratio <= TARGET else "MISS"
            print(f"  run / ingest: {ratio:.2f}x (target <= {TARGET}x) {verdict}")
            print(f"  CPU, run / ingest: {c_run / c_ingest:.2f}x")
        if args.no_publish:
            return

        from publish import measure, report  # bench/publish.py: publishing over a month

        report(30, measure(30, per_source, 3))
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
