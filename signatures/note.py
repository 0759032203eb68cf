"""C2SP signed notes with Ed25519 keys, and the C2SP tlog-checkpoint body they carry.

Formats (C2SP signed-note, Go `golang.org/x/mod/sumdb/note`):
- note = text (UTF-8, ends with "\\n") + "\\n" + signature lines;
- signature line = "— <key name> <base64(4-byte key id ‖ signature)>\\n" (U+2014 EM DASH);
- key id = SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte Ed25519 public key)[:4];
- verifier key = "<name>+<8 hex key id>+<base64(0x01 ‖ public key)>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signatures.errors import MalformedError, VerificationError

ALG_ED25519 = 0x01
MAX_NOTE_BYTES = 1 << 20  # Go's note package caps notes at 1 MB too.
MAX_SIGNATURES = 100
_EM_DASH = "\u2014"
_NAME = re.compile(r"[^\s+]+")
_SIG_LINE = re.compile(r"\u2014 ([^\s+]+) ([A-Za-z0-9+/]+={0,2})")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"{what}: not valid base64") from exc


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise MalformedError(f"key name {name!r} must be non-empty with no spaces and no '+'")


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 note key (C2SP signed-note §Signatures)."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key (RFC 8032 §5.1.5)."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class NoteVerifier:
    """A named Ed25519 public key that checks note signatures."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name)
        if len(self.public_key) != 32:
            raise MalformedError("Ed25519 public key must be 32 bytes")

    @property
    def key_id(self) -> bytes:
        """4-byte key id bound to name and key."""
        return key_id(self.name, self.public_key)

    def to_string(self) -> str:
        """The Go-note verifier key string `<name>+<hex id>+<base64(0x01 ‖ key)>`."""
        raw = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{raw}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when `signature` is this key's Ed25519 signature over `message`."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True


def split_vkey(text: str, alg: int, what: str = "verifier key") -> tuple[str, str, bytes]:
    """Split a `<name>+<8 hex>+<base64(alg ‖ 32-byte key)>` vkey strictly; returns (name, key id hex, raw key).

    The same shape serves note verifier keys (alg 0x01) and tlog-cosignature witness keys (alg 0x04).
    """
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
        raise MalformedError(f"{what} must be <name>+<8 hex digits>+<base64 key>")
    name, hex_id, b64 = parts
    raw = _b64decode(b64, what)
    if len(raw) != 33 or raw[0] != alg:
        raise MalformedError(f"{what} must hold 0x{alg:02x} followed by a 32-byte Ed25519 key")
    return name, hex_id, raw[1:]


def parse_verifier_key(text: str) -> NoteVerifier:
    """Parse a Go-note verifier key string strictly; the embedded key id must match name and key."""
    name, hex_id, key = split_vkey(text, ALG_ED25519)
    verifier = NoteVerifier(name, key)
    if verifier.key_id.hex() != hex_id:
        raise MalformedError("verifier key id does not match its name and key")
    return verifier


@dataclass(frozen=True)
class NoteSigner:
    """A named Ed25519 private key that signs notes."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        _check_name(self.name)

    @property
    def verifier(self) -> NoteVerifier:
        """The matching public verifier."""
        return NoteVerifier(self.name, raw_public_key(self.private_key.public_key()))

    def signature_line(self, text: str) -> str:
        """One `— name base64(keyid ‖ sig)` line over `text`."""
        sig = self.private_key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + sig).decode()
        return f"{_EM_DASH} {self.name} {blob}\n"


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedError("note text must end with a newline")
    if "\n\n" in text:
        raise MalformedError("note text must not contain a blank line")
    if any((c < " " and c != "\n") or c == "\x7f" for c in text):
        raise MalformedError("note text must not contain control characters")


def sign_note(text: str, *signers: NoteSigner) -> str:
    """Sign `text` with each signer and return the whole note (C2SP signed-note)."""
    _check_text(text)
    if not signers:
        raise MalformedError("a note needs at least one signer")
    return text + "\n" + "".join(s.signature_line(text) for s in signers)


@dataclass(frozen=True)
class Signature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedNote:
    """A note whose signatures by the given verifiers were checked; `unverified` holds the others."""

    text: str
    verified: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


def split_note(note: str | bytes) -> tuple[str, list[Signature]]:
    """Split a note into its text and parsed signature lines, strictly."""
    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise MalformedError("note too large")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedError("note is not UTF-8") from exc
    if len(note) > MAX_NOTE_BYTES:
        raise MalformedError("note too large")
    text, sep, sig_block = note.rpartition("\n\n")
    if not sep or not sig_block.endswith("\n"):
        raise MalformedError("note must be text, a blank line, then signature lines ending in a newline")
    text += "\n"
    _check_text(text)
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError("too many signatures")
    sigs = []
    for line in lines:
        m = _SIG_LINE.fullmatch(line)
        if not m:
            raise MalformedError(f"malformed signature line {line[:80]!r}")
        blob = _b64decode(m.group(2), "signature")
        if len(blob) < 5:
            raise MalformedError("signature too short")
        sigs.append(Signature(m.group(1), blob[:4], blob[4:]))
    return text, sigs


def open_note(note: str | bytes, verifiers: list[NoteVerifier]) -> SignedNote:
    """Verify a note: at least one signature by a known verifier, and none by a known key that fails.

    Raises VerificationError otherwise (as Go's note.Open: unknown signers are kept, not trusted).
    """
    text, sigs = split_note(note)
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[Signature] = []
    other: list[Signature] = []
    for sig in sigs:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            other.append(sig)
        elif verifier.verify(text.encode(), sig.signature):
            good.append(sig)
        else:
            raise VerificationError(f"invalid signature by {sig.name}")
    if not good:
        raise VerificationError("no signature by a known key")
    return SignedNote(text, tuple(good), tuple(other))


@dataclass(frozen=True)
class CheckpointBody:
    """The text of a C2SP tlog-checkpoint: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def to_text(self) -> str:
        """Serialise as `<origin>\\n<size>\\n<base64 root>\\n[extensions]`."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(), *self.extensions]
        return "\n".join(lines) + "\n"


def parse_checkpoint(text: str) -> CheckpointBody:
    """Parse a checkpoint body strictly (C2SP tlog-checkpoint)."""
    if not text.endswith("\n"):
        raise MalformedError("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[0] or any(not line for line in lines):
        raise MalformedError("checkpoint needs origin, size and root hash lines")
    origin, size, root = lines[:3]
    if not _SIZE.fullmatch(size):
        raise MalformedError("checkpoint size must be a canonical decimal")
    root_hash = _b64decode(root, "checkpoint root hash")
    if len(root_hash) != 32:
        raise MalformedError("checkpoint root hash must be 32 bytes")
    return CheckpointBody(origin, int(size), root_hash, tuple(lines[3:]))


def open_checkpoint(note: str | bytes, verifier: NoteVerifier, origin: str | None = None) -> CheckpointBody:
    """Verify a signed checkpoint note and return its parsed body; the origin must match when given."""
    signed = open_note(note, [verifier])
    body = parse_checkpoint(signed.text)
    if origin is not None and body.origin != origin:
        raise VerificationError(f"checkpoint origin {body.origin!r} is not {origin!r}")
    return body
