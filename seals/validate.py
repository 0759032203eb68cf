"""Validate a sealed licence PDF offline: one frozen `SealStatus` with a bottom line and human reasons (DESIGN §7).

Kept apart from signing (this module never imports `seals.sign`). Uploaded PDFs are untrusted: a size cap, pyHanko's
decode limits against decompression bombs, and no network fetching (`allow_fetching=False`): revocation data comes
only from the CRL the caller passes. Raises `UnusablePdfError` only when the input is not a usable PDF at all; any
malformed signature structure is a failed `SealStatus`, never an exception.

Only signed bytes count: the document information (`subject`, `keywords`) is read from the revision the seal signs,
and the only changes accepted after it are PAdES B-LTA's (a DSS and document time-stamps, `_AFTER_SEALING`); pyHanko's
default policy would also accept a rewritten /Info or XMP packet, which could name another licence.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms, x509
from asn1crypto import crl as asn1_crl
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodeLimits
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DocInfoRule,
    FormUpdatingRule,
    GenericFieldModificationRule,
    MetadataUpdateRule,
    ModificationLevel,
    ReferenceUpdate,
    SigFieldCreationRule,
    SigFieldModificationRule,
    StandardDiffPolicy,
    WhitelistRule,
)
from pyhanko.sign.diff_analysis.rules.file_structure_rules import (
    CatalogModificationRule,
    ObjectStreamRule,
    XrefStreamRule,
)
from pyhanko.sign.diff_analysis.rules.form_field_rules import DSSCompareRule
from pyhanko.sign.validation import async_validate_pdf_signature, async_validate_pdf_timestamp
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from seals.errors import UnusablePdfError

__all__ = [
    "ALTERED",
    "BAD_DOC_TIMESTAMP",
    "BAD_TIMESTAMP",
    "HASH_MISMATCH",
    "MAX_PDF_BYTES",
    "NO_SEAL",
    "NO_TIMESTAMP",
    "REVOKED",
    "UNEVALUABLE",
    "UNTRUSTED",
    "UPDATED",
    "SealStatus",
    "async_validate_sealed_pdf",
    "seal_certificate",
    "validate_sealed_pdf",
]

MAX_PDF_BYTES = 10 * 1024 * 1024


# Stable codes of the reasons, in the order a reader would want them explained.
NO_SEAL = "no_seal"
UNEVALUABLE = "seal_unevaluable"
ALTERED = "pdf_altered"
REVOKED = "certificate_revoked"
UNTRUSTED = "untrusted_chain"
NO_TIMESTAMP = "no_timestamp"
BAD_TIMESTAMP = "timestamp_invalid"
BAD_DOC_TIMESTAMP = "document_timestamp_invalid"
UPDATED = "incremental_update"
HASH_MISMATCH = "hash_mismatch"
_MAX_INFO = 4096

# pyHanko's writer refreshes the modification date (and producer) of /Info and of the XMP metadata on every
# incremental write, to the second: a B-LTA update written in a later second than the seal carries that change. Only
# those entries may differ; anything else in /Info or XMP (title, subject, keywords…) must stay as sealed.
_REFRESHED_INFO = frozenset({"/ModDate", "/Producer"})
_REFRESHED_XMP = b"ModifyDate|MetadataDate|Producer|InstanceID"
_XMP_ELEMENT = re.compile(rb"<((?:[A-Za-z]\w*:)?(?:" + _REFRESHED_XMP + rb"))>[^<]{0,200}</\1>")
_XMP_ATTRIBUTE = re.compile(rb"\s(?:[A-Za-z]\w*:)?(?:" + _REFRESHED_XMP + rb')="[^"]{0,200}"')
_XMP_GAP = re.compile(rb">\s+<")
_MAX_XMP = 1 << 20


class _InfoDatesRule(WhitelistRule):
    """An /Info update that changes only the refreshed entries."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        old_ref = old.trailer_view.get_value_as_reference("/Info", optional=True)
        new_ref = new.trailer_view.get_value_as_reference("/Info", optional=True)
        if old_ref is None or new_ref is None or old_ref != new_ref:
            return
        before, after = old.get_object(old_ref), new.get_object(new_ref)
        if not isinstance(before, generic.DictionaryObject) or not isinstance(after, generic.DictionaryObject):
            return
        if _without(before, _REFRESHED_INFO) == _without(after, _REFRESHED_INFO):
            yield from DocInfoRule().apply(old, new)


