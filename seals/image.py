"""The visible e-seal (电子印章) image: a red ring, the department name along the upper arc, a five-pointed star.

Drawn like a Chinese official seal (GA 241 style): the name runs clockwise from lower left to lower right, each
character upright towards the centre; an optional line of text (e.g. 电子印章) sits under the star. The PNG has a
transparent background; the sealer paints it as translucent ink (blend mode Multiply, `seals.sign`), so printed text
under the seal stays legible.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from seals.errors import RenderError
from seals.fonts import DEFAULT_CJK_FONT, CjkFont, require_glyphs

__all__ = ["SEAL_RED", "render_seal_png"]

SEAL_RED = (218, 18, 26, 255)
_SUPERSAMPLE = 2


@lru_cache(maxsize=16)
def _pil_font(font: CjkFont, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font.path), size, index=font.subfont_index)


def _star_points(cx: float, cy: float, outer: float) -> list[tuple[float, float]]:
    inner = outer * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = math.radians(-90 + 36 * i)
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    return points


def _draw_char(
    canvas: Image.Image, char: str, font: ImageFont.FreeTypeFont, centre: tuple[float, float], deg: float
) -> None:
    size = int(font.size * 1.4)
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((size / 2, size / 2), char, font=font, fill=SEAL_RED, anchor="mm")
    rotated = tile.rotate(-deg, resample=Image.Resampling.BICUBIC, expand=True)
    x = round(centre[0] - rotated.width / 2)
    y = round(centre[1] - rotated.height / 2)
    canvas.alpha_composite(rotated, (x, y))


def _draw_arc_text(canvas: Image.Image, text: str, font: CjkFont, radius: float, span_deg: float) -> None:
    n = len(text)
    char_size = max(12, int(min(radius * 0.3, radius * math.radians(span_deg) / max(n, 1) * 0.85)))
    pil_font = _pil_font(font, char_size)
    text_radius = radius - char_size * 0.85
    centre = canvas.width / 2
    step = span_deg / (n - 1) if n > 1 else 0.0
    start = -span_deg / 2 if n > 1 else 0.0
    for i, char in enumerate(text):
        deg = start + i * step  # 0° is straight up, positive is clockwise
        rad = math.radians(deg - 90)
        pos = (centre + text_radius * math.cos(rad), centre + text_radius * math.sin(rad))
        _draw_char(canvas, char, pil_font, pos, deg)


def _render(name: str, bottom_text: str, size_px: int, font: CjkFont) -> bytes:
    big = size_px * _SUPERSAMPLE
    canvas = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    ring = big * 0.035
    draw.ellipse((ring / 2, ring / 2, big - ring / 2, big - ring / 2), outline=SEAL_RED, width=round(ring))
    radius = big / 2 - ring * 1.4
    span = min(250.0, 40.0 + 20.0 * len(name))
    _draw_arc_text(canvas, name, font, radius, span)
    draw.polygon(_star_points(big / 2, big / 2, big * 0.17), fill=SEAL_RED)
    if bottom_text:
        bottom_font = _pil_font(font, round(big * 0.075))
        draw.text((big / 2, big * 0.76), bottom_text, font=bottom_font, fill=SEAL_RED, anchor="mm")
    alpha = canvas.getchannel("A").resize((size_px, size_px), Image.Resampling.LANCZOS)
    # Uniform ink colour with coverage only in alpha: the colour plane compresses to almost nothing in the PDF.
    image = Image.new("RGBA", (size_px, size_px), SEAL_RED)
    image.putalpha(alpha)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


@lru_cache(maxsize=64)
def render_seal_png(
    department_name: str, bottom_text: str = "电子印章", size_px: int = 300, font: CjkFont = DEFAULT_CJK_FONT
) -> bytes:
    """PNG bytes of the department's round seal (cached: a department's seal never changes)."""
    name = department_name.strip()
    if not 1 <= len(name) <= 24:
        raise RenderError("a seal needs a department name of 1 to 24 characters")
    if not 64 <= size_px <= 2048:
        raise RenderError("seal image size must be between 64 and 2048 pixels")
    require_glyphs(name + bottom_text, font)
    return _render(name, bottom_text, size_px, font)
