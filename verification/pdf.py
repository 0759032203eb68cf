"""Checking a sealed licence PDF (DESIGN §7): the seal itself, the region's seal PKI, the ledger, the licence now.

Seven checks, each ok / failed (with a stable code) / not evaluated (with why): intact, trusted_chain, certificate
(not revoked at signing time, issued by this region's registry or listed in the trust list, and the licence issuer's
own), timestamp, whole_document, on_ledger (a `DocumentSealed` with this PDF's SHA-256) and licence_status (valid now,
not superseded). The bottom line is valid when no check failed; offline, the last two are not evaluated. The verdict
uses the token checks' vocabulary (`verification.status`): the licence's status when only that check failed, else
`invalid`. Uploaded files are never fetched from: `seals.validate` reads them with size caps, decode limits and no
network. The region's seal registry, licences and clock are handed in (`PdfSources`).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from clock import Clock, iso_utc
from licences.application import LicenceView
from licences.domain import Licence
from licences.errors import InvalidFieldError, LicenceNotFoundError
from licences.identifiers import parse_identifier
from licences.values import LicenceId
from seals import validate as v
from seals.errors import UnusablePdfError
from seals.store import SealCertificateRow
from seals.validate import SealStatus, async_validate_sealed_pdf, validate_sealed_pdf
from signatures.trustlist import TrustList
from verification.status import Reason, Verdict, verdict_of_code


class SealAuthority(Protocol):
    """The region's seal registry as the PDF check reads it (`licences.seal_registry.SealRegistry` has it)."""

    def ca_certificate(self) -> x509.Certificate | None:
        """The region's seal CA certificate, once it exists."""
        ...

    def crl(self) -> x509.CertificateRevocationList:
        """The region's current seal CRL."""
        ...

    def certificate(self, serial: int | str) -> SealCertificateRow | None:
        """The seal certificate this region issued under `serial`, if any."""
        ...


class SealedLicences(Protocol):
    """The licence library as the PDF check reads it (`LicenceService` has it)."""

    def resolve(self, text: str) -> LicenceId:
        """The licence id of an identifier; `LicenceNotFoundError` if none."""
        ...

    def get(self, licence_id: LicenceId) -> LicenceView:
        """The licence's current view."""
        ...

    def load(self, licence_id: LicenceId) -> Licence:
        """The aggregate (its sealed documents)."""
        ...


@dataclass(frozen=True)
class PdfSources:
    """What the online PDF check reads: the seal registry, the licences and the clock."""

    seals: SealAuthority
    licences: SealedLicences
    clock: Clock


CHECKS = ("intact", "trusted_chain", "certificate", "timestamp", "whole_document", "on_ledger", "licence_status")
UNUSABLE = "unusable_pdf"
NO_SEAL_CA = "no_seal_ca"
CERTIFICATE_UNKNOWN = "certificate_unknown"
CERTIFICATE_NOT_LISTED = "certificate_not_listed"
WRONG_ISSUER = "wrong_issuer"
NOT_ON_LEDGER = "not_on_ledger"
NO_IDENTIFIER = "no_licence_identifier"
UNKNOWN_LICENCE = "unknown_licence"
SUPERSEDED = "superseded"
OFFLINE_LEDGER = "ledger not consulted offline"
_CHECK_OF = {
    v.NO_SEAL: "intact",
    v.UNEVALUABLE: "intact",
    v.ALTERED: "intact",
    v.UNTRUSTED: "trusted_chain",
    v.REVOKED: "certificate",
    v.NO_TIMESTAMP: "timestamp",
    v.BAD_TIMESTAMP: "timestamp",
    v.UPDATED: "whole_document",
    v.BAD_DOC_TIMESTAMP: "whole_document",
    v.HASH_MISMATCH: "on_ledger",
}
_PASSED = {
    "intact": "the sealed bytes are unchanged",
    "trusted_chain": "the seal certificate chains to a trusted region seal CA",
    "certificate": "the seal certificate was valid and not revoked when the seal was made",
    "timestamp": "the seal carries a valid RFC 3161 time-stamp from a trusted TSA",
    "whole_document": "the seal covers the whole document (no changes after sealing)",
}


