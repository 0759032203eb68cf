"""QR codes for licence URLs: byte mode, EC level M, PNG and SVG output, decoded back with a real reader."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from signatures.cose import token_url
from signatures.errors import MalformedError
from signatures.qr import QUIET_ZONE, qr_matrix, qr_png, qr_svg, qr_version_for
from tests.signatures import helpers as h


@pytest.fixture(scope="module")
def url(token_a: bytes) -> str:
    return token_url(h.BASE_URL, token_a)


def test_version_and_matrix_size(url: str) -> None:
    version = qr_version_for(url)
    matrix = qr_matrix(url)
    assert len(matrix) == 17 + 4 * version  # ISO/IEC 18004 §6.3.1
    assert all(len(row) == len(matrix) for row in matrix)
    assert all(isinstance(m, bool) for row in matrix for m in row)
    assert matrix[0][:7] == [True] * 7  # finder pattern, no quiet zone in the matrix


def test_typical_url_version(url: str) -> None:
    # 418 bytes of URL need version 16 at EC level M (version 15 holds 412 bytes in byte mode).
    assert qr_version_for(url) == 16
    assert qr_version_for("https://x.example/v/" + "A" * 200) <= 11


def test_png_structure(url: str) -> None:
    png = qr_png(url, scale=3)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    side = (len(qr_matrix(url)) + 2 * QUIET_ZONE) * 3
    assert (length, kind, width, height, depth, colour) == (13, b"IHDR", side, side, 1, 0)
    assert png.endswith(b"IEND" + struct.pack(">I", zlib.crc32(b"IEND")))
    assert qr_png(url, scale=3) == png  # deterministic


def test_svg_is_one_path_covering_exactly_the_dark_modules(url: str) -> None:
    svg = qr_svg(url)
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert svg.count("<path") == 1
    dark = set()
    for x, y, run in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", svg):
        dark |= {(int(x) + i - QUIET_ZONE, int(y) - QUIET_ZONE) for i in range(int(run))}
    matrix = qr_matrix(url)
    assert dark == {(x, y) for y, row in enumerate(matrix) for x, m in enumerate(row) if m}


def test_refuses_oversized_or_empty_urls() -> None:
    with pytest.raises(MalformedError):
        qr_version_for("")
    with pytest.raises(MalformedError):
        qr_version_for("https://x/" + "A" * 3000)
    with pytest.raises(MalformedError):
        qr_png("https://x/", scale=0)


def test_png_decodes_with_zbar(url: str, tmp_path: Path) -> None:
    if shutil.which("zbarimg") is None:  # scripts/system-deps.sh installs it: a missing checker is a failure
        pytest.fail("zbarimg (Debian zbar-tools) is required: run scripts/system-deps.sh")
    path = tmp_path / "qr.png"
    path.write_bytes(qr_png(url))
    out = subprocess.run(["zbarimg", "--quiet", "--raw", str(path)], capture_output=True, check=True, timeout=30)
    assert out.stdout.decode().strip() == url
