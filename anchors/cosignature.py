"""C2SP tlog-cosignature v1 (Ed25519): a witness's timestamped statement that it saw a consistent checkpoint.

Formats (c2sp.org/tlog-cosignature, c2sp.org/signed-note):
- signed message = "cosignature/v1\\n" + "time <POSIX seconds, no leading zeros>\\n" + the checkpoint note text
  (all of its lines, extension lines included, with the final newline; no signature lines);
- signature line = "— <cosigner name> base64(key ID(4) ‖ timestamp(u64 big-endian) ‖ Ed25519 signature(64))";
- key ID = SHA-256(name ‖ "\\n" ‖ 0x04 ‖ 32-byte public key)[:4] (signature type 0x04, not the log's 0x01, so a
  cosignature can never pass for a log signature and back);
- verifier key ("vkey") = "<name>+<8 hex key ID>+<base64(0x04 ‖ public key)>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from signatures.errors import MalformedError, VerificationError
from signatures.note import MAX_SIGNATURES, raw_public_key, split_note, split_vkey

ALG_COSIGNATURE_V1 = 0x04
MAX_TIMESTAMP = 2**63 - 1
BLOB_SIZE = 4 + 8 + 64
_HEADER = "cosignature/v1\n"
_NAME = re.compile(r"[^\s+]+")
_LINE = re.compile(r"\u2014 ([^\s+]+) ([A-Za-z0-9+/]+={0,2})")
_EM_DASH = "\u2014"


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise MalformedError(f"cosigner name {name!r} must be non-empty with no spaces and no '+'")


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID of an Ed25519 cosigner (C2SP tlog-cosignature §Format, signature type 0x04)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def cosigned_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a v1 cosignature signs (C2SP tlog-cosignature §Ed25519 signed message)."""
    if not checkpoint_text.endswith("\n"):
        raise MalformedError("checkpoint text must end with a newline")
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedError("cosignature timestamp must be an integer in [0, 2^63-1]")
    return f"{_HEADER}time {timestamp}\n{checkpoint_text}".encode()


@dataclass(frozen=True)
class Cosignature:
    """One parsed (not necessarily verified) cosignature line."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def to_line(self) -> str:
        """The note signature line `— name base64(key ID ‖ timestamp ‖ signature)\\n`."""
        blob = self.key_id + self.timestamp.to_bytes(8, "big") + self.signature
        return f"{_EM_DASH} {self.name} {base64.b64encode(blob).decode()}\n"


def _from_blob(name: str, key_id: bytes, rest: bytes) -> Cosignature:
    if len(key_id) + len(rest) != BLOB_SIZE:
        raise MalformedError(f"cosignature by {name} must be {BLOB_SIZE} bytes")
    return Cosignature(name, key_id, int.from_bytes(rest[:8], "big"), rest[8:])


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's name and Ed25519 public key, as a relying party configures them."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise MalformedError("Ed25519 public key must be 32 bytes")

    @property
    def key_id(self) -> bytes:
        """4-byte key ID bound to the name, the key and signature type 0x04."""
        return cosigner_key_id(self.name, self.public_key)

    def to_string(self) -> str:
        """The vkey `<name>+<8 hex key ID>+<base64(0x04 ‖ key)>` (C2SP signed-note §Verifier keys)."""
        raw = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def matches(self, cosignature: Cosignature) -> bool:
        """Whether a line names this cosigner (name and key ID both match); others must be ignored."""
        return cosignature.name == self.name and cosignature.key_id == self.key_id

    def verify(self, checkpoint_text: str, cosignature: Cosignature) -> Cosignature:
        """Return `cosignature` if it is this witness's valid v1 cosignature on `checkpoint_text`; else raise."""
        if not self.matches(cosignature):
            raise VerificationError(f"cosignature is not by witness {self.name}")
        if cosignature.timestamp > MAX_TIMESTAMP:
            raise VerificationError(f"cosignature by {self.name} has a timestamp above 2^63-1")
        message = cosigned_message(checkpoint_text, cosignature.timestamp)
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(cosignature.signature, message)
        except InvalidSignature as exc:
            raise VerificationError(f"invalid cosignature by {self.name}") from exc
        return cosignature


def parse_cosigner_key(text: str) -> CosignatureVerifier:
    """Parse a cosigner vkey strictly: type byte 0x04, 32-byte key, and a key ID that matches both."""
    name, hex_id, key = split_vkey(text, ALG_COSIGNATURE_V1, "witness key")
    verifier = CosignatureVerifier(name, key)
    if verifier.key_id.hex() != hex_id:
        raise MalformedError("witness key ID does not match its name and key")
    return verifier


@dataclass(frozen=True)
class CosignatureSigner:
    """A witness's named Ed25519 private key; it must never be the key of a log (distinct keys per role)."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    @property
    def verifier(self) -> CosignatureVerifier:
        """The matching public verifier."""
        return CosignatureVerifier(self.name, raw_public_key(self.private_key.public_key()))

    def cosign(self, checkpoint_text: str, timestamp: int) -> Cosignature:
        """A v1 cosignature over `checkpoint_text` at POSIX time `timestamp`."""
        signature = self.private_key.sign(cosigned_message(checkpoint_text, timestamp))
        return Cosignature(self.name, self.verifier.key_id, timestamp, signature)


def parse_signature_lines(text: str) -> list[Cosignature | None]:
    """Parse note signature lines (e.g. a witness's response); lines that are not 76-byte blobs become None.

    Nothing here is verified: callers keep the lines whose name and key ID match a witness they know.
    """
    if not text.endswith("\n") or len(text) > 64 * 1024:
        raise MalformedError("signature lines must end with a newline and be at most 64 KiB")
    lines = text[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError("too many signature lines")
    out: list[Cosignature | None] = []
    for line in lines:
        m = _LINE.fullmatch(line)
        if not m:
            raise MalformedError(f"malformed signature line {line[:80]!r}")
        try:
            blob = base64.b64decode(m.group(2), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedError("signature line: not valid base64") from exc
        out.append(_from_blob(m.group(1), blob[:4], blob[4:]) if len(blob) == BLOB_SIZE else None)
    return out


def note_cosignatures(note: str | bytes) -> tuple[str, list[Cosignature]]:
    """The note text and every signature line shaped like a v1 cosignature (76 bytes), unverified."""
    text, sigs = split_note(note)
    return text, [_from_blob(s.name, s.key_id, s.signature) for s in sigs if len(s.signature) == BLOB_SIZE - 4]


def verify_cosignatures(note: str | bytes, witnesses: Iterable[CosignatureVerifier]) -> tuple[str, list[Cosignature]]:
    """Verify the cosignatures on a note by the given witnesses; ignore unknown lines, reject a known bad one.

    Returns the note text and the verified cosignatures (possibly none: the policy decides how many are enough).
    """
    text, found = note_cosignatures(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    good: dict[tuple[str, bytes], Cosignature] = {}
    for cosig in found:
        witness = known.get((cosig.name, cosig.key_id))
        if witness is not None:  # every line by a known key is checked, even a second one
            good.setdefault((cosig.name, cosig.key_id), witness.verify(text, cosig))
    return text, list(good.values())


def add_cosignatures(note: str, cosignatures: Sequence[Cosignature]) -> str:
    """The note with these cosignature lines appended (lines already present are not repeated)."""
    split_note(note)  # strict: refuse to extend something that is not a note
    out = note
    for cosig in cosignatures:
        line = cosig.to_line()
        if line not in out:
            out += line
    return out
