"""``python -m bench [--quick] [--json FILE]``: facekeep's performance, one table.

Every row is a figure and a baseline measured in the same run on the same machine, and
their ratio, so a noisy or slower machine shifts both sides alike. ``--quick`` runs every
part at a reduced size in a couple of minutes (CI runs it so the suite never rots; its
rows say which N they stood in); the full run takes a few minutes more and is for people.
Generated data directories are cached under ``.bench-cache/`` (git-ignored). The
``eval`` part measures both face engines' accuracy on ``../shared/faces-asia`` and
re-derives their default thresholds and margins (:mod:`bench.accuracy`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.accuracy import eval_rows
from bench.coldstart import coldstart_rows
from bench.faces import ROOT, Synth, real_embeddings
from bench.hostile import hostile_rows
from bench.image import image_rows
from bench.kekstart import kek_coldstart_rows
from bench.plan import Context, Plan
from bench.report import REQUIRED, Row, machine, table, write_json
from bench.search import search_rows
from bench.service import service_rows

PARTS: dict[str, Callable[[Context], list[Row]]] = {
    "image": image_rows,
    "search": search_rows,
    "coldstart": coldstart_rows,
    "kek": kek_coldstart_rows,
    "service": service_rows,
    "hostile": hostile_rows,
    "eval": eval_rows,
}


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes (CI)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the smallest sizes that still make every row (the test suite's check; "
        "implies --quick, its figures mean nothing)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--cache", type=Path, default=ROOT / ".bench-cache", help="generated data (kept)"
    )
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated parts of {list(PARTS)}"
    )
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}")
    # Settings made in this process (data directories, keys) must not read a developer's
    # FACEKEEP_* variables; servers get a clean environment too.
    for name in [n for n in os.environ if n.startswith("FACEKEEP_")]:
        del os.environ[name]

    args.quick = args.quick or args.smoke
    plan = Plan.make(args.quick, smoke=args.smoke)
    args.cache.mkdir(parents=True, exist_ok=True)
    info = machine(args.quick)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="run-", dir=args.cache))
    rows: list[Row] = []
    ctx: Context | None = None
    try:
        say(f"{'quick' if args.quick else 'full'} run; work folder {work}")
        real = real_embeddings(args.cache)
        say(f"{len(real)} real face embeddings from the sample photos")
        ctx = Context(plan, args.cache, work, Synth(real), say)
        if "service" in parts and "image" not in parts:
            parts.insert(0, "image")  # the service rows' baselines come from it
        for part in parts:
            say(f"part: {part}")
            rows += PARTS[part](ctx)
    finally:
        info["seconds"] = round(time.perf_counter() - started, 1)
        info["load_average_at_end"] = list(os.getloadavg())
        info["notes"] = list(ctx.notes) if ctx is not None else []
        shutil.rmtree(work, ignore_errors=True)
        if rows:
            print(table(rows))
            print(
                f"\n{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; "
                f"{'quick' if args.quick else 'full'} run in {info['seconds']} s; load "
                f"average {info['load_average_at_start'][0]:.1f} -> "
                f"{info['load_average_at_end'][0]:.1f}"
            )
            for note in info["notes"]:
                print(f"note: {note}")
            if args.json:
                write_json(args.json, info, rows)
    missing = [n for n in REQUIRED if n not in {r.name for r in rows}]
    if set(parts) >= set(PARTS) and missing:
        say(f"missing rows: {missing}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
