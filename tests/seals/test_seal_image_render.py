"""Seal image and licence rendering, checked with poppler (pdffonts, pdftoppm, pdfimages) and zbarimg."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from seals.errors import MissingGlyphError, RenderError
from seals.image import render_seal_png
from seals.render import render_licence_pdf
from tests.seals.helpers import DEPARTMENT, QR_URL, sample_document

RARE = "\U0002b81d"  # a CJK Extension D character wqy-zenhei does not cover


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def test_seal_image_is_red_on_transparent() -> None:
    image = Image.open(io.BytesIO(render_seal_png(DEPARTMENT)))
    assert image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]
    r, g, b, a = image.getpixel((image.width // 2, image.height // 2))  # type: ignore[misc]
    assert a == 255
    assert r > 200
    assert g < 40
    assert b < 40


def test_missing_glyph_in_seal_name_raises() -> None:
    with pytest.raises(MissingGlyphError) as err:
        render_seal_png(f"{RARE}县人民政府")
    assert err.value.character == RARE


def test_missing_glyph_in_licence_raises_naming_the_character() -> None:
    doc = sample_document(rows=[("姓名", f"王{RARE}")])
    with pytest.raises(MissingGlyphError, match=r"U\+2B81D"):
        render_licence_pdf(doc)


def test_too_many_rows_do_not_fit() -> None:
    with pytest.raises(RenderError):
        render_licence_pdf(sample_document(rows=[("项目", "内容" * 60)] * 12))


def test_font_is_embedded_as_a_subset(licence_pdf: bytes, work_dir: Path) -> None:
    path = work_dir / "licence.pdf"
    path.write_bytes(licence_pdf)
    lines = _run("pdffonts", str(path)).splitlines()[2:]
    assert lines, "no fonts"
    for line in lines:
        name, *_, emb, sub, _uni, _obj, _gen = line.split()
        assert "+" in name, line
        assert (emb, sub) == ("yes", "yes"), line
    assert any("WenQuanYi" in line for line in lines)


def test_render_is_small_deterministic_and_vector_qr(licence_pdf: bytes, work_dir: Path) -> None:
    assert len(licence_pdf) < 150_000
    assert render_licence_pdf(sample_document()) == licence_pdf
    path = work_dir / "licence-images.pdf"
    path.write_bytes(licence_pdf)
    assert len(_run("pdfimages", "-list", str(path)).splitlines()) == 2  # header only: the QR is not an image


def test_qr_decodes_to_the_url(licence_pdf: bytes, work_dir: Path) -> None:
    path = work_dir / "qr.pdf"
    path.write_bytes(licence_pdf)
    _run("pdftoppm", "-r", "150", "-png", "-singlefile", str(path), str(work_dir / "qr"))
    assert _run("zbarimg", "-q", "--raw", str(work_dir / "qr.png")).strip() == QR_URL


def test_pdftotext_shows_the_chinese_text(licence_pdf: bytes, work_dir: Path) -> None:
    path = work_dir / "text.pdf"
    path.write_bytes(licence_pdf)
    text = _run("pdftotext", str(path), "-")
    assert "营业执照" in text
    assert "龘鑫科技" in text
    assert DEPARTMENT in text
