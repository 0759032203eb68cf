"""Reading a peer region over HTTP, with timeouts and size caps, and strict parsing of what it sends."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Protocol

import httpx

from anchors.errors import PeerError, PeerUnreachableError
from signatures.errors import MalformedError
from signatures.statusproof import StatusProof, parse_status_proof

MAX_TRUST_LIST_BYTES = 8 << 20
MAX_CHECKPOINT_BYTES = 64 * 1024
MAX_PROOF_BYTES = 16 * 1024
MAX_PROOF_HASHES = 63
MAX_LEAF_BYTES = 4096
MAX_STATUS_BYTES = 4096
# A status proof: a signed checkpoint note, the value, up to 256 sibling hashes in base64 (~11 KiB at most).
MAX_STATUS_PROOF_BYTES = 96 * 1024
# What a region's `GET /v1/federation/status` may say of a token (verify_api.tokens.Verdict): its word on the licence.
STATUS_WORDS = frozenset(
    {"valid", "not_yet_valid", "expired", "suspended", "revoked", "superseded", "invalid", "unknown", "other_region"}
)
_CODE = re.compile(r"[a-z0-9_]{1,64}")
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class PeerSource(Protocol):
    """What federation reads from a peer region (DESIGN §4 read API and §6 trust list)."""

    def trust_list(self) -> bytes:
        """`GET /v1/trust-list`: the signed trust list file."""
        ...

    def checkpoint(self) -> bytes:
        """`GET /checkpoint`: the latest signed checkpoint note."""
        ...

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """`GET /v1/log/proof/consistency?first=&second=`: the proof hashes."""
        ...

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """`GET /v1/log/proof/inclusion?index=&tree_size=`: the proof hashes."""
        ...


def _hashes(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list) or len(value) > MAX_PROOF_HASHES:
        raise PeerError(f"{what}: hashes must be a list of at most {MAX_PROOF_HASHES}")
    out = []
    for h in value:
        try:
            if type(h) is not str:
                raise ValueError(what)
            raw = base64.b64decode(h, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PeerError(f"{what}: a hash is not base64") from exc
        if len(raw) != 32:
            raise PeerError(f"{what}: a hash is not 32 bytes")
        out.append(raw)
    return out


def parse_proof(data: bytes, expected: dict[str, int], what: str) -> list[bytes]:
    """Strictly parse a JSON proof document; the echoed sizes/indexes must be the ones asked for."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PeerError(f"{what}: not JSON") from exc
    if not isinstance(doc, dict) or set(doc) != {*expected, "hashes"}:
        raise PeerError(f"{what}: must be an object with exactly {sorted({*expected, 'hashes'})}")
    for key, value in expected.items():
        if type(doc[key]) is not int or doc[key] != value:
            raise PeerError(f"{what}: {key} is {doc[key]!r}, asked for {value}")
    return _hashes(doc["hashes"], what)


def parse_peer_status_proof(data: bytes, identifier: str) -> StatusProof:
    """Strictly parse a status proof document (`signatures.statusproof.parse_status_proof`); it must be for
    `identifier`. Its checkpoint is not verified here: a `PeerError` only says the document is not a proof."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PeerError("status proof: not JSON") from exc
    try:
        proof = parse_status_proof(doc)
    except MalformedError as exc:
        raise PeerError(f"status proof: {exc}") from exc
    if proof.identifier != identifier:
        raise PeerError(f"status proof: answered for {proof.identifier!r}, not {identifier!r}")
    return proof


@dataclass(frozen=True)
class PeerStatus:
    """A peer region's word on one of its licence tokens now: its verdict, reason code and current licence version."""

    origin: str
    verdict: str
    reason_code: str
    current_version: int | None

    @property
    def in_force(self) -> bool:
        """Whether the issuing region says the licence may be relied on now."""
        return self.verdict == "valid"

    def to_json(self) -> dict[str, object]:
        """The API form."""
        return {
            "origin": self.origin,
            "verdict": self.verdict,
            "reason_code": self.reason_code,
            "current_version": self.current_version,
        }


