"""The one vocabulary of verification: verdicts, reason codes and the frozen status every check returns.

Every check (online and offline token, sealed PDF, a peer region's licence) lists what it found as `Reason`s with a
stable code; each code belongs to exactly one verdict (`CODES`), and the verdict of a status is the most severe verdict
among its reasons (`PRECEDENCE`), or `valid` when there are none. The CLI, the API and the pages only present a status:
they never decide one. The table is documented in docs/verification.md; codes are never renamed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from signatures.cose import LicenceClaims
from signatures.statusproof import ProvenStatus
from signatures.trustlist import TrustList

if TYPE_CHECKING:  # a type only: the status carries the view the licence library handed out
    from licences.application import LicenceView
    from licences.values import LicenceId


class Verdict(StrEnum):
    """What a token (or a document) says now: the licence's status, or why the artefact is not to be trusted.

    The values are the API's (`verdict` of `/v1/verify/token`, `/v1/public/verify`, `/v1/federation/status`)."""

    VALID = "valid"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"  # an older version's token: the licence was renewed or amended since
    INVALID = "invalid"  # forged, unknown key, key not valid then, not on our log…
    UNKNOWN = "unknown"  # authentic, but this ledger has no such licence (or, cross-region, cannot say)
    OTHER_REGION = "other_region"  # minted on another region's log: check it there (federation)


# Most severe first: a status shows the first of these that any of its reasons carries.
PRECEDENCE = (
    Verdict.INVALID,
    Verdict.OTHER_REGION,
    Verdict.UNKNOWN,
    Verdict.REVOKED,
    Verdict.SUSPENDED,
    Verdict.SUPERSEDED,
    Verdict.NOT_YET_VALID,
    Verdict.EXPIRED,
    Verdict.VALID,
)
# The verdicts under which the token is proven authentic (its claims and licence may be shown).
AUTHENTIC = frozenset(
    {Verdict.VALID, Verdict.NOT_YET_VALID, Verdict.EXPIRED, Verdict.SUSPENDED, Verdict.REVOKED, Verdict.SUPERSEDED}
)


class Code(StrEnum):
    """Stable reason codes (docs/verification.md). The first eleven are `signatures.cose.TokenReason`'s values."""

    MALFORMED = "malformed"
    TRUST_LIST_STALE = "trust_list_stale"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    OTHER_LOG = "other_log"
    KEY_NOT_ISSUERS = "key_not_issuers"
    KEY_NOT_VALID = "key_not_valid_at_signing_time"
    KEY_COMPROMISED = "key_compromised"
    TYPE_NOT_ALLOWED = "issuer_not_allowed_for_type"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    TRUST_LIST_SIGNATURE_INVALID = "trust_list_signature_invalid"
    TRUST_LIST_MALFORMED = "trust_list_malformed"
    HOLDER_MISMATCH = "holder_mismatch"
    UNKNOWN_LICENCE = "unknown_licence"
    UNKNOWN_VERSION = "unknown_version"
    NOT_ON_LEDGER = "not_on_ledger"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    SUPERSEDED = "superseded"
    # a peer region's licence (anchors.crossregion)
    UNKNOWN_REGION = "unknown_region"
    PEER_FORKED = "peer_forked"
    TYPE_NOT_ACCEPTED = "type_not_accepted"
    NOT_IN_PEER_LOG = "not_in_peer_log"
    INCLUSION_UNCONFIRMED = "inclusion_unconfirmed"
    STATUS_UNCONFIRMED = "status_unconfirmed"
    PEER_DISOWNS = "peer_disowns"
    STATUS_PROOF_INVALID = "status_proof_invalid"


_I, _U = Verdict.INVALID, Verdict.UNKNOWN
# code -> (verdict, title). One verdict per code; every code a check may emit is here (a test walks the checks).
CODES: dict[str, tuple[Verdict, str]] = {
    Code.MALFORMED: (_I, "malformed token"),
    Code.TRUST_LIST_SIGNATURE_INVALID: (_I, "trust list signature invalid"),
    Code.TRUST_LIST_MALFORMED: (_I, "trust list malformed"),
    Code.TRUST_LIST_STALE: (_I, "trust list stale"),
    Code.OTHER_LOG: (Verdict.OTHER_REGION, "token of another region's log"),
    Code.UNKNOWN_KEY: (_I, "unknown key"),
    Code.BAD_SIGNATURE: (_I, "bad signature"),
    Code.KEY_NOT_ISSUERS: (_I, "key belongs to another issuer"),
    Code.KEY_NOT_VALID: (_I, "key not valid at signing time"),
    Code.KEY_COMPROMISED: (_I, "key compromised"),
    Code.TYPE_NOT_ALLOWED: (_I, "issuer not authorised for the licence type"),
    Code.UNKNOWN_LICENCE: (Verdict.UNKNOWN, "no such licence on the ledger"),
    Code.UNKNOWN_VERSION: (_I, "version newer than the ledger's"),
    Code.NOT_ON_LEDGER: (_I, "not on the ledger"),
    Code.HOLDER_MISMATCH: (_I, "holder differs from the ledger's"),
    Code.NOT_YET_VALID: (Verdict.NOT_YET_VALID, "not yet valid"),
    Code.EXPIRED: (Verdict.EXPIRED, "expired"),
    Code.REVOKED: (Verdict.REVOKED, "revoked"),
    Code.SUSPENDED: (Verdict.SUSPENDED, "suspended"),
    Code.SUPERSEDED: (Verdict.SUPERSEDED, "superseded by a newer version"),
    Code.UNKNOWN_REGION: (Verdict.OTHER_REGION, "not a peer region"),
    Code.PEER_FORKED: (_I, "peer region forked its log"),
    Code.TYPE_NOT_ACCEPTED: (_U, "licence type not accepted from that region"),
    Code.NOT_IN_PEER_LOG: (_I, "not in the peer's log"),
    Code.INCLUSION_UNCONFIRMED: (_U, "inclusion cannot be confirmed"),
    Code.STATUS_UNCONFIRMED: (_U, "status cannot be confirmed"),
    Code.PEER_DISOWNS: (_I, "the issuing region disowns the token"),
    Code.STATUS_PROOF_INVALID: (_I, "the issuing region's status proof does not verify"),
}


