"""C2SP signed notes and checkpoints: round trip, Go-note key format, and every rejection."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signatures.errors import MalformedError, VerificationError
from signatures.note import (
    CheckpointBody,
    NoteSigner,
    key_id,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
)


def test_go_note_example_key_id() -> None:
    # The verifier key of golang.org/x/mod/sumdb/note's documentation example ("PeterNeumann").
    vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    verifier = parse_verifier_key(vkey)
    assert verifier.to_string() == vkey
    assert key_id("PeterNeumann", verifier.public_key).hex() == "c74f20a3"


def test_sign_open_round_trip(note_signer: NoteSigner) -> None:
    body = CheckpointBody("ledger.test.example/log", 42, bytes(range(32)))
    note = sign_note(body.to_text(), note_signer)
    assert note.startswith("ledger.test.example/log\n42\n")
    assert "\n\n\u2014 ledger.test.example/log " in note
    assert open_checkpoint(note, note_signer.verifier, "ledger.test.example/log") == body


def test_rejections(note_signer: NoteSigner) -> None:
    note = sign_note(CheckpointBody("o/log", 1, bytes(32)).to_text(), note_signer)
    other = NoteSigner(note_signer.name, Ed25519PrivateKey.generate())
    with pytest.raises(VerificationError):
        open_note(note, [other.verifier])  # same name, different key: unknown signer
    with pytest.raises(VerificationError):
        open_note(note.replace("\n1\n", "\n2\n"), [note_signer.verifier])  # edited text
    sig = note.rsplit(" ", 1)[1]
    raw = bytearray(base64.b64decode(sig))
    raw[-1] ^= 0x80
    with pytest.raises(VerificationError):
        open_note(note.replace(sig, base64.b64encode(bytes(raw)).decode() + "\n"), [note_signer.verifier])
    with pytest.raises(VerificationError):
        open_checkpoint(note, note_signer.verifier, "another/log")
    with pytest.raises(MalformedError):
        open_note(note.replace("\n\n", "\n"), [note_signer.verifier])
    with pytest.raises(MalformedError):
        open_note(note + "junk\n", [note_signer.verifier])


@pytest.mark.parametrize(
    "text",
    ["o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "o\n1\nAAAA\n", "o\n1\n", "\n1\nAA==\n", "o\n-1\nAA==\n"],
)
def test_checkpoint_parsing_is_strict(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint(text)


def test_verifier_key_with_plus_in_base64() -> None:
    # Regression: base64 keys may contain '+', so only the first two '+' separate the fields.
    for seed in range(64):
        signer = NoteSigner("o/log", Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))
        vkey = signer.verifier.to_string()
        assert parse_verifier_key(vkey) == signer.verifier


def test_verifier_key_parsing_is_strict(note_signer: NoteSigner) -> None:
    good = note_signer.verifier.to_string()
    name, kid, key = good.split("+", 2)
    for bad in [f"{name}+{kid}", f"{name}+00000000+{key}", f"{name}+{kid}+{key[:-4]}", f"a b+{kid}+{key}"]:
        with pytest.raises(MalformedError):
            parse_verifier_key(bad)
