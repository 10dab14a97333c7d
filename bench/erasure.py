"""Erase and revoke over HTTP with a second server on the same database (rows of the
``service`` part, :mod:`bench.service`): how long each takes against one durable SQLite
commit, and how soon each server refuses the customer."""

from __future__ import annotations

import math
import sqlite3
import statistics
import time
from pathlib import Path

import numpy as np

from bench.datadir import customer_id
from bench.faces import F32
from bench.http import Client, Server
from bench.plan import Context
from bench.report import Row, percentile_ms


def _durable_commits(folder: Path, count: int) -> list[float]:
    """Single-row write transactions on a scratch SQLite file beside the vault, with the
    vault's settings (WAL, synchronous=FULL): the floor under any state change."""
    con = sqlite3.connect(folder / "commit-probe.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS t (v BLOB)")
    out = []
    for _ in range(count):
        began = time.perf_counter()
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO t VALUES (?)", (b"x" * 64,))
        con.execute("COMMIT")
        out.append(time.perf_counter() - began)
    con.close()
    return out


def erase_and_revoke_rows(
    ctx: Context, a: Server, b: Server, admin: Client, kiosk: str
) -> tuple[list[Row], int]:
    """Erase, then revoke, customers through server ``a`` while both servers are probed
    for them; the rows, and how many match requests were answered (each one must have
    left an audit event)."""
    plan = ctx.plan
    rng = np.random.default_rng(9)
    on_a, on_b = Client(a.port, kiosk), Client(b.port, kiosk)
    answered = 0

    def match(client: Client, vector: F32) -> str | None:
        nonlocal answered
        status, answer, _ = client.call(
            "POST", "/v1/match", {"embedding": [float(x) for x in vector]}
        )
        if status != 200:
            raise RuntimeError(f"match answered {status}: {answer}")
        answered += 1
        return answer.get("customer") if answer.get("match") else None

    results: dict[str, dict[str, list[float]]] = {}
    for action in ("erase", "revoke"):
        latency: list[float] = []
        same: list[float] = []
        elsewhere: list[float] = []
        b_normal: list[float] = []
        tried = 0
        while len(latency) < plan.erase_trials and tried < plan.erase_trials * 4:
            tried += 1
            i = int(rng.integers(0, plan.http_n))
            cid = customer_id(i)
            probe = ctx.synth.probes(np.array([i]), rng)[0]
            began = time.perf_counter()
            seen_b = match(on_b, probe)
            b_normal.append(time.perf_counter() - began)
            if match(on_a, probe) != cid or seen_b != cid:
                continue  # not matchable (already gone, or the probe drew too far)
            path = f"/v1/customers/{cid}/{action}"
            body = {"reason": "benchmark"} if action == "erase" else {}
            status, answer, elapsed = admin.call("POST", path, body)
            done = time.perf_counter()
            if status != 200:
                raise RuntimeError(f"{action} answered {status}: {answer}")
            latency.append(elapsed)
            same.append(1.0 if match(on_a, probe) != cid else 0.0)
            while True:
                if match(on_b, probe) != cid:
                    elsewhere.append(time.perf_counter() - done)
                    break
                if time.perf_counter() - done > 10:
                    elsewhere.append(math.inf)
                    break
                time.sleep(0.005)
        results[action] = {"latency": latency, "same": same, "other": elsewhere, "b": b_normal}
    on_a.close()
    on_b.close()
    commits = _durable_commits(ctx.work, 100 if not plan.quick else 30)
    rows = []
    for action in ("erase", "revoke"):
        r = results[action]
        for pct in (50, 99):
            rows.append(
                Row(
                    f"{action}_p{pct}_ms",
                    percentile_ms(r["latency"], pct),
                    "ms",
                    percentile_ms(commits, pct),
                    "one durable SQLite commit",
                    target="<= 50" if (action, pct) == ("erase", 99) else "",
                    note=f"{len(r['latency'])} {action}s over HTTP while idle",
                )
            )
    both_same = results["erase"]["same"] + results["revoke"]["same"]
    both_other = results["erase"]["other"] + results["revoke"]["other"]
    rows += [
        Row(
            "revoke_next_request_refused",
            statistics.mean(both_same),
            "fraction",
            1.0,
            "every time",
            target="== 1",
            note="the next match on the same process after an erase or revoke returned",
        ),
        Row(
            "revoke_other_process_ms",
            max(both_other) * 1e3,
            "ms",
            percentile_ms(results["erase"]["b"], 50),
            "a match on the other process",
            target="<= 1000",
            note="worst time until a second server on the same database refuses the "
            "customer (it checks the database before answering a match)",
        ),
    ]
    return rows, answered
