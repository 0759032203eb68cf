"""Errors of the anchors package.

Failed cryptographic checks raise `signatures.errors.VerificationError` (shared by every verifier); the errors here
name what the anchors layer itself refuses: a witness request, a policy, a peer, a timestamp, a fork.
"""

from __future__ import annotations


class AnchorError(Exception):
    """Root of every error raised by `anchors`."""


class PolicyError(AnchorError):
    """A witness policy that cannot protect anyone (threshold 0, more than n, duplicate witnesses): refused."""


class AnchorStoreError(AnchorError):
    """The anchors tables are missing or hold something they should never hold."""


class WitnessRefusal(AnchorError):
    """The witness refuses an add-checkpoint request; `status` is the HTTP status C2SP tlog-witness prescribes."""

    status = 400
    problem = "witness-bad-request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class MalformedRequestError(WitnessRefusal):
    """The request body is not `old <size>`, proof lines, a blank line and a checkpoint (400)."""


class UnknownLogError(WitnessRefusal):
    """The checkpoint's origin is not a log this witness is configured for (404)."""

    status = 404
    problem = "witness-unknown-log"


class UntrustedCheckpointError(WitnessRefusal):
    """No signature on the checkpoint verifies under a key the witness trusts for its origin (403)."""

    status = 403
    problem = "witness-untrusted-checkpoint"


class SizeConflictError(WitnessRefusal):
    """`old` is not the size the witness last cosigned, or same size with another root (409 + text/x.tlog.size)."""

    status = 409
    problem = "witness-conflict"

    def __init__(self, detail: str, latest_size: int) -> None:
        super().__init__(detail)
        self.latest_size = latest_size


class InconsistentProofError(WitnessRefusal):
    """The consistency proof from `old` to the checkpoint size does not verify (422)."""

    status = 422
    problem = "witness-inconsistent"


class WitnessUnavailableError(AnchorError):
    """A remote witness could not be reached or answered outside the protocol."""


class PeerError(AnchorError):
    """A peer region is unknown, unreachable, or answered with something we refuse."""


class UnknownPeerError(PeerError):
    """No peer with this origin is registered."""


class PeerUnreachableError(PeerError):
    """The peer did not answer in time, answered with an HTTP error, or sent more than the size cap."""


class StaleTrustListError(PeerError):
    """The cached trust list of a peer is past its `next_update`: status cannot be confirmed offline."""


class ForkDetectedError(PeerError):
    """A peer showed two views of its log that cannot both be true; the evidence is stored as alarm `alarm_id`."""

    def __init__(self, detail: str, alarm_id: int) -> None:
        super().__init__(detail)
        self.alarm_id = alarm_id


class TimestampUnavailableError(AnchorError):
    """No time-stamp authority is configured, or it did not answer with a token."""
