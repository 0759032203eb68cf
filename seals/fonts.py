"""The CJK TrueType font used for licence text and seal images, with an explicit coverage check.

A glyph the font lacks would render as nothing (or a `.notdef` box) and a rare character (生僻字) in a name would
silently vanish from a legal document; `require_glyphs` turns that into a `MissingGlyphError` naming the character.
The font must have TrueType (glyf) outlines so that it can be subset and embedded: Noto CJK is CFF and is refused.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFError, TTFont  # type: ignore[import-untyped]

from seals.errors import FontError, MissingGlyphError

__all__ = ["DEFAULT_CJK_FONT", "CjkFont", "load_reportlab_font", "require_glyphs"]

# Debian `fonts-wqy-zenhei`: TrueType outlines, ~42,000 code points incl. GB 18030 level-1/2 hanzi.
_DEFAULT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
_IGNORABLE = frozenset("\n\r\t")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class CjkFont:
    """Where the CJK font lives: a .ttf, or a .ttc plus the index of the face inside the collection."""

    path: Path
    subfont_index: int = 0

    @property
    def pdf_name(self) -> str:
        """A stable registry name for this face (reportlab's font registry is process-wide)."""
        digest = hashlib.sha256(f"{self.path.resolve()}#{self.subfont_index}".encode()).hexdigest()[:12]
        return f"TLCJK{digest}"


DEFAULT_CJK_FONT = CjkFont(_DEFAULT_PATH, 0)


@lru_cache(maxsize=8)
def load_reportlab_font(font: CjkFont) -> TTFont:
    """Parse the face once per process and register it with reportlab (parsing a CJK TTC takes ~0.1 s)."""
    if not font.path.is_file():
        raise FontError(f"CJK font not found at {font.path} (install fonts-wqy-zenhei or pass another CjkFont)")
    with _LOCK:
        try:
            loaded = TTFont(font.pdf_name, str(font.path), subfontIndex=font.subfont_index)
        except (TTFError, OSError, ValueError) as e:
            raise FontError(f"cannot load a TrueType-outline face from {font.path}: {e}") from e
        pdfmetrics.registerFont(loaded)
    return loaded


def _coverage(font: CjkFont) -> dict[int, int]:
    mapping: dict[int, int] = load_reportlab_font(font).face.charToGlyph
    return mapping


def require_glyphs(text: str, font: CjkFont = DEFAULT_CJK_FONT) -> None:
    """Raise `MissingGlyphError` naming the first character of `text` the font cannot draw (glyph 0 = .notdef)."""
    coverage = _coverage(font)
    for char in text:
        if char in _IGNORABLE:
            continue
        if coverage.get(ord(char), 0) == 0:
            name = load_reportlab_font(font).face.name
            face = name.decode("ascii", "replace") if isinstance(name, bytes) else str(name)
            raise MissingGlyphError(char, face)
