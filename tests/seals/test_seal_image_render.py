"""Seal image and licence rendering, checked with poppler (pdffonts, pdftoppm, pdfimages) and zbarimg."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from seals.errors import MissingGlyphError, RenderError
from seals.image import render_seal_png
from seals.render import PAGE_H, SEAL_BOX, render_licence_pdf
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


def _word_boxes(pdf: Path) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Each word pdftotext finds, with its box in points from the page's top left."""
    html = _run("pdftotext", "-bbox", str(pdf), "-")
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    return [(m[4], (float(m[0]), float(m[1]), float(m[2]), float(m[3]))) for m in re.findall(pattern, html)]


def _dark_pixels(png: Path, box: tuple[float, float, float, float], dpi: int) -> int:
    """Pixels in `box` dark in every channel: printed text, not red ink (red keeps a bright red channel)."""
    scale = dpi / 72
    with Image.open(png) as page:
        left, top, right, bottom = (round(v * scale) for v in box)
        rgb = page.convert("RGB").crop((left, top, right, bottom)).tobytes()
    return sum(1 for i in range(0, len(rgb), 3) if max(rgb[i : i + 3]) < 110)


def test_the_seal_does_not_hide_the_issue_date_or_the_validity(
    licence_pdf: bytes, sealed: bytes, work_dir: Path
) -> None:
    """The seal is stamped over the issuer block; its ink must leave every printed character there legible."""
    dpi = 150
    plain, stamped = work_dir / "legible-plain.pdf", work_dir / "legible-sealed.pdf"
    plain.write_bytes(licence_pdf)
    stamped.write_bytes(sealed)
    for pdf in (plain, stamped):
        _run("pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(pdf), str(pdf.with_suffix("")))
    x1, y1, x2, y2 = SEAL_BOX
    seal_top, seal_bottom = PAGE_H - y2, PAGE_H - y1  # pdftotext measures from the top
    under = [(w, box) for w, box in _word_boxes(plain) if box[0] < x2 and box[2] > x1 and box[1] < seal_bottom]
    under = [(w, box) for w, box in under if box[3] > seal_top]
    texts = " ".join(w for w, _ in under)
    assert "2023年04月03日" in texts and "有效期：2023年04月03日" in texts, texts  # the seal does sit over them
    for word, box in under:
        before = _dark_pixels(plain.with_suffix(".png"), box, dpi)
        after = _dark_pixels(stamped.with_suffix(".png"), box, dpi)
        assert before > 0, word
        assert after >= 0.9 * before, f"the seal hides {word!r}: {after} of {before} dark text pixels left"
