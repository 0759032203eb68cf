"""Licence QR tokens: COSE_Sign1 (RFC 9052 §4.2) carrying CWT claims (RFC 8392), as fixed by DESIGN §6.

Wire format (deterministic CBOR, RFC 8949 §4.2):
    18([ protected: bstr .cbor {1: alg, 4: kid}, unprotected: {}, payload: bstr .cbor claims, signature: bstr ])
with alg -8 (EdDSA, Ed25519) or -7 (ES256, P-256; signature is raw r ‖ s, RFC 9053 §2.1), and the signature over
Sig_structure = ["Signature1", protected, h'', payload] (RFC 9052 §4.4).

Key id choice: kid = SHA-256(DER SubjectPublicKeyInfo)[:8] for every algorithm (the RFC 7093 §2 method 4 digest,
truncated). Hashing the SPKI rather than the raw key binds the algorithm OID into the id, so the same bytes under two
algorithms can never share a kid, and one rule covers Ed25519, P-256 and a later SM2 key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlsplit

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signatures.errors import MalformedError, TokenRejectedError, VerificationError

ALG_EDDSA = -8  # RFC 9053 §2.2
ALG_ES256 = -7  # RFC 9053 §2.1
ALGORITHMS = frozenset({ALG_EDDSA, ALG_ES256})
COSE_SIGN1_TAG = 18  # RFC 9052 §2
KID_BYTES = 8
SIGNATURE_BYTES = 64  # Ed25519 (RFC 8032 §5.1.6) and ES256 r ‖ s (RFC 9053 §2.1) are both 64 bytes
HOLDER_DIGEST_BYTES = 16
MAX_TOKEN_BYTES = 1024
MAX_TOKEN_TEXT = 4 * MAX_TOKEN_BYTES  # a URL or bare base64url token, before decoding
MAX_INT = 2**53  # timestamps and indexes stay far below; bignums and negatives are refused
_HDR_ALG, _HDR_KID = 1, 4  # RFC 9052 §3.1
_ISS, _SUB, _EXP, _NBF, _IAT = 1, 2, 4, 5, 6  # RFC 8392 §3.1
_REQUIRED_CLAIMS = frozenset({_ISS, _SUB, _NBF, _IAT, "typ", "ver", "hd", "li", "rg"})
_ALLOWED_CLAIMS = _REQUIRED_CLAIMS | {_EXP}
# Deterministic key order (RFC 8949 §4.2.1 bytewise, = cbor2's length-first here): small ints, then "hd" "li" "rg",
# then "typ" "ver". Only a fast path uses these; any other order is still checked against the canonical encoding.
_HEADER_ORDER: tuple[int | str, ...] = (_HDR_ALG, _HDR_KID)
_CLAIMS_ORDER: tuple[int | str, ...] = (_ISS, _SUB, _EXP, _NBF, _IAT, "hd", "li", "rg", "typ", "ver")
USCC_PATTERN = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")  # GB 32100-2015 shape
_PRINTABLE = re.compile(r"[\x21-\x7e]{1,128}")  # identifiers, type codes and origins are printable ASCII
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey
PublicKeyLookup = Callable[[bytes], PublicKey | None]


class TokenReason(StrEnum):
    """Stable codes for why a licence token was refused (carried by `TokenRejectedError.reason`)."""

    MALFORMED = "malformed"
    TRUST_LIST_STALE = "trust_list_stale"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    OTHER_LOG = "other_log"
    KEY_NOT_ISSUERS = "key_not_issuers"
    KEY_NOT_VALID = "key_not_valid_at_signing_time"
    KEY_COMPROMISED = "key_compromised"
    TYPE_NOT_ALLOWED = "issuer_not_allowed_for_type"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"


class Signer(Protocol):
    """Anything that signs COSE Sig_structure bytes: a key in memory here, an HSM later (RFC 9052 §4.4)."""

    @property
    def kid(self) -> bytes:
        """The key id put in the protected header (label 4)."""
        ...

    @property
    def alg(self) -> int:
        """The COSE algorithm id put in the protected header (label 1)."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature over `data` (Ed25519, or ES256 as raw r ‖ s)."""
        ...


