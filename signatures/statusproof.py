"""Status-map proofs (DESIGN §4b): the proof document, the status value, and the verifier.

The map is a compact sparse Merkle tree (the LazyLedger/Celestia SMT construction, SHA-256 throughout; the hashing is
in `signatures.statusmap`). Its root for the log prefix [0, size) is the checkpoint's first extension line,
`status-map <base64 map root>`, signed (and cosigned) with the rest of the C2SP tlog-checkpoint.

A proof (`GET /v1/status/proof`) is the JSON object
`{"checkpoint", "identifier", "value", "leaf", "siblings"}`:
- `value` is the RFC 8785 canonical JSON text of the identifier's status value, or null when the identifier is absent;
- `leaf` is null, or `{"path", "value_hash"}` of another leaf when a non-membership proof ends at that leaf;
- `siblings` lists, bottom-up, the nodes beside the path: with D = len(siblings) the depth where the leaf (or the
  empty subtree, or the other leaf) sits, siblings[i] is the node beside the path at depth D-i (32 zero bytes when
  empty). Hashes are base64 (standard alphabet, with padding) of 32 bytes.

Verification starts from the leaf node (or the other leaf's node, or 32 zero bytes) and, for i = 0..D-1 with
b = path bit D-1-i, hashes node = H(0x01 ‖ sib ‖ node) if b is 1, else H(0x01 ‖ node ‖ sib); the result must equal the
checkpoint's map root.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import rfc8785

from signatures.errors import MalformedError, VerificationError
from signatures.note import MAX_NOTE_BYTES, CheckpointBody, NoteVerifier, open_checkpoint
from signatures.statusmap import (
    EMPTY,
    PATH_BITS,
    STATUSES,
    bit,
    common_prefix_bits,
    inner_node,
    leaf_node,
    path_of,
    value_hash,
)

MAX_SIBLINGS = PATH_BITS
MAX_IDENTIFIER_BYTES = 1024  # licence identifiers are about 80 characters; this only bounds hostile input
MAX_VALUE_BYTES = 4096
MAX_VERSION = 999
MAX_EVENT_INDEX = 2**53 - 1  # RFC 8785 §3.2.2.3: larger integers have no exact I-JSON form
MAP_LINE_PREFIX = "status-map "
_PROOF_KEYS = frozenset({"checkpoint", "identifier", "value", "leaf", "siblings"})
_LEAF_KEYS = frozenset({"path", "value_hash"})
_VALUE_KEYS = frozenset({"identifier", "version", "status", "valid_from", "valid_until", "event_index"})
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _b64_hash(text: object, field: str) -> bytes:
    """Decode a canonical base64 (standard alphabet, padded) 32-byte hash."""
    if not isinstance(text, str):
        raise MalformedError(f"{field}: must be a base64 string")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"{field}: not valid base64") from exc
    if len(raw) != 32:
        raise MalformedError(f"{field}: must be 32 bytes, not {len(raw)}")
    if base64.b64encode(raw).decode() != text:
        raise MalformedError(f"{field}: base64 is not canonical")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _check_identifier(identifier: object, field: str) -> str:
    if not isinstance(identifier, str) or not identifier:
        raise MalformedError(f"{field}: must be a non-empty string")
    try:
        size = len(identifier.encode())
    except UnicodeError as exc:  # a lone surrogate: the path is SHA-256 of UTF-8, which it has none of
        raise MalformedError(f"{field}: not encodable as UTF-8") from exc
    if size > MAX_IDENTIFIER_BYTES:
        raise MalformedError(f"{field}: longer than {MAX_IDENTIFIER_BYTES} bytes")
    return identifier


def _object(doc: object, keys: frozenset[str], what: str) -> dict[str, object]:
    """`doc` as a JSON object with exactly `keys`; the error names what is missing or unexpected."""
    if not isinstance(doc, dict):
        raise MalformedError(f"{what}: must be a JSON object")
    missing, extra = sorted(keys - set(doc)), sorted(set(doc) - keys, key=str)
    if missing:
        raise MalformedError(f"{what}: missing {', '.join(f'{what}.{k}' for k in missing)}")
    if extra:
        raise MalformedError(f"{what}: unexpected key {', '.join(repr(k) for k in extra)}")
    return doc


def _format_time(when: datetime) -> str:
    # Explicit fields rather than strftime("%Y"), which does not zero-pad years below 1000 on every platform.
    return f"{when.year:04d}-{when.month:02d}-{when.day:02d}T{when.hour:02d}:{when.minute:02d}:{when.second:02d}Z"


def _parse_time(text: object, field: str) -> datetime:
    """RFC 3339 §5.6 date-time, UTC, whole seconds, with `Z` (`2026-12-04T00:00:00Z`)."""
    if not isinstance(text, str) or not _TIME.fullmatch(text):
        raise MalformedError(f"{field}: must be an RFC 3339 UTC time in whole seconds ending in Z")
    try:
        when = datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise MalformedError(f"{field}: not a valid date and time") from exc
    return when


def _check_time(when: object, field: str) -> None:
    if not isinstance(when, datetime) or when.utcoffset() is None:
        raise MalformedError(f"{field}: must be a timezone-aware datetime")
    if when.utcoffset() or when.microsecond:
        raise MalformedError(f"{field}: must be UTC in whole seconds")


def _check_int(value: object, field: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MalformedError(f"{field}: must be an integer in {low}..{high}")
    return value


@dataclass(frozen=True)
class StatusValue:
    """A licence's entry in the status map: the value whose canonical JSON the map commits to.

    `status` is one of `active|suspended|revoked|superseded` (expiry is not a status: the verifier compares
    `valid_until` with its clock); `event_index` is the leaf index of the last lifecycle event that set it.
    """

    identifier: str
    version: int
    status: str
    valid_from: datetime
    valid_until: datetime | None
    event_index: int

    def __post_init__(self) -> None:
        _check_identifier(self.identifier, "value.identifier")
        _check_int(self.version, "value.version", 1, MAX_VERSION)
        if self.status not in STATUSES:
            raise MalformedError(f"value.status: must be one of {', '.join(STATUSES)}")
        _check_time(self.valid_from, "value.valid_from")
        if self.valid_until is not None:
            _check_time(self.valid_until, "value.valid_until")
        _check_int(self.event_index, "value.event_index", 0, MAX_EVENT_INDEX)

    def to_canonical(self) -> str:
        """The RFC 8785 canonical JSON text of this value (the bytes the map hashes are its UTF-8)."""
        doc: dict[str, str | int | None] = {
            "identifier": self.identifier,
            "version": self.version,
            "status": self.status,
            "valid_from": _format_time(self.valid_from),
            "valid_until": None if self.valid_until is None else _format_time(self.valid_until),
            "event_index": self.event_index,
        }
        try:
            return bytes(rfc8785.dumps(doc)).decode()
        except (rfc8785.CanonicalizationError, UnicodeError) as exc:
            raise MalformedError("value: cannot be canonicalised (RFC 8785)") from exc


def parse_status_value(text: object) -> StatusValue:
    """Parse a status value strictly: exact keys and types, and the text must be its own RFC 8785 form."""
    if not isinstance(text, str):
        raise MalformedError("value: must be a string or null")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise MalformedError(f"value: longer than {MAX_VALUE_BYTES} bytes")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise MalformedError("value: not valid JSON") from exc
    doc = _object(doc, _VALUE_KEYS, "value")
    status = doc["status"]
    if not isinstance(status, str):
        raise MalformedError("value.status: must be a string")
    until = doc["valid_until"]
    parsed = StatusValue(
        identifier=_check_identifier(doc["identifier"], "value.identifier"),
        version=_check_int(doc["version"], "value.version", 1, MAX_VERSION),
        status=status,
        valid_from=_parse_time(doc["valid_from"], "value.valid_from"),
        valid_until=None if until is None else _parse_time(until, "value.valid_until"),
        event_index=_check_int(doc["event_index"], "value.event_index", 0, MAX_EVENT_INDEX),
    )
    # The round trip catches everything else: key order, whitespace, escapes, duplicate keys, 1.0 for 1.
    if parsed.to_canonical() != text:
        raise MalformedError("value: not in RFC 8785 canonical form")
    return parsed


@dataclass(frozen=True)
class StatusProof:
    """A status-map proof for one identifier against one signed checkpoint (membership or non-membership)."""

    checkpoint: str
    identifier: str
    value: str | None
    leaf: tuple[bytes, bytes] | None
    siblings: tuple[bytes, ...]

    def to_json(self) -> dict[str, object]:
        """The proof document of `GET /v1/status/proof` (hashes in base64, standard alphabet with padding)."""
        return {
            "checkpoint": self.checkpoint,
            "identifier": self.identifier,
            "value": self.value,
            "leaf": None if self.leaf is None else {"path": _b64(self.leaf[0]), "value_hash": _b64(self.leaf[1])},
            "siblings": [_b64(s) for s in self.siblings],
        }


def _parse_leaf(doc: object) -> tuple[bytes, bytes] | None:
    if doc is None:
        return None
    doc = _object(doc, _LEAF_KEYS, "leaf")
    return _b64_hash(doc["path"], "leaf.path"), _b64_hash(doc["value_hash"], "leaf.value_hash")


def _parse_siblings(doc: object) -> tuple[bytes, ...]:
    if not isinstance(doc, list):
        raise MalformedError("siblings: must be a list")
    if len(doc) > MAX_SIBLINGS:
        raise MalformedError(f"siblings: more than {MAX_SIBLINGS}")
    return tuple(_b64_hash(s, f"siblings[{i}]") for i, s in enumerate(doc))


def parse_status_proof(doc: object) -> StatusProof:
    """Parse a proof document strictly (exact keys and types, canonical base64 and value); the checkpoint is not
    verified here, only checked to be a string of bounded size."""
    doc = _object(doc, _PROOF_KEYS, "proof")
    checkpoint = doc["checkpoint"]
    if not isinstance(checkpoint, str) or not checkpoint:
        raise MalformedError("checkpoint: must be a non-empty string")
    if len(checkpoint) > MAX_NOTE_BYTES:
        raise MalformedError("checkpoint: too large")
    identifier = _check_identifier(doc["identifier"], "identifier")
    value = doc["value"]
    if value is not None and not isinstance(value, str):
        raise MalformedError("value: must be a string or null")
    if value is not None and parse_status_value(value).identifier != identifier:
        raise MalformedError("value.identifier: differs from the proof's identifier")
    leaf = _parse_leaf(doc["leaf"])
    if value is not None and leaf is not None:
        raise MalformedError("leaf: must be null in a membership proof (value is present)")
    return StatusProof(checkpoint, identifier, value, leaf, _parse_siblings(doc["siblings"]))


def map_root(body: CheckpointBody) -> bytes:
    """The status-map root committed by a checkpoint: its first extension line, `status-map <base64 32 bytes>`."""
    if not body.extensions or not body.extensions[0].startswith(MAP_LINE_PREFIX):
        raise MalformedError("checkpoint: the first extension line must be 'status-map <base64 map root>'")
    return _b64_hash(body.extensions[0].removeprefix(MAP_LINE_PREFIX), "checkpoint status-map root")


def recompute_root(
    identifier: str, value: str | None, leaf: tuple[bytes, bytes] | None, siblings: Sequence[bytes]
) -> bytes:
    """The map root a proof implies, as the spec computes it; raises when the proof's shape cannot hold.

    - membership (`value` set, `leaf` None): start from leaf_node(path, SHA-256(value));
    - non-membership at an empty subtree (both None): start from 32 zero bytes;
    - non-membership at another leaf (`value` None, `leaf` set): that leaf's path must share the first D bits with
      the identifier's path and must not equal it; start from its leaf node.
    Then fold in siblings[i] for i = 0..D-1 on the side given by path bit D-1-i.
    """
    depth = len(siblings)
    if depth > MAX_SIBLINGS or any(len(s) != 32 for s in siblings):
        raise MalformedError(f"siblings: at most {MAX_SIBLINGS} hashes of 32 bytes")
    path = path_of(_check_identifier(identifier, "identifier"))
    if value is not None:
        if leaf is not None:
            raise MalformedError("leaf: must be null in a membership proof (value is present)")
        node = leaf_node(path, value_hash(value.encode()))
    elif leaf is None:
        node = EMPTY
    else:
        other_path, other_hash = leaf
        if len(other_path) != 32 or len(other_hash) != 32:
            raise MalformedError("leaf: path and value_hash must be 32 bytes")
        if other_path == path:
            raise VerificationError("non-membership proof ends at the identifier's own leaf")
        if common_prefix_bits(other_path, path) < depth:
            raise VerificationError(f"the other leaf's path does not share the first {depth} bits of the path")
        node = leaf_node(other_path, other_hash)
    for i, sibling in enumerate(siblings):
        node = inner_node(sibling, node) if bit(path, depth - 1 - i) else inner_node(node, sibling)
    return node


@dataclass(frozen=True)
class ProvenStatus:
    """What a verified status proof establishes: at log size `size` (the signed checkpoint `checkpoint`), the map
    with root `map_root` holds `value` for `identifier`, or holds nothing for it when `value` is None."""

    size: int
    log_root: bytes
    map_root: bytes
    identifier: str
    value: StatusValue | None
    checkpoint: str


def verify_status_proof(proof: StatusProof, verifier: NoteVerifier, origin: str | None = None) -> ProvenStatus:
    """Verify a status proof against a checkpoint signed by `verifier` (with `origin`, when given).

    Raises VerificationError when a check fails and MalformedError when the checkpoint or value is not well formed.
    """
    # Steps: (1) open the checkpoint, (2) take its map root, (3) parse the value, (4) recompute and compare the root.
    # (1): the checkpoint must be signed by the log's key (and carry the expected origin)
    body = open_checkpoint(proof.checkpoint, verifier, origin)
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


__all__ = [
    "MAX_SIBLINGS",
    "ProvenStatus",
    "StatusProof",
    "StatusValue",
    "map_root",
    "parse_status_proof",
    "parse_status_value",
    "recompute_root",
    "verify_status_proof",
]
