"""Online check of a licence QR token against this region's ledger: signature, key lifecycle, log, current status.

Unlike the offline check (`signatures.offline`), the signing time is the time of the token's minting leaf on our
log, not the `iat` the token claims: whoever stole a key can backdate `iat`, not a leaf. Only after the signature,
the key and the leaf check out are any claims shown (a forged token must never put words on a citizen's screen).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.envelope import parse_leaf_data
from ledger.errors import LedgerError
from licences.application import LicenceView
from licences.domain import LicenceAmended, LicenceIssued, LicenceRenewed
from licences.errors import LicenceNotFoundError
from signatures.cose import LicenceClaims, decode_token, parse_token_text, verify_token_signature
from signatures.errors import MalformedError, TokenRejectedError
from signatures.keyring import KeyRing, key_problem_at_second
from trustledger.region import Region
from verify_api.metrics import parse_signed_at
from verify_api.problems import MALFORMED_TOKEN, ProblemError

_MINTING_TOPICS = frozenset(get_topic(c) for c in (LicenceIssued, LicenceRenewed, LicenceAmended))


class Verdict(StrEnum):
    """What a token says today: the licence's status, or why the token itself is not to be trusted."""

    VALID = "valid"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"  # an older version's token: the licence was renewed or amended since
    INVALID = "invalid"  # forged, unknown key, key not valid then, not on our log…
    UNKNOWN = "unknown"  # well signed, but this ledger has no such licence
    OTHER_REGION = "other_region"  # minted on another region's log: check it there (federation)


@dataclass(frozen=True)
class TokenCheck:
    """The outcome of checking one token; `claims` and `licence` are set only when the token is authentic."""

    verdict: Verdict
    reason_code: str
    reason: str
    token: bytes = b""
    claims: LicenceClaims | None = None
    licence: LicenceView | None = None
    signed_at: datetime | None = None

    @property
    def valid(self) -> bool:
        """Whether the licence may be relied on now."""
        return self.verdict is Verdict.VALID

    @property
    def licence_id(self) -> UUID | None:
        """The licence's id when known."""
        return None if self.licence is None else self.licence.id


def parse_token(text: str, field: str = "token") -> bytes:
    """Token bytes from a URL, path or bare token; a 422 `malformed-token` problem naming `field` otherwise."""
    try:
        data = parse_token_text(text)
        decode_token(data)
    except MalformedError as exc:
        raise ProblemError(MALFORMED_TOKEN, f"not a licence token: {exc}", field=field) from exc
    return data


def _invalid(code: str, reason: str) -> TokenCheck:
    return TokenCheck(Verdict.INVALID, code, reason)  # no token kept: nothing of a bad token is echoed back


def check_token(region: Region, data: bytes) -> TokenCheck:
    """Check a parsed token (see `parse_token`) against the region's registry keys and ledger."""
    # (1): whose log? Another region's token is not ours to judge (and its claims are not shown).
    _, claims = decode_token(data)
    if claims.log_origin != region.config.origin:
        return TokenCheck(Verdict.OTHER_REGION, "other_log", "minted on another region's log; verify it there")
    # (2): the signature, under a key registered for the claimed issuer (a key of anyone else is not found).
    ring = KeyRing.of(region.registry.keys_of(claims.issuer))
    try:
        verified = verify_token_signature(data, ring.public_key)
    except TokenRejectedError as exc:
        return _invalid(str(exc.reason), str(exc))
    record = ring.get(verified.header.kid)
    assert record is not None  # the lookup just found it
    # (3): the licence it names.
    try:
        licence_id = region.licences.resolve(claims.subject)
        view = region.licences.get(licence_id)
    except LicenceNotFoundError:
        return TokenCheck(Verdict.UNKNOWN, "unknown_licence", "signed by a registered key, but not in this ledger")
    # (4): the minting leaf: on our log, in this licence's stream, a minting event; its time is the signing time.
    try:
        envelope = parse_leaf_data(region.log.leaf(claims.leaf_index)[0])
    except LedgerError:
        return _invalid("not_in_log", f"leaf {claims.leaf_index} of the token is not in the log")
    if envelope.stream != str(licence_id) or envelope.type not in _MINTING_TOPICS:
        return _invalid("not_in_log", f"leaf {claims.leaf_index} did not mint this licence")
    signed_at = parse_signed_at(envelope.recorded_at)
    # (5): the key was good at the claimed iat AND when the leaf was written (one-second resolution, as tokens
    # carry), and the token names the issuer and type the ledger recorded.
    for moment, what in ((claims.issued_at, "iat"), (int(signed_at.timestamp() // 1), "the minting leaf's time")):
        problem = key_problem_at_second(record, moment)
        if problem is not None:
            return _invalid(problem, f"{problem.replace('_', ' ')} ({what})")
    # The issuer's authorisation for the type was enforced when the ledger minted the licence; online, it is enough
    # that the token names the very issuer and type the ledger recorded (the offline check uses the trust list).
    if view.type_code != claims.licence_type or view.issuer != claims.issuer:
        return _invalid("issuer_not_allowed_for_type", "the token's issuer or type is not the ledger's")
    if claims.holder_digest.hex() != view.holder_digest:
        return _invalid("holder_mismatch", "the token's holder is not the licence's holder")
    # (6): what the ledger says today.
    found = TokenCheck(Verdict.VALID, "valid", "valid", data, claims, view, signed_at)
    if claims.version < view.licence_version:
        reason = f"version {claims.version} was replaced by version {view.licence_version}"
        return _replace(found, Verdict.SUPERSEDED, "superseded", reason)
    if claims.version > view.licence_version:
        return _invalid("unknown_version", "the token's version is newer than the ledger's")
    verdict = Verdict(view.status.value)
    return _replace(found, verdict, verdict.value, _REASONS[verdict])


_REASONS = {
    Verdict.VALID: "valid: authentic, on the ledger, in force",
    Verdict.NOT_YET_VALID: "authentic, but its validity has not begun",
    Verdict.EXPIRED: "authentic, but its validity has ended",
    Verdict.SUSPENDED: "authentic, but suspended by the issuer",
    Verdict.REVOKED: "authentic, but revoked by the issuer",
}


def _replace(check: TokenCheck, verdict: Verdict, code: str, reason: str) -> TokenCheck:
    return TokenCheck(verdict, code, reason, check.token, check.claims, check.licence, check.signed_at)