def parse_peer_status(data: bytes, origin: str) -> PeerStatus:
    """Strictly parse a status answer; it must name `origin` and one of the known verdicts."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PeerError("licence status: not JSON") from exc
    keys = {"origin", "verdict", "reason_code", "current_version"}
    if not isinstance(doc, dict) or set(doc) != keys:
        raise PeerError(f"licence status: must be an object with exactly {sorted(keys)}")
    if doc["origin"] != origin:
        raise PeerError(f"licence status: answered for {doc['origin']!r}, not {origin!r}")
    verdict, code, version = doc["verdict"], doc["reason_code"], doc["current_version"]
    if verdict not in STATUS_WORDS:
        raise PeerError(f"licence status: unknown verdict {verdict!r}")
    if type(code) is not str or _CODE.fullmatch(code) is None:
        raise PeerError("licence status: reason_code must be 1-64 characters of a-z0-9_")
    if version is not None and (type(version) is not int or not 1 <= version <= 999):
        raise PeerError("licence status: current_version must be null or 1-999")
    return PeerStatus(origin, verdict, code, version)


class HttpPeerSource:
    """A `PeerSource` over HTTP(S): every request has a timeout and a size cap; any HTTP error is unreachable."""

    def __init__(self, base_url: str, http: httpx.Client) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http

    def _get(self, path: str, cap: int, params: dict[str, int | str] | None = None) -> bytes:
        url = self.base_url + path
        try:
            with self.http.stream("GET", url, params=params) as response:
                if response.status_code != 200:
                    raise PeerUnreachableError(f"GET {url} answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > cap:
                    raise PeerUnreachableError(f"GET {url}: {declared} bytes is above the cap of {cap}")
                out = bytearray()
                for chunk in response.iter_bytes():
                    out += chunk
                    if len(out) > cap:
                        raise PeerUnreachableError(f"GET {url}: more than the cap of {cap} bytes")
                return bytes(out)
        except httpx.HTTPError as exc:
            raise PeerUnreachableError(f"GET {url} failed: {exc}") from exc

    def trust_list(self) -> bytes:
        """The signed trust list file."""
        return self._get("/v1/trust-list", MAX_TRUST_LIST_BYTES)

    def checkpoint(self) -> bytes:
        """The latest checkpoint note."""
        return self._get("/checkpoint", MAX_CHECKPOINT_BYTES)

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """A consistency proof, strictly parsed."""
        expected = {"first": first, "second": second}
        data = self._get("/v1/log/proof/consistency", MAX_PROOF_BYTES, {"first": first, "second": second})
        return parse_proof(data, expected, "consistency proof")

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        """An inclusion proof, strictly parsed."""
        data = self._get("/v1/log/proof/inclusion", MAX_PROOF_BYTES, {"index": index, "tree_size": tree_size})
        return parse_proof(data, {"leaf_index": index, "tree_size": tree_size}, "inclusion proof")

    def leaf(self, index: int) -> bytes:
        """`GET /v1/log/leaves/<index>`: the leaf data (checked by the caller against an inclusion proof)."""
        return self._get(f"/v1/log/leaves/{int(index)}", MAX_LEAF_BYTES)

    def licence_status(self, origin: str, token: str) -> PeerStatus:
        """`GET /v1/federation/status?token=`: the region's word on one of its tokens now, strictly parsed."""
        return parse_peer_status(self._get("/v1/federation/status", MAX_STATUS_BYTES, {"token": token}), origin)

    def status_proof(self, identifier: str, size: int | None = None, token: str | None = None) -> StatusProof:
        """`GET /v1/status/proof?identifier=[&size=][&token=]`: the status map proof of a licence version against the
        region's newest signed checkpoint (or the one of `size` leaves), strictly parsed, not yet verified. A type a
        citizen may hold is proven only to the token's possessor, so the token being verified goes along."""
        params: dict[str, int | str] = {"identifier": identifier}
        if size is not None:
            params["size"] = size
        if token is not None:
            params["token"] = token
        return parse_peer_status_proof(self._get("/v1/status/proof", MAX_STATUS_PROOF_BYTES, params), identifier)

    def identity(self) -> dict[str, object]:
        """`GET /v1/federation/identity`: the keys a peer says it has (to pin on first use, then compare)."""
        data = self._get("/v1/federation/identity", MAX_PROOF_BYTES)
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise PeerError("identity: not JSON") from exc
        if not isinstance(doc, dict):
            raise PeerError("identity: not a JSON object")
        return doc
