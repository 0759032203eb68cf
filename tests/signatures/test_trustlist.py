"""Signed trust lists (DESIGN §6): round trip, tampering, chain, staleness, fail-closed construction."""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import rfc8785

from signatures.cose import Ed25519Signer, b64url_encode
from signatures.errors import MalformedError, VerificationError
from signatures.keyring import KeyRecord
from signatures.trustlist import (
    TrustedIssuer,
    TrustList,
    parse_signed_trust_list,
    sign_trust_list,
    verify_trust_list,
)
from tests.signatures import helpers as h

BAD_PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"


def root_key(signer: Ed25519Signer) -> Any:
    return signer.private_key.public_key()


def test_round_trip(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    signed = sign_trust_list(trust_list, root_signer)
    text = json.dumps(signed, ensure_ascii=False, indent=2)
    verified = verify_trust_list(parse_signed_trust_list(text), root_key(root_signer), h.T0)
    assert verified == trust_list
    assert verified.digest() == trust_list.digest()
    assert verified.issuer(h.ISSUER_A) is not None
    assert verified.log_verifier().name == h.ORIGIN


def test_file_format(trust_list: TrustList, root_signer: Ed25519Signer, seal_pem: str) -> None:
    signed = sign_trust_list(trust_list, root_signer)
    payload, signature = signed["payload"], signed["signature"]
    assert isinstance(payload, dict)
    assert signature == {"alg": "EdDSA", "kid": b64url_encode(root_signer.kid), "sig": signature["sig"]}  # type: ignore[index]
    assert payload["format"] == "trustledger-trust-list/1"
    assert (payload["version"], payload["previous_sha256"]) == (1, None)
    assert payload["region"] == {"code": "HA", "name": "河南省"}
    assert payload["issued_at"] == "2025-05-31T08:00:00Z"
    issuer = payload["issuers"][0]
    assert (issuer["uscc"], issuer["licence_types"]) == (h.ISSUER_A, [h.TYPE_A])
    key = issuer["keys"][0]
    assert set(key) == {"kid", "alg", "public_key", "not_before", "not_after", "retired_at", "compromised_since"}
    assert (key["alg"], key["not_before"], key["not_after"]) == ("EdDSA", "2024-01-01T00:00:00Z", None)
    assert payload["issuers"][1]["seal_certificates"] == [seal_pem]
    assert "BEGIN CERTIFICATE" in payload["seal_ca_certificates"][0]


def test_signature_is_over_rfc8785_of_the_payload(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    signed = sign_trust_list(trust_list, root_signer)
    sig = base64.b64decode(signed["signature"]["sig"])  # type: ignore[index]
    root_key(root_signer).verify(sig, rfc8785.dumps(signed["payload"]))  # type: ignore[arg-type]


# --- tampering -----------------------------------------------------------------------------------------------------


def test_flipped_byte_anywhere_is_rejected(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    text = json.dumps(sign_trust_list(trust_list, root_signer), ensure_ascii=False).encode()
    for index in range(0, len(text), 13):
        tampered = text[:index] + bytes([text[index] ^ 0x01]) + text[index + 1 :]
        with pytest.raises((MalformedError, VerificationError)):
            verify_trust_list(parse_signed_trust_list(tampered), root_key(root_signer), h.T0)


def test_changed_issuer_name_is_rejected(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    signed = sign_trust_list(trust_list, root_signer)
    signed["payload"]["issuers"][0]["licence_types"].append(h.TYPE_B)  # type: ignore[index]
    with pytest.raises(VerificationError, match="signature does not verify"):
        verify_trust_list(signed, root_key(root_signer), h.T0)


def test_flipped_signature_is_rejected(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    signed = sign_trust_list(trust_list, root_signer)
    sig: str = signed["signature"]["sig"]  # type: ignore[index]
    signed["signature"]["sig"] = ("B" if sig[0] == "A" else "A") + sig[1:]  # type: ignore[index]
    with pytest.raises(VerificationError, match="signature does not verify"):
        verify_trust_list(signed, root_key(root_signer), h.T0)


def test_other_root_key_is_rejected(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    signed = sign_trust_list(trust_list, Ed25519Signer(h.ed25519("impostor")))
    with pytest.raises(VerificationError, match="root key"):
        verify_trust_list(signed, root_key(root_signer), h.T0)


def test_only_ed25519_signs_trust_lists(trust_list: TrustList, signer_b: Any) -> None:
    with pytest.raises(MalformedError):
        sign_trust_list(trust_list, signer_b)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(extra=1),
        lambda p: p.update(format="trustledger-trust-list/2"),
        lambda p: p.update(version=True),
        lambda p: p.update(issued_at="2025-05-31 08:00:00"),
        lambda p: p["issuers"][0].update(uscc="not a uscc"),
        lambda p: p["issuers"][0]["keys"][0].update(kid="AAAAAAAAAAA"),
        lambda p: p["issuers"][0]["keys"][0].pop("retired_at"),
        lambda p: p["issuers"][0]["keys"][0].update(alg="ES256"),
        lambda p: p["issuers"][1].update(
            seal_certificates=["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
        ),
        lambda p: p["log"].update(verifier_key="ledger+00000000+AQ=="),
        lambda p: p.update(issuers=[]),
    ],
)
def test_schema_is_strict_even_when_signed(trust_list: TrustList, root_signer: Ed25519Signer, mutate: Any) -> None:
    payload = copy.deepcopy(trust_list.to_payload())
    mutate(payload)
    sig = base64.b64encode(root_signer.sign(rfc8785.dumps(payload))).decode()  # type: ignore[arg-type]
    signed = {"payload": payload, "signature": {"alg": "EdDSA", "kid": b64url_encode(root_signer.kid), "sig": sig}}
    with pytest.raises(VerificationError, match="malformed"):
        verify_trust_list(signed, root_key(root_signer), h.T0)


@pytest.mark.parametrize(
    "text",
    ['{"payload": 1, "payload": 2}', '{"a": 1.5}', '{"a": NaN}', "[]", "{", b"\xff\xfe"],
)
def test_json_parsing_is_strict(text: Any) -> None:
    with pytest.raises(MalformedError):
        parse_signed_trust_list(text)


def test_envelope_shape(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    signed = sign_trust_list(trust_list, root_signer)
    with pytest.raises(VerificationError):
        verify_trust_list({**signed, "extra": 1}, root_key(root_signer), h.T0)
    with pytest.raises(VerificationError):
        verify_trust_list({"payload": signed["payload"]}, root_key(root_signer), h.T0)


# --- freshness ------------------------------------------------------------------------------------------------------


def test_stale_trust_list_is_rejected(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    signed = sign_trust_list(trust_list, root_signer)
    late = trust_list.next_update
    with pytest.raises(VerificationError, match="trust list stale"):
        verify_trust_list(signed, root_key(root_signer), late)
    verify_trust_list(signed, root_key(root_signer), late - timedelta(seconds=1))
    assert verify_trust_list(signed, root_key(root_signer), late, allow_stale=True) == trust_list


# --- chain ----------------------------------------------------------------------------------------------------------


def _next(previous: TrustList, **changes: Any) -> TrustList:
    return h.trust_list(*previous.issuers, previous=previous, issued_at=h.T0, next_update=h.T0 + 7 * h.DAY, **changes)


def test_chain_to_previous_version(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    v2 = _next(trust_list)
    assert (v2.version, v2.previous_sha256) == (2, trust_list.digest())
    signed = sign_trust_list(v2, root_signer)
    assert verify_trust_list(signed, root_key(root_signer), h.T0, previous=trust_list) == v2
    # Re-fetching the version we already hold is fine.
    same = sign_trust_list(trust_list, root_signer)
    assert verify_trust_list(same, root_key(root_signer), h.T0, previous=trust_list) == trust_list


def test_broken_chain_is_rejected(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    v2 = replace(_next(trust_list), previous_sha256="0" * 64)
    with pytest.raises(VerificationError, match="chain broken"):
        verify_trust_list(sign_trust_list(v2, root_signer), root_key(root_signer), h.T0, previous=trust_list)


def test_rollback_gap_and_fork_are_rejected(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    v2 = _next(trust_list)
    v3 = _next(v2)
    key = root_key(root_signer)
    with pytest.raises(VerificationError, match="rolled back"):
        verify_trust_list(sign_trust_list(trust_list, root_signer), key, h.T0, previous=v2)
    with pytest.raises(VerificationError, match="gap"):
        verify_trust_list(sign_trust_list(v3, root_signer), key, h.T0, previous=trust_list)
    fork = _next(trust_list, region_name="河南")
    with pytest.raises(VerificationError, match="two different documents"):
        verify_trust_list(sign_trust_list(fork, root_signer), key, h.T0, previous=v2)


def test_region_change_breaks_the_chain(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    other = _next(trust_list, region_code="HB")
    with pytest.raises(VerificationError, match="region"):
        verify_trust_list(sign_trust_list(other, root_signer), root_key(root_signer), h.T0, previous=trust_list)


# --- fail-closed construction ---------------------------------------------------------------------------------------


def test_empty_issuer_list_is_refused() -> None:
    with pytest.raises(MalformedError, match="no issuers"):
        h.trust_list()


def test_issuer_without_keys_or_types_is_refused() -> None:
    issuer = h.issuer_a()
    with pytest.raises(MalformedError):
        replace(issuer, keys=())
    with pytest.raises(MalformedError):
        replace(issuer, licence_types=())


def test_key_of_another_owner_is_refused() -> None:
    foreign = KeyRecord.from_public_key(h.ed25519("x").public_key(), h.ISSUER_B, h.KEYS_FROM)
    with pytest.raises(MalformedError, match="belongs to"):
        h.issuer_a(foreign)


def test_duplicate_issuers_and_kids_are_refused() -> None:
    with pytest.raises(MalformedError, match="twice"):
        h.trust_list(h.issuer_a(), h.issuer_a())
    twin = TrustedIssuer(h.ISSUER_B, "乙", (h.TYPE_B,), tuple(replace(k, owner=h.ISSUER_B) for k in h.issuer_a().keys))
    with pytest.raises(MalformedError, match="kid appears twice"):
        h.trust_list(h.issuer_a(), twin)


def test_next_update_must_follow_issued_at() -> None:
    with pytest.raises(MalformedError, match="next_update"):
        h.trust_list(h.issuer_a(), next_update=h.T0 - 2 * h.DAY)


def test_build_cuts_times_to_the_second_as_tokens_are() -> None:
    half = timedelta(microseconds=500_000)
    issuer = h.issuer_a(not_before=h.KEYS_FROM + half, not_after=h.T0 + half, compromised_since=h.T0 + 3 * h.DAY + half)
    doc = h.trust_list(issuer, issued_at=h.T0 - h.DAY + half)
    key = doc.issuers[0].keys[0]
    assert key.not_before == h.KEYS_FROM  # a key registered during second S signs tokens stamped S
    assert key.not_after == h.T0  # ends earlier, never later
    assert key.compromised_since == h.T0 + 3 * h.DAY  # distrusted earlier, never later
    assert doc.issued_at == h.T0 - h.DAY


def test_direct_construction_needs_whole_seconds(trust_list: TrustList) -> None:
    with pytest.raises(MalformedError, match="whole seconds"):
        replace(trust_list, issued_at=trust_list.issued_at + timedelta(microseconds=1))


def test_version_one_has_no_previous(trust_list: TrustList) -> None:
    with pytest.raises(MalformedError):
        replace(trust_list, previous_sha256="0" * 64)
    with pytest.raises(MalformedError):
        replace(trust_list, version=2)


def test_contract_finds_an_issuer_and_its_types(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    # ../shared/checks/contract.py looks for the first object holding a USCC and a non-empty "*type*" list.
    issuer = sign_trust_list(trust_list, root_signer)["payload"]["issuers"][0]  # type: ignore[index]
    assert issuer["uscc"] == h.ISSUER_A
    assert issuer["licence_types"] == [h.TYPE_A]


def test_next_version_may_not_be_issued_earlier(trust_list: TrustList, root_signer: Ed25519Signer) -> None:
    earlier = h.trust_list(*trust_list.issuers, previous=trust_list, issued_at=trust_list.issued_at - h.DAY)
    with pytest.raises(VerificationError, match="issued before"):
        verify_trust_list(sign_trust_list(earlier, root_signer), root_key(root_signer), h.T0, previous=trust_list)
