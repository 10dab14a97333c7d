"""A small document model written once and rendered twice: as Markdown and as a PDF
(ReportLab, with an embedded DejaVu font so Vietnamese diacritics print)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Grid:
    """A table: a header row and rows of cells."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Attach:
    """A part the venue completes or attaches (facekeep cannot know it)."""

    text: str


@dataclass(frozen=True)
class Flow:
    """A top-to-bottom diagram: boxes (title, detail) joined by labelled arrows."""

    boxes: tuple[tuple[str, str], ...]
    arrows: tuple[str, ...]


Block = Heading | Para | Bullets | Grid | Attach | Flow


@dataclass
class Document:
    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)
    attach_label: str = "To attach"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document) -> str:
    """The document as Markdown."""
    out = [f"# {doc.title}", "", doc.subtitle, ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += ["#" * (block.level + 1) + " " + block.text, ""]
        elif isinstance(block, Para):
            out += [block.text, ""]
        elif isinstance(block, Bullets):
            out += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, Grid):
            out.append("| " + " | ".join(_cell(h) for h in block.header) + " |")
            out.append("|" + "---|" * len(block.header))
            out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, Attach):
            out += [f"> **[{doc.attach_label}]** {block.text}", ""]
        else:
            out.append("```")
            for i, (title, detail) in enumerate(block.boxes):
                width = max(len(title), len(detail)) + 2
                out += [
                    "┌" + "─" * width + "┐",
                    "│ " + title.ljust(width - 1) + "│",
                    "│ " + detail.ljust(width - 1) + "│",
                    "└" + "─" * width + "┘",
                ]
                if i < len(block.arrows):
                    out += ["    │ " + block.arrows[i], "    ▼"]
            out += ["```", ""]
    return "\n".join(out)


def _font_files() -> dict[str, Path]:
    """DejaVu Sans (regular, bold) and Sans Mono: from matplotlib's bundled fonts (a
    dependency already), else Debian's fonts-dejavu-core."""
    places = list(FONT_DIRS)
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        places.insert(0, Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf")
    names = {"sans": "DejaVuSans.ttf", "bold": "DejaVuSans-Bold.ttf", "mono": "DejaVuSansMono.ttf"}
    for place in places:
        found = {k: place / v for k, v in names.items()}
        if all(p.is_file() for p in found.values()):
            return found
    raise FileNotFoundError(
        "no DejaVu fonts found (matplotlib's mpl-data or /usr/share/fonts/truetype/dejavu); "
        "install Debian's fonts-dejavu-core"
    )


def to_pdf(doc: Document, path: Path, *, generated: datetime) -> None:
    """Write the document as an A4 PDF with embedded fonts."""
    from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import (
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    fonts = _font_files()
    for name, file in (("FkSans", "sans"), ("FkBold", "bold"), ("FkMono", "mono")):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(fonts[file])))
    pdfmetrics.registerFontFamily("FkSans", normal="FkSans", bold="FkBold")
    body = ParagraphStyle("body", fontName="FkSans", fontSize=9.5, leading=13, spaceAfter=4)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, spaceAfter=0)
    heads = {
        0: ParagraphStyle("title", parent=body, fontName="FkBold", fontSize=16, leading=20),
        1: ParagraphStyle(
            "h1", parent=body, fontName="FkBold", fontSize=12.5, leading=16, spaceBefore=8
        ),
        2: ParagraphStyle("h2", parent=body, fontName="FkBold", fontSize=10.5, spaceBefore=4),
    }
    attach = ParagraphStyle(
        "attach",
        parent=body,
        backColor=colors.HexColor("#fff4d6"),
        borderColor=colors.HexColor("#b07d00"),
        borderWidth=0.6,
        borderPadding=4,
        spaceBefore=4,
        spaceAfter=8,
    )
    width = A4[0] - 36 * mm

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), style)

    story: list[Any] = [para(doc.title, heads[0]), para(doc.subtitle, small), Spacer(1, 6)]
    for block in doc.blocks:
        if isinstance(block, Heading):
            story.append(para(block.text, heads[min(block.level, 2)]))
        elif isinstance(block, Para):
            story.append(para(block.text))
        elif isinstance(block, Bullets):
            story += [para("•  " + item) for item in block.items]
        elif isinstance(block, Attach):
            story.append(
                Paragraph(f"<b>[{escape(doc.attach_label)}]</b> {escape(block.text)}", attach)
            )
        elif isinstance(block, Grid):
            headed = any(block.header)  # a key-value table has no header row
            rows = [[para(h, small) for h in block.header]] if headed else []
            rows += [[para(c, small) for c in row] for row in block.rows]
            table = Table(rows, colWidths=[width / len(block.header)] * len(block.header))
            style = [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#888888")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
            first = colors.HexColor("#e8eef6")
            style.append(("BACKGROUND", (0, 0), (-1, 0) if headed else (0, -1), first))
            table.setStyle(TableStyle(style))
            story += [table, Spacer(1, 6)]
        else:
            box_w, box_h, gap = 300.0, 34.0, 26.0
            n = len(block.boxes)
            height = n * box_h + (n - 1) * gap + 4
            drawing = Drawing(width, height)
            left = (width - box_w) / 2
            for i, (title, detail) in enumerate(block.boxes):
                top = height - 2 - i * (box_h + gap)
                drawing.add(
                    Rect(
                        left,
                        top - box_h,
                        box_w,
                        box_h,
                        rx=4,
                        ry=4,
                        fillColor=colors.HexColor("#eef3fb"),
                        strokeColor=colors.HexColor("#2f5d9b"),
                    )
                )
                drawing.add(String(left + 8, top - 14, title, fontName="FkBold", fontSize=9))
                drawing.add(String(left + 8, top - 27, detail, fontName="FkSans", fontSize=7.5))
                if i < len(block.arrows):
                    x, y0, y1 = left + 40, top - box_h, top - box_h - gap
                    drawing.add(Line(x, y0, x, y1 + 5, strokeColor=colors.black))
                    drawing.add(
                        Polygon([x - 3.5, y1 + 6, x + 3.5, y1 + 6, x, y1], fillColor=colors.black)
                    )
                    drawing.add(
                        String(
                            x + 8,
                            (y0 + y1) / 2 - 3,
                            block.arrows[i],
                            fontName="FkSans",
                            fontSize=7.5,
                        )
                    )
            story += [KeepTogether([drawing]), Spacer(1, 8)]

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("FkSans", 7.5)
        line = f"{doc.title} · {generated.date().isoformat()} · {canvas.getPageNumber()}"
        canvas.drawString(18 * mm, 10 * mm, line)
        canvas.restoreState()

    pdf = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=doc.title,
        author="facekeep",
        invariant=True,
    )
    pdf.build(story, onFirstPage=footer, onLaterPages=footer)
