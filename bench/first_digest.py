"""A new profile's first digest on a large store: bounded by its look-back window.

The store holds 1,000,000 items: most first seen 30 days ago (bench/ingest.py's
builder), 2,000 seen 8-9 days ago (just outside the default 7-day window), and
5,000 seen over the last 6 days (inside it). A profile that never had a digest
looks back `first_digest_days` (7) of first-seen items, never the whole store.

Each measurement runs in a process of its own (spawned), on the product's entry
points: `digest preview fresh` (the CLI command, in-process, its output
captured) and `pipeline.create_digests` for one new profile (what `digest run`
calls to select and record; each repeat uses another new profile's name, so
each is a first digest). Peak memory is the child's VmHWM (its resident
high-water mark: Python heap, SQLite page cache and all), and the same figure
after the imports, before the command, is printed beside it.

Baseline, same run, interleaved: the same commands on a 10,000-item store with
the same 5,000 window items (3,000 old ones instead of 993,000): the first
digest's time and memory should not grow with the store. Targets (2-core
machine): under 2 s and under 200 MB peak at 1,000,000 items.

Left out: interpreter start-up and imports (a whole `digest preview` process is
timed once per round and printed for reference), and PostgreSQL (SQLite only).

    python bench/first_digest.py                 # 1,000,000 items, 3 rounds
    python bench/first_digest.py --quick         # 100,000 items
    python bench/first_digest.py --dir /tmp/fd   # keep the stores there (reused)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from ingest import NOW, _peak_mb, abstract, build_base, in_child, words  # bench/ingest.py

from digest.models import Entry
from digest.store import Store

DIGEST = str(Path(sys.executable).with_name("digest"))
WINDOW = 5_000  # first seen within the last 6 days
NEAR = 2_000  # first seen 8-9 days ago: outside a 7-day window
SMALL = 10_000
LIMIT_S, LIMIT_MB = 2.0, 200.0
PROFILE = """\
name: {name}
title: Fresh {name}
keywords:
  diffusion: 3
  reasoning: 2
  optimizer: 2
  sparse: 1
  memory: 1
max_items: 30
"""


def _add(url: str, first: int, n: int, ago: list[float]) -> None:
    """`n` papers from a source of their own, spread evenly over the `ago` days."""
    with Store.open(url) as store:
        src = store.source(f"recent-{first}", location="synthetic", kind="feed")
        per = -(-n // len(ago))
        for k, days in enumerate(ago):
            batch = [
                Entry(
                    title=f"Recent paper {i}: {words(i, 5).title()}",
                    summary=abstract(i),
                    arxiv_id=f"26{i // 100_000 % 12 + 1:02d}.{i % 100_000:05d}",
                )
                for i in range(first + k * per, first + min(n, (k + 1) * per))
            ]
            store.add_entries(src.id, batch, rank=3, now=NOW - timedelta(days=days))


def build(folder: Path, n: int) -> Path:
    """A store of `n` items (made once, then reused): old, near, then the window,
    in that order of arrival, as ids follow it."""
    db = folder / f"first-{n}.db"
    if db.exists():
        return db
    url = f"sqlite:///{db.with_suffix('.part')}"
    t = time.perf_counter()
    build_base(url, n - NEAR - WINDOW, now=NOW - timedelta(days=30))
    _add(url, 0, NEAR, [9, 8.5, 8.1])
    _add(url, NEAR, WINDOW, [6, 5, 4, 3, 2, 1, 0])
    with Store.open(url):
        pass  # closing checkpoints the WAL into the file
    db.with_suffix(".part").rename(db)
    print(f"built a {n:,}-item store in {time.perf_counter() - t:.0f} s")
    return db


def setup(folder: Path, names: list[str]) -> Path:
    profiles = folder / "profiles"
    profiles.mkdir(exist_ok=True)
    for name in names:
        (profiles / f"{name}.yaml").write_text(PROFILE.format(name=name))
    config = folder / "digest.yaml"
    config.write_text("profiles: profiles\noutput: out\nsources: []\n")
    return config


def _preview_child(config: Path, url: str, queue: Any) -> None:
    """`digest preview fresh --format json`, the CLI command in this process."""
    import contextlib
    import io

    import digest.pipeline  # imports are not what is measured
    import digest.selection.rank  # noqa: F401
    from digest.cli.base import cli

    before = _peak_mb()
    out = io.StringIO()
    t, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(out):
        args = ["--config", str(config), "--db", url, "preview", "fresh", "--format", "json"]
        cli.main(args, prog_name="digest", standalone_mode=False)
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    picks = [p["title"] for p in json.loads(out.getvalue())]
    found = {"s": took, "cpu": cpu, "peak_mb": _peak_mb(), "before_mb": before, "picks": picks}
    queue.put(found)


def _record_child(config: Path, url: str, name: str, queue: Any) -> None:
    """`pipeline.create_digests` for one new profile: `digest run`'s select and record."""
    import digest.selection.rank  # noqa: F401  imports are not what is measured
    from digest import pipeline, wiring
    from digest.config import load_settings

    settings = load_settings(config)
    before = _peak_mb()
    t, cpu = time.perf_counter(), time.process_time()
    with wiring.open_store(url) as store:
        (report,) = pipeline.create_digests(settings, store, NOW, names=[name])
    took, cpu = time.perf_counter() - t, time.process_time() - cpu
    assert report.digest_id is not None, report
    found = {"s": took, "cpu": cpu, "peak_mb": _peak_mb(), "before_mb": before}
    queue.put({**found, "n": report.candidates})


