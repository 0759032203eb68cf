"""Mutual recognition of seals (跨省通办): a sealed licence PDF of a peer region, checked by this one (DESIGN §7, §9).

The seal's certificate picks the trust anchors (`peer_of_seal`): a seal CA of a peer's verified trust list → this
check; anything else → the local one (`verification.pdf`), which names what does not chain. The same seven checks,
the same `PdfCheck`, with `origin` naming the peer:
- intact, trusted_chain, timestamp, whole_document: the seal validated against the seal CAs of the peer's trust list
  as this region last verified it (signed under the pinned root key, fresh: synced on demand when stale). The
  peer's TSA is certified by that CA, so the time-stamp is checked against the same anchors;
- certificate: listed under an issuer in that trust list (revoked seal certificates are left out of a fresh list)
  and the licence issuer's own; plus this region's acceptance rule for the peer must recognise the licence type
  (else `type_not_accepted`, on `trusted_chain`: the peer's seal is not trusted here for that type);
- on_ledger: the `DocumentSealed` of the PDF's SHA-256 on the peer's log, proven under a checkpoint we verified,
  and in the licence's stream as the peer's signed status map names it (`CrossRegionVerifier.prove_sealed_document`);
- licence_status: the licence version's entry in the peer's status map, proven as for a token (ADR 0012).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from anchors.crossregion import CrossRegionVerifier, PeerRefusal, SealedDocumentProof
from anchors.federation import stored_trust_list
from anchors.model import PeerRecord
from licences.errors import InvalidFieldError
from licences.identifiers import parse_identifier
from seals.errors import UnusablePdfError
from seals.validate import SealStatus, async_validate_sealed_pdf, seal_certificate, validate_sealed_pdf
from signatures.trustlist import TrustList
from verification.pdf import (
    CHECKS,
    NO_IDENTIFIER,
    Check,
    PdfCheck,
    _add_failure,
    _issuer_check,
    _no_roots,
    _roots_of,
    _seal_checks,
    _trust_list_certificate,
    _unusable,
)

TYPE_NOT_ACCEPTED = "type_not_accepted"

__all__ = ["async_check_pdf_from_peer", "check_pdf_from_peer", "peer_of_seal"]


def _issued_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    if certificate.issuer != ca.subject:
        return False
    try:
        certificate.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def peer_of_seal(data: bytes, peers: Iterable[PeerRecord]) -> str | None:
    """The origin of the peer whose trust-listed seal CA issued the PDF's seal certificate, or None (ours, unknown,
    or no single readable seal: the local check then gives the verdict). Only picks anchors: nothing is trusted
    here that the peer's check does not validate again."""
    federated = [p for p in peers if p.trust_list is not None]
    signer = seal_certificate(data) if federated else None  # no peer: no second parse of the file
    if signer is None:
        return None
    for peer in federated:
        doc = stored_trust_list(peer)
        if doc is not None and any(_issued_by(signer, ca) for ca in _roots_of(doc)):
            return peer.origin
    return None


def _refused(origin: str, now: datetime, data: bytes, refusal: PeerRefusal) -> PdfCheck:
    sha = hashlib.sha256(data).hexdigest()
    finding = refusal.finding
    checks = [Check("trusted_chain", False, finding.detail, finding.code)]
    checks += [
        Check(n, None, f"not evaluated: {origin} cannot be relied on now") for n in CHECKS if n != "trusted_chain"
    ]
    return PdfCheck("online", now, sha, tuple(sorted(checks, key=lambda c: CHECKS.index(c.name))), origin=origin)


def _licence_of(checks: dict[str, Check], seal: SealStatus) -> tuple[str, str, int] | None:
    """(identifier, type code, version) the sealed revision names, or None with the ledger checks filled in."""
    identifier = seal.subject
    if not identifier and seal.signer_sha256 is None:
        for name in ("on_ledger", "licence_status"):
            checks[name] = Check(name, None, "not evaluated: no seal could be read")
        return None
    try:
        parsed = parse_identifier(identifier or "", strict=False)
    except InvalidFieldError:
        checks["on_ledger"] = Check("on_ledger", False, "the PDF names no licence identifier", NO_IDENTIFIER)
        checks["licence_status"] = Check("licence_status", None, "licence status unknown: the PDF names no licence")
        return None
    assert identifier is not None
    return identifier, parsed.type_code, parsed.version


