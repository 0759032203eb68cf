"""One-page A4 licence PDF from a plain `LicenceDocument`: embedded CJK TrueType subset, vector QR, a seal box.

The renderer knows no licence class: the caller flattens a licence into rows. Text is checked against the font before
anything is drawn (`MissingGlyphError`), the QR code is drawn as filled rectangles (one per horizontal run of dark
modules, ISO/IEC 18004 quiet zone of 4), and the seal appearance goes in `SEAL_BOX`, over the issuer block, painted
as ink that the text shows through.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import qrcode
import qrcode.constants
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]

from seals.errors import RenderError
from seals.fonts import DEFAULT_CJK_FONT, CjkFont, load_reportlab_font, require_glyphs

__all__ = ["SEAL_BOX", "LicenceDocument", "qr_matrix", "render_licence_pdf"]

PAGE_W: float = A4[0]
PAGE_H: float = A4[1]
MARGIN = 56.0
# Where the seal appearance goes (x1, y1, x2, y2 in PDF points): over the issuer line, issue date and validity, as a
# paper seal is stamped. The text stays legible because the seal is painted as translucent ink (seals/sign.py).
SEAL_BOX: tuple[float, float, float, float] = (PAGE_W - MARGIN - 170.0, 118.0, PAGE_W - MARGIN - 20.0, 268.0)
_INK = (0.1, 0.1, 0.12)
_ACCENT = (0.62, 0.1, 0.1)
_MAX_TEXT = 2000
QrMatrix = tuple[tuple[bool, ...], ...]


@dataclass(frozen=True)
class LicenceDocument:
    """Everything printed on a licence page, already formatted as text by the caller."""

    title_zh: str
    title_en: str
    rows: Sequence[tuple[str, str]]
    issuer_name: str
    identifier: str
    validity_text: str
    qr_url: str
    qr_modules: QrMatrix | None = None
    issued_text: str = ""
    footer_text: str = field(default="扫描二维码核验证照状态 · Scan the QR code to verify this licence")

    def all_text(self) -> str:
        """Every string that will be drawn, for the glyph check."""
        parts = [self.title_zh, self.title_en, self.issuer_name, self.identifier, self.validity_text]
        parts += [self.qr_url, self.issued_text, self.footer_text, "证照标识有效期发证机关：:"]
        for label, value in self.rows:
            parts += [label, value]
        return "".join(parts)


@lru_cache(maxsize=256)
def qr_matrix(url: str) -> QrMatrix:
    """The QR module matrix of `url` (byte mode, error correction M, as DESIGN §6 prescribes), no quiet zone.

    Cached: choosing the mask costs ~40 ms for a ~400-character token URL (version 14) in pure Python, and one
    licence version's PDF is often asked for more than once."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0, box_size=1)
    code.add_data(url.encode("utf-8"))
    code.make(fit=True)
    return tuple(tuple(bool(cell) for cell in row) for row in code.get_matrix())


def _check(doc: LicenceDocument, font: CjkFont) -> None:
    text = doc.all_text()
    if len(text) > _MAX_TEXT * 4 or len(doc.rows) > 40:
        raise RenderError("licence document has too much text for one page")
    if not doc.qr_url:
        raise RenderError("a licence page needs the QR verification URL")
    require_glyphs(text, font)


def _wrap(text: str, font_name: str, size: float, width: float) -> list[str]:
    """Greedy character wrap (CJK breaks between any two characters); keeps Latin words whole where they fit.

    Widths are summed per character (reportlab applies no kerning to TrueType text), so a 400-character QR URL is
    measured in one pass instead of once per prefix."""
    lines: list[str] = []
    current, used = "", 0.0
    for char in text:
        advance = stringWidth(char, font_name, size)
        if used + advance <= width:
            current, used = current + char, used + advance
            continue
        cut = current.rfind(" ")
        if char != " " and cut > 0 and current.isascii():
            lines.append(current[:cut])
            current = current[cut + 1 :] + char
        else:
            lines.append(current)
            current = char.lstrip()
        used = stringWidth(current, font_name, size)
    if current:
        lines.append(current)
    return lines or [""]


def _draw_qr(c: Canvas, modules: QrMatrix, x: float, y: float, size: float) -> None:
    n = len(modules)
    if n == 0 or any(len(row) != n for row in modules):
        raise RenderError("QR module matrix must be square and non-empty")
    unit = size / (n + 8)
    c.setFillColorRGB(1, 1, 1)
    c.rect(x, y, size, size, stroke=0, fill=1)
    c.setFillColorRGB(0, 0, 0)
    path = c.beginPath()
    for r, row in enumerate(modules):
        top = y + size - (r + 4 + 1) * unit
        col = 0
        while col < n:
            if not row[col]:
                col += 1
                continue
            start = col
            while col < n and row[col]:
                col += 1
            path.rect(x + (start + 4) * unit, top, (col - start) * unit, unit)
    c.drawPath(path, stroke=0, fill=1)