def public_key_spki(key: PublicKey) -> bytes:
    """DER SubjectPublicKeyInfo of a public key (RFC 5280 §4.1.2.7; RFC 8410 §4 for Ed25519)."""
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def key_id_for(key: PublicKey) -> bytes:
    """kid = first 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo (RFC 7093 §2, method 4, truncated)."""
    return hashlib.sha256(public_key_spki(key)).digest()[:KID_BYTES]


@dataclass(frozen=True)
class Ed25519Signer:
    """A `Signer` over an in-memory Ed25519 private key (COSE alg -8, RFC 9053 §2.2)."""

    private_key: Ed25519PrivateKey

    @property
    def kid(self) -> bytes:
        """SHA-256(SPKI)[:8] of the public key."""
        return key_id_for(self.private_key.public_key())

    @property
    def alg(self) -> int:
        """Always EdDSA (-8)."""
        return ALG_EDDSA

    def sign(self, data: bytes) -> bytes:
        """Pure Ed25519 signature (RFC 8032 §5.1.6)."""
        return self.private_key.sign(data)


@dataclass(frozen=True)
class P256Signer:
    """A `Signer` over an in-memory P-256 private key (COSE alg -7 ES256, RFC 9053 §2.1)."""

    private_key: ec.EllipticCurvePrivateKey

    def __post_init__(self) -> None:
        if not isinstance(self.private_key.curve, ec.SECP256R1):
            raise MalformedError("ES256 needs a P-256 key")

    @property
    def kid(self) -> bytes:
        """SHA-256(SPKI)[:8] of the public key."""
        return key_id_for(self.private_key.public_key())

    @property
    def alg(self) -> int:
        """Always ES256 (-7)."""
        return ALG_ES256

    def sign(self, data: bytes) -> bytes:
        """ECDSA SHA-256 signature as the fixed 64-byte r ‖ s COSE expects, not DER (RFC 9053 §2.1)."""
        r, s = decode_dss_signature(self.private_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def signer_for(private_key: Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> Signer:
    """The COSE signer matching a `cryptography` private key (Ed25519 → EdDSA, P-256 → ES256)."""
    if isinstance(private_key, Ed25519PrivateKey):
        return Ed25519Signer(private_key)
    return P256Signer(private_key)


def verify_signature(alg: int, key: PublicKey, data: bytes, signature: bytes) -> None:
    """Check one COSE signature (RFC 9053 §2.1, §2.2); raises VerificationError("bad signature") on failure."""
    try:
        if alg == ALG_EDDSA and isinstance(key, Ed25519PublicKey):
            key.verify(signature, data)
        elif alg == ALG_ES256 and isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            if len(signature) != SIGNATURE_BYTES:
                raise InvalidSignature
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        else:
            raise VerificationError("key does not match the token's algorithm")
    except InvalidSignature as exc:
        raise VerificationError("bad signature") from exc


@dataclass(frozen=True)
class TokenHeader:
    """The protected header of a licence token: {1: alg, 4: kid} (RFC 9052 §3.1)."""

    alg: int
    kid: bytes


def _map_keys(mapping: Mapping[object, object], what: str) -> set[object]:
    # Python sees True == 1 == 1.0; only genuine ints and text are keys here, so a CBOR `true` cannot pose as label 1.
    keys = set(mapping)
    if any(type(k) not in (int, str) for k in keys):
        raise MalformedError(f"{what}: map keys must be integers or text")
    return keys


def _check_int(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value < MAX_INT:
        raise MalformedError(f"{what} must be an integer in [0, 2^53)")
    return value


def _check_text(value: object, what: str, pattern: re.Pattern[str] = _PRINTABLE) -> str:
    if type(value) is not str or not pattern.fullmatch(value):
        raise MalformedError(f"{what} is not a well-formed text value")
    return value


@dataclass(frozen=True)
class LicenceClaims:
    """The CWT claims of a licence token (RFC 8392 §3.1 plus DESIGN §6 private text keys); times in Unix seconds."""

    issuer: str  # 1 iss: issuing department USCC
    subject: str  # 2 sub: licence identifier (证照标识)
    issued_at: int  # 6 iat
    not_before: int  # 5 nbf
    expires_at: int | None  # 4 exp; None for a licence with no expiry
    licence_type: str  # "typ": licence type code
    version: int  # "ver": licence version
    holder_digest: bytes  # "hd": 16-byte salted holder digest
    leaf_index: int  # "li": leaf index of the event that minted this version
    log_origin: str  # "rg": origin of that log

    def __post_init__(self) -> None:
        _check_text(self.issuer, "iss (issuer USCC)", USCC_PATTERN)
        _check_text(self.subject, "sub (licence identifier)")
        _check_text(self.licence_type, "typ (licence type)")
        _check_text(self.log_origin, "rg (log origin)")
        for value, what in ((self.issued_at, "iat"), (self.not_before, "nbf"), (self.version, "ver")):
            _check_int(value, what)
        _check_int(self.leaf_index, "li (leaf index)")
        if self.expires_at is not None and _check_int(self.expires_at, "exp") <= self.not_before:
            raise MalformedError("exp must be after nbf")
        if type(self.holder_digest) is not bytes or len(self.holder_digest) != HOLDER_DIGEST_BYTES:
            raise MalformedError("hd (holder digest) must be 16 bytes")

    def to_cbor_map(self) -> dict[int | str, object]:
        """The claims as the CBOR map of DESIGN §6 (exp omitted when the licence never expires)."""
        claims: dict[int | str, object] = {_ISS: self.issuer, _SUB: self.subject, _NBF: self.not_before}
        claims |= {_IAT: self.issued_at, "typ": self.licence_type, "ver": self.version}
        claims |= {"hd": self.holder_digest, "li": self.leaf_index, "rg": self.log_origin}
        if self.expires_at is not None:
            claims[_EXP] = self.expires_at
        return claims

    @classmethod
    def from_cbor_map(cls, claims: Mapping[object, object]) -> LicenceClaims:
        """Strictly parse the claims map: every required claim present, nothing unknown (RFC 8392 §3.1)."""
        keys = _map_keys(claims, "claims")
        if not keys >= _REQUIRED_CLAIMS or not keys <= _ALLOWED_CLAIMS:
            raise MalformedError("claims must be exactly iss, sub, nbf, iat, [exp], typ, ver, hd, li, rg")
        values = {k: claims[k] for k in _ALLOWED_CLAIMS if k in claims}
        return cls(  # field types are checked in __post_init__
            issuer=values[_ISS],  # type: ignore[arg-type]
            subject=values[_SUB],  # type: ignore[arg-type]
            issued_at=values[_IAT],  # type: ignore[arg-type]
            not_before=values[_NBF],  # type: ignore[arg-type]
            expires_at=_check_int(values[_EXP], "exp") if _EXP in values else None,
            licence_type=values["typ"],  # type: ignore[arg-type]
            version=values["ver"],  # type: ignore[arg-type]
            holder_digest=values["hd"],  # type: ignore[arg-type]
            leaf_index=values["li"],  # type: ignore[arg-type]
            log_origin=values["rg"],  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature verified under the key its kid names; the claims are now authentic."""

    header: TokenHeader
    claims: LicenceClaims
    token: bytes


@dataclass(frozen=True)
class _Parts:
    protected: bytes
    payload: bytes
    signature: bytes
    header: TokenHeader
    claims: LicenceClaims


def _encode(value: object) -> bytes:
    # cbor2's canonical mode sorts keys length-first (RFC 7049 §3.9); for our keys (small ints, then 2- and 3-letter
    # text) that is the same order as RFC 8949 §4.2.1 bytewise sorting, so the output is deterministic CBOR either way.
    return cbor2.dumps(value, canonical=True)


def _bstr(data: bytes) -> bytes:
    """Deterministic CBOR byte string: major type 2 with the shortest length argument (RFC 8949 §4.2.1)."""
    n = len(data)
    if n < 24:
        head = bytes([0x40 | n])
    elif n < 0x100:
        head = bytes([0x58, n])
    elif n < 0x10000:
        head = b"\x59" + n.to_bytes(2, "big")
    else:
        raise MalformedError("byte string too long for a licence token")
    return head + data


# Written out by hand because this runs twice per verification: array(4) "Signature1" … and tag(18) array(4) … {}
_SIG1_HEAD = b"\x84\x6aSignature1"
_EMPTY_BSTR, _EMPTY_MAP, _TAGGED_SIGN1 = b"\x40", b"\xa0", b"\xd2\x84"


def sig_structure(protected: bytes, payload: bytes) -> bytes:
    """The bytes a COSE_Sign1 signature covers: ["Signature1", protected, h'', payload] (RFC 9052 §4.4)."""
    return _SIG1_HEAD + _bstr(protected) + _EMPTY_BSTR + _bstr(payload)


def encode_sign1(protected: bytes, payload: bytes, signature: bytes) -> bytes:
    """The deterministic encoding of 18([protected, {}, payload, signature]) (RFC 9052 §4.2, RFC 8949 §4.2)."""
    return _TAGGED_SIGN1 + _bstr(protected) + _EMPTY_MAP + _bstr(payload) + _bstr(signature)


def _in_order(value: object, order: tuple[int | str, ...]) -> bool:
    """Whether `value` is a map whose keys, all from `order`, appear in that (deterministic) order."""
    if type(value) is not dict or not order:
        return False
    keys = tuple(value)
    return keys == tuple(k for k in order if k in value) and all(type(k) in (int, str) for k in keys)


def _loads_canonical(data: bytes, what: str, order: tuple[int | str, ...] = ()) -> object:
    """Decode CBOR and insist the bytes are the deterministic encoding of what they decode to (RFC 8949 §4.2).

    Fast path for the token's own maps (`order` = their keys in deterministic order): when the decoded keys already
    come in that order, cbor2's plain encoding — shortest heads, definite lengths — must reproduce the bytes; that is
    the same test as comparing with the canonical encoding, at half the cost. Anything else takes the full check."""
    try:
        value = cbor2.loads(data, allow_indefinite=False, allow_duplicate_keys=False, max_depth=8)
        if _in_order(value, order) and cbor2.dumps(value) == data:
            return value
        canonical = _encode(value)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise MalformedError(f"{what}: not valid CBOR") from exc
    if canonical != data:
        raise MalformedError(f"{what}: not deterministically encoded CBOR")
    return value


def _parse_header(protected: object) -> TokenHeader:
    if type(protected) is not bytes:
        raise MalformedError("protected header must be a byte string")
    return _parse_header_bytes(protected)


# Every token of one key carries the same protected header bytes, so parsed headers are kept (a pure function of the
# bytes; failures are not cached). Bounded: a flood of distinct headers only evicts.
@functools.lru_cache(maxsize=1024)
def _parse_header_bytes(protected: bytes) -> TokenHeader:
    header = _loads_canonical(protected, "protected header", _HEADER_ORDER)
    # Exactly {1, 4}: anything else (crit, content type, counter signatures…) is unknown to us and refused.
    if not isinstance(header, Mapping) or _map_keys(header, "protected header") != {_HDR_ALG, _HDR_KID}:
        raise MalformedError("protected header must be exactly {1: alg, 4: kid}")
    alg, kid = header[_HDR_ALG], header[_HDR_KID]
    if type(alg) is not int or alg not in ALGORITHMS:
        raise MalformedError("unsupported algorithm in protected header")
    if type(kid) is not bytes or len(kid) != KID_BYTES:
        raise MalformedError("kid must be an 8-byte string")
    return TokenHeader(alg=alg, kid=kid)


def _decode(data: bytes) -> _Parts:
    if type(data) is not bytes:
        raise MalformedError("token must be bytes")
    if len(data) > MAX_TOKEN_BYTES:
        raise MalformedError(f"token longer than {MAX_TOKEN_BYTES} bytes")
    try:
        outer = cbor2.loads(data, allow_indefinite=False, allow_duplicate_keys=False, max_depth=8)
    except (cbor2.CBORError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise MalformedError("token: not valid CBOR") from exc
    if not isinstance(outer, cbor2.CBORTag) or outer.tag != COSE_SIGN1_TAG:
        raise MalformedError("token is not a tagged COSE_Sign1 (tag 18)")
    body = outer.value
    if not isinstance(body, Sequence) or isinstance(body, bytes | str) or len(body) != 4:
        raise MalformedError("COSE_Sign1 must be a 4-element array")
    protected, unprotected, payload, signature = body
    header = _parse_header(protected)
    if not isinstance(unprotected, Mapping) or unprotected:
        raise MalformedError("unprotected header must be an empty map")
    if type(payload) is not bytes:
        raise MalformedError("payload must be an attached byte string")
    if type(signature) is not bytes or len(signature) != SIGNATURE_BYTES:
        raise MalformedError("signature must be 64 bytes")
    if encode_sign1(protected, payload, signature) != data:  # same check as _loads_canonical, without re-encoding
        raise MalformedError("token: not deterministically encoded CBOR")
    claims_map = _loads_canonical(payload, "payload", _CLAIMS_ORDER)
    if not isinstance(claims_map, Mapping):
        raise MalformedError("payload must be a CBOR map of claims")
    claims = LicenceClaims.from_cbor_map(claims_map)
    return _Parts(protected, payload, signature, header, claims)


def sign_token(claims: LicenceClaims, signer: Signer) -> bytes:
    """A tagged COSE_Sign1 licence token over `claims` (RFC 9052 §4.2, §4.4; claims per RFC 8392 §3)."""
    if signer.alg not in ALGORITHMS or len(signer.kid) != KID_BYTES:
        raise MalformedError("signer has an unsupported algorithm or kid")
    protected = _encode({_HDR_ALG: signer.alg, _HDR_KID: signer.kid})
    payload = _encode(claims.to_cbor_map())
    signature = signer.sign(sig_structure(protected, payload))
    if len(signature) != SIGNATURE_BYTES:
        raise MalformedError("signer returned a signature that is not 64 bytes")
    token = encode_sign1(protected, payload, signature)
    if len(token) > MAX_TOKEN_BYTES:
        raise MalformedError(f"token longer than {MAX_TOKEN_BYTES} bytes")
    return token


def decode_token(data: bytes) -> tuple[TokenHeader, LicenceClaims]:
    """Strictly parse a token WITHOUT checking its signature (RFC 9052 §4.2); raises MalformedError."""
    parts = _decode(data)
    return parts.header, parts.claims


def verify_token_signature(data: bytes, public_key_lookup: PublicKeyLookup) -> VerifiedToken:
    """Parse a token, find its key by kid and check the signature (RFC 9052 §4.4).

    Raises `TokenRejectedError` (a VerificationError) with reason malformed, unknown_key or bad_signature.
    """
    # (1): strict parse; (2): key by kid; (3): signature over Sig_structure.
    try:
        parts = _decode(data)
    except MalformedError as exc:
        raise TokenRejectedError(TokenReason.MALFORMED, f"malformed token: {exc}") from exc
    key = public_key_lookup(parts.header.kid)
    if key is None:
        raise TokenRejectedError(TokenReason.UNKNOWN_KEY, f"unknown key id {b64url_encode(parts.header.kid)}")
    try:
        verify_signature(parts.header.alg, key, sig_structure(parts.protected, parts.payload), parts.signature)
    except VerificationError as exc:
        raise TokenRejectedError(TokenReason.BAD_SIGNATURE, str(exc)) from exc
    return VerifiedToken(header=parts.header, claims=parts.claims, token=data)


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5, as RFC 7515 §2 uses it)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, max_bytes: int = MAX_TOKEN_BYTES) -> bytes:
    """Strict unpadded base64url (RFC 4648 §5): alphabet only, canonical trailing bits, size-capped."""
    if len(text) > (max_bytes * 4 + 2) // 3 or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise MalformedError("not unpadded base64url of an acceptable length")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedError("not valid base64url") from exc
    if b64url_encode(data) != text:
        raise MalformedError("base64url has non-zero trailing bits")
    return data


def token_url(public_base_url: str, token: bytes) -> str:
    """The QR URL `<public base URL>/v/<base64url token>` (DESIGN §6)."""
    return f"{public_base_url.rstrip('/')}/v/{b64url_encode(token)}"


def parse_token_text(text: str) -> bytes:
    """Token bytes from a full `…/v/<token>` URL, a `/v/<token>` path or a bare base64url token (RFC 3986 §3)."""
    text = text.strip()
    if len(text) > MAX_TOKEN_TEXT:
        raise MalformedError("token text too long")
    if "/" in text:
        try:
            parts = urlsplit(text)
        except ValueError as exc:
            raise MalformedError("not a URL") from exc
        if parts.scheme not in {"", "http", "https"}:
            raise MalformedError("token URL must be http or https")
        segments = parts.path.split("/")
        # The query and fragment are ignored on purpose: the token authenticates itself, nothing else is read.
        if len(segments) < 3 or segments[-2] != "v":
            raise MalformedError("token URL must end with /v/<token>")
        text = segments[-1]
    if not text:
        raise MalformedError("empty token")
    return b64url_decode(text)
