"""A peer's answer to "where on your log is the `DocumentSealed` of this PDF" (DESIGN §7, §9), and the HTTP source
that asks it: `GET /v1/sealed-documents/{pdf_sha256}?identifier=I`.

The answer names a leaf and hands over the event's stored bytes, so the asking region can check everything itself:
the leaf's inclusion under a checkpoint it verified, its `payload_sha256` against the bytes, and the PDF hash and
licence version inside them. A PDF's SHA-256 cannot be guessed, so the endpoint tells nothing to whoever lacks the
PDF; an unknown licence and an unknown hash get the same answer (no leaf).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from anchors.errors import PeerError
from anchors.peers import HttpPeerSource

MAX_SEALED_ANSWER_BYTES = 16 * 1024
MAX_STATE_BYTES = 4096  # a DocumentSealed body is ~200 bytes
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_KEYS = frozenset({"identifier", "pdf_sha256", "leaf_index", "state"})


@dataclass(frozen=True)
class SealedDocumentRef:
    """Where a peer says the `DocumentSealed` of a PDF is: its leaf, and the event's stored bytes (what the leaf's
    `payload_sha256` commits to)."""

    leaf_index: int
    state: bytes


def sealed_document_json(identifier: str, pdf_sha256: str, found: SealedDocumentRef | None) -> dict[str, object]:
    """The endpoint's answer (the server and `parse_sealed_document` share it)."""
    return {
        "identifier": identifier,
        "pdf_sha256": pdf_sha256,
        "leaf_index": None if found is None else found.leaf_index,
        "state": None if found is None else base64.b64encode(found.state).decode("ascii"),
    }


def parse_sealed_document(data: bytes, identifier: str, pdf_sha256: str) -> SealedDocumentRef | None:
    """A peer's answer, strictly: the asked identifier and hash, a leaf index and base64 bytes, or no leaf at all
    (None: the peer has no such `DocumentSealed`). Anything else is a `PeerError`."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PeerError("sealed document: not JSON") from exc
    if not isinstance(doc, dict) or set(doc) != _KEYS:
        raise PeerError(f"sealed document: members must be exactly {sorted(_KEYS)}")
    if doc["identifier"] != identifier or doc["pdf_sha256"] != pdf_sha256:
        raise PeerError("sealed document: the answer is about another licence or PDF")
    index, state = doc["leaf_index"], doc["state"]
    if index is None and state is None:
        return None
    if type(index) is not int or not 0 <= index < 1 << 62 or not isinstance(state, str):
        raise PeerError("sealed document: leaf_index must be a non-negative integer and state base64 text")
    try:
        raw = base64.b64decode(state, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PeerError("sealed document: state is not base64") from exc
    if not 0 < len(raw) <= MAX_STATE_BYTES:
        raise PeerError(f"sealed document: state must be 1 to {MAX_STATE_BYTES} bytes")
    return SealedDocumentRef(index, raw)


class HttpPeerLicenceSource(HttpPeerSource):
    """A peer's read API over HTTP with every read licence and document verification needs."""

    def sealed_document(self, identifier: str, pdf_sha256: str) -> SealedDocumentRef | None:
        """`GET /v1/sealed-documents/{pdf_sha256}?identifier=`: the `DocumentSealed` of that PDF, or None."""
        if SHA256_HEX.fullmatch(pdf_sha256) is None:
            raise PeerError("a PDF's SHA-256 is 64 lower-case hex digits")
        data = self._get(f"/v1/sealed-documents/{pdf_sha256}", MAX_SEALED_ANSWER_BYTES, {"identifier": identifier})
        return parse_sealed_document(data, identifier, pdf_sha256)
