"""The report's blocks rendered as Markdown and as one self-contained HTML page."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from enroll.evaluation.figures import FIGURES
from enroll.evaluation.tables import Block


def markdown(parts: Sequence[Block]) -> str:
    """The blocks as Markdown (figures as relative image links)."""
    lines: list[str] = []
    for b in parts:
        if b.kind == "h1":
            lines += [f"# {b.text}", ""]
        elif b.kind == "h2":
            lines += [f"## {b.text}", ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "figure":
            lines += [f"![{FIGURES.get(b.text, b.text)}]({b.text})", ""]
        elif b.kind == "table":
            lines.append("| " + " | ".join(b.head) + " |")
            lines.append("|" + "---|" * len(b.head))
            lines += ["| " + " | ".join(r) + " |" for r in b.rows]
            lines.append("")
    return "\n".join(lines)


_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;"
    "color:#222}table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;"
    "padding:.25em .6em;text-align:left}th{background:#f1f1f1}img{max-width:100%}"
    "figcaption{color:#555;font-size:90%}"
)


def page(parts: Sequence[Block], images: dict[str, bytes]) -> str:
    """The blocks as one HTML page with every figure inlined as a data URI (it loads
    nothing from anywhere)."""
    e = html.escape
    body: list[str] = []
    title = next((b.text for b in parts if b.kind == "h1"), "Face engine evaluation")
    for b in parts:
        if b.kind in ("h1", "h2"):
            body.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f"<p>{e(b.text)}</p>")
        elif b.kind == "figure" and b.text in images:
            data = base64.b64encode(images[b.text]).decode("ascii")
            caption = e(FIGURES.get(b.text, b.text))
            body.append(
                f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
        elif b.kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b.head)
            rows = "".join(
                "<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in b.rows
            )
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
