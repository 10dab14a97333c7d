"""Part ``coldstart``: seconds from process start to /readyz with N encrypted templates,
against an empty vault's start (the KEK providers' cold starts are :mod:`bench.kekstart`)."""

from __future__ import annotations

import shutil

from bench.datadir import ENGINE, empty_datadir, ensure_datadir, working_copy
from bench.http import Server
from bench.plan import Context
from bench.report import Row


def empty_start(ctx: Context, name: str) -> tuple[float, int]:
    """Seconds to /readyz, and the resident memory, of a server on an empty vault: the
    baseline of the cold-start rows."""
    folder = empty_datadir(ctx.work / name)
    empty = Server(folder, ctx.work / f"{name}.log", face_engine=ENGINE)
    try:
        return empty.wait_ready(), empty.rss_bytes()
    finally:
        empty.stop()


def coldstart_rows(ctx: Context) -> list[Row]:
    """Seconds from process start to /readyz with N encrypted templates, each decrypted
    under its own customer's key, against an empty vault's start."""
    empty_s, empty_rss = empty_start(ctx, "empty")
    rows = []
    for label, n in ctx.plan.cold_sizes.items():
        pristine = ensure_datadir(ctx.cache, ctx.synth, n, ctx.say)
        folder = working_copy(pristine, ctx.work / f"cold-{label}")
        ctx.say(f"cold start: N={n:,}")
        server = Server(folder, ctx.work / f"cold-{label}.log", face_engine=ENGINE)
        try:
            seconds = server.wait_ready()
            rss = server.rss_bytes()
            loaded = int(server.ready.get("index_templates", -1))
        finally:
            server.stop()
        if loaded != n:
            raise RuntimeError(f"the server indexed {loaded} templates, not {n}")
        n_note = ctx.n_of(label, n)
        rows.append(
            Row(
                f"cold_start_s_{label}",
                seconds,
                "s",
                empty_s,
                "an empty vault's start",
                target="<= 60" if label == "1m" else "",
                n=n_note,
                note=f"{n:,} customers, one AES-GCM data key each, unwrapped and used",
            )
        )
        if label == "1m":
            rows.append(
                Row(
                    "cold_start_rss_bytes_per_template_1m",
                    (rss - empty_rss) / n,
                    "B",
                    512,
                    "raw float32",
                    n=n_note,
                    note="whole server process, including ids, grants and allocator slack",
                )
            )
        shutil.rmtree(folder, ignore_errors=True)
    return rows
