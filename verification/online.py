"""The online check of a licence QR token against this region's ledger (DESIGN §6, ADR 0009).

Online, the signing time that counts is the time of the token's minting leaf on our log, not only the `iat` the token
claims: whoever stole a key can backdate `iat`, not a leaf. The keys come from the registry (the ledger's own record
of every key and its lifecycle), the licence from the read model, the leaf from the log; the caller hands these in.
Only after the signature, the key and the leaf check out are any claims kept (a forged token must never put words on
a citizen's screen).

What is cached and what is not (the public check is one read of the proven status): the registry's key records (a key
event is seen at once in the process that saved it, within a second elsewhere: `licences.registry`), the checkpoint
notes whose signature verified (`verification.checkpoints`) and the minting leaves (immutable,
`ledger.log.Log.remembered_leaf`). The licence's row and its proven status are read on every check, so a revocation or
suspension shows at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from eventsourcing.utils import get_topic

from clock import Clock
from ledger.envelope import parse_leaf_data
from ledger.errors import LedgerError
from ledger.ids import LeafIndex
from licences.domain import LicenceAmended, LicenceIssued, LicenceRenewed
from licences.errors import LicenceNotFoundError
from licences.identifiers import parse_identifier
from licences.values import LicenceId
from signatures.cose import LicenceClaims, decode_token, parse_token_text, verify_token_signature
from signatures.errors import MalformedError, SignatureError, TokenRejectedError
from signatures.keyring import KeyRecord, KeyRing, key_problem_at_second
from signatures.note import NoteVerifier
from signatures.statusproof import ProvenStatus, StatusProof, StatusValue
from verification.checkpoints import verify_status_proof_remembering
from verification.status import Code, Reason, TokenStatus, merge_reasons

if TYPE_CHECKING:  # annotations only: the licence service (SQLAlchemy) loads only where a region is opened
    from licences.application import LicenceView

MINTING_TOPICS = frozenset(get_topic(c) for c in (LicenceIssued, LicenceRenewed, LicenceAmended))
_LEAF_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # ledger.envelope.format_recorded_at


class LicenceLookup(Protocol):
    """The licence library's read side, as far as a token check needs it (`LicenceService` has it)."""

    def resolve(self, text: str) -> LicenceId:
        """The licence id of an identifier (any version's); `LicenceNotFoundError` if none."""
        ...

    def get(self, licence_id: LicenceId) -> LicenceView:
        """The licence's current view (status at the service's clock)."""
        ...

    def find(self, text: str) -> LicenceView:
        """`get(resolve(text))` in one read."""
        ...


class KeyDirectory(Protocol):
    """The registry's signing keys with their lifecycle (`RegistryService` has it)."""

    def keys_of(self, owner: str | None = None) -> Sequence[KeyRecord]:
        """The keys registered for `owner`, or every key."""
        ...

    def recent_keys_of(self, owner: str | None = None) -> Sequence[KeyRecord]:
        """`keys_of`, possibly from memory: a key event is seen at once in this process, within a second elsewhere."""
        ...


class LeafSource(Protocol):
    """The log's leaves (`ledger.log.Log` has it)."""

    def remembered_leaf(self, index: LeafIndex) -> tuple[bytes, bytes]:
        """(leaf data, leaf hash) of leaf `index` (leaves are immutable: it may come from memory); `LedgerError` if
        there is none."""
        ...


class StatusSource(Protocol):
    """Status map proofs against the region's signed checkpoints (`ledger.log.Log` has it)."""

    def reading(self) -> AbstractContextManager[object]:
        """One read transaction that the check's reads join (the row and the proof see one state)."""
        ...

    def status_proof(self, identifier: str, size: int | None = None) -> StatusProof:
        """The proof of `identifier`'s entry against the newest checkpoint (or the one of `size` leaves)."""
        ...


