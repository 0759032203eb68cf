"""Helpers for the API tests: check a proof as an outside verifier would, forge tokens, issue to a company."""

from __future__ import annotations

import base64
import dataclasses
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from ledger.merkle import leaf_hash, verify_inclusion
from licences.views import LicenceView
from signatures.cose import Ed25519Signer, b64url_decode, b64url_encode, decode_token, sign_token
from signatures.note import open_checkpoint, parse_verifier_key
from tests.conftest import START
from tests.samples import COMPANY_ID, COMPANY_NAME, FOOD
from trustledger.region import Region
from verify_api.schemas import CheckpointOut, InclusionProofOut


def check_proof(http: TestClient, proof: InclusionProofOut, checkpoint: CheckpointOut, origin: str) -> None:
    """Verify an answer's inclusion proof from the outside: the note's signature, the leaf bytes, the path."""
    body = open_checkpoint(checkpoint.note, parse_verifier_key(checkpoint.verifier_key), origin)
    assert body.size == checkpoint.tree_size == proof.tree_size
    assert base64.b64encode(body.root_hash).decode() == checkpoint.root_hash
    data = http.get(f"/v1/log/leaves/{proof.leaf_index}").content
    hashes = [base64.b64decode(h) for h in proof.hashes]
    verify_inclusion(proof.leaf_index, proof.tree_size, leaf_hash(data), hashes, body.root_hash)


def resign(token: str, key: Ed25519PrivateKey | None = None, **claims: object) -> str:
    """The token's claims (optionally changed) signed by another key: what a forger can make."""
    _, parsed = decode_token(b64url_decode(token))
    changed = dataclasses.replace(parsed, **claims)  # type: ignore[arg-type]
    return b64url_encode(sign_token(changed, Ed25519Signer(key or Ed25519PrivateKey.generate())))


def flip_last_byte(token: str) -> str:
    """The token with one bit of its signature flipped."""
    data = bytearray(b64url_decode(token))
    data[-1] ^= 0x01
    return b64url_encode(bytes(data))


def organisation_licence(region: Region) -> LicenceView:
    """A 食品经营许可证 of 郑州市市场监督管理局 held by a company."""
    return region.licences.issue(
        type_code="food-business-licence",
        issuer="zz-amr",
        holder_id=COMPANY_ID,
        holder_name=COMPANY_NAME,
        fields=FOOD,
        valid_from=START,
        valid_until=START + timedelta(days=365),
    )
