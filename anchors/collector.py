"""Collecting cosignatures on our own checkpoints from peer witnesses (the log side of C2SP tlog-witness).

For each witness we send `old` = the largest size it cosigned for us and a consistency proof from there; if it
answers 409 with another size (it lost or never had our state), we retry once from the size it names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from anchors.cosignature import Cosignature, CosignatureVerifier, parse_signature_lines
from anchors.errors import SizeConflictError, WitnessRefusal, WitnessUnavailableError
from anchors.model import CollectedCosignature, note_digest
from anchors.store import AnchorStore
from anchors.witness import SIZE_CONTENT_TYPE, AddCheckpointRequest
from signatures.errors import SignatureError
from signatures.note import parse_checkpoint, split_note

MAX_RESPONSE_BYTES = 64 * 1024
_SIZE = re.compile(r"(0|[1-9][0-9]{0,19})\n")
_log = logging.getLogger("anchors.collector")


class ConsistencyProver(Protocol):
    """What the collector needs of our log: consistency proofs (`ledger.log.Log` has it)."""

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 §2.1.4 proof from size `first` to size `second`."""
        ...


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness we ask for cosignatures: its submission prefix and its cosigner key."""

    url: str
    verifier: CosignatureVerifier


def _read_capped(response: httpx.Response) -> bytes:
    out = bytearray()
    for chunk in response.iter_bytes():
        out += chunk
        if len(out) > MAX_RESPONSE_BYTES:
            raise WitnessUnavailableError(f"witness response larger than {MAX_RESPONSE_BYTES} bytes")
    return bytes(out)


def submit_checkpoint(
    http: httpx.Client, endpoint: WitnessEndpoint, request: AddCheckpointRequest
) -> list[Cosignature]:
    """POST one add-checkpoint request; return this witness's verified cosignature(s) on the checkpoint."""
    url = endpoint.url.rstrip("/") + "/add-checkpoint"
    try:
        with http.stream("POST", url, content=request.to_body(), headers={"Content-Type": "text/plain"}) as r:
            body = _read_capped(r)
            status, content_type = r.status_code, r.headers.get("content-type", "")
    except httpx.HTTPError as exc:
        raise WitnessUnavailableError(f"witness {endpoint.url} unreachable: {exc}") from exc
    if status == 409 and content_type.split(";")[0].strip() == SIZE_CONTENT_TYPE:
        m = _SIZE.fullmatch(body.decode("ascii", "replace"))
        if m is None:
            raise WitnessUnavailableError("witness answered 409 with a malformed size")
        raise SizeConflictError("witness has another size", int(m.group(1)))
    if status != 200:
        refusal = WitnessRefusal(f"witness {endpoint.url} refused with HTTP {status}: {body[:200]!r}")
        refusal.status = status
        raise refusal
    text, _ = split_note(request.note)
    try:
        lines = parse_signature_lines(body.decode("utf-8"))
    except (UnicodeDecodeError, SignatureError) as exc:
        raise WitnessUnavailableError(f"witness {endpoint.url} answered malformed signature lines: {exc}") from exc
    # Unknown lines are ignored (tlog-witness); a line by this witness's key that fails is an error.
    ours = [c for c in lines if c is not None and endpoint.verifier.matches(c)]
    return [endpoint.verifier.verify(text, c) for c in ours]


def collect_cosignatures(
    store: AnchorStore,
    log: ConsistencyProver,
    note: str,
    witnesses: Sequence[WitnessEndpoint],
    http: httpx.Client,
    on_error: Callable[[WitnessEndpoint, Exception], None] | None = None,
) -> list[CollectedCosignature]:
    """Ask each witness that has not yet cosigned `note` (our checkpoint); store and return the new cosignatures."""
    text, _ = split_note(note)
    size = parse_checkpoint(text).size
    collected: list[CollectedCosignature] = []
    have = {(c.witness, c.key_id) for c in store.cosignatures_for(note)}
    for endpoint in witnesses:
        if (endpoint.verifier.name, endpoint.verifier.key_id) in have:
            continue  # already cosigned by this witness: no request every round
        try:
            cosigs = _cosign_once(store, log, note, size, endpoint, http)
        except (WitnessRefusal, WitnessUnavailableError, SignatureError) as exc:
            _log.warning("witness %s did not cosign size %d: %s", endpoint.url, size, exc)
            if on_error is not None:
                on_error(endpoint, exc)
            continue
        collected += [
            CollectedCosignature(size, note_digest(note), c.name, c.key_id, c.timestamp, c.to_line()) for c in cosigs
        ]
    store.save_cosignatures(collected)
    return collected


def _cosign_once(
    store: AnchorStore, log: ConsistencyProver, note: str, size: int, endpoint: WitnessEndpoint, http: httpx.Client
) -> list[Cosignature]:
    old = store.witness_progress(endpoint.verifier.name)
    for attempt in range(2):
        if old > size:
            raise SizeConflictError(f"witness already cosigned size {old} > {size}", old)
        proof = log.consistency_proof(old, size) if 0 < old < size else []
        try:
            return submit_checkpoint(http, endpoint, AddCheckpointRequest(old, tuple(proof), note))
        except SizeConflictError as conflict:
            if attempt or conflict.latest_size == old:
                raise
            old = conflict.latest_size
    raise AssertionError("unreachable")