@dataclass(frozen=True)
class LedgerSources:
    """What the online check reads: this region's log origin, licences, key registry, log, clock, and the status
    map's proofs with the log key that signs the checkpoints they are checked against."""

    origin: str
    licences: LicenceLookup
    keys: KeyDirectory
    log: LeafSource
    clock: Clock
    statuses: StatusSource
    log_verifier: NoteVerifier


class StatusUnprovenError(Exception):
    """The licence's status cannot be proven against a signed checkpoint, or the read model contradicts the proven
    status (a tampered or stale table): no verdict is given, and the operator must be alarmed."""


class _Refused(Exception):
    """A step found the token not to be trusted (or not ours): the check stops with this reason."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = Reason(code, detail)


def check_token_online(token: bytes | str, sources: LedgerSources, *, at: datetime | None = None) -> TokenStatus:
    """Check a token (bytes, bare base64url or a `…/v/<token>` URL) against the ledger; never raises on a bad token.

    `at` is the instant the token's own validity period is judged at (default: the sources' clock); the licence's
    status is the read model's, at the sources' clock."""
    now = at or sources.clock()
    # One read transaction for the whole check: the licence's row and its proven status come from one state of the
    # ledger (a revocation landing between two reads would otherwise look like a contradiction), and no more.
    with sources.statuses.reading():
        return _check(token, sources, now)


def _check(token: bytes | str, sources: LedgerSources, now: datetime) -> TokenStatus:
    """The check itself, inside the caller's read transaction."""
    # Steps: (1) strict parse; (2) a token of our log; (3) signature under a registered key of the claimed issuer;
    # (4) key good at iat; (5) the licence on our ledger; (6) the minting leaf of this version, and the key good at
    # its time; (7) the issuer, type and holder the ledger recorded; (8) the token's period and the ledger's word now.
    try:
        data, claims = _parse(token, sources.origin)  # (1), (2)
        record = _signed_by(data, claims, sources.keys)  # (3)
        _key_good_at(record, claims.issued_at, "iat")  # (4)
        view = _licence(claims, sources.licences)  # (5)
        signed_at = _minting_leaf(claims, view, sources.log)  # (6)
        _key_good_at(record, int(signed_at.timestamp() // 1), "the time the ledger recorded the minting event")
        _as_recorded(claims, view)  # (7)
    except _Refused as refused:
        return TokenStatus("online", now, (refused.reason,))
    # (8): from here on the claims are authentic; the status is the one proven against the signed checkpoint
    proven = prove_status(claims.subject, sources)
    value = _matching(proven, claims, view)
    found = proven_reasons(claims, value, view, now)
    if value.status == Code.SUPERSEDED:  # the current version's revocation or suspension outranks "superseded"
        found = _current_version_reasons(view, sources) + found
    reasons = merge_reasons(period_reasons(claims, now), found)
    return TokenStatus("online", now, reasons, claims, view, data, signed_at, view.issuer_name, proven=proven)


def prove_status(identifier: str, sources: LedgerSources) -> ProvenStatus:
    """The entry of `identifier` in the status map, proven against a checkpoint signed by the region's log key;
    `StatusUnprovenError` when no proof checks out."""
    try:
        proof = sources.statuses.status_proof(identifier)
        return verify_status_proof_remembering(proof, sources.log_verifier, sources.origin)
    except (LedgerError, SignatureError) as exc:
        raise StatusUnprovenError(f"the status of {identifier} cannot be proven: {exc}") from exc


def _matching(proven: ProvenStatus, claims: LicenceClaims, view: LicenceView) -> StatusValue:
    """The proven entry of the token's version, after checking the read model says the same (else refuse)."""
    value = proven.value
    if value is None:
        raise StatusUnprovenError(f"the status map has no entry for {claims.subject} at size {proven.size}")
    current = claims.version == view.licence_version
    expected = {
        "version": (value.version, claims.version),
        "status": (value.status, view.lifecycle if current else "superseded"),
    }
    if current:
        expected["valid_until"] = (_second(value.valid_until), _second(view.valid_until))
        expected["valid_from"] = (_second(value.valid_from), _second(view.valid_from))
    differing = [name for name, (proved, read) in expected.items() if proved != read]
    if differing:
        raise StatusUnprovenError(
            f"the read model contradicts the proven status of {claims.subject} at size {proven.size} "
            f"({', '.join(differing)}): refusing to answer"
        )
    return value


def prove_current(view: LicenceView, sources: LedgerSources) -> ProvenStatus:
    """The proven entry of the licence's current version, checked against the read model's view of it (a use's
    answer, for instance); `StatusUnprovenError` when it cannot be proven or the two disagree."""
    proven = prove_status(view.identifier, sources)
    value = proven.value
    if (
        value is None
        or value.version != view.licence_version
        or value.status != view.lifecycle
        or _second(value.valid_until) != _second(view.valid_until)
    ):
        raise StatusUnprovenError(f"the read model contradicts the proven status of {view.identifier}")
    return proven


def _current_version_reasons(view: LicenceView, sources: LedgerSources) -> list[Reason]:
    """Revoked or suspended, as proven for the licence's current version (the read model only names it)."""
    current = prove_status(view.identifier, sources).value
    mine = parse_identifier(view.identifier, strict=False)
    if (
        current is None
        or current.version != view.licence_version
        or current.status != view.lifecycle
        or _licence_of(current.identifier) != (mine.type_code, mine.issuer, mine.serial)
    ):
        raise StatusUnprovenError(f"the read model contradicts the proven status of {view.identifier}")
    if current.status == Code.REVOKED:
        return [Reason(Code.REVOKED, "the licence has been revoked")]
    if current.status == Code.SUSPENDED:
        return [Reason(Code.SUSPENDED, "the licence is suspended")]
    return []


def _licence_of(identifier: str) -> tuple[str, str, str]:
    parsed = parse_identifier(identifier, strict=False)
    return parsed.type_code, parsed.issuer, parsed.serial


def _second(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() // 1)


def _parse(token: bytes | str, origin: str) -> tuple[bytes, LicenceClaims]:
    try:
        data = token if isinstance(token, bytes) else parse_token_text(token)
        _, claims = decode_token(data)
    except MalformedError as exc:
        raise _Refused(Code.MALFORMED, f"malformed token: {exc}") from exc
    # Another region's token is not ours to judge; its claims are not shown and its origin is not echoed.
    if claims.log_origin != origin:
        raise _Refused(Code.OTHER_LOG, "minted on another region's log; verify it there")
    return data, claims


def _signed_by(data: bytes, claims: LicenceClaims, keys: KeyDirectory) -> KeyRecord:
    """The issuer's key record that verifies the signature (a key of anyone else: `key_not_issuers`)."""
    ring = KeyRing.of(keys.recent_keys_of(claims.issuer))
    try:
        verified = verify_token_signature(data, ring.public_key)
    except TokenRejectedError as exc:
        if exc.reason != Code.UNKNOWN_KEY:
            raise _Refused(str(exc.reason), str(exc)) from exc
        _another_issuers_key(data, keys)
        raise _Refused(Code.UNKNOWN_KEY, str(exc)) from exc
    record = ring.get(verified.header.kid)
    assert record is not None  # the lookup just found it
    return record


def _another_issuers_key(data: bytes, keys: KeyDirectory) -> None:
    """Raise `key_not_issuers` when another issuer's registered key made the signature (only on the failure path:
    reading every key costs more than reading one issuer's)."""
    everyone = KeyRing.of(keys.recent_keys_of(None))
    try:
        verify_token_signature(data, everyone.public_key)
    except TokenRejectedError as exc:
        if exc.reason == Code.BAD_SIGNATURE:
            raise _Refused(Code.BAD_SIGNATURE, str(exc)) from exc
        return
    raise _Refused(Code.KEY_NOT_ISSUERS, "the key is registered for another issuer")


def _key_good_at(record: KeyRecord, second: int, what: str) -> None:
    problem = key_problem_at_second(record, second)
    if problem == Code.KEY_COMPROMISED:
        since = record.compromised_since.isoformat() if record.compromised_since else "?"
        raise _Refused(Code.KEY_COMPROMISED, f"key compromised since {since} ({what} is later)")
    if problem is not None:
        raise _Refused(Code.KEY_NOT_VALID, f"key not valid at signing time ({what})")


def _licence(claims: LicenceClaims, licences: LicenceLookup) -> LicenceView:
    try:
        return licences.find(claims.subject)
    except LicenceNotFoundError as exc:
        detail = "signed by a registered key, but the ledger has no such licence"
        raise _Refused(Code.UNKNOWN_LICENCE, detail) from exc


def _minting_leaf(claims: LicenceClaims, view: LicenceView, log: LeafSource) -> datetime:
    """When the ledger recorded the event that minted the token's version: leaf `li` must be a minting event of this
    licence's stream — for the current version, the very leaf that minted it; for an older one, an earlier leaf.

    One leaf read, whatever the licence's history: a licence used a million times is checked as fast as a new one."""
    li = claims.leaf_index
    if claims.version > view.licence_version:
        raise _Refused(Code.UNKNOWN_VERSION, f"the token shows version {claims.version}; the ledger has fewer")
    try:
        envelope = parse_leaf_data(log.remembered_leaf(LeafIndex(li))[0])  # the token parser checked its leaf index
        signed_at = datetime.strptime(envelope.recorded_at, _LEAF_TIME).replace(tzinfo=UTC)
    except (LedgerError, ValueError) as exc:
        raise _Refused(Code.NOT_ON_LEDGER, f"leaf {li} of the token is not in the log") from exc
    current = claims.version == view.licence_version
    this_version = li == view.minted_leaf if current else li < view.minted_leaf
    if envelope.stream != str(view.id) or envelope.type not in MINTING_TOPICS or not this_version:
        raise _Refused(Code.NOT_ON_LEDGER, f"leaf {li} is not the event that minted version {claims.version}")
    return signed_at


def _as_recorded(claims: LicenceClaims, view: LicenceView) -> None:
    # The issuer's authorisation for the type was enforced when the ledger minted the licence; online, it is enough
    # that the token names the very issuer and type the ledger recorded (the offline check uses the trust list).
    if view.type_code != claims.licence_type or view.issuer != claims.issuer:
        raise _Refused(Code.TYPE_NOT_ALLOWED, "the token's issuer or licence type is not the ledger's")
    if claims.holder_digest.hex() != view.holder_digest:
        raise _Refused(Code.HOLDER_MISMATCH, "the token's holder is not the licence's holder")


def period_reasons(claims: LicenceClaims, now: datetime) -> list[Reason]:
    """The token's own validity period at `now` (RFC 8392 §3.1.4, §3.1.5)."""
    seconds = now.timestamp()
    if seconds < claims.not_before:
        return [Reason(Code.NOT_YET_VALID, "licence not yet valid")]
    if claims.expires_at is not None and seconds >= claims.expires_at:
        return [Reason(Code.EXPIRED, "licence expired")]
    return []


def proven_reasons(claims: LicenceClaims, value: StatusValue, view: LicenceView, now: datetime) -> list[Reason]:
    """The ledger's proven word on an authentic token now: the version's status in the map, and its validity period
    (from the map's entry) at `now`."""
    if value.status == Code.REVOKED:
        return [Reason(Code.REVOKED, "the licence has been revoked")]
    if value.status == Code.SUSPENDED:
        return [Reason(Code.SUSPENDED, "the licence is suspended")]
    if value.status == Code.SUPERSEDED:
        detail = f"token shows version {claims.version}; the licence is now at version {view.licence_version}"
        return [Reason(Code.SUPERSEDED, detail)]
    if now < value.valid_from:
        return [Reason(Code.NOT_YET_VALID, "the ledger says the licence is not yet valid")]
    if value.valid_until is not None and now >= value.valid_until:
        return [Reason(Code.EXPIRED, "the ledger says the licence is expired")]
    return []