def _draw_frame(c: Canvas) -> None:
    c.setStrokeColorRGB(*_ACCENT)
    c.setLineWidth(2.2)
    c.rect(28, 28, PAGE_W - 56, PAGE_H - 56, stroke=1, fill=0)
    c.setLineWidth(0.6)
    c.rect(34, 34, PAGE_W - 68, PAGE_H - 68, stroke=1, fill=0)


def _draw_header(c: Canvas, doc: LicenceDocument, font: str) -> float:
    c.setFillColorRGB(*_ACCENT)
    c.setFont(font, 30)
    c.drawCentredString(PAGE_W / 2, PAGE_H - 110, doc.title_zh)
    c.setFillColorRGB(*_INK)
    c.setFont(font, 13)
    c.drawCentredString(PAGE_W / 2, PAGE_H - 134, doc.title_en)
    c.setFont(font, 9)
    c.drawCentredString(PAGE_W / 2, PAGE_H - 156, f"证照标识：{doc.identifier}")
    c.setStrokeColorRGB(*_ACCENT)
    c.setLineWidth(0.8)
    c.line(MARGIN, PAGE_H - 168, PAGE_W - MARGIN, PAGE_H - 168)
    return PAGE_H - 200


def _draw_rows(c: Canvas, rows: Sequence[tuple[str, str]], font: str, top: float, bottom: float) -> float:
    label_w, size, leading = 120.0, 12.5, 19.0
    value_w = PAGE_W - 2 * MARGIN - label_w - 10
    y = top
    c.setLineWidth(0.3)
    c.setStrokeColorRGB(0.75, 0.72, 0.7)
    for label, value in rows:
        lines = _wrap(value, font, size, value_w)
        if y - leading * len(lines) < bottom:
            raise RenderError("licence rows do not fit on one A4 page")
        c.setFillColorRGB(0.35, 0.35, 0.38)
        c.setFont(font, 11)
        c.drawString(MARGIN + 8, y, label)
        c.setFillColorRGB(*_INK)
        c.setFont(font, size)
        for line in lines:
            c.drawString(MARGIN + label_w, y, line)
            y -= leading
        c.line(MARGIN, y + leading - 6, PAGE_W - MARGIN, y + leading - 6)
        y -= 8
    return y


def _draw_bottom(c: Canvas, doc: LicenceDocument, modules: QrMatrix, font: str) -> None:
    qr_size, qr_x, qr_y = 138.0, MARGIN, 96.0
    _draw_qr(c, modules, qr_x, qr_y, qr_size)
    c.setFillColorRGB(*_INK)
    c.setFont(font, 5.5)
    y = qr_y - 8
    for line in _wrap(doc.qr_url, font, 5.5, PAGE_W - 2 * MARGIN)[:3]:
        c.drawString(MARGIN, y, line)
        y -= 7
    right = SEAL_BOX[2] - 10
    c.setFont(font, 13)
    c.drawRightString(right, 210, f"发证机关：{doc.issuer_name}")
    c.setFont(font, 11)
    if doc.issued_text:
        c.drawRightString(right, 188, doc.issued_text)
    c.drawRightString(right, 168, f"有效期：{doc.validity_text}")
    c.setFont(font, 8)
    c.setFillColorRGB(0.4, 0.4, 0.42)
    c.drawCentredString(PAGE_W / 2, 46, doc.footer_text)


def render_licence_pdf(doc: LicenceDocument, font: CjkFont = DEFAULT_CJK_FONT) -> bytes:
    """Render `doc` as a one-page A4 PDF (ISO 32000-1) with the CJK font embedded as a subset; raises
    `MissingGlyphError` for a character the font lacks and `RenderError` if the content does not fit."""
    _check(doc, font)
    name = load_reportlab_font(font).fontName
    modules = doc.qr_modules if doc.qr_modules is not None else qr_matrix(doc.qr_url)
    out = io.BytesIO()
    # invariant=1: fixed document ID and dates, so the same input renders to the same bytes.
    c = Canvas(out, pagesize=A4, pageCompression=1, invariant=1, initialFontName=name, initialFontSize=12)
    c.setTitle(f"{doc.title_zh} {doc.identifier}")
    c.setAuthor(doc.issuer_name)
    # Machine-readable copies inside the sealed revision: a validator finds the ledger record without parsing text.
    c.setSubject(doc.identifier)
    c.setKeywords(doc.qr_url)
    _draw_frame(c)
    top = _draw_header(c, doc, name)
    _draw_rows(c, doc.rows, name, top, bottom=290.0)
    _draw_bottom(c, doc, modules, name)
    c.showPage()
    c.save()
    return out.getvalue()
