"""Seals wired into a region (DESIGN §7): its seal CA, TSA and department seal keys, and sealed licence PDFs.

`ensure_seal_pki` (run by `init`) certifies the region seal CA, its RFC 3161 time-stamp authority and one seal
certificate per registered issuer, each a ledger event. `seal_licence_pdf` renders a licence (fields per type with the
catalogue's labels, holder from the sealed personal data, QR of its current token as vectors), seals it with the
issuer's seal (PAdES B-LTA with the region CRL, or B-T) using the region TSA in process, and records the PDF's
SHA-256 as `DocumentSealed`. The API serves `current_crl` and may expose `tsa_respond` over HTTP (ADR 0007).
"""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from cryptography import x509

from clock import CHINA_TIME
from ledger.ids import LeafIndex
from licences.catalogue import LicenceType
from licences.errors import ConcurrentUpdateError, LicenceRevokedError
from licences.privacy import HolderData
from licences.values import LicenceId
from seals import pki
from seals.errors import SealRegistryError
from seals.registry import SealRegistry
from seals.render import LicenceDocument, render_licence_pdf
from seals.sign import SealKey, async_seal_pdf, seal_pdf
from seals.tsa import TimeStampAuthority

if TYPE_CHECKING:
    from licences.application import LicenceView
    from trustledger.region_core import RegionCore

CHINA = CHINA_TIME
LEVELS = ("b-lta", "b-t")
_HOLDER_LABELS = {
    "organisation": (("名称", "name"), ("统一社会信用代码", "id")),
    "citizen": (("姓名", "name"), ("公民身份号码", "id")),
}


@dataclass(frozen=True)
class SealedPdf:
    """A sealed licence PDF, its SHA-256 (hex) and the leaf of the `DocumentSealed` event that records it."""

    pdf: bytes
    sha256: str
    leaf_index: LeafIndex


@dataclass(frozen=True)
class _Prepared:
    licence_id: LicenceId
    licence_version: int
    pdf: bytes
    key: SealKey
    authority: TimeStampAuthority
    crl: x509.CertificateRevocationList | None


class _Wiring:
    """Per-region objects that are costly to rebuild per call (the TSA's key and certificate)."""

    def __init__(self, region: RegionCore) -> None:
        self.registry = region.seal_registry
        self._authority: TimeStampAuthority | None = None

    def forget_authority(self) -> None:
        self._authority = None

    def authority(self, region: RegionCore) -> TimeStampAuthority:
        if self._authority is None:
            certificate, key = self.registry.tsa()
            ca = self.registry.ca_certificate()
            chain = () if ca is None else (ca,)
            self._authority = TimeStampAuthority(certificate, key, chain=chain, clock=region.clock)
        return self._authority


_WIRING: weakref.WeakKeyDictionary[RegionCore, _Wiring] = weakref.WeakKeyDictionary()


def _wiring(region: RegionCore) -> _Wiring:
    found = _WIRING.get(region)
    if found is None:
        found = _WIRING[region] = _Wiring(region)
    return found


# -- PKI ---------------------------------------------------------------------------------------------------------------


def seal_registry(region: RegionCore) -> SealRegistry:
    """The region's seal registry (certificates and revocations as ledger events)."""
    return _wiring(region).registry


def ensure_seal_pki(region: RegionCore) -> dict[str, int]:
    """Create the seal CA, the TSA certificate and a seal certificate per registered issuer where missing
    (idempotent; `init` runs it through `Region.ensure_seal_pki`). Returns how many certificates were issued."""
    issued = region.ensure_seal_pki()
    if issued["authorities"]:
        _wiring(region).forget_authority()  # a new TSA certificate: re-read it
    return issued


def seal_ca_pem(region: RegionCore) -> str:
    """The region seal CA certificate (PEM) that verifiers trust; published in the trust list."""
    certificate = seal_registry(region).ca_certificate()
    if certificate is None:
        raise SealRegistryError("the region has no seal CA yet: run `trustledger init`")
    return pki.certificate_pem(certificate).decode("ascii")


def seal_certificates_pem(region: RegionCore, uscc: str) -> list[str]:
    """The department's unrevoked seal certificates (PEM, oldest first; expired ones too, as PDFs they sealed
    stay valid through their time-stamps). A revoked certificate is left out, so an offline verifier refuses it."""
    return [row.pem for row in seal_registry(region).certificates(uscc) if row.revoked_at is None]


def current_crl(region: RegionCore) -> bytes:
    """The region's seal CRL (DER, RFC 5280 §5), served as `application/pkix-crl` at `GET /v1/seals/crl`."""
    return pki.crl_der(seal_registry(region).crl())


def time_stamp_authority(region: RegionCore) -> TimeStampAuthority:
    """The region's RFC 3161 time-stamp authority, in process (its key in the keystore, its time the region clock)."""
    return _wiring(region).authority(region)


def tsa_respond(region: RegionCore, request_der: bytes) -> bytes:
    """Answer a DER TimeStampReq with a DER TimeStampResp (RFC 3161 §2.4): the body of an HTTP TSA endpoint
    (`POST`, `application/timestamp-query` in, `application/timestamp-reply` out, §3.4). Never raises on bad input."""
    return time_stamp_authority(region).respond(request_der)


