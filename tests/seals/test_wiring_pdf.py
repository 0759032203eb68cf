"""Sealed licence PDFs through the region wiring, checked by independent tools and by our own validation.

One region (SQLite) and two sealed PDFs (B-LTA and B-T) per module: poppler's `pdfsig` trusts them with our CA in an
NSS database, `zbarimg` reads the QR from a 150 dpi render and its token verifies under the registry's keys, the
ledger holds `DocumentSealed` with each PDF's SHA-256, and each tampering fails with its own reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from licences.application import LicenceView
from licences.errors import ConcurrentUpdateError, HolderDataShreddedError
from seals.errors import MissingGlyphError
from seals.render import render_licence_pdf
from seals.sign import seal_pdf
from seals.tsa import TimeStampAuthority
from signatures.cose import parse_token_text, verify_token_signature
from signatures.trustlist import TrustList, parse_signed_trust_list
from tests.conftest import START, FakeClock
from tests.seals.helpers import append_content_update, make_pki, nss_db, pdfsig
from tests.seals.wiring import PUBLIC_BASE, holder_uscc, issue_business_licence, write_trust_list
from trustledger import sealing
from trustledger.region import Region, init_region
from trustledger.seal_checks import PdfCheck, async_check_sealed_pdf, check_sealed_pdf, check_sealed_pdf_offline
from trustledger.sealing import (
    SealedPdf,
    async_seal_licence_pdf,
    current_crl,
    licence_document,
    seal_ca_pem,
    seal_licence_pdf,
    seal_registry,
)
from trustledger.settings import Settings


@dataclass
class World:
    region: Region
    clock: FakeClock
    licence: LicenceView
    lta: SealedPdf
    bt: SealedPdf
    work: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("wiring")
    settings = Settings(home=work / "home", database_url=f"sqlite:///{work / 'db.sqlite'}", public_base_url=PUBLIC_BASE)
    clock = FakeClock(START)
    region = init_region(settings, None, None, None, clock)
    licence = issue_business_licence(region)
    clock.advance(minutes=1)
    lta = seal_licence_pdf(region, licence.id)
    bt = seal_licence_pdf(region, licence.id, level="b-t")
    yield World(region, clock, licence, lta, bt, work)
    region.close()


def _codes(check: PdfCheck) -> dict[str, str | None]:
    return {c.name: c.code for c in check.failures}


def test_pdfsig_trusts_the_seal_with_our_ca(world: World) -> None:
    nss = nss_db(world.work, seal_ca_pem(world.region).encode())
    for name, sealed in (("lta.pdf", world.lta), ("bt.pdf", world.bt)):
        (world.work / name).write_bytes(sealed.pdf)
        out = pdfsig(nss, world.work / name)
        assert "Signature is Valid." in out, out
        assert "Certificate is Trusted." in out, out
        assert "ETSI.CAdES.detached" in out
        assert "郑州市市场监督管理局" in out  # the issuer's seal, not another department's
    assert "Total document signed" in pdfsig(nss, world.work / "bt.pdf")  # B-LTA adds a DSS and a doc time-stamp
    fonts = subprocess.run(["pdffonts", str(world.work / "lta.pdf")], capture_output=True, text=True).stdout
    assert "TrueType" in fonts.splitlines()[2] and " yes yes " in fonts.splitlines()[2]  # embedded subset
    assert len(world.lta.pdf) < 150_000 and len(world.bt.pdf) < 150_000


def test_qr_decodes_from_a_150_dpi_render_and_its_token_verifies(world: World) -> None:
    path = world.work / "qr.pdf"
    path.write_bytes(world.lta.pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(path), str(world.work / "page")], check=True)
    out = subprocess.run(
        ["zbarimg", "--raw", "-q", str(world.work / "page.png")], capture_output=True, text=True, check=True
    ).stdout.strip()
    view = world.region.licences.get(world.licence.id)
    assert out == view.qr_url and out.startswith(PUBLIC_BASE + "/v/")
    keys = {k.kid: k.key for k in world.region.registry.keys_of(view.issuer)}
    verified = verify_token_signature(parse_token_text(out), keys.get)
    assert verified.claims.subject == view.identifier
    assert verified.claims.issuer == view.issuer


def test_document_sealed_is_on_the_ledger(world: World) -> None:
    for sealed in (world.lta, world.bt):
        assert sealed.sha256 == hashlib.sha256(sealed.pdf).hexdigest()
    history = world.region.licences.history(world.licence.id)
    recorded = {e.leaf_index: e.event["pdf_sha256"] for e in history if e.kind == "sealed"}
    assert recorded == {world.lta.leaf_index: world.lta.sha256, world.bt.leaf_index: world.bt.sha256}


def test_the_page_shows_the_catalogue_labels_and_the_holder(world: World) -> None:
    view, document = licence_document(world.region, world.licence.id)
    rows = dict(document.rows)
    assert rows["名称"] == "郑州市龘鑫科技有限公司"
    assert rows["法定代表人"] == "张三"
    assert rows["成立日期"] == "2023年04月03日"
    assert document.title_zh == "营业执照" and document.validity_text.endswith("至 长期")
    assert document.qr_url == view.qr_url and document.identifier == view.identifier


def test_valid_online_and_offline(world: World) -> None:
    online = check_sealed_pdf(world.region, world.lta.pdf)
    assert online.valid, online.failures
    assert all(c.ok for c in online.checks)
    assert online.identifier == world.licence.identifier
    assert check_sealed_pdf(world.region, world.bt.pdf).valid
    path = write_trust_list(world.region, world.work / "tl.json", world.clock())
    trust_list = TrustList.from_payload(parse_signed_trust_list(path.read_bytes())["payload"])
    offline = check_sealed_pdf_offline(world.lta.pdf, trust_list, world.clock())
    assert offline.valid, offline.failures
    ledger = {c.name: c for c in offline.checks}["on_ledger"]
    assert ledger.ok is None and ledger.detail == "ledger not consulted offline"


def test_each_tampering_fails_with_its_own_reason(world: World) -> None:
    pdf = world.bt.pdf
    at = pdf.index(b"stream\n") + 200
    flipped = check_sealed_pdf(world.region, pdf[:at] + bytes([pdf[at] ^ 0x01]) + pdf[at + 1 :])
    assert not flipped.valid and _codes(flipped)["intact"] == "pdf_altered"

    updated = check_sealed_pdf(world.region, append_content_update(pdf, b"1 1 1 rg 120 470 420 40 re f"))
    assert not updated.valid and _codes(updated)["whole_document"] == "incremental_update"
    assert "intact" not in _codes(updated)

    rogue = make_pki("河南省", 77)  # same names, other keys: a seal from another CA
    _, document = licence_document(world.region, world.licence.id)
    tsa = TimeStampAuthority(rogue.tsa_cert, rogue.tsa_key, chain=(rogue.ca.certificate,), clock=world.clock)
    forged = check_sealed_pdf(world.region, seal_pdf(render_licence_pdf(document), rogue.seal_key, authority=tsa).data)
    assert not forged.valid and _codes(forged)["trusted_chain"] == "untrusted_chain"
    assert "intact" not in _codes(forged)

    reasons = {
        _codes(c)[name] for c, name in ((flipped, "intact"), (updated, "whole_document"), (forged, "trusted_chain"))
    }
    assert len(reasons) == 3


def test_revoked_seal_certificate(world: World) -> None:
    region, clock = world.region, world.clock
    registry = seal_registry(region)
    early = issue_business_licence(region, issuer="ha-amr", n=1)
    late = issue_business_licence(region, issuer="jinshui-amr", n=2)
    sealed_early = seal_licence_pdf(region, early.id, level="b-t")
    sealed_late = seal_licence_pdf(region, late.id, level="b-t")
    compromised = registry.current_certificate(early.issuer, clock())
    retired = registry.current_certificate(late.issuer, clock())
    assert compromised is not None and retired is not None
    clock.advance(minutes=1)
    # Compromised since before it sealed: the seal fails. Revoked after it sealed: the earlier seal stands.
    registry.revoke(
        compromised.serial, reason="key_compromise", revoked_at=compromised.not_before + timedelta(minutes=1)
    )
    registry.revoke(retired.serial, reason="superseded")
    revoked = check_sealed_pdf(region, sealed_early.pdf)
    assert not revoked.valid
    assert _codes(revoked) == {"certificate": "certificate_revoked"}
    assert check_sealed_pdf(region, sealed_late.pdf).valid
    crl_serials = {e.serial_number for e in pki_crl(region)}
    assert crl_serials == {int(compromised.serial, 16), int(retired.serial, 16)}


def pki_crl(region: Region) -> list[x509.RevokedCertificate]:
    crl = x509.load_der_x509_crl(current_crl(region))
    ca_key = seal_registry(region).region_ca().certificate.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey) and crl.is_signature_valid(ca_key)
    return list(crl)


def test_async_variants_inside_a_running_loop(world: World) -> None:
    async def run() -> tuple[SealedPdf, PdfCheck]:
        sealed = await async_seal_licence_pdf(world.region, world.licence.id, level="b-t")
        return sealed, await async_check_sealed_pdf(world.region, sealed.pdf)

    sealed, check = asyncio.run(run())
    assert check.valid, check.failures
    history = world.region.licences.history(world.licence.id)
    assert sealed.sha256 in {e.event["pdf_sha256"] for e in history if e.kind == "sealed"}


def test_no_record_when_the_licence_changed_while_sealing(world: World) -> None:
    licence = issue_business_licence(world.region, n=3)
    prepared = sealing._prepare(world.region, licence.id, "b-t")
    world.region.licences.amend(licence.id, actor=licence.issuer, changes={"address": "河南省郑州市二七区大学路 1 号"})
    with pytest.raises(ConcurrentUpdateError, match="changed while its PDF was being sealed"):
        sealing._record(world.region, prepared, "ab" * 32)
    assert not any(e.kind == "sealed" for e in world.region.licences.history(licence.id))


def test_shredded_holder_and_rare_characters_fail_loudly(world: World) -> None:
    shredded = issue_business_licence(world.region, n=4)
    world.region.licences.shred_holder(holder_uscc(4))
    with pytest.raises(HolderDataShreddedError):
        seal_licence_pdf(world.region, shredded.id)
    rare = world.region.licences.issue(
        type_code="business-licence",
        issuer="zz-amr",
        holder_id=holder_uscc(5),
        holder_name="郑州市\U00030edeB面馆有限公司",  # 𰻞 (biáng, CJK Extension G) is not in the embedded font
        fields={},
    )
    with pytest.raises(MissingGlyphError, match=r"U\+30EDE"):
        seal_licence_pdf(world.region, rare.id)