def verdict_of_code(code: str) -> Verdict:
    """The verdict a reason code stands for; a code outside the table is `invalid` (fail closed)."""
    entry = CODES.get(code)
    return Verdict.INVALID if entry is None else entry[0]


@dataclass(frozen=True)
class Reason:
    """One finding behind a verdict: a stable code and what exactly was found."""

    code: str
    detail: str

    @property
    def title(self) -> str:
        """Human title of the code, e.g. "key not valid at signing time"."""
        entry = CODES.get(self.code)
        return self.code.replace("_", " ") if entry is None else entry[1]

    @property
    def verdict(self) -> Verdict:
        """The verdict this reason alone would give."""
        return verdict_of_code(self.code)

    def to_json(self) -> dict[str, str]:
        """JSON form (the CLI's `reasons` items)."""
        return {"code": self.code, "title": self.title, "detail": self.detail}


def merge_reasons(*groups: Iterable[Reason]) -> tuple[Reason, ...]:
    """Reasons in order, each code once (the first finding of a code is kept)."""
    seen: set[str] = set()
    out = []
    for group in groups:
        for reason in group:
            if reason.code not in seen:
                seen.add(reason.code)
                out.append(reason)
    return tuple(out)


def verdict_of(reasons: Sequence[Reason]) -> Verdict:
    """The most severe verdict among `reasons`, or `valid` when there are none."""
    found = {r.verdict for r in reasons}
    return next((v for v in PRECEDENCE if v in found), Verdict.VALID)


VALID_ONLINE = "valid: authentic, on the ledger, in force"
VALID_OFFLINE = "valid offline (signature, key, issuer, period); suspension or revocation needs the online check"


@dataclass(frozen=True)
class TokenStatus:
    """The outcome of checking one licence token, online or offline: the verdict, every reason, and the evidence.

    `claims`, `licence`, `token` and `signed_at` are set only once the token is proven authentic (signature, key and,
    online, the minting leaf): a forged token must never put its words on anyone's screen."""

    mode: str  # "online" | "offline"
    checked_at: datetime
    reasons: tuple[Reason, ...] = ()
    claims: LicenceClaims | None = None
    licence: LicenceView | None = None  # online: the ledger's current view of the licence
    token: bytes = b""
    signed_at: datetime | None = None  # online: when the ledger recorded the minting leaf
    issuer_name: str | None = None
    trust_list: TrustList | None = None  # offline (or online with a trust list file): what the verdict rests on
    proven: ProvenStatus | None = None  # online, cross-region: the status map proof the status was checked against
    verdict: Verdict = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", verdict_of(self.reasons))

    @property
    def bottom_line(self) -> bool:
        """Whether the licence may be relied on now (no check failed)."""
        return self.verdict is Verdict.VALID

    @property
    def valid(self) -> bool:
        """Alias of `bottom_line`, the API's field name."""
        return self.bottom_line

    @property
    def authentic(self) -> bool:
        """Whether the token is proven genuine (its verdict is the licence's status, not a refusal of the token)."""
        return self.verdict in AUTHENTIC and self.claims is not None

    @property
    def primary(self) -> Reason | None:
        """The reason that decided the verdict (the first one carrying it), or None when valid."""
        return next((r for r in self.reasons if r.verdict is self.verdict), None)

    @property
    def reason_code(self) -> str:
        """The deciding reason's code; `valid` when valid."""
        found = self.primary
        return self.verdict.value if found is None else found.code

    @property
    def reason(self) -> str:
        """One human sentence: the deciding reason's detail, or what "valid" rests on."""
        found = self.primary
        if found is not None:
            return found.detail
        return VALID_ONLINE if self.mode == "online" else VALID_OFFLINE

    @property
    def leaf_index(self) -> int | None:
        """The token's minting leaf (`li`) once authentic."""
        return None if self.claims is None else self.claims.leaf_index

    @property
    def licence_id(self) -> LicenceId | None:
        """The licence's id when known."""
        return None if self.licence is None else self.licence.id

    def held_to(self, offline: TokenStatus) -> TokenStatus:
        """This online status also held to a trust list (the offline check of the same token): both must pass.

        A token the trust list does not vouch for is answered by that check alone, as the ledger is not asked about
        a token that is not authentic."""
        if offline.claims is None:
            return replace(offline, mode=self.mode)
        reasons = merge_reasons(offline.reasons, self.reasons)
        return replace(self, reasons=reasons, trust_list=offline.trust_list, issuer_name=offline.issuer_name)
