"""Witness policy k of n: fails closed at construction; counts only valid, distinct, not-future cosignatures."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from anchors.cosignature import CosignatureVerifier, add_cosignatures
from anchors.errors import PolicyError
from anchors.policy import MAX_FUTURE_SECONDS, WitnessPolicy
from signatures.errors import VerificationError
from signatures.note import sign_note
from tests.anchors.helpers import log_signer, witness_signer

ORIGIN = "ledger.ha.gov.example/log"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
WITNESSES = [witness_signer(f"w{i}.example/witness") for i in range(3)]
TEXT = f"{ORIGIN}\n10\n{base64.b64encode(bytes(32)).decode()}\n"
NOTE = sign_note(TEXT, log_signer(ORIGIN))


def policy(k: int, n: int = 3) -> WitnessPolicy:
    return WitnessPolicy(ORIGIN, log_signer(ORIGIN).verifier, tuple(w.verifier for w in WITNESSES[:n]), k)


def cosigned(*which: int, at: int = int(NOW.timestamp())) -> str:
    return add_cosignatures(NOTE, [WITNESSES[i].cosign(TEXT, at) for i in which])


@pytest.mark.parametrize(("k", "n"), [(0, 3), (-1, 3), (4, 3), (1, 0)])
def test_unprotective_thresholds_are_refused(k: int, n: int) -> None:
    with pytest.raises(PolicyError):
        policy(k, n)


def test_duplicate_witness_or_log_key_as_witness_is_refused() -> None:
    w = WITNESSES[0].verifier
    with pytest.raises(PolicyError, match="twice"):
        WitnessPolicy(ORIGIN, log_signer(ORIGIN).verifier, (w, w), 1)
    same_key_other_name = CosignatureVerifier("alias.example/w", w.public_key)
    with pytest.raises(PolicyError, match="twice"):
        WitnessPolicy(ORIGIN, log_signer(ORIGIN).verifier, (w, same_key_other_name), 1)
    log_as_witness = CosignatureVerifier(ORIGIN, log_signer(ORIGIN).verifier.public_key)
    with pytest.raises(PolicyError, match="own key"):
        WitnessPolicy(ORIGIN, log_signer(ORIGIN).verifier, (w, log_as_witness), 1)


def test_k_of_n_counts_distinct_valid_witnesses() -> None:
    p = policy(2)
    checked = p.verify(cosigned(0, 2), NOW)
    assert checked.body.size == 10 and {c.name for c in checked.cosignatures} == {
        "w0.example/witness",
        "w2.example/witness",
    }
    with pytest.raises(VerificationError, match="1 of the required 2"):
        p.verify(cosigned(1), NOW)
    twice = add_cosignatures(cosigned(1), [WITNESSES[1].cosign(TEXT, int(NOW.timestamp()) + 1)])
    with pytest.raises(VerificationError, match="1 of the required 2"):  # one witness twice is still one
        p.verify(twice, NOW)
    with pytest.raises(VerificationError, match="0 of the required 1"):
        policy(1).verify(NOTE, NOW)


def test_future_cosignatures_are_not_counted() -> None:
    ahead = int(NOW.timestamp()) + MAX_FUTURE_SECONDS + 1
    with pytest.raises(VerificationError):
        policy(1).verify(cosigned(0, at=ahead), NOW)
    assert policy(1).verify(cosigned(0, at=ahead - 1), NOW).cosignatures


def test_forged_cosignature_by_a_known_witness_rejects_the_note() -> None:
    good = cosigned(0, 1)
    forged_line = WITNESSES[2].cosign(TEXT.replace("\n10\n", "\n11\n"), int(NOW.timestamp())).to_line()
    with pytest.raises(VerificationError, match="invalid cosignature"):
        policy(2).verify(good + forged_line, NOW)


def test_log_signature_and_origin_are_required() -> None:
    other = sign_note(TEXT, log_signer("other.example/log"))
    with pytest.raises(VerificationError):
        policy(1).verify(add_cosignatures(other, [WITNESSES[0].cosign(TEXT, 1)]), NOW)
    foreign_text = TEXT.replace(ORIGIN, "other.example/log")
    foreign = sign_note(foreign_text, log_signer(ORIGIN))
    with pytest.raises(VerificationError, match="origin"):
        policy(1).verify(add_cosignatures(foreign, [WITNESSES[0].cosign(foreign_text, 1)]), NOW)