def _ledger_checks(checks: dict[str, Check], proof: SealedDocumentProof) -> None:
    origin = proof.origin
    if proof.on_ledger is None:
        assert proof.sealed is not None and proof.inclusion is not None
        text = (
            f"DocumentSealed of this SHA-256 at leaf {proof.inclusion.leaf_index} of {origin}'s log, recorded at "
            f"{proof.sealed.recorded_at}, proven under its checkpoint {proof.inclusion.checkpoint.size}"
        )
        checks["on_ledger"] = Check("on_ledger", True, text)
    else:
        checks["on_ledger"] = Check("on_ledger", False, proof.on_ledger.detail, proof.on_ledger.code)
    if proof.status:
        first = proof.status[0]
        checks["licence_status"] = Check("licence_status", False, "; ".join(f.detail for f in proof.status), first.code)
    else:
        assert proof.proven is not None
        text = f"the licence is valid now, as {origin}'s status map proves at its checkpoint {proof.proven.size}"
        checks["licence_status"] = Check("licence_status", True, text)


def _verdict(data: bytes, origin: str, verifier: CrossRegionVerifier, doc: TrustList, seal: SealStatus) -> PdfCheck:
    """Every check after the seal's validation: listing, issuer, acceptance, the peer's ledger and status map."""
    now = verifier.federation.clock()
    checks = _seal_checks(seal)
    owner = _trust_list_certificate(checks, doc, seal)
    _issuer_check(checks, seal, [] if owner is None else [owner])
    licence = _licence_of(checks, seal)
    proof = None
    if licence is not None:
        identifier, type_code, version = licence
        _, problem = verifier.acceptance(origin, type_code)
        if problem is not None:
            _add_failure(checks, "trusted_chain", TYPE_NOT_ACCEPTED, problem)
            for name in ("on_ledger", "licence_status"):
                checks[name] = Check(
                    name, None, f"not evaluated: this region does not recognise {type_code} from {origin}"
                )
        else:
            proof = verifier.prove_sealed_document(origin, doc, identifier, version, seal.sha256, seal.keywords)
            _ledger_checks(checks, proof)
    sealed_version = None if proof is None else proof.sealed_version
    ordered = tuple(checks[n] for n in CHECKS)
    return PdfCheck("online", now, seal.sha256, ordered, seal, None, sealed_version, origin=origin)


def _anchors(
    data: bytes, origin: str, verifier: CrossRegionVerifier
) -> tuple[TrustList, list[x509.Certificate]] | PdfCheck:
    now = verifier.federation.clock()
    try:
        doc = verifier.peer_trust_list(origin)
    except PeerRefusal as refusal:
        return _refused(origin, now, data, refusal)
    roots = _roots_of(doc)
    if not roots:
        return _no_roots("online", now, data)
    return doc, roots


def check_pdf_from_peer(data: bytes, origin: str, verifier: CrossRegionVerifier) -> PdfCheck:
    """Check a sealed PDF of peer `origin`: its seal under the peer's trust list, its `DocumentSealed` on the peer's
    log and the licence's status in the peer's map, each proven here (see the module docstring)."""
    anchors = _anchors(data, origin, verifier)
    if isinstance(anchors, PdfCheck):
        return anchors
    doc, roots = anchors
    now = verifier.federation.clock()
    try:
        seal = validate_sealed_pdf(data, roots, None, now=now)
    except UnusablePdfError as e:
        return _unusable("online", now, data, e)
    return _verdict(data, origin, verifier, doc, seal)


async def async_check_pdf_from_peer(data: bytes, origin: str, verifier: CrossRegionVerifier) -> PdfCheck:
    """`check_pdf_from_peer` for a running event loop: the peer's reads in a worker thread, validation on pyHanko's
    async API."""
    anchors = await asyncio.to_thread(_anchors, data, origin, verifier)
    if isinstance(anchors, PdfCheck):
        return anchors
    doc, roots = anchors
    now = verifier.federation.clock()
    try:
        seal = await async_validate_sealed_pdf(data, roots, None, now=now)
    except UnusablePdfError as e:
        return _unusable("online", now, data, e)
    return await asyncio.to_thread(_verdict, data, origin, verifier, doc, seal)