class _XmpDatesRule(WhitelistRule):
    """An XMP metadata update (same stream object) that changes only the refreshed properties."""

    def apply(self, old: HistoricalResolver, new: HistoricalResolver) -> Iterable[ReferenceUpdate]:
        old_ref = old.root.get_value_as_reference("/Metadata", optional=True)
        new_ref = new.root.get_value_as_reference("/Metadata", optional=True)
        if old_ref is None or new_ref is None or old_ref != new_ref:
            return
        before, after = old.get_object(old_ref), new.get_object(new_ref)
        if not isinstance(before, generic.StreamObject) or not isinstance(after, generic.StreamObject):
            return
        if _xmp_core(before.data) is not None and _xmp_core(before.data) == _xmp_core(after.data):
            yield from MetadataUpdateRule().apply(old, new)  # type: ignore[no-untyped-call]


def _without(info: generic.DictionaryObject, keys: frozenset[str]) -> dict[str, str]:
    return {str(k): repr(v) for k, v in info.items() if str(k) not in keys}


def _xmp_core(data: bytes) -> bytes | None:
    """The XMP packet with the refreshed properties (elements or attributes) cut out and the whitespace between tags
    dropped; None when the packet is too large to compare (then nothing in it may change). Plain byte patterns, no
    XML parser: the packet is untrusted input (entity expansion)."""
    if len(data) > _MAX_XMP:
        return None
    core = _XMP_ELEMENT.sub(b"", data)
    core = _XMP_ATTRIBUTE.sub(b"", core)
    return _XMP_GAP.sub(b"><", core).strip()


# What may change after the seal's revision: PAdES B-LTA's DSS and document time-stamps, and the dates pyHanko
# refreshes on each write (above), nothing else. pyHanko's DEFAULT_DIFF_POLICY whitelists any /Info (DocInfoRule)
# and XMP (MetadataUpdateRule) change at LTA_UPDATES level: an attacker's update renaming the licence there would
# pass. Form filling and annotations rank above LTA_UPDATES and are refused by `_coverage_problems`.
_AFTER_SEALING = StandardDiffPolicy(
    global_rules=[
        CatalogModificationRule(),  # type: ignore[no-untyped-call]
        _InfoDatesRule().as_qualified(ModificationLevel.LTA_UPDATES),
        _XmpDatesRule().as_qualified(ModificationLevel.LTA_UPDATES),
        XrefStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        ObjectStreamRule().as_qualified(ModificationLevel.LTA_UPDATES),
        DSSCompareRule().as_qualified(ModificationLevel.LTA_UPDATES),
    ],
    form_rule=FormUpdatingRule(
        field_rules=[SigFieldCreationRule(), SigFieldModificationRule(), GenericFieldModificationRule()]  # type: ignore[no-untyped-call]
    ),
)


@dataclass(frozen=True)
class SealStatus:
    """Verdict on one sealed PDF; `bottom_line` is True only if every check passed, `reasons` says why not.

    `reason_codes` runs parallel to `reasons` (stable codes such as `pdf_altered`); `subject` and `keywords` are the
    document information entries (ISO 32000-1 §14.3.3) of the revision the seal signs (never of a later update), and
    `signer_serial`/`signer_sha256`/`signer_uscc` identify the seal certificate and its department (its
    organizationIdentifier), so a caller can look the document and the certificate up in its own records."""

    intact: bool
    trusted: bool
    certificate_ok: bool
    timestamp_ok: bool
    whole_document: bool
    hash_matches: bool | None
    sha256: str
    signer: str | None = None
    signing_time: datetime | None = None
    reasons: tuple[str, ...] = ()
    reason_codes: tuple[str, ...] = ()
    signer_serial: int | None = None
    signer_sha256: str | None = None
    subject: str | None = None
    keywords: str | None = None
    signer_uscc: str | None = None

    @property
    def bottom_line(self) -> bool:
        """All checks passed: intact, trusted, certificate good at signing time, time-stamped, fully covered."""
        checks = (self.intact, self.trusted, self.certificate_ok, self.timestamp_ok, self.whole_document)
        return all(checks) and self.hash_matches is not False and not self.reasons

    @property
    def reason(self) -> str:
        """The reasons as one human sentence (“valid” when there are none)."""
        return "; ".join(self.reasons) if self.reasons else "valid: sealed, trusted, time-stamped and unmodified"

    def reasons_by_code(self) -> dict[str, str]:
        """The reasons keyed by their stable code."""
        return dict(zip(self.reason_codes, self.reasons, strict=True))