@dataclass(frozen=True)
class Check:
    """One check of a sealed PDF: `ok` True (passed), False (failed, with `code`) or None (not evaluated)."""

    name: str
    ok: bool | None
    detail: str
    code: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"ok": self.ok, "code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class PdfCheck:
    """The verdict on a sealed licence PDF: every check, what the PDF names, and (online) the licence now."""

    mode: str  # "online" | "offline"
    checked_at: datetime
    sha256: str
    checks: tuple[Check, ...]
    seal: SealStatus | None = None
    licence: LicenceView | None = None
    sealed_version: int | None = None
    origin: str | None = None  # a peer region whose seal PKI and ledger were checked (`verification.peer_pdf`)

    @property
    def source(self) -> dict[str, str]:
        """Whose seal PKI and ledger the verdict rests on: `{"region": "local"}` or `{"region": <peer's origin>}`."""
        return {"region": "local" if self.origin is None else self.origin}

    @property
    def bottom_line(self) -> bool:
        """True when no check failed (offline, the ledger checks are not evaluated and do not count)."""
        return all(c.ok is not False for c in self.checks)

    @property
    def valid(self) -> bool:
        """Alias of `bottom_line`, the API's field name."""
        return self.bottom_line

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """The failed checks as reasons (code and detail), in check order."""
        return tuple(Reason(c.code or "invalid", c.detail) for c in self.failures)

    @property
    def verdict(self) -> Verdict:
        """`valid`; the licence's status (revoked, suspended, expired, superseded…) when only `licence_status`
        failed; else `invalid` (the document itself is not to be trusted)."""
        failures = self.failures
        if not failures:
            return Verdict.VALID
        if len(failures) == 1 and failures[0].name == "licence_status" and failures[0].code is not None:
            return verdict_of_code(failures[0].code)
        return Verdict.INVALID

    @property
    def failures(self) -> tuple[Check, ...]:
        """The failed checks, in check order."""
        return tuple(c for c in self.checks if c.ok is False)

    @property
    def reason(self) -> str:
        """One human sentence: the failures, or that the PDF is valid."""
        if self.valid:
            return "valid: sealed by a trusted department, time-stamped, unmodified" + (
                ", recorded on the ledger and the licence is valid now" if self.mode == "online" else ""
            )
        return "; ".join(c.detail for c in self.failures)

    @property
    def identifier(self) -> str | None:
        """The licence identifier the PDF names: its document Subject as of the sealed revision (a later update's
        /Info is never read)."""
        return None if self.seal is None else self.seal.subject

    @property
    def qr_url(self) -> str | None:
        """The verification URL printed as the PDF's QR code (its document Keywords, as of the sealed revision)."""
        return None if self.seal is None else self.seal.keywords

    def to_json(self) -> dict[str, Any]:
        """The `--json` document of `trustledger verify FILE.pdf`."""
        seal = self.seal
        return {
            "verdict": "valid" if self.valid else "invalid",
            "valid": self.valid,
            "mode": self.mode,
            "checked_at": iso_utc(self.checked_at, fraction=True),
            "source": self.source,
            "sha256": self.sha256,
            "reasons": [{"code": c.code, "check": c.name, "detail": c.detail} for c in self.failures],
            "checks": {c.name: c.to_json() for c in self.checks},
            "seal": None
            if seal is None
            else {
                "signer": seal.signer,
                "signing_time": None if seal.signing_time is None else iso_utc(seal.signing_time, fraction=True),
                "certificate_serial": None if seal.signer_serial is None else format(seal.signer_serial, "x"),
            },
            "identifier": self.identifier,
            "qr_url": self.qr_url,
            "licence": None
            if self.licence is None
            else self.licence.to_json() | {"sealed_version": self.sealed_version},
        }


# -- the seal ----------------------------------------------------------------------------------------------------------


def _failed(name: str, problems: Sequence[tuple[str, str]]) -> Check:
    return Check(name, False, "; ".join(text for _, text in problems), problems[0][0])


def _seal_checks(seal: SealStatus) -> dict[str, Check]:
    grouped: dict[str, list[tuple[str, str]]] = {}
    for code, text in zip(seal.reason_codes, seal.reasons, strict=True):
        grouped.setdefault(_CHECK_OF.get(code, "intact"), []).append((code, text))
    checks: dict[str, Check] = {}
    for name, passed in _PASSED.items():
        checks[name] = _failed(name, grouped[name]) if name in grouped else Check(name, True, passed)
    if set(seal.reason_codes) & {v.NO_SEAL, v.UNEVALUABLE}:
        for name in CHECKS[1:5]:
            checks[name] = Check(name, None, "not evaluated: no seal could be read")
    elif not seal.intact:
        for name in ("trusted_chain", "certificate"):
            checks[name] = Check(name, None, "not evaluated: the seal does not match the document")
    elif seal.signing_time is not None:
        checks["timestamp"] = Check(
            "timestamp", True, f"time-stamped at {iso_utc(seal.signing_time, fraction=True)} by a trusted TSA"
        )
    return checks


def _add_failure(checks: dict[str, Check], name: str, code: str, text: str) -> None:
    current = checks.get(name)
    if current is not None and current.ok is False:
        checks[name] = Check(name, False, f"{current.detail}; {text}", current.code)
    elif current is None or current.ok is True:
        checks[name] = Check(name, False, text, code)


