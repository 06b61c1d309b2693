"""Publishing over a month: day 30 against day 1 of the same 50 profiles.

Times `pipeline.publish`, what `digest run` and `digest publish` call, in-process
(a process start-up would be the same on both days and hide the growth).

Workload: the 50 profiles of 15 terms of bench/cycle.py, one arXiv-style RSS
source of `--per-day` new entries a day, each day ingested and recorded
(`pipeline.ingest`, `pipeline.create_digests`) and published as `digest run`
does. The store and the output folder are kept as they stand just before day 1's
publish and just before day 30's (days 1-29 published). Then publish is timed on
fresh copies of each, alternating day 1 and day 30, `--repeat` times; the ratio
of the medians, measured in the same run, should be at most 1.5x.

    python bench/publish.py             # 30 days x 2,000 entries, 5 repeats
    python bench/publish.py --quick     # 30 days x 400 entries, 3 repeats

Day 1 is the month's first publish (an empty output folder); day 30 rewrites
its index and feeds and gives the previous issue page its "next" link. Both the
wall time and the process's CPU time are shown: on a shared machine the CPU
ratio is the steadier one; the verdict is on wall time.

Left out: a `digest publish --all` rebuild (it rewrites every issue page and
feed on purpose), and the web server that serves the files.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cycle import RUN_DAY, write_config, write_profiles, write_rss

TARGET = 1.5


def _snapshot(root: Path, name: str) -> Path:
    """The store and the output folder as they are, under root/name."""
    snap = root / name
    snap.mkdir()
    shutil.copyfile(root / "days.db", snap / "days.db")
    if (root / "out").exists():
        shutil.copytree(root / "out", snap / "out")
    return snap


def _restore(root: Path, snap: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root / 'days.db'}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(root / "out", ignore_errors=True)
    shutil.copyfile(snap / "days.db", root / "days.db")
    if (snap / "out").exists():
        shutil.copytree(snap / "out", root / "out")
    os.sync()  # so the copy's write-back does not land inside the measurement


def build_month(root: Path, rng: random.Random, days: int, per_day: int) -> tuple[Path, Path]:
    """`days` days of digests, published each day; the snapshots before the first
    and before the last publish."""
    from digest import pipeline, wiring
    from digest.config import load_settings
    from digest.models import SourceConfig

    settings = load_settings(write_config(root, [], "days.yaml"))
    snaps: list[Path] = []
    for day in range(days):
        now = RUN_DAY + timedelta(days=day)
        src = root / f"day-{day:02d}.rss"
        write_rss(src, rng, 10_000_000 + day * per_day, per_day)
        source = SourceConfig(name="daily", location=str(src), kind="feed")
        with wiring.open_store(f"sqlite:///{root / 'days.db'}") as store:
            pipeline.ingest(settings, store, now, sources=[source])
            pipeline.create_digests(settings, store, now)
        if day in (0, days - 1):
            snaps.append(_snapshot(root, f"before-day-{day + 1}"))
        with wiring.open_store(f"sqlite:///{root / 'days.db'}") as store:
            pipeline.publish(settings, store, now)
    return snaps[0], snaps[-1]


def timed_publish(root: Path, day: int) -> Callable[[], tuple[float, float]]:
    from digest import pipeline, wiring
    from digest.config import load_settings

    settings = load_settings(root / "days.yaml")
    now = RUN_DAY + timedelta(days=day - 1)

    def once() -> tuple[float, float]:
        with wiring.open_store(f"sqlite:///{root / 'days.db'}") as store:
            t0, c0 = time.perf_counter(), time.process_time()
            pipeline.publish(settings, store, now)
            return time.perf_counter() - t0, time.process_time() - c0

    return once


Times = tuple[list[tuple[float, float]], list[tuple[float, float]]]


def measure(days: int, per_day: int, repeat: int) -> Times:
    """Publish times (wall, CPU) on day 1 and on day `days`, `repeat` of each, interleaved."""
    root = Path(tempfile.mkdtemp(prefix="digest-publish-"))
    try:
        rng = random.Random(12)
        write_profiles(root / "profiles", rng, 50, 15)
        first, last = build_month(root, rng, days, per_day)
        times: Times = ([], [])
        for _ in range(repeat):
            for ts, day, snap in ((times[0], 1, first), (times[1], days, last)):
                _restore(root, snap)
                ts.append(timed_publish(root, day)())
        return times
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(days: int, times: Times) -> float:
    """Print the figures; the ratio of the median wall times."""
    ratios = []
    for n, what in enumerate(("wall", "CPU")):
        for day, ts in zip((1, days), times, strict=True):
            got = [t[n] for t in ts]
            print(f"publish, 50 profiles, day {day:2d}, {what:4s}: "
                  f"median {statistics.median(got):.3f} s  "
                  f"({', '.join(f'{t:.3f}' for t in got)})")  # fmt: skip
        ratios.append(
            statistics.median(t[n] for t in times[1]) / statistics.median(t[n] for t in times[0])
        )
    verdict = "PASS" if ratios[0] <= TARGET else "MISS"
    print(f"day {days} / day 1: {ratios[0]:.2f}x wall, {ratios[1]:.2f}x CPU "
          f"(target <= {TARGET}x) {verdict}")  # fmt: skip
    return ratios[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--per-day", type=int)
    ap.add_argument("--repeat", type=int)
    args = ap.parse_args()
    per_day = args.per_day or (400 if args.quick else 2_000)
    repeat = args.repeat or (3 if args.quick else 5)
    t0 = time.perf_counter()
    times = measure(args.days, per_day, repeat)
    print(f"{args.days} days x {per_day:,} entries a day: {time.perf_counter() - t0:.0f} s in all")
    report(args.days, times)


if __name__ == "__main__":
    main()