def revoke_seal_certificate(
    region: RegionCore, serial: int | str, *, reason: str = "unspecified", revoked_at: datetime | None = None
) -> None:
    """Revoke a seal certificate (a ledger event); the next CRL lists it."""
    seal_registry(region).revoke(serial, reason=reason, revoked_at=revoked_at)


# -- rendering ---------------------------------------------------------------------------------------------------------


def _date(moment: datetime) -> str:
    return f"{moment.astimezone(CHINA):%Y年%m月%d日}"


def _field_text(value: object, kind: str) -> str:
    if kind == "date" and isinstance(value, str) and len(value) == 10:
        return _date(datetime.fromisoformat(value).replace(tzinfo=CHINA))
    return str(value)


def _rows(view: LicenceView, licence_type: LicenceType, holder: HolderData) -> list[tuple[str, str]]:
    (name_label, _), (id_label, _) = _HOLDER_LABELS.get(view.holder_kind, _HOLDER_LABELS["citizen"])
    rows = [(name_label, holder.name), (id_label, holder.id_number)]
    values = {**view.fields, **holder.personal_fields}
    for spec in licence_type.fields:
        if spec.name in values and str(values[spec.name]).strip():
            rows.append((spec.label_zh, _field_text(values[spec.name], spec.type.value)))
    return rows


def _minted_on(region: RegionCore, leaf_index: LeafIndex) -> datetime | None:
    data, _ = region.log.leaf(leaf_index)
    text = json.loads(data).get("recorded_at")
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if isinstance(text, str) else None


def licence_document(region: RegionCore, licence_id: LicenceId) -> tuple[LicenceView, LicenceDocument]:
    """The licence as a printable page: its type's titles and field labels, holder, validity, issuer and QR URL."""
    service = region.licences
    view = service.get(licence_id)
    if view.lifecycle == "revoked":
        raise LicenceRevokedError(f"licence {view.identifier} is revoked: no sealed PDF is made for it")
    licence_type = service.catalogue.licence_type(view.type_code)
    holder = service.holder(licence_id)
    until = "长期" if view.valid_until is None else _date(view.valid_until)
    minted = _minted_on(region, view.minted_leaf)
    document = LicenceDocument(
        title_zh=licence_type.name_zh,
        title_en=licence_type.name_en,
        rows=_rows(view, licence_type, holder),
        issuer_name=view.issuer_name,
        identifier=view.identifier,
        validity_text=f"{_date(view.valid_from)} 至 {until}",
        qr_url=view.qr_url,
        issued_text="" if minted is None else f"发证日期：{_date(minted)}",
    )
    return view, document


# -- sealing -----------------------------------------------------------------------------------------------------------


def _prepare(region: RegionCore, licence_id: LicenceId, level: str) -> _Prepared:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    view, document = licence_document(region, licence_id)
    wiring = _wiring(region)
    key = wiring.registry.seal_key(view.issuer, region.clock())
    crl = wiring.registry.crl() if level == "b-lta" else None
    pdf = render_licence_pdf(document)
    return _Prepared(licence_id, view.licence_version, pdf, key, wiring.authority(region), crl)


def _record(region: RegionCore, prepared: _Prepared, sha256: str) -> LeafIndex:
    # The page shows one licence version: if the licence changed while we sealed, the PDF is stale. Refuse.
    if region.licences.get(prepared.licence_id).licence_version != prepared.licence_version:
        raise ConcurrentUpdateError("the licence changed while its PDF was being sealed; make the PDF again")
    return region.licences.record_sealed_document(prepared.licence_id, sha256)


def seal_licence_pdf(region: RegionCore, licence_id: LicenceId, *, level: str = "b-lta") -> SealedPdf:
    """Render and seal a licence's PDF (PAdES B-LTA with the region CRL, or `level="b-t"`), then record its SHA-256
    on the ledger (`DocumentSealed`). For the CLI and scripts; the server uses `async_seal_licence_pdf`."""
    prepared = _prepare(region, licence_id, level)
    sealed = seal_pdf(prepared.pdf, prepared.key, authority=prepared.authority, crl=prepared.crl, moment=region.clock())
    return SealedPdf(sealed.data, sealed.sha256, _record(region, prepared, sealed.sha256))


async def async_seal_licence_pdf(region: RegionCore, licence_id: UUID, *, level: str = "b-lta") -> SealedPdf:
    """`seal_licence_pdf` for a running event loop: database work and rendering in a worker thread, signing on
    pyHanko's async API with the in-process TSA."""
    # `Region.seal_licence_pdf` hands on a resolved id (`view.id`) but still types it `UUID`.
    prepared = await asyncio.to_thread(_prepare, region, LicenceId(licence_id), level)
    sealed = await async_seal_pdf(
        prepared.pdf, prepared.key, authority=prepared.authority, crl=prepared.crl, moment=region.clock()
    )
    leaf = await asyncio.to_thread(_record, region, prepared, sealed.sha256)
    return SealedPdf(sealed.data, sealed.sha256, leaf)
