"""QR codes for licence URLs `<public base URL>/v/<base64url token>` (DESIGN §6): byte mode, error correction M.

`qrcode` computes the module matrix (ISO/IEC 18004); the PNG and SVG writers here are our own few lines of standard
library so that no imaging library (Pillow, pypng) is needed at run time, and the output is byte-for-byte
deterministic. PDF renderers draw `qr_matrix()` as vector rectangles.
"""

from __future__ import annotations

import struct
import zlib

import qrcode
import qrcode.constants
import qrcode.exceptions
import qrcode.util

from signatures.errors import MalformedError

QUIET_ZONE = 4  # modules of light margin on each side (ISO/IEC 18004:2015 §9.1)
MAX_URL_BYTES = 2048
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _make(url: str) -> qrcode.QRCode:
    data = url.encode("utf-8")
    if not data or len(data) > MAX_URL_BYTES:
        raise MalformedError(f"QR URL must be 1 to {MAX_URL_BYTES} bytes")
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    # Force byte mode for the whole string: no mixed-mode segments, so every reader decodes the same bytes.
    code.add_data(qrcode.util.QRData(data, mode=qrcode.util.MODE_8BIT_BYTE), optimize=0)
    try:
        code.make(fit=True)
    except (qrcode.exceptions.DataOverflowError, ValueError) as exc:
        raise MalformedError("URL does not fit in a QR code at error correction M") from exc
    return code


def qr_version_for(url: str) -> int:
    """The smallest QR version (1–40) holding `url` in byte mode at error correction M (ISO/IEC 18004 §7.4.10)."""
    return int(_make(url).version)


def qr_matrix(url: str) -> list[list[bool]]:
    """The module matrix of the QR code for `url`, rows top to bottom, True = dark, without the quiet zone."""
    return [[bool(module) for module in row] for row in _make(url).get_matrix()]


def _padded(matrix: list[list[bool]], border: int) -> list[list[bool]]:
    if border < 0:
        raise MalformedError("border must not be negative")
    width = len(matrix) + 2 * border
    blank = [[False] * width for _ in range(border)]
    return blank + [[False] * border + row + [False] * border for row in matrix] + blank


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def matrix_png(matrix: list[list[bool]], *, scale: int = 8, border: int = QUIET_ZONE) -> bytes:
    """A 1-bit greyscale PNG of a module matrix (PNG, ISO/IEC 15948 §11.2: IHDR, IDAT, IEND)."""
    if not 1 <= scale <= 64:
        raise MalformedError("scale must be 1 to 64 pixels per module")
    rows = _padded(matrix, border)
    side = len(rows) * scale
    raw = bytearray()
    for row in rows:
        bits = "".join("0" if dark else "1" for dark in row for _ in range(scale))  # 0 = black in greyscale
        bits += "1" * (-len(bits) % 8)
        line = b"\x00" + int(bits, 2).to_bytes(len(bits) // 8, "big")  # filter type 0 (None)
        raw += line * scale
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # bit depth 1, colour type 0 (greyscale)
    idat = zlib.compress(bytes(raw), 9)
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def matrix_svg(matrix: list[list[bool]], *, scale: int = 8, border: int = QUIET_ZONE) -> str:
    """An SVG 1.1 image of a module matrix: one path of dark runs on a white square, in module units."""
    if border < 0 or scale < 1:
        raise MalformedError("border must not be negative and scale must be positive")
    side = len(matrix) + 2 * border
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and row[x]:
                x += 1
            runs.append(f"M{start + border} {y + border}h{x - start}v1h-{x - start}z")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{side * scale}" height="{side * scale}" '
        f'viewBox="0 0 {side} {side}" shape-rendering="crispEdges">'
        f'<rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d="{"".join(runs)}"/></svg>\n'
    )


def qr_png(url: str, *, scale: int = 8, border: int = QUIET_ZONE) -> bytes:
    """PNG bytes of the QR code for `url` (byte mode, EC level M, 4-module quiet zone)."""
    return matrix_png(qr_matrix(url), scale=scale, border=border)


def qr_svg(url: str, *, scale: int = 8, border: int = QUIET_ZONE) -> str:
    """SVG text (a single vector path) of the QR code for `url` (byte mode, EC level M, 4-module quiet zone)."""
    return matrix_svg(qr_matrix(url), scale=scale, border=border)
