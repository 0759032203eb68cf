"""Log evidence for answers: the signed checkpoint an answer is proven against, and inclusion proofs under it.

A checkpoint is signed at least once a second while the tree grows; when the newest one does not yet cover a leaf
the answer needs, one is signed on demand (DESIGN §4: "and on demand"), so every proof we hand out verifies against
a note that exists.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from ledger.ids import LeafIndex
from ledger.log import Checkpoint
from ledger.merkle import leaf_hash
from signatures.note import NoteSigner
from verify_api.problems import CHECKPOINT_NOT_FOUND, LOG_INCONSISTENT, ProblemError
from verify_api.schemas import CheckpointOut, InclusionProofOut
from verify_api.services import RegionServices
from verify_api.store import checkpoint_of_size


def b64(data: bytes) -> str:
    """Standard base64 (as the log read API and C2SP notes use)."""
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Evidence:
    """Signs and proves for one region; holds the log signer so its key is loaded once, not per request."""

    region: RegionServices
    signer: NoteSigner

    @classmethod
    def of(cls, region: RegionServices) -> Evidence:
        """Evidence for `region` (loads the log key once)."""
        return cls(region, region.log_signer)

    def covering(self, leaf_index: int) -> Checkpoint:
        """The newest signed checkpoint if it covers `leaf_index`, else a freshly signed one."""
        cp = self.region.log.latest_checkpoint()
        if cp is None or cp.tree_size <= leaf_index:
            cp = self.region.log.sign_checkpoint(self.signer, self.region.clock())
        return cp

    def of_size(self, tree_size: int) -> Checkpoint:
        """The signed checkpoint of exactly `tree_size` leaves; 404 problem if none was signed at that size."""
        cp = checkpoint_of_size(self.region.store.engine, tree_size)
        if cp is None:
            raise ProblemError(CHECKPOINT_NOT_FOUND, f"no checkpoint was signed at tree size {tree_size}", field="size")
        return cp

    def checkpoint_out(self, cp: Checkpoint) -> CheckpointOut:
        """The checkpoint as an answer carries it."""
        return CheckpointOut(
            tree_size=cp.tree_size,
            root_hash=b64(cp.root_hash),
            note=cp.note,
            signed_at=cp.signed_at,
            verifier_key=self.signer.verifier.to_string(),
        )

    def inclusion(self, leaf_index: LeafIndex, cp: Checkpoint) -> InclusionProofOut | None:
        """Inclusion proof of `leaf_index` under `cp`, or None when the leaf is newer than the checkpoint."""
        if leaf_index >= cp.tree_size:
            return None
        size, hashes = self.region.log.inclusion_proof(leaf_index, cp.tree_size)
        return InclusionProofOut(leaf_index=leaf_index, tree_size=size, hashes=[b64(h) for h in hashes])

    def leaf_hash(self, leaf_index: LeafIndex) -> str:
        """base64 of the stored leaf hash (RFC 9162 §2.1.1: SHA-256(0x00 ‖ leaf data))."""
        data, stored = self.region.log.leaf(leaf_index)
        if leaf_hash(data) != stored:  # the audit's job in full; here a cheap guard before we vouch for it
            raise ProblemError(LOG_INCONSISTENT, f"leaf {leaf_index} does not match its stored hash")
        return b64(stored)
