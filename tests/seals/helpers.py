"""Deterministic test PKI and sample licence for the seals tests."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from seals import pki
from seals.image import render_seal_png
from seals.render import LicenceDocument
from seals.sign import SealKey

NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2044, 1, 1, tzinfo=UTC)
CRL_URL = "http://ledger.ha.gov.example/v1/seals/crl"
DEPARTMENT = "郑州市市场监督管理局"
USCC = "11410100MB1955104X"
QR_URL = "https://ledger.ha.gov.example/v/0oRDoQEmoQRIa2lkLTIwMjVYrqcBcjExNDEwMDAwMDA1MDA0NzIyWAJ4PjEuMi4xNTYuMzAwNS4y"


def det_key(n: int) -> ec.EllipticCurvePrivateKey:
    """A fixed P-256 key (test PKI only)."""
    return ec.derive_private_key(0xC0FFEE + n, ec.SECP256R1())


@dataclass(frozen=True)
class Pki:
    ca: pki.RegionCA
    seal_key: SealKey
    tsa_cert: x509.Certificate
    tsa_key: ec.EllipticCurvePrivateKey


def make_pki(region: str, seed: int, seal_serial: int = 100) -> Pki:
    ca = pki.create_region_ca(det_key(seed), region_name=region, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    seal_priv = det_key(seed + 1)
    seal_cert = pki.issue_seal_certificate(
        ca,
        seal_priv.public_key(),
        department_name=DEPARTMENT,
        uscc=USCC,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        serial_number=seal_serial,
        crl_url=CRL_URL,
    )
    tsa_priv = det_key(seed + 2)
    tsa_cert = pki.issue_tsa_certificate(
        ca,
        tsa_priv.public_key(),
        name=region,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        serial_number=7,
        crl_url=CRL_URL,
    )
    key = SealKey(seal_cert, seal_priv, (ca.certificate,), render_seal_png(DEPARTMENT))
    return Pki(ca, key, tsa_cert, tsa_priv)


def sample_document(**changes: object) -> LicenceDocument:
    fields: dict[str, object] = {
        "title_zh": "营业执照",
        "title_en": "Business Licence",
        "rows": [
            ("统一社会信用代码", "91410100MA44XXXXX1"),
            ("名称", "郑州市龘鑫科技有限公司"),
            ("法定代表人", "张三"),
            ("经营范围", "软件开发；信息技术咨询服务；数据处理和存储支持服务。"),
            ("住所", "河南省郑州市金水区花园路 123 号"),
        ],
        "issuer_name": DEPARTMENT,
        "identifier": "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U",
        "validity_text": "2023年04月03日 至 长期",
        "qr_url": QR_URL,
        "issued_text": "2023年04月03日",
    }
    fields.update(changes)
    return LicenceDocument(**fields)  # type: ignore[arg-type]


def nss_db(directory: Path, ca_pem: bytes) -> Path:
    """An NSS database in `directory` that trusts `ca_pem` for signatures (poppler's pdfsig reads it)."""
    nss = directory / "nss"
    if not nss.exists():
        nss.mkdir(parents=True)
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
        (directory / "ca-nss.pem").write_bytes(ca_pem)
        add = ["certutil", "-d", f"sql:{nss}", "-A", "-t", "CT,C,C", "-n", "region-ca"]
        subprocess.run([*add, "-i", str(directory / "ca-nss.pem")], check=True)
    return nss


def pdfsig(nss: Path, path: Path) -> str:
    """poppler's verdict on the signatures of `path`, checked against the NSS database `nss`."""
    result = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True, timeout=60)
    return result.stdout


def append_content_update(pdf: bytes, body: bytes = b"0 0 1 rg 100 400 300 200 re f") -> bytes:
    """A hand-written incremental update (ISO 32000-1 §7.5.6) that replaces the page's content stream."""
    contents = int(re.search(rb"/Contents (\d+) 0 R", pdf).group(1))  # type: ignore[union-attr]
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    trailer = re.findall(rb"trailer\s*<<(.*?)>>\s*startxref", pdf, re.S)[-1]
    size = int(re.search(rb"/Size (\d+)", trailer).group(1))  # type: ignore[union-attr]
    root = re.search(rb"/Root (\d+ 0 R)", trailer).group(1)  # type: ignore[union-attr]
    obj = b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (contents, len(body), body)
    offset = len(pdf) + 1
    xref_at = offset + len(obj)
    xref = b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (contents, offset)
    tail = b"trailer\n<< /Size %d /Root %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, prev, xref_at)
    return pdf + b"\n" + obj + xref + tail
