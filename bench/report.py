"""Rows of figures with their baselines, the printed table and the JSON file."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REQUIRED = (
    "image_probe_http_p50_ms",
    "image_probe_http_p50_ms_sface",
    "image_probe_http_p50_ms_dlib",
    "checkin_burst_answer_ms_p50",
    "checkin_burst_answer_ms_max",
    "image_raw_encode_ms",
    "search_p99_ms_100k",
    "search_p99_ms_1m",
    "search_recall_at_1_1m",
    "match_http_rps_100k",
    "cold_start_s_1m",
    "erase_p99_ms",
    "hostile_image_answer_ms_p50",
    "hostile_image_answer_ms_max",
    "hostile_image_expected_4xx",
)


@dataclass
class Row:
    """One figure and the baseline measured beside it in the same run.

    ``target`` states the goal, e.g. ``"<= 10"`` (on the value) or ``"ratio <= 0.01"``;
    ``met`` is whether this run reached it (None: no target). ``n`` is the scale actually
    measured (a quick run measures "1m" rows at a smaller N and says so).
    """

    name: str
    value: float
    unit: str
    baseline: float
    baseline_label: str
    target: str = ""
    n: int | None = None
    note: str = ""
    ratio: float = field(init=False)
    met: bool | None = field(init=False)

    def __post_init__(self) -> None:
        self.value = float(self.value)
        self.baseline = float(self.baseline)
        self.ratio = self.value / self.baseline if self.baseline else math.nan
        self.met = _check(self.target, self.value, self.ratio) if self.target else None


def percentile_ms(seconds: list[float], pct: float) -> float:
    """The ``pct`` percentile of durations in seconds, in milliseconds."""
    return float(np.percentile(np.array(seconds) * 1e3, pct))


def _check(target: str, value: float, ratio: float) -> bool:
    words = target.split()  # "<= 10" on the value, or "ratio <= 0.01"
    subject = ratio if words[0] == "ratio" else value
    op, limit = words[-2], float(words[-1])
    if math.isnan(subject):
        return False
    return {"<=": subject <= limit, ">=": subject >= limit, "==": subject == limit}[op]


def machine(quick: bool) -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": round(_mem_total() / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "quick": quick,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "load_average_at_start": list(os.getloadavg()),
    }
    for module in ("numpy", "faiss", "sqlalchemy", "fastapi", "uvicorn"):
        try:
            info[module] = __import__(module).__version__
        except Exception:  # a version is nice to have, never required
            info[module] = None
    try:
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = None
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 0.1:
        return f"{x:.3f}"
    return f"{x:.2g}"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (readable in a terminal, pasteable into the README)."""
    head = ["figure", "value", "unit", "baseline (same run)", "ratio", "target", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        name = r.name + (f" (N={r.n:,})" if r.n else "")
        base = f"{_fmt(r.baseline)} ({r.baseline_label})"
        cells = [name, _fmt(r.value), r.unit, base, _fmt(r.ratio), r.target, met]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path: Path, info: dict[str, Any], rows: list[Row]) -> None:
    """``{"machine": {...}, "rows": [{"name", "value", "unit", "baseline", "ratio", ...}]}``."""
    out = []
    for r in rows:
        item = asdict(r)
        for key in ("value", "baseline", "ratio"):
            if isinstance(item[key], float) and not math.isfinite(item[key]):
                item[key] = None
        out.append(item)
    path.write_text(json.dumps({"machine": info, "rows": out}, indent=2) + "\n")
