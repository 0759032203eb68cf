"""The verdicts of cross-region verification (DESIGN §9): bottom lines, findings with stable codes, what a verdict
rests on, and how a status entry proven by a peer's map reads as findings. Values only; the checks are in
`anchors.crossregion`, which re-exports these names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from anchors.acceptance import AcceptanceRule
from anchors.federation import InclusionEvidence
from ledger.envelope import Envelope
from signatures.cose import LicenceClaims, TokenReason
from signatures.offline import TrustedToken
from signatures.statusproof import ProvenStatus
from signatures.trustlist import TrustList

ACTIVE = "active"  # the status map's word for a licence version in force (`signatures.statusmap.STATUSES`)

UNKNOWN_REGION = "unknown_region"
PEER_FORKED = "peer_forked"
TRUST_LIST_STALE = str(TokenReason.TRUST_LIST_STALE)
TYPE_NOT_ACCEPTED = "type_not_accepted"
NOT_IN_PEER_LOG = "not_in_peer_log"
INCLUSION_UNCONFIRMED = "inclusion_unconfirmed"
STATUS_UNCONFIRMED = "status_unconfirmed"
PEER_DISOWNS = "peer_disowns"
STATUS_PROOF_INVALID = "status_proof_invalid"


class CrossVerdict(StrEnum):
    """The bottom line of a cross-region verification."""

    VALID = "valid"
    VALID_UNCONFIRMED = "valid_unconfirmed"
    UNCONFIRMED = "unconfirmed"
    INVALID = "invalid"
    REFUSED = "refused"


@dataclass(frozen=True)
class Finding:
    """One reason behind a verdict: a stable code and what exactly was found."""

    code: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """The API and CLI form."""
        return {"code": self.code, "detail": self.detail}


@dataclass(frozen=True)
class CrossRegionResult:
    """The verdict on a peer's licence token and everything it rests on (claims only once the token is authentic)."""

    origin: str
    verdict: CrossVerdict
    reasons: tuple[Finding, ...]
    checked_at: datetime
    trusted: TrustedToken | None = None
    trust_list: TrustList | None = None
    inclusion: InclusionEvidence | None = None
    minted: Envelope | None = None
    proven: ProvenStatus | None = None
    rule: AcceptanceRule | None = None
    peer_url: str | None = None  # the issuing region's base URL (where its proofs can be fetched again)

    @property
    def valid(self) -> bool:
        """True only when every check passed and the peer's status map proves the licence in force."""
        return self.verdict is CrossVerdict.VALID

    @property
    def claims(self) -> LicenceClaims | None:
        """The token's claims, proven authentic (None for a token that failed its signature or key checks)."""
        return None if self.trusted is None else self.trusted.claims


@dataclass(frozen=True)
class SealedDocumentProof:
    """What a peer's log and status map prove about a sealed PDF of one of its licences (DESIGN §7 across regions).

    `on_ledger` is None when the `DocumentSealed` of the PDF's SHA-256 is proven on the peer's log (included under a
    checkpoint we verified, its bytes hashing to the leaf's `payload_sha256`, in the licence's stream as the peer's
    signed map names it); else the finding. `status` is empty when the licence version is proven in force."""

    origin: str
    checked_at: datetime
    on_ledger: Finding | None
    status: tuple[Finding, ...]
    sealed: Envelope | None = None
    sealed_version: int | None = None
    inclusion: InclusionEvidence | None = None
    proven: ProvenStatus | None = None
    peer_url: str | None = None


class PeerRefusal(Exception):
    """A peer's artefact cannot be checked here at all (not a peer, forked, trust list stale): verdict + finding."""

    def __init__(self, verdict: CrossVerdict, finding: Finding) -> None:
        super().__init__(finding.detail)
        self.verdict = verdict
        self.finding = finding


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sealed_body(state: bytes) -> tuple[str, int] | None:
    """(pdf_sha256, licence_version) of a stored `DocumentSealed` body, or None if it names them not."""
    try:
        body = json.loads(state)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict):
        return None
    digest, version = body.get("pdf_sha256"), body.get("licence_version")
    if not isinstance(digest, str) or type(version) is not int:
        return None
    return digest, version


def proven_findings(proven: ProvenStatus, claims: LicenceClaims, origin: str, now: datetime) -> list[Finding]:
    """Why a proven status entry does not put the token's licence version in force at `now` (empty when it does)."""
    return entry_findings(proven, claims.subject, claims.version, origin, now)


def entry_findings(proven: ProvenStatus, subject: str, version: int, origin: str, now: datetime) -> list[Finding]:
    """Why a proven status entry does not put licence version `version` of `subject` in force at `now` (empty when
    it does).

    No entry (non-membership proven) or an entry for another version: the issuing region's own signed map disowns
    it (`peer_disowns`); revoked, suspended, superseded: that code; active: the entry's validity period."""
    where = f"{origin} status map at checkpoint {proven.size}"
    value = proven.value
    if value is None:
        return [Finding(PEER_DISOWNS, f"{where} proves it has no entry for {subject}")]
    if value.version != version:
        detail = f"{where} records version {value.version} for {subject}; the token shows {version}"
        return [Finding(PEER_DISOWNS, detail)]
    if value.status != ACTIVE:
        return [Finding(value.status, f"{where} proves: {value.status} (event {value.event_index})")]
    if now < value.valid_from:
        return [Finding("not_yet_valid", f"{where} proves: valid from {utc_text(value.valid_from)}")]
    if value.valid_until is not None and now >= value.valid_until:
        return [Finding("expired", f"{where} proves: valid until {utc_text(value.valid_until)}")]
    return []