def _unusable(mode: str, now: datetime, data: bytes, error: Exception) -> PdfCheck:
    sha = hashlib.sha256(data).hexdigest()
    checks = [Check("intact", False, f"the file cannot be checked: {error}", UNUSABLE)]
    checks += [Check(name, None, "not evaluated: the file is not a usable PDF") for name in CHECKS[1:]]
    return PdfCheck(mode, now, sha, tuple(checks))


def _licence_issuer(identifier: str | None) -> str | None:
    if not identifier:
        return None
    try:
        return parse_identifier(identifier, strict=False).issuer
    except InvalidFieldError:
        return None


# -- offline: the trust list alone ---------------------------------------------------------------------------------


def _roots_of(trust_list: TrustList) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in trust_list.seal_ca_certificates]


def _listed(trust_list: TrustList, seal: SealStatus) -> str | None:
    """The USCC of the trust-list issuer that lists the seal certificate, or None."""
    for issuer in trust_list.issuers:
        for pem in issuer.seal_certificates:
            der = x509.load_pem_x509_certificate(pem.encode("ascii")).public_bytes(Encoding.DER)
            if hashlib.sha256(der).hexdigest() == seal.signer_sha256:
                return issuer.uscc
    return None


def _trust_list_certificate(checks: dict[str, Check], trust_list: TrustList, seal: SealStatus) -> str | None:
    """Check the trust list lists the seal certificate; returns the USCC of the department it is listed under."""
    if not seal.intact or seal.signer_sha256 is None:
        return None
    owner = _listed(trust_list, seal)
    if owner is None:
        text = "the seal certificate is not in the trust list (revoked, or not a certificate of this region)"
        _add_failure(checks, "certificate", CERTIFICATE_NOT_LISTED, text)
    return owner


def _issuer_check(checks: dict[str, Check], seal: SealStatus, departments: Sequence[str | None]) -> None:
    """The seal must be the licence issuer's own: the licence the sealed revision names (its signed /Subject) was
    issued by the USCC in the seal certificate and by each department the registry or trust list files it under.
    Never skipped: a seal that names no licence cannot be tied to an issuer and fails."""
    if not seal.intact:
        return  # `intact` failed already; a seal that does not match the document ties nothing to an issuer
    issuer = _licence_issuer(seal.subject)
    if issuer is None:
        text = "the sealed revision names no licence identifier: the seal cannot be tied to the licence's issuer"
        _add_failure(checks, "certificate", NO_IDENTIFIER, text)
        return
    for sealer in (seal.signer_uscc, *departments):
        if sealer != issuer:
            text = f"sealed by {sealer or 'a certificate naming no department'}, but the licence was issued by {issuer}"
            _add_failure(checks, "certificate", WRONG_ISSUER, text)
            return


def check_pdf_offline(data: bytes, trust_list: TrustList, now: datetime) -> PdfCheck:
    """Check a sealed PDF against a verified trust list alone: its seal CAs and listed seal certificates; the
    ledger and the licence's status are not consulted (no database, no network)."""
    roots = _roots_of(trust_list)
    if not roots:
        return _no_roots("offline", now, data)
    try:
        seal = validate_sealed_pdf(data, roots, now=now)
    except UnusablePdfError as e:
        return _unusable("offline", now, data, e)
    checks = _seal_checks(seal)
    owner = _trust_list_certificate(checks, trust_list, seal)
    _issuer_check(checks, seal, [] if owner is None else [owner])
    checks["on_ledger"] = Check("on_ledger", None, OFFLINE_LEDGER)
    checks["licence_status"] = Check("licence_status", None, "licence status not checked offline (needs the ledger)")
    return PdfCheck("offline", now, seal.sha256, tuple(checks[n] for n in CHECKS), seal)


def _no_roots(mode: str, now: datetime, data: bytes) -> PdfCheck:
    sha = hashlib.sha256(data).hexdigest()
    checks = [
        Check("trusted_chain", False, "no seal CA certificate to trust (trust list without seal CAs)", NO_SEAL_CA)
    ]
    rest = [Check(n, None, "not evaluated: nothing to trust") for n in CHECKS if n != "trusted_chain"]
    return PdfCheck(mode, now, sha, tuple(sorted(checks + rest, key=lambda c: CHECKS.index(c.name))))


# -- online: the region's registry and ledger ------------------------------------------------------------------------


def _online_inputs(
    sources: PdfSources, trust_list: TrustList | None
) -> tuple[list[x509.Certificate], x509.CertificateRevocationList | None]:
    registry = sources.seals
    ca = registry.ca_certificate()
    own = [] if ca is None else [ca]
    roots = own if trust_list is None else _roots_of(trust_list)
    return roots, (None if ca is None else registry.crl())