Problem = tuple[str, str]  # (code, human reason)


def _asn1_cert(certificate: cx509.Certificate) -> x509.Certificate:
    return x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


# pyHanko, asn1crypto and the certificate validator raise whatever their parsers meet in hostile bytes (PdfError,
# ValueError, KeyError, IndexError, TypeError, AttributeError, struct/zlib errors, RecursionError…); no list of
# types is complete. Uploaded files are untrusted, so every exception past this boundary is a verdict (fail closed:
# unusable PDF, or a seal that cannot be evaluated), never a 500 or a traceback.
_UNTRUSTED = Exception


def _open(data: bytes) -> PdfFileReader:
    if len(data) > MAX_PDF_BYTES:
        raise UnusablePdfError(f"PDF is larger than {MAX_PDF_BYTES} bytes")
    if not data.startswith(b"%PDF-"):
        raise UnusablePdfError("not a PDF: missing %PDF- header")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=True, decode_limits=DecodeLimits.for_untrusted_input())
        encrypted = reader.encrypted
    except _UNTRUSTED as e:
        raise UnusablePdfError(f"unreadable PDF: {_text(e)}") from e
    if encrypted:
        raise UnusablePdfError("encrypted PDF: a sealed licence is never encrypted")
    return reader


def _text(error: BaseException) -> str:
    return (str(error) or type(error).__name__)[:300]


def _claimed_timestamp(signer_info: cms.SignerInfo) -> datetime | None:
    """genTime of the signature time-stamp (RFC 3161 §2.4.2), used only as the moment to validate the seal
    certificate at; the token itself is verified by pyHanko and a forged one fails `timestamp_ok`."""
    for attr in signer_info["unsigned_attrs"] or ():
        if attr["type"].native == "signature_time_stamp_token":
            tst = attr["values"][0]["content"]["encap_content_info"]["content"].parsed
            moment: datetime = tst["gen_time"].native
            return moment
    return None


def _contexts(
    roots: list[x509.Certificate], crls: list[asn1_crl.CertificateList], moment: datetime | None, now: datetime | None
) -> tuple[ValidationContext, ValidationContext]:
    mode = "hard-fail" if crls else "soft-fail"
    common: dict[str, Any] = {
        "trust_roots": roots,
        "crls": crls,
        "allow_fetching": False,
        "revocation_mode": mode,
        "retroactive_revinfo": True,
    }
    signer_ctx = ValidationContext(moment=moment, **common)
    return signer_ctx, ValidationContext(moment=now, **common)  # time-stamps are checked as of the caller's now


def _coverage_problems(status: Any) -> list[Problem]:
    if status.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return []
    level = status.modification_level
    if status.coverage == SignatureCoverageLevel.ENTIRE_REVISION and level == ModificationLevel.LTA_UPDATES:
        return []  # PAdES B-LTA: only a DSS and a document time-stamp were appended (ETSI EN 319 142-1 §5.4)
    return [(UPDATED, "the document was changed by an incremental update after sealing")]


def _revoked_text(when: datetime) -> str:
    return f"the seal certificate was revoked on {when:%Y-%m-%d %H:%M:%S} UTC, before the seal was made"


def _certificate_problems(status: Any, moment: datetime | None) -> list[Problem]:
    problems: list[Problem] = []
    if status.revoked:
        problems.append((REVOKED, _revoked_text(status.revocation_details.revocation_date)))
    elif status.validation_path is None or status.trust_problem_indic is not None:
        text = f"the seal certificate does not chain to a trusted region CA ({status.trust_problem_indic})"
        problems.append((UNTRUSTED, text))
    if moment is None:
        problems.append((NO_TIMESTAMP, "the seal carries no RFC 3161 signature time-stamp"))
    return problems


