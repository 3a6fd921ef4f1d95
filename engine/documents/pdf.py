"""The page template every printable document shares (DO-4, DO-5, SEC-13, RPT-06).

Chinese text uses ReportLab's built-in CID font ``STSong-Light`` (encoding ``UniGB-UCS2-H``):
the PDF names the font, the viewer supplies it, so nothing needs to be installed or embedded
on the server. Every page carries a header, "第 x 页 共 y 页", the use restriction
"仅供本行政区域内社会救助审核使用", and a diagonal watermark with the viewer and the time
(passed in: engine code never reads the wall clock). A printed copy also carries "第N次打印".
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable
from reportlab.platypus import Paragraph
from reportlab.platypus import SimpleDocTemplate
from reportlab.platypus import Table
from reportlab.platypus import TableStyle

from engine.calendar import SHANGHAI

FONT = "STSong-Light"
RESTRICTION = "仅供本行政区域内社会救助审核使用"
# reportlab ships no types
PAGE_WIDTH: float = A4[0]
PAGE_HEIGHT: float = A4[1]
MARGIN: float = 18 * mm

pdfmetrics.registerFont(UnicodeCIDFont(FONT))


def style(size: float = 10.5, *, leading: float | None = None, align: int | None = None,
          indent: float = 0) -> ParagraphStyle:
    """A paragraph style in the CID font; ``wordWrap='CJK'`` breaks lines between Chinese characters."""
    return ParagraphStyle(f"hedui-{size}-{align}-{indent}", fontName=FONT, fontSize=size,
                          leading=leading or size * 1.55, wordWrap="CJK", alignment=align or 0,
                          firstLineIndent=indent)


TITLE = style(16, leading=26, align=TA_CENTER)
HEADING = style(11.5, leading=20)
BODY = style(10.5)
BODY_INDENT = style(10.5, indent=21)
SMALL = style(8.5, leading=12)
CELL = style(8.5, leading=11)


def para(text: str, st: ParagraphStyle = BODY) -> Paragraph:
    """A paragraph of plain text (escaped: names and addresses are data, not markup)."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br/>")
    return Paragraph(escaped, st)


def grid(rows: Sequence[Sequence[str]], widths: Sequence[float], *, header_rows: int = 1) -> Table:
    """A ruled table whose cells wrap; the header rows (none for a form of label/value rows) repeat on every page."""
    data = [[para(str(cell), CELL) for cell in row] for row in rows]
    table = Table(data, colWidths=list(widths), repeatRows=header_rows)
    shading = [("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.Color(0.92, 0.92, 0.92))] if header_rows else []
    table.setStyle(TableStyle([
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        *shading,
        ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


@dataclass(frozen=True)
class Stamp:
    """Who the copy is for and when: the watermark, and the print counter when it is a printed copy.

    :param viewer: the user's display name (or a system actor's name)
    :param unit: the viewer's unit
    :param at: when the copy was produced (from the engine clock)
    :param print_no: the N of "第N次打印" when printing; None for a view or download
    """

    viewer: str
    unit: str
    at: datetime
    print_no: int | None = None

    @property
    def local_time(self) -> str:
        return self.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")

    @property
    def watermark(self) -> str:
        return f"{self.unit} {self.viewer} {self.local_time}"

    @property
    def print_line(self) -> str | None:
        if self.print_no is None:
            return None
        return f"本文书于 {self.local_time} 由 {self.viewer} 进行了第{self.print_no}次打印"


def render(*, title: str, header: str, story: list[Flowable], stamp: Stamp, subject: str = "") -> bytes:
    """Lay out ``story`` on A4 pages with the shared header, footer and watermark; return the PDF bytes."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN + 8 * mm,
                            bottomMargin=MARGIN + 10 * mm, title=title, author="Hedui 核对系统", subject=subject,
                            creator="Hedui", invariant=1)
    doc.build(list(story), canvasmaker=_numbered_canvas(header, stamp))
    return out.getvalue()


def content_width() -> float:
    return PAGE_WIDTH - 2 * MARGIN


def _numbered_canvas(header: str, stamp: Stamp) -> Any:
    """A canvas class that defers page decoration until the page count is known (第 x 页 共 y 页)."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab ships no types
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802  (ReportLab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, page in enumerate(self._pages, start=1):
                self.__dict__.update(page)
                _decorate(self, header, stamp, number, total)
                Canvas.showPage(self)
            Canvas.save(self)

    return NumberedCanvas


def _decorate(c: Canvas, header: str, stamp: Stamp, number: int, total: int) -> None:
    c.saveState()
    # the watermark: light, diagonal, repeated so a cropped copy still names its viewer
    c.setFont(FONT, 15)
    c.setFillColor(colors.Color(0.55, 0.55, 0.55, alpha=0.22))
    for x, y in ((PAGE_WIDTH * 0.3, PAGE_HEIGHT * 0.25), (PAGE_WIDTH * 0.55, PAGE_HEIGHT * 0.55),
                 (PAGE_WIDTH * 0.3, PAGE_HEIGHT * 0.8)):
        c.saveState()
        c.translate(x, y)
        c.rotate(35)
        c.drawCentredString(0, 0, stamp.watermark)
        c.restoreState()
    c.setFillColor(colors.black)
    c.setFont(FONT, 8.5)
    top = PAGE_HEIGHT - MARGIN + 2 * mm
    c.drawString(MARGIN, top, header)
    c.drawRightString(PAGE_WIDTH - MARGIN, top, f"Hedui 核对系统 · {stamp.local_time}")
    c.setLineWidth(0.4)
    c.line(MARGIN, top - 2 * mm, PAGE_WIDTH - MARGIN, top - 2 * mm)
    bottom = MARGIN - 2 * mm
    c.line(MARGIN, bottom + 9 * mm, PAGE_WIDTH - MARGIN, bottom + 9 * mm)
    c.drawString(MARGIN, bottom + 5 * mm, RESTRICTION)
    c.drawRightString(PAGE_WIDTH - MARGIN, bottom + 5 * mm, f"第 {number} 页 共 {total} 页")
    if stamp.print_line:
        c.drawString(MARGIN, bottom + 1 * mm, stamp.print_line)
    c.restoreState()