def _process(config: Path, url: str) -> float:
    """A whole `digest preview` process, start-up and imports included."""
    cmd = [DIGEST, "--config", str(config), "--db", url, "preview", "fresh"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="100,000 items")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dir", help="keep the stores here (reused if they exist)")
    args = ap.parse_args()
    n = 100_000 if args.quick else args.items
    folder = Path(args.dir or tempfile.mkdtemp(prefix="digest-bench-first-"))
    folder.mkdir(parents=True, exist_ok=True)
    stores = {"big": build(folder, n), "small": build(folder, SMALL)}
    urls = {k: f"sqlite:///{db}" for k, db in stores.items()}
    stamp = time.strftime("%H%M%S")
    names = [f"r{stamp}-{k}-{i}" for k in stores for i in range(args.rounds)]
    config = setup(folder, ["fresh", *names])
    print(f"stores: {n:,} and {SMALL:,} items, each with {WINDOW:,} in the window")

    got: dict[str, dict[str, list[dict[str, Any]]]] = {k: {"preview": [], "run": []} for k in urls}
    whole = []
    for i in range(args.rounds):  # interleaved: the machine is shared
        for k, url in urls.items():
            got[k]["preview"].append(in_child(_preview_child, config, url))
            got[k]["run"].append(in_child(_record_child, config, url, f"r{stamp}-{k}-{i}"))
        whole.append(_process(config, urls["big"]))

    same = got["big"]["preview"][0]["picks"] == got["small"]["preview"][0]["picks"]
    print(f"picks: {len(got['big']['preview'][0]['picks'])}, big == small store: {same}")
    counts = {k: {r["n"] for r in got[k]["run"]} for k in got}
    print(f"candidates read by the first digest: big {counts['big']}, small {counts['small']}")
    ok = same and counts["big"] == counts["small"] == {WINDOW}
    for step, label in (("preview", "digest preview fresh"), ("run", "create_digests (run)")):
        big, small = got["big"][step], got["small"][step]
        t_big, t_small = [r["s"] for r in big], [r["s"] for r in small]
        c_big, c_small = [r["cpu"] for r in big], [r["cpu"] for r in small]
        m_big, m_small = max(r["peak_mb"] for r in big), max(r["peak_mb"] for r in small)
        before = max(r["before_mb"] for r in big)
        print(
            f"{label}: {n:,} items {_runs(t_big)} ({_runs(c_big)} CPU), peak {m_big:.0f} MB"
            f" ({before:.0f} MB after imports); {SMALL:,} items {_runs(t_small)}"
            f" ({_runs(c_small)} CPU), peak {m_small:.0f} MB; big/small"
            f" {min(t_big) / min(t_small):.2f}x time (best), {min(c_big) / min(c_small):.2f}x CPU,"
            f" {m_big / m_small:.2f}x memory"
        )
        for what, secs in (("best wall", min(t_big)), ("worst CPU", max(c_big))):
            passed = secs < LIMIT_S and m_big < LIMIT_MB
            verdict = "PASS" if passed else "MISS"
            print(
                f"  [{verdict}] {what} {secs:.2f} s < {LIMIT_S:.0f} s,"
                f" peak {m_big:.0f} < {LIMIT_MB:.0f} MB"
            )
        ok = ok and max(c_big) < LIMIT_S and m_big < LIMIT_MB
    print(f"a whole `digest preview` process on {n:,} items (start-up included): {_runs(whole)}")
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
    print(f"  [{'PASS' if ok else 'MISS'}] same picks, window-sized reads, CPU and memory limits")
    return 0 if ok else 1


def _runs(secs: list[float]) -> str:
    return "/".join(f"{s:.2f}" for s in secs) + " s"


if __name__ == "__main__":
    sys.exit(main())