def _listed_as_revoked(
    crl: cx509.CertificateRevocationList | None,
    roots: Sequence[cx509.Certificate],
    signer: Any,
    moment: datetime | None,
) -> str | None:
    """RFC 5280 §6.3 for certificates without a cRLDistributionPoints extension, which pyHanko's validator skips:
    the caller's CRL, if signed by a trusted root that issued the seal, is consulted directly."""
    if crl is None:
        return None
    issuers = [r for r in roots if r.subject.public_bytes() == signer.issuer.dump()]
    if not any(crl.issuer == r.subject and crl.is_signature_valid(r.public_key()) for r in issuers):  # type: ignore[arg-type]
        return None
    entry = crl.get_revoked_certificate_by_serial_number(signer.serial_number)
    if entry is None or (moment is not None and entry.revocation_date_utc > moment):
        return None
    return _revoked_text(entry.revocation_date_utc)


def _timestamp_ok(status: Any) -> bool:
    ts = status.timestamp_validity
    return bool(ts is not None and ts.intact and ts.valid and ts.trusted)


def _signed_info(reader: PdfFileReader, revision: int) -> tuple[str | None, str | None]:
    """(/Subject, /Keywords) of the document information as of the seal's `revision`: the trailer and the objects
    of that revision, so an /Info rewritten by a later update is never read."""
    try:
        history = reader.get_historical_resolver(revision)
        raw = history.trailer_view.raw_get("/Info")
        info = history.get_object(raw.reference) if isinstance(raw, generic.IndirectObject) else raw
        if not isinstance(info, generic.DictionaryObject):
            return None, None
        return _text_entry(info, "/Subject"), _text_entry(info, "/Keywords")
    except _UNTRUSTED:
        return None, None


def _text_entry(info: generic.DictionaryObject, key: str) -> str | None:
    value = info.raw_get(key) if key in info else None
    return value[:_MAX_INFO] if isinstance(value, str) else None  # a direct string only: no indirection to resolve


def _organisation_identifier(signer: x509.Certificate) -> str | None:
    value = signer.subject.native.get("organization_identifier")
    return value if isinstance(value, str) else None


async def _document_timestamp_problems(reader: PdfFileReader, ts_ctx: ValidationContext) -> list[Problem]:
    """PAdES B-LTA (ETSI EN 319 142-1 §5.4.3): every document time-stamp after the seal must still match the bytes
    it covers; a byte changed in the appended DSS would otherwise go unnoticed, as the seal does not cover it."""
    try:
        for stamp in reader.embedded_timestamp_signatures:
            status = await async_validate_pdf_timestamp(stamp, validation_context=ts_ctx, skip_diff=True)
            if not (status.intact and status.valid):
                text = "the document time-stamp does not match: the PDF was altered after sealing"
                return [(BAD_DOC_TIMESTAMP, text)]
    except _UNTRUSTED as e:
        return [(BAD_DOC_TIMESTAMP, f"the document time-stamp cannot be evaluated: {_text(e)}")]
    return []


def _failed(sha: str, code: str, text: str) -> SealStatus:
    return SealStatus(False, False, False, False, False, None, sha, reasons=(text,), reason_codes=(code,))


async def _check(
    data: bytes,
    trust_roots: Sequence[cx509.Certificate],
    crl: cx509.CertificateRevocationList | None,
    now: datetime | None,
) -> SealStatus:
    # Steps: (1) parse with caps; (2) exactly one seal; (3) validate CMS + chain at the time-stamp's moment;
    # (4) coverage / changes after the seal's revision, document time-stamps; (5) what the signed revision names;
    # (6) the caller's expected hash (in the wrapper).
    sha = hashlib.sha256(data).hexdigest()
    reader = _open(data)  # (1)
    try:  # (2)
        seals = reader.embedded_regular_signatures  # parses each /Contents: a garbage CMS structure raises here
    except _UNTRUSTED as e:
        return _failed(sha, UNEVALUABLE, f"the signatures cannot be read: {_text(e)}")
    if len(seals) != 1:
        found = "no seal signature" if not seals else f"{len(seals)} signatures where one seal is expected"
        return _failed(sha, NO_SEAL, f"{found} in the PDF")
    try:
        return await _evaluate(reader, seals[0], sha, trust_roots, crl, now)
    except _UNTRUSTED as e:  # a garbage /Contents, /ByteRange or CMS structure
        return _failed(sha, UNEVALUABLE, f"the seal cannot be evaluated: {_text(e)}")


