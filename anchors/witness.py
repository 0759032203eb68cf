"""A C2SP tlog-witness: cosigns a checkpoint only after checking it grew consistently from the last one it cosigned.

Request body of `POST <prefix>/add-checkpoint` (c2sp.org/tlog-witness):

    old <size>\\n                 ASCII decimal, no leading zeros
    <base64 hash>\\n              0 to 63 consistency proof lines (RFC 6962 §2.1.2 = RFC 9162 §2.1.4)
    \\n
    <signed checkpoint note>

Answers: 200 with the cosignature line(s); 400 malformed or old > size; 403 no trusted log signature; 404 unknown
origin; 409 (`text/x.tlog.size` body: the size it last cosigned) when `old` is not that size or a same-size
checkpoint has another root; 422 when the consistency proof does not verify. The check of `old` and the update of
the stored state happen in one transaction that holds the state (and the write is still a compare-and-swap on its
version), so concurrent requests cannot roll the state back or cosign two roots for one size.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass

from anchors.alarms import raise_alarm
from anchors.cosignature import Cosignature, CosignatureSigner
from anchors.errors import (
    InconsistentProofError,
    MalformedRequestError,
    SizeConflictError,
    UnknownLogError,
    UntrustedCheckpointError,
)
from anchors.model import WitnessedLog
from anchors.store import AnchorStore
from clock import Clock
from ledger.errors import ProofError
from ledger.merkle import verify_consistency
from signatures.errors import MalformedError, SignatureError, VerificationError
from signatures.note import CheckpointBody, open_note, parse_checkpoint, parse_verifier_key

MAX_REQUEST_BYTES = 256 * 1024  # a checkpoint with 16 post-quantum signatures fits; nothing honest is larger
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")
_log = logging.getLogger("anchors.witness")


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed add-checkpoint request: the old size, the consistency proof, the signed checkpoint note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str

    def to_body(self) -> bytes:
        """The wire form (what a log POSTs)."""
        lines = [f"old {self.old_size}", *(base64.b64encode(h).decode() for h in self.proof)]
        return ("\n".join(lines) + "\n\n" + self.note).encode()


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Parse a request body strictly; MalformedRequestError (400) names what is wrong."""
    if len(body) > MAX_REQUEST_BYTES:
        raise MalformedRequestError(f"request body larger than {MAX_REQUEST_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequestError("request body is not UTF-8") from exc
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise MalformedRequestError("request needs an old size line, proof lines, a blank line, then the checkpoint")
    lines = head.split("\n")
    m = _OLD.fullmatch(lines[0])
    if not m:
        raise MalformedRequestError("first line must be `old <size>` in decimal with no leading zeros")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise MalformedRequestError(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for i, line in enumerate(lines[1:], start=1):
        try:
            h = base64.b64decode(line, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedRequestError(f"proof line {i} is not base64") from exc
        if len(h) != 32:
            raise MalformedRequestError(f"proof line {i} is not a 32-byte hash")
        proof.append(h)
    return AddCheckpointRequest(int(m.group(1)), tuple(proof), note)


def _checkpoint_of(note: str, log: WitnessedLog | None, origin: str) -> tuple[str, CheckpointBody]:
    """(404) known origin, (403) signed by a key trusted for it; returns the verified text and the parsed body."""
    if log is None:
        raise UnknownLogError(f"this witness does not witness the log {origin!r}")
    try:
        signed = open_note(note, log.verifiers())
    except VerificationError as exc:
        raise UntrustedCheckpointError(f"checkpoint not signed by a trusted key of {origin}: {exc}") from exc
    except SignatureError as exc:
        raise MalformedRequestError(f"checkpoint is not a signed note: {exc}") from exc
    try:
        body = parse_checkpoint(signed.text)
    except MalformedError as exc:
        raise MalformedRequestError(f"checkpoint: {exc}") from exc
    if body.origin != origin:  # unreachable with a parsed origin line, kept as a guard
        raise UntrustedCheckpointError("checkpoint origin changed while checking")
    return signed.text, body


class Witness:
    """A region acting as a witness for other logs (C2SP tlog-witness), with its state in the anchors store."""

    def __init__(self, store: AnchorStore, signer: CosignatureSigner, clock: Clock) -> None:
        self.store = store
        self.signer = signer
        self.clock = clock

    def add_log(self, origin: str, verifier_keys: list[str]) -> WitnessedLog:
        """Start witnessing `origin` under these Go-note checkpoint keys (strictly parsed first)."""
        for key in verifier_keys:
            verifier = parse_verifier_key(key)
            if verifier.to_string() != key:
                raise MalformedError(f"verifier key for {origin} is not in canonical form")
        return self.store.add_witnessed_log(origin, verifier_keys)

    def add_checkpoint(self, body: bytes) -> list[Cosignature]:
        """Handle one add-checkpoint request; return the cosignature(s) or raise a WitnessRefusal with its status."""
        # Steps: (1) parse; then, in one transaction holding the stored state: (2) known origin (404); (3) a trusted
        # log signature (403); (4) old <= size (400); (5) old is the size last cosigned (409); (6) same size: same
        # root (409); (7) consistency proof (422); (8) store the new state; then cosign.
        # (1): strict parse
        request = parse_add_checkpoint(body)
        origin = request.note.split("\n", 1)[0]
        checked: list[tuple[str, CheckpointBody]] = []
        forks: list[tuple[WitnessedLog, CheckpointBody]] = []

        def decide(state: WitnessedLog | None) -> tuple[int, bytes, str]:
            # (2), (3): a log we witness, signed by a key we trust for it
            text, checkpoint = _checkpoint_of(request.note, state, origin)
            assert state is not None
            # (4): old must not exceed the checkpoint size
            if request.old_size > checkpoint.size:
                raise MalformedRequestError(
                    f"old size {request.old_size} is above the checkpoint size {checkpoint.size}"
                )
            # (5): old must be what we last cosigned
            if request.old_size != state.size:
                raise SizeConflictError(f"old size {request.old_size} is not the last cosigned size", state.size)
            # (6), (7): no other root for the same size; consistent growth otherwise
            if state.size == checkpoint.size and state.size > 0 and state.root_hash != checkpoint.root_hash:
                forks.append((state, checkpoint))
                raise SizeConflictError(f"a different root hash was cosigned for size {state.size}", state.size)
            self._check_growth(state, request, checkpoint)
            checked.append((text, checkpoint))
            return checkpoint.size, checkpoint.root_hash, request.note

        # (8): check and store atomically; the alarm (its own transaction) comes after the state's lock is released
        now = self.clock()
        try:
            self.store.advance_witnessed_log(origin, decide, now)
        except SizeConflictError:
            for state, checkpoint in forks:
                self._conflict(state, request.note, checkpoint)
            raise
        text, _ = checked[0]
        return [self.signer.cosign(text, int(now.timestamp()))]

    def _check_growth(self, state: WitnessedLog, request: AddCheckpointRequest, checkpoint: CheckpointBody) -> None:
        if state.size == checkpoint.size and state.size > 0:
            if request.proof:
                raise InconsistentProofError("consistency proof must be empty when old equals the checkpoint size")
            return
        if state.size == 0:
            if request.proof:
                raise InconsistentProofError("consistency proof must be empty when old is 0")
            return
        assert state.root_hash is not None
        try:
            verify_consistency(state.size, checkpoint.size, state.root_hash, checkpoint.root_hash, request.proof)
        except ProofError as exc:
            _log.warning(
                "witness refused inconsistent checkpoint",
                extra={"origin": state.origin, "old": state.size, "size": checkpoint.size, "reason": str(exc)},
            )
            raise InconsistentProofError(f"consistency proof {state.size} -> {checkpoint.size}: {exc}") from exc

    def _conflict(self, state: WitnessedLog, note: str, checkpoint: CheckpointBody) -> None:
        """A validly signed second root for a size we cosigned: the log forked, and both notes prove it."""
        assert state.note is not None
        raise_alarm(
            self.store,
            origin=state.origin,
            kind="witness-fork",
            detail=f"checkpoint of size {checkpoint.size} with a root other than the one this witness cosigned",
            first=(state.size, state.note),
            second=(checkpoint.size, note),
            proof=(),
            now=self.clock(),
        )