def _registry_certificate(sources: PdfSources, checks: dict[str, Check], seal: SealStatus) -> str | None:
    """Check the seal certificate is one this region issued (same serial, same bytes); returns its department."""
    if not seal.intact or seal.signer_serial is None:
        return None
    row = sources.seals.certificate(seal.signer_serial)
    if row is None or row.cert_sha256 != seal.signer_sha256:
        text = "the seal certificate was not issued by this region's seal registry"
        _add_failure(checks, "certificate", CERTIFICATE_UNKNOWN, text)
        return None
    return row.issuer_uscc


def _ledger_checks(
    licences: SealedLicences, checks: dict[str, Check], seal: SealStatus
) -> tuple[LicenceView | None, int | None]:
    identifier = seal.subject  # the sealed revision's: a later update's /Info is never read
    unknown = "licence status unknown: the PDF names no licence of this region"
    if not identifier and seal.signer_sha256 is None:  # no seal read, so no signed identifier to look up
        checks["on_ledger"] = Check("on_ledger", None, "not evaluated: no seal could be read")
        checks["licence_status"] = Check("licence_status", None, "not evaluated: no seal could be read")
        return None, None
    if not identifier:
        checks["on_ledger"] = Check("on_ledger", False, "the PDF names no licence identifier", NO_IDENTIFIER)
        checks["licence_status"] = Check("licence_status", None, unknown)
        return None, None
    try:
        licence_id = licences.resolve(identifier)
    except LicenceNotFoundError:
        text = f"licence {identifier} is not on this region's ledger"
        checks["on_ledger"] = Check("on_ledger", False, text, UNKNOWN_LICENCE)
        checks["licence_status"] = Check("licence_status", None, unknown)
        return None, None
    recorded = [d for d in licences.load(licence_id).sealed_documents if d.pdf_sha256 == seal.sha256]
    if recorded:
        when = iso_utc(recorded[0].sealed_at, fraction=True)
        checks["on_ledger"] = Check("on_ledger", True, f"DocumentSealed of this SHA-256 recorded at {when}")
    else:
        text = "no DocumentSealed with this PDF's SHA-256 on the ledger"
        checks["on_ledger"] = Check("on_ledger", False, text, NOT_ON_LEDGER)
    view = licences.get(licence_id)
    checks["licence_status"] = _status_check(view, identifier)
    return view, recorded[0].licence_version if recorded else None


def _status_check(view: LicenceView, identifier: str) -> Check:
    if view.status.value != "valid":
        return Check("licence_status", False, f"the licence is {view.status.value} now", view.status.value)
    if view.identifier != identifier:
        text = f"the PDF shows {identifier}; the licence is now at version {view.licence_version:03d}"
        return Check("licence_status", False, text, SUPERSEDED)
    return Check("licence_status", True, f"the licence is valid now (version {view.licence_version:03d})")


def _online_verdict(sources: PdfSources, seal: SealStatus, trust_list: TrustList | None) -> PdfCheck:
    now = sources.clock()
    checks = _seal_checks(seal)
    departments = []
    if trust_list is not None:
        departments.append(_trust_list_certificate(checks, trust_list, seal))
    departments.append(_registry_certificate(sources, checks, seal))
    view, sealed_version = _ledger_checks(sources.licences, checks, seal)
    if view is not None:
        departments.append(view.issuer)  # the ledger's issuer of the licence the signed revision names
    _issuer_check(checks, seal, [d for d in departments if d is not None])
    return PdfCheck("online", now, seal.sha256, tuple(checks[n] for n in CHECKS), seal, view, sealed_version)


def check_pdf_online(data: bytes, sources: PdfSources, *, trust_list: TrustList | None = None) -> PdfCheck:
    """Check a sealed PDF online: the seal against the region CA (or a verified trust list's seal CAs) and the
    region CRL, the certificate against the registry, the PDF's SHA-256 against the ledger, the licence now."""
    roots, crl = _online_inputs(sources, trust_list)
    now = sources.clock()
    if not roots:
        return _no_roots("online", now, data)
    try:
        seal = validate_sealed_pdf(data, roots, crl, now=now)
    except UnusablePdfError as e:
        return _unusable("online", now, data, e)
    return _online_verdict(sources, seal, trust_list)


async def async_check_pdf_online(data: bytes, sources: PdfSources, *, trust_list: TrustList | None = None) -> PdfCheck:
    """`check_pdf_online` for a running event loop (the API's `POST /v1/verify/pdf`): database work in a worker
    thread, validation on pyHanko's async API."""
    roots, crl = await asyncio.to_thread(_online_inputs, sources, trust_list)
    now = sources.clock()
    if not roots:
        return _no_roots("online", now, data)
    try:
        seal = await async_validate_sealed_pdf(data, roots, crl, now=now)
    except UnusablePdfError as e:
        return _unusable("online", now, data, e)
    return await asyncio.to_thread(_online_verdict, sources, seal, trust_list)