async def _evaluate(
    reader: PdfFileReader,
    seal: EmbeddedPdfSignature,
    sha: str,
    trust_roots: Sequence[cx509.Certificate],
    crl: cx509.CertificateRevocationList | None,
    now: datetime | None,
) -> SealStatus:
    roots = [_asn1_cert(c) for c in trust_roots]
    crls = [asn1_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))] if crl else []
    moment = _claimed_timestamp(seal.signer_info)
    signer_ctx, ts_ctx = _contexts(roots, crls, moment, now)
    status = await async_validate_pdf_signature(  # (3)
        seal, signer_validation_context=signer_ctx, ts_validation_context=ts_ctx, diff_policy=_AFTER_SEALING
    )
    intact = bool(status.intact and status.valid)
    problems: list[Problem] = []
    if not intact:
        problems.append((ALTERED, "the signed bytes do not match the seal: the PDF was altered"))
    cert_problems = _certificate_problems(status, moment) if intact else []
    listed = _listed_as_revoked(crl, trust_roots, status.signing_cert, moment)
    if listed and (REVOKED, listed) not in cert_problems:
        cert_problems.insert(0, (REVOKED, listed))
    ts_ok = _timestamp_ok(status)
    if moment is not None and not ts_ok:
        problems.append((BAD_TIMESTAMP, "the signature time-stamp is not valid or not from a trusted TSA"))
    coverage = _coverage_problems(status)  # (4)
    if not coverage and status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        coverage = await _document_timestamp_problems(reader, ts_ctx)
    every = problems + cert_problems + coverage
    signer_cert = status.signing_cert
    subject, keywords = _signed_info(reader, seal.signed_revision)  # (5)
    return SealStatus(
        intact=intact,
        trusted=bool(status.trusted),
        certificate_ok=not cert_problems and bool(status.trusted),
        timestamp_ok=ts_ok,
        whole_document=not coverage,
        hash_matches=None,
        sha256=sha,
        signer=signer_cert.subject.human_friendly,
        signing_time=moment.astimezone(UTC) if moment else None,
        reasons=tuple(text for _, text in every),
        reason_codes=tuple(code for code, _ in every),
        signer_serial=int(signer_cert.serial_number),
        signer_sha256=hashlib.sha256(signer_cert.dump()).hexdigest(),
        subject=subject,
        keywords=keywords,
        signer_uscc=_organisation_identifier(signer_cert),
    )


async def async_validate_sealed_pdf(
    data: bytes,
    trust_roots: Sequence[cx509.Certificate],
    crl: cx509.CertificateRevocationList | None = None,
    expected_sha256: str | None = None,
    now: datetime | None = None,
) -> SealStatus:
    """Validate a sealed PDF (PAdES B-T/B-LTA, ETSI EN 319 142-1) against the region CA roots, offline.

    Time-stamps are validated as of `now` (the verifier's clock; default: pyHanko reads the machine's)."""
    if not trust_roots:
        raise UnusablePdfError("no trust roots given: refusing to validate against an empty trust list")
    status = await _check(data, trust_roots, crl, now)
    if expected_sha256 is None:
        return status
    matches = status.sha256 == expected_sha256.lower()
    if matches:
        return _replace(status, hash_matches=True)
    text = "the PDF's SHA-256 is not the one recorded on the ledger"
    return _replace(
        status, hash_matches=False, reasons=(*status.reasons, text), reason_codes=(*status.reason_codes, HASH_MISMATCH)
    )


def seal_certificate(data: bytes) -> cx509.Certificate | None:
    """The certificate of the one seal in a PDF, unvalidated: only to pick which region's trust anchors to validate
    it against (its issuer). None when the file holds no single readable seal; the validation then says why."""
    try:
        reader = _open(data)
        seals = reader.embedded_regular_signatures
        if len(seals) != 1:
            return None
        return cx509.load_der_x509_certificate(seals[0].signer_cert.dump())
    except (_UNTRUSTED, UnusablePdfError):
        return None


def _replace(status: SealStatus, **changes: Any) -> SealStatus:
    from dataclasses import replace

    return replace(status, **changes)


def validate_sealed_pdf(
    data: bytes,
    trust_roots: Sequence[cx509.Certificate],
    crl: cx509.CertificateRevocationList | None = None,
    expected_sha256: str | None = None,
    now: datetime | None = None,
) -> SealStatus:
    """Synchronous `async_validate_sealed_pdf` (runs its own event loop; not for use inside one)."""
    return asyncio.run(async_validate_sealed_pdf(data, trust_roots, crl, expected_sha256, now))
