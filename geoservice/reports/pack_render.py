"""A pack as one offline HTML page, or as an A4 PDF.

The PDF is drawn with ReportLab (pure Python, from the registry) in the DejaVu-like Vera font that ships inside
ReportLab, so it needs nothing from the system or the network. Every page carries the protective marking at top
and bottom, and a footer with the recipient, who made it and when, and "page N of M". Figures are the same SVG
drawings as in the HTML page, converted to vector graphics (svglib), so maps and networks print sharp.
"""

from __future__ import annotations

import io
from pathlib import Path

import jinja2

from .packs import NO_DATA, Figure, Pack, Table

_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("geoservice.reports", "templates"),
                                autoescape=True, undefined=jinja2.StrictUndefined)


def html(pack: Pack) -> str:
    """The pack as one self-contained page: inline styles and drawings, no scripts, nothing fetched."""
    return _TEMPLATES.get_template("pack.html").render(pack=pack, no_data=NO_DATA)


def body_html(pack: Pack) -> str:
    """The pack's notes, contents and sections alone, for a page of the service to show inside its own layout."""
    return _TEMPLATES.get_template("pack_body.html").render(pack=pack, no_data=NO_DATA)


# PDF -----------------------------------------------------------------------------------------------------------
_FONTS_READY = False


def _fonts() -> tuple[str, str]:
    """Vera (shipped inside ReportLab: covers the dashes, quotes and accents a pack uses), registered once."""
    global _FONTS_READY
    from reportlab import rl_config  # noqa: F401
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    import reportlab

    if not _FONTS_READY:
        folder = Path(reportlab.__file__).parent / "fonts"
        pdfmetrics.registerFont(TTFont("Vera", str(folder / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont("Vera-Bold", str(folder / "VeraBd.ttf")))
        _FONTS_READY = True
    return "Vera", "Vera-Bold"


def _escape(text) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def pdf(pack: Pack) -> bytes:
    """The pack as an A4 PDF (bytes)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas as rl_canvas
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer
    from reportlab.platypus import Table as RLTable
    from reportlab.platypus import TableStyle

    regular, bold = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=11.5, spaceAfter=4)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9, spaceAfter=0)
    small_bold = ParagraphStyle("small_bold", parent=small, fontName=bold)
    empty = ParagraphStyle("empty", parent=body, textColor=colors.HexColor("#555555"))
    headings = {1: ParagraphStyle("h1", parent=body, fontName=bold, fontSize=15, leading=18, spaceAfter=6),
                2: ParagraphStyle("h2", parent=body, fontName=bold, fontSize=12.5, leading=15, spaceBefore=10,
                                  spaceAfter=4, textColor=colors.HexColor("#2b4b6f"), keepWithNext=1),
                3: ParagraphStyle("h3", parent=body, fontName=bold, fontSize=10.5, leading=13, spaceBefore=8,
                                  spaceAfter=3, keepWithNext=1)}
    caption = ParagraphStyle("caption", parent=body, fontName=bold, fontSize=8.5, spaceBefore=4, spaceAfter=2,
                             keepWithNext=1)
    about = pack.about
    width = A4[0] - 36 * mm

    story = [Paragraph(_escape(pack.title), headings[1]),
             Paragraph(_escape(f"{about['borough_name']} ({about['borough']}) · {about['period']} (since the last "
                               f"panel on {about['since']}) · evidence in force on {about['as_of']}"), body)]
    story += [Paragraph("• " + _escape(note), body) for note in about.get("notes", [])]
    for section in pack.sections:
        story.append(Paragraph(_escape(section.title), headings[section.level]))
        story += [Paragraph(_escape(line), empty if line == NO_DATA else body) for line in section.text]
        for block in section.blocks:
            if isinstance(block, Figure):
                story.append(KeepTogether([_drawing(block.svg, width), Paragraph(_escape(block.caption), small)]))
            elif isinstance(block, Table):
                story.append(Paragraph(_escape(block.caption), caption))
                story.append(_table(block, width, small, small_bold, RLTable, TableStyle, colors))
        story.append(Spacer(1, 4))
    story.append(Spacer(1, 8))
    story += [Paragraph(_escape(line), small) for line in about.get("attributions", [])]

    footer = (f"Prepared for {about['recipient']}" + (f" by {about['made_by']}" if about.get("made_by") else "")
              + f", {about['made_at']}")

    class Numbered(rl_canvas.Canvas):
        """Draws the marking and the footer on every page once the page count is known."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages = []

        def showPage(self):  # noqa: N802 (ReportLab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(bold, 9)
                self.drawCentredString(A4[0] / 2, A4[1] - 10 * mm, about["marking"])
                self.drawCentredString(A4[0] / 2, 6 * mm, about["marking"])
                self.setFont(regular, 7.5)
                self.drawString(18 * mm, 11 * mm, footer)
                self.drawRightString(A4[0] - 18 * mm, 11 * mm, f"page {number} of {len(self._pages)}")
                super().showPage()
            super().save()

    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                            bottomMargin=18 * mm, title=pack.title, author=about.get("made_by") or "Places & Spaces",
                            subject=f"{about['marking']} · {about['recipient']}")
    doc.build(story, canvasmaker=Numbered)
    return out.getvalue()


def _drawing(svg: str, width: float):
    from svglib.svglib import svg2rlg

    drawing = svg2rlg(io.BytesIO(svg.encode("utf-8")))
    scale = min(1.0, width / drawing.width) * 0.85
    drawing.width, drawing.height = drawing.width * scale, drawing.height * scale
    drawing.scale(scale, scale)
    drawing.hAlign = "LEFT"
    return drawing


def _table(block: Table, width: float, style, header_style, RLTable, TableStyle, colors):  # noqa: N803
    from reportlab.platypus import Paragraph

    data = [[Paragraph(_escape(c), header_style) for c in block.columns]]
    data += [[Paragraph(_escape(v), style) for v in row] for row in block.rows]
    # short columns (dates, grades, counts) get room for their longest value; the long ones share the rest
    from reportlab.pdfbase.pdfmetrics import stringWidth

    texts = [[str(c)] + [str(r[i]) for r in block.rows[:300]] for i, c in enumerate(block.columns)]
    natural = [max(stringWidth(t, style.fontName, style.fontSize) for t in column[1:] or [""]) + 8 for column in texts]
    heading = [stringWidth(max(column[0].split() or [""], key=len), header_style.fontName, header_style.fontSize) + 8
               for column in texts]
    short = [max(n, h) if n <= 90 else None for n, h in zip(natural, heading)]
    room = max(width - sum(w for w in short if w is not None), width * 0.3)
    long_weights = [natural[i] for i, w in enumerate(short) if w is None]
    widths = [w if w is not None else room * natural[i] / sum(long_weights) for i, w in enumerate(short)]
    widths = [w * min(1.0, width / sum(widths)) for w in widths]
    table = RLTable(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
    commands = [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3), ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.HexColor("#333333")),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#cccccc")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef2f6"))]
    commands += [("BACKGROUND", (0, i + 1), (-1, i + 1), colors.HexColor("#fde0c5")) for i in block.marked]
    table.setStyle(TableStyle(commands))
    return table
