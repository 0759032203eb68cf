"""C2SP tlog-cosignature v1: spec examples, an independent re-derivation, round trips and every rejection."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anchors.cosignature import (
    Cosignature,
    CosignatureVerifier,
    add_cosignatures,
    cosigned_message,
    cosigner_key_id,
    note_cosignatures,
    parse_cosigner_key,
    parse_signature_lines,
    verify_cosignatures,
)
from signatures.errors import MalformedError, VerificationError
from signatures.note import NoteVerifier, open_note, sign_note
from tests.anchors.helpers import log_signer, witness_signer

# c2sp.org/tlog-cosignature §Ed25519 signed message and §Format (the examples of the spec text).
SPEC_CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_MESSAGE = "cosignature/v1\ntime 1679315147\n" + SPEC_CHECKPOINT
SPEC_LINE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)
# c2sp.org/tlog-witness §add-checkpoint: the example response (random bytes under made-up names).
SPEC_RESPONSE = (
    "\u2014 witness.example/w1 CMp+6LWBU0anHGH5aNDTJkH/gj79sG+T6+iP2ThYN5krrDJbR1HDnucjL39QsZTSvVjyQLrdk3DXDqI5G2HgLat"
    "Vs0pWh6Up69HVOw==\n"
    "\u2014 witness.example/w1 I7rEps0pvK2UqkS2gSpVUDhrhVtQV9lgF6pRrWAvjJHjyWpW7VcE3SiOlVlbQNt64vWhO+DlkL0+UfzuOBMh9Ch"
    "dMkP1vi/lCAsmlw==\n"
    "\u2014 witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU"
    "3rXXvpysAdyP3wQ==\n"
)
ORIGIN = "ledger.ha.gov.example/log"


def _checkpoint_note() -> str:
    text = f"{ORIGIN}\n42\n{base64.b64encode(bytes(range(32))).decode()}\n"
    return sign_note(text, log_signer(ORIGIN))


def test_spec_example_message_and_line_layout() -> None:
    assert cosigned_message(SPEC_CHECKPOINT, 1679315147) == SPEC_MESSAGE.encode()
    (cosig,) = parse_signature_lines(SPEC_LINE)
    assert cosig is not None
    assert (cosig.name, cosig.timestamp, len(cosig.signature)) == ("witness.example.com/w1", 1679315147, 64)
    assert cosig.to_line() == SPEC_LINE  # key ID ‖ u64 BE timestamp ‖ signature, byte for byte


def test_spec_response_lines_parse_and_unknown_witnesses_are_ignored() -> None:
    lines = parse_signature_lines(SPEC_RESPONSE)
    assert [c.name for c in lines if c is not None] == [
        "witness.example/w1",
        "witness.example/w1",
        "witness.example/w2",
    ]
    ours = witness_signer().verifier
    assert [c for c in lines if c is not None and ours.matches(c)] == []


def test_round_trip_and_independent_rederivation() -> None:
    signer = witness_signer()
    note = _checkpoint_note()
    text = note[: note.index("\n\n") + 1]
    cosig = signer.cosign(text, 1_767_254_400)
    cosigned = add_cosignatures(note, [cosig])
    _, verified = verify_cosignatures(cosigned, [signer.verifier])
    assert verified == [cosig]
    # Re-derive from the spec alone: key ID, blob layout, signed message; check with the raw Ed25519 primitive.
    public = signer.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = hashlib.sha256(signer.name.encode() + b"\n\x04" + public).digest()[:4]
    line = cosigned.splitlines()[-1]
    dash, name, blob_b64 = line.split(" ")
    blob = base64.b64decode(blob_b64)
    assert (dash, name, blob[:4], len(blob)) == ("\u2014", signer.name, key_id, 76)
    (timestamp,) = struct.unpack(">Q", blob[4:12])
    message = b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + text.encode()
    Ed25519PublicKey.from_public_bytes(public).verify(blob[12:], message)  # raises if wrong
    assert timestamp == 1_767_254_400


def test_cosignature_key_id_is_not_the_log_signature_key_id() -> None:
    signer = witness_signer()
    public = signer.verifier.public_key
    assert cosigner_key_id(signer.name, public) != NoteVerifier(signer.name, public).key_id
    # So a cosignature line never passes as a plain note signature by the same key, and back.
    note = _checkpoint_note()
    cosigned = add_cosignatures(note, [signer.cosign(note[: note.index("\n\n") + 1], 1)])
    with pytest.raises(VerificationError, match="no signature by a known key"):
        open_note(cosigned, [NoteVerifier(signer.name, public)])
    plain = sign_note(note[: note.index("\n\n") + 1], signer_as_note_key := log_signer(signer.name))
    assert (
        verify_cosignatures(plain, [CosignatureVerifier(signer.name, signer_as_note_key.verifier.public_key)])[1] == []
    )


def _flip(line: str, byte: int) -> str:
    dash, name, blob_b64 = line.rstrip("\n").split(" ")
    blob = bytearray(base64.b64decode(blob_b64))
    blob[byte] ^= 0x01
    return f"{dash} {name} {base64.b64encode(bytes(blob)).decode()}\n"


@pytest.mark.parametrize(("where", "byte"), [("timestamp", 11), ("signature", 12), ("signature end", 75)])
def test_tampered_cosignature_is_rejected(where: str, byte: int) -> None:
    signer = witness_signer()
    note = _checkpoint_note()
    line = signer.cosign(note[: note.index("\n\n") + 1], 1_700_000_000).to_line()
    with pytest.raises(VerificationError, match="invalid cosignature"):
        verify_cosignatures(note + _flip(line, byte), [signer.verifier])


def test_tampered_checkpoint_text_is_rejected() -> None:
    signer = witness_signer()
    note = _checkpoint_note()
    line = signer.cosign(note[: note.index("\n\n") + 1], 1).to_line()
    forged = note.replace("\n42\n", "\n43\n") + line  # the log signature no longer matters to this check
    with pytest.raises(VerificationError):
        verify_cosignatures(forged, [signer.verifier])


def test_a_changed_key_id_makes_the_line_unknown_not_valid() -> None:
    signer = witness_signer()
    note = _checkpoint_note()
    line = signer.cosign(note[: note.index("\n\n") + 1], 1).to_line()
    _, verified = verify_cosignatures(note + _flip(line, 0), [signer.verifier])
    assert verified == []


def test_wrong_witness_key_does_not_verify() -> None:
    signer = witness_signer()
    impostor = CosignatureVerifier(signer.name, witness_signer("other.example/w").verifier.public_key)
    note = _checkpoint_note()
    cosig = signer.cosign(note[: note.index("\n\n") + 1], 1)
    with pytest.raises(VerificationError):
        impostor.verify(note[: note.index("\n\n") + 1], cosig)
    assert verify_cosignatures(note + cosig.to_line(), [impostor])[1] == []  # other key ID: ignored


def test_timestamp_above_2_63_is_refused() -> None:
    signer = witness_signer()
    with pytest.raises(MalformedError):
        cosigned_message(SPEC_CHECKPOINT, 2**63)
    over = Cosignature(signer.name, signer.verifier.key_id, 2**63, bytes(64))
    with pytest.raises(VerificationError, match="2\\^63"):
        signer.verifier.verify(SPEC_CHECKPOINT, over)


def test_vkey_round_trip_and_rejections() -> None:
    verifier = witness_signer().verifier
    vkey = verifier.to_string()
    assert parse_cosigner_key(vkey) == verifier
    name, hex_id, b64 = vkey.split("+", 2)
    as_note_key = base64.b64encode(b"\x01" + verifier.public_key).decode()
    for bad in (
        f"{name}+{hex_id}+{as_note_key}",  # signature type 0x01 is a log key, not a cosigner
        f"{name}+00000000+{b64}",  # key ID does not match
        f"{name}+{hex_id}+{b64[:-4]}",  # truncated key
        f"{name}+{hex_id.upper()}+{b64}",
        "no-plus-signs",
        f"{name}+{hex_id}+not base64!",
    ):
        with pytest.raises(MalformedError):
            parse_cosigner_key(bad)


def test_note_cosignatures_skips_plain_signatures() -> None:
    note = _checkpoint_note()
    text, cosigs = note_cosignatures(note)
    assert text.startswith(ORIGIN) and cosigs == []


def test_signature_lines_are_parsed_strictly() -> None:
    for bad in ("no newline", "- name AAAA\n", "\u2014 name not-base64!\n", "\u2014 two words AAAA\n"):
        with pytest.raises(MalformedError):
            parse_signature_lines(bad)
    assert parse_signature_lines("\u2014 short AAAAAAA=\n") == [None]
