"""Status proofs checked against checkpoints whose signature this process has already verified (DESIGN §4b).

Every online check proves the licence's status against the newest signed checkpoint, and the newest checkpoint
changes only every `checkpoint_interval` seconds: verifying its Ed25519 signature on every request repeated the same
work thousands of times a second. A checkpoint note is immutable text, so a note whose signature once verified under
a given key and origin verifies again: the parsed body is remembered by (note, log key, origin). Only successes are
kept, the table is bounded (least recently used dropped first), and the proof itself (value, path, root) is checked
in full on every call: caching a note never caches a verdict.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from signatures.errors import VerificationError
from signatures.note import CheckpointBody, NoteVerifier, open_checkpoint
from signatures.statusproof import ProvenStatus, StatusProof, map_root, parse_status_value, recompute_root

MAX_REMEMBERED_CHECKPOINTS = 64  # the newest one is what is asked for; a few older ones serve `?size=` proofs

_Key = tuple[str, str, bytes, str | None]


class VerifiedCheckpoints:
    """Checkpoint bodies whose note signature verified, by (note, verifier name, verifier key, origin); bounded."""

    def __init__(self, limit: int = MAX_REMEMBERED_CHECKPOINTS) -> None:
        if limit < 1:
            raise ValueError("the checkpoint table must hold at least one note")
        self._limit = limit
        self._lock = threading.Lock()
        self._bodies: OrderedDict[_Key, CheckpointBody] = OrderedDict()

    def open(self, note: str, verifier: NoteVerifier, origin: str | None) -> CheckpointBody:
        """The body of a checkpoint signed by `verifier` (with `origin`); `VerificationError`/`MalformedError` as
        `open_checkpoint`, which it calls the first time a note is seen (a failure is never remembered)."""
        key = (note, verifier.name, verifier.public_key, origin)
        with self._lock:
            body = self._bodies.get(key)
            if body is not None:
                self._bodies.move_to_end(key)
                return body
        body = open_checkpoint(note, verifier, origin)
        with self._lock:
            self._bodies[key] = body
            while len(self._bodies) > self._limit:
                self._bodies.popitem(last=False)
        return body

    def __len__(self) -> int:
        return len(self._bodies)


VERIFIED_CHECKPOINTS = VerifiedCheckpoints()


def verify_status_proof_remembering(
    proof: StatusProof, verifier: NoteVerifier, origin: str | None, checkpoints: VerifiedCheckpoints | None = None
) -> ProvenStatus:
    """`signatures.statusproof.verify_status_proof`, with step (1) remembered per checkpoint note."""
    # Steps: (1) open the checkpoint (its signature verified once per note), (2) take its map root, (3) parse the
    # value, (4) recompute and compare the root.
    # (1): the checkpoint must be signed by the log's key (and carry the expected origin)
    table = VERIFIED_CHECKPOINTS if checkpoints is None else checkpoints  # not `or`: an empty table is falsy
    body = table.open(proof.checkpoint, verifier, origin)
    # (2): the map root is the first extension line
    root = map_root(body)
    # (3): a present value is canonical and names the proof's identifier
    value = None if proof.value is None else parse_status_value(proof.value)
    if value is not None and value.identifier != proof.identifier:
        raise VerificationError("the value's identifier is not the proof's identifier")
    # (4): the proof must lead to the committed root
    if recompute_root(proof.identifier, proof.value, proof.leaf, proof.siblings) != root:
        raise VerificationError("status proof does not lead to the checkpoint's map root")
    return ProvenStatus(body.size, body.root_hash, root, proof.identifier, value, proof.checkpoint)
