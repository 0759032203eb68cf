"""A region's signed trust list (DESIGN §6): who may issue which licence types, with which keys, since when.

Signed file (JSON; what `GET /v1/trust-list` and `trustledger trust-list export` serve):

    {"payload": {
        "format": "trustledger-trust-list/1",
        "version": 2,                                  # 1, 2, 3 …
        "previous_sha256": "<64 hex>" | null,          # SHA-256 of the previous version's signed bytes; null for 1
        "region": {"code": "HA", "name": "河南省"},
        "log": {"origin": "<host>/log", "verifier_key": "<name>+<8 hex>+<base64>"},   # Go-note verifier key
        "issuers": [{"uscc": "...", "name": "...", "licence_types": ["<type code>", ...],
                     "keys": [{"kid": "<base64url 8 bytes>", "alg": "EdDSA" | "ES256",
                               "public_key": "<base64 DER SubjectPublicKeyInfo>",
                               "not_before": "<RFC 3339 Z>", "not_after": … | null,
                               "retired_at": … | null, "compromised_since": … | null}],
                     "seal_certificates": ["-----BEGIN CERTIFICATE-----…", ...]}],
        "seal_ca_certificates": ["-----BEGIN CERTIFICATE-----…", ...],
        "issued_at": "2025-01-01T00:00:00Z", "next_update": "2025-01-08T00:00:00Z"},
     "signature": {"alg": "EdDSA", "kid": "<base64url of the root key's 8-byte kid>", "sig": "<base64 64 bytes>"}}

The signature is Ed25519 (RFC 8032) by the region root key over the RFC 8785 canonical form of `payload`; those
same bytes are what the next version's `previous_sha256` hashes, so versions form a hash chain. Times are
RFC 3339 §5.6 UTC with whole seconds and a `Z`. Every key is always present; absent values are `null`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from signatures.cose import (
    ALG_EDDSA,
    ALG_ES256,
    USCC_PATTERN,
    PublicKey,
    Signer,
    b64url_decode,
    b64url_encode,
    key_id_for,
    verify_signature,
)
from signatures.errors import MalformedError, VerificationError
from signatures.keyring import KeyRecord
from signatures.note import NoteVerifier, parse_verifier_key

FORMAT = "trustledger-trust-list/1"
MAX_TRUST_LIST_BYTES = 8 << 20
_ALG_NAMES = {ALG_EDDSA: "EdDSA", ALG_ES256: "ES256"}  # JOSE names, RFC 7518 §3.1 / RFC 8037 §3.1
_ALG_IDS = {name: alg for alg, name in _ALG_NAMES.items()}
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_REGION_CODE = re.compile(r"[0-9A-Za-z-]{1,32}")
_TYPE_CODE = re.compile(r"[\x21-\x7e]{1,128}")
_PEM = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?")
_PAYLOAD_KEYS = {"format", "version", "previous_sha256", "region", "log", "issuers", "seal_ca_certificates"}
_PAYLOAD_KEYS |= {"issued_at", "next_update"}
_ISSUER_KEYS = {"uscc", "name", "licence_types", "keys", "seal_certificates"}
_KEY_KEYS = {"kid", "alg", "public_key", "not_before", "not_after", "retired_at", "compromised_since"}


def _check_name(value: object, what: str) -> str:
    if type(value) is not str or not 0 < len(value) <= 200 or not value.isprintable():
        raise MalformedError(f"{what} must be printable text of 1 to 200 characters")
    return value


def _check_pem(pem: object) -> str:
    if type(pem) is not str or not _PEM.fullmatch(pem):
        raise MalformedError("certificate must be exactly one PEM CERTIFICATE block")
    try:
        x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError as exc:
        raise MalformedError("certificate PEM does not hold a valid X.509 certificate") from exc
    return pem


def _check_whole_utc(value: datetime | None, what: str) -> None:
    if value is not None and (value.utcoffset() is None or value.microsecond):
        raise MalformedError(f"{what} must be timezone-aware with whole seconds")


def _format_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object, what: str) -> datetime:
    if type(value) is not str or not _TIME.fullmatch(value):
        raise MalformedError(f"{what} must be an RFC 3339 UTC time like 2025-01-01T00:00:00Z")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise MalformedError(f"{what} is not a real date and time") from exc


def _parse_optional_time(value: object, what: str) -> datetime | None:
    return None if value is None else _parse_time(value, what)


def _whole_seconds(value: datetime | None) -> datetime | None:
    """Cut to the whole second, as token times are (RFC 8392 NumericDate as an integer).

    For the end of a window and a compromise this only makes them earlier (safe). For the start of a window it is
    what token verification does anyway (`key_problem_at_second`): a key registered during second S signs tokens
    stamped S.
    """
    return None if value is None else value.replace(microsecond=0)


def _object(value: object, keys: set[str], what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or set(value) != keys:
        raise MalformedError(f"{what} must be an object with exactly the keys {sorted(keys)}")
    return value


def _list(value: object, what: str, limit: int = 10_000) -> list[object]:
    if not isinstance(value, list) or len(value) > limit:
        raise MalformedError(f"{what} must be a list of at most {limit} items")
    return value


def _b64(value: object, what: str) -> bytes:
    try:
        if type(value) is not str:
            raise ValueError(what)
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"{what} must be base64") from exc
    if base64.b64encode(data).decode() != value:
        raise MalformedError(f"{what} is not canonical base64")
    return data


@dataclass(frozen=True)
class TrustedIssuer:
    """An issuing department (发证机关) in a trust list: its keys, the licence types it may issue, its seal certs."""

    uscc: str
    name: str
    licence_types: tuple[str, ...]
    keys: tuple[KeyRecord, ...]
    seal_certificates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if type(self.uscc) is not str or not USCC_PATTERN.fullmatch(self.uscc):
            raise MalformedError(f"issuer USCC {self.uscc!r} is not 18 characters of GB 32100-2015")
        _check_name(self.name, "issuer name")
        if not self.licence_types or not self.keys:
            raise MalformedError(f"issuer {self.uscc} needs at least one licence type and one key")  # fail closed
        for code in self.licence_types:
            if type(code) is not str or not _TYPE_CODE.fullmatch(code):
                raise MalformedError(f"licence type code {code!r} is not printable ASCII")
        for key in self.keys:
            if key.owner != self.uscc:
                raise MalformedError(f"key {b64url_encode(key.kid)} belongs to {key.owner}, not {self.uscc}")
        for pem in self.seal_certificates:
            _check_pem(pem)

    def to_json(self) -> dict[str, object]:
        """The issuer object of the trust list format (module docstring)."""
        head = {"uscc": self.uscc, "name": self.name, "licence_types": list(self.licence_types)}
        keys = [_key_to_json(k) for k in self.keys]
        return head | {"keys": keys, "seal_certificates": list(self.seal_certificates)}

    @classmethod
    def from_json(cls, value: object) -> TrustedIssuer:
        """Strictly parse one issuer object."""
        obj = _object(value, _ISSUER_KEYS, "issuer")
        uscc = _check_name(obj["uscc"], "issuer USCC")
        return cls(
            uscc=uscc,
            name=_check_name(obj["name"], "issuer name"),
            licence_types=tuple(_list(obj["licence_types"], "licence_types")),  # type: ignore[arg-type]
            keys=tuple(_key_from_json(k, uscc) for k in _list(obj["keys"], "keys", 100)),
            seal_certificates=tuple(_check_pem(p) for p in _list(obj["seal_certificates"], "seal_certificates")),
        )


def _key_to_json(key: KeyRecord) -> dict[str, object]:
    times = {"not_before": key.not_before, "not_after": key.not_after, "retired_at": key.retired_at}
    times["compromised_since"] = key.compromised_since
    public_key = base64.b64encode(key.public_key).decode()
    head = {"kid": b64url_encode(key.kid), "alg": _ALG_NAMES[key.alg], "public_key": public_key}
    return head | {name: _format_time(value) for name, value in times.items()}


def _key_from_json(value: object, owner: str) -> KeyRecord:
    obj = _object(value, _KEY_KEYS, "key")
    if type(obj["kid"]) is not str or obj["alg"] not in _ALG_IDS:
        raise MalformedError("key kid must be base64url and alg EdDSA or ES256")
    return KeyRecord(  # KeyRecord checks the kid against the key and the key against alg
        kid=b64url_decode(obj["kid"], 8),
        alg=_ALG_IDS[str(obj["alg"])],
        public_key=_b64(obj["public_key"], "public_key"),
        owner=owner,
        not_before=_parse_time(obj["not_before"], "not_before"),
        not_after=_parse_optional_time(obj["not_after"], "not_after"),
        retired_at=_parse_optional_time(obj["retired_at"], "retired_at"),
        compromised_since=_parse_optional_time(obj["compromised_since"], "compromised_since"),
    )


@dataclass(frozen=True)
class TrustList:
    """One version of a region's trust list (DESIGN §6); empty issuer lists are refused at construction."""

    version: int
    previous_sha256: str | None
    region_code: str
    region_name: str
    log_origin: str
    log_verifier_key: str
    issuers: tuple[TrustedIssuer, ...]
    seal_ca_certificates: tuple[str, ...]
    issued_at: datetime
    next_update: datetime
    _by_kid: Mapping[bytes, tuple[TrustedIssuer, KeyRecord]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check_header()
        if not self.issuers:
            raise MalformedError("a trust list with no issuers trusts nothing: refused")  # fail closed
        if len({i.uscc for i in self.issuers}) != len(self.issuers):
            raise MalformedError("an issuer appears twice in the trust list")
        by_kid = {k.kid: (i, k) for i in self.issuers for k in i.keys}
        for _, key in by_kid.values():  # what is signed must equal what is held: no sub-second times
            for value in (key.not_before, key.not_after, key.retired_at, key.compromised_since):
                _check_whole_utc(value, f"key {b64url_encode(key.kid)} time")
        if len(by_kid) != sum(len(i.keys) for i in self.issuers):
            raise MalformedError("one kid appears twice in the trust list")
        for pem in self.seal_ca_certificates:
            _check_pem(pem)
        object.__setattr__(self, "_by_kid", by_kid)

    def _check_header(self) -> None:
        if type(self.version) is not int or not 1 <= self.version < 2**53:
            raise MalformedError("trust list version must be a positive integer")
        if (self.version == 1) != (self.previous_sha256 is None):
            raise MalformedError("previous_sha256 is null for version 1 and only then")
        if self.previous_sha256 is not None and not _HEX64.fullmatch(self.previous_sha256):
            raise MalformedError("previous_sha256 must be 64 lowercase hex digits")
        if type(self.region_code) is not str or not _REGION_CODE.fullmatch(self.region_code):
            raise MalformedError("region code must be 1 to 32 letters, digits or '-'")
        _check_name(self.region_name, "region name")
        _check_name(self.log_origin, "log origin")
        self.log_verifier()
        _check_whole_utc(self.issued_at, "issued_at")
        _check_whole_utc(self.next_update, "next_update")
        if self.next_update <= self.issued_at:
            raise MalformedError("next_update must be after issued_at")

    def log_verifier(self) -> NoteVerifier:
        """The region log's checkpoint verifier (C2SP signed-note verifier key), strictly parsed."""
        verifier = parse_verifier_key(self.log_verifier_key)
        if verifier.to_string() != self.log_verifier_key:
            raise MalformedError("log verifier key is not in canonical form")
        return verifier

    def to_payload(self) -> dict[str, object]:
        """The unsigned JSON document (the `payload` of the signed file)."""
        return {
            "format": FORMAT,
            "version": self.version,
            "previous_sha256": self.previous_sha256,
            "region": {"code": self.region_code, "name": self.region_name},
            "log": {"origin": self.log_origin, "verifier_key": self.log_verifier_key},
            "issuers": [i.to_json() for i in self.issuers],
            "seal_ca_certificates": list(self.seal_ca_certificates),
            "issued_at": _format_time(self.issued_at),
            "next_update": _format_time(self.next_update),
        }

    @classmethod
    def from_payload(cls, value: object) -> TrustList:
        """Strictly parse the unsigned JSON document; raises MalformedError."""
        obj = _object(value, _PAYLOAD_KEYS, "trust list")
        if obj["format"] != FORMAT:
            raise MalformedError(f"trust list format must be {FORMAT!r}")
        region = _object(obj["region"], {"code", "name"}, "region")
        log = _object(obj["log"], {"origin", "verifier_key"}, "log")
        return cls(  # field types are checked in __post_init__
            version=obj["version"],  # type: ignore[arg-type]
            previous_sha256=obj["previous_sha256"],  # type: ignore[arg-type]
            region_code=region["code"],  # type: ignore[arg-type]
            region_name=region["name"],  # type: ignore[arg-type]
            log_origin=log["origin"],  # type: ignore[arg-type]
            log_verifier_key=_check_name(log["verifier_key"], "log verifier key"),
            issuers=tuple(TrustedIssuer.from_json(i) for i in _list(obj["issuers"], "issuers")),
            seal_ca_certificates=tuple(_check_pem(p) for p in _list(obj["seal_ca_certificates"], "seal CAs")),
            issued_at=_parse_time(obj["issued_at"], "issued_at"),
            next_update=_parse_time(obj["next_update"], "next_update"),
        )

    def signed_bytes(self) -> bytes:
        """The RFC 8785 canonical form of the payload: what the root key signs (RFC 8785 §3.2)."""
        return _canonical(self.to_payload())

    def digest(self) -> str:
        """SHA-256 hex of `signed_bytes()`: the next version's `previous_sha256`."""
        return hashlib.sha256(self.signed_bytes()).hexdigest()

    def issuer(self, uscc: str) -> TrustedIssuer | None:
        """The issuer with this USCC, or None."""
        return next((i for i in self.issuers if i.uscc == uscc), None)

    def key(self, kid: bytes) -> tuple[TrustedIssuer, KeyRecord] | None:
        """The issuer and key record for `kid`, or None."""
        return self._by_kid.get(kid)

    def public_key(self, kid: bytes) -> PublicKey | None:
        """The public key for `kid`, or None: the `PublicKeyLookup` for `verify_token_signature`."""
        found = self._by_kid.get(kid)
        return None if found is None else found[1].key

    def is_stale_at(self, now: datetime) -> bool:
        """Whether `now` is at or past `next_update` (the cache must be refreshed)."""
        return now >= self.next_update


def _canonical(payload: object) -> bytes:
    try:
        return rfc8785.dumps(payload)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedError("trust list payload cannot be canonicalised (RFC 8785)") from exc


def build_trust_list(
    *,
    region_code: str,
    region_name: str,
    log_origin: str,
    log_verifier_key: str,
    issuers: Iterable[TrustedIssuer],
    issued_at: datetime,
    next_update: datetime,
    seal_ca_certificates: Iterable[str] = (),
    previous: TrustList | None = None,
) -> TrustList:
    """The next trust list version, chained to `previous` (version + 1, its digest); times cut to whole seconds."""
    rounded = []
    for issuer in issuers:
        keys = tuple(_rounded_key(k) for k in issuer.keys)
        rounded.append(replace(issuer, keys=keys))
    return TrustList(
        version=1 if previous is None else previous.version + 1,
        previous_sha256=None if previous is None else previous.digest(),
        region_code=region_code,
        region_name=region_name,
        log_origin=log_origin,
        log_verifier_key=log_verifier_key,
        issuers=tuple(rounded),
        seal_ca_certificates=tuple(seal_ca_certificates),
        issued_at=issued_at.replace(microsecond=0),
        next_update=next_update.replace(microsecond=0),
    )


def _rounded_key(key: KeyRecord) -> KeyRecord:
    not_before = _whole_seconds(key.not_before)
    assert not_before is not None
    return replace(
        key,
        not_before=not_before,
        not_after=_whole_seconds(key.not_after),
        retired_at=_whole_seconds(key.retired_at),
        compromised_since=_whole_seconds(key.compromised_since),
    )


def sign_trust_list(doc: TrustList, root_signer: Signer) -> dict[str, object]:
    """The signed file: Ed25519 by the region root key over RFC 8785 of the payload (RFC 8032 §5.1.6)."""
    if root_signer.alg != ALG_EDDSA:
        raise MalformedError("trust lists are signed with Ed25519 (EdDSA) only")
    sig = root_signer.sign(doc.signed_bytes())
    signature = {"alg": "EdDSA", "kid": b64url_encode(root_signer.kid), "sig": base64.b64encode(sig).decode()}
    return {"payload": doc.to_payload(), "signature": signature}


def _reject_constant(name: str) -> object:
    raise MalformedError(f"JSON constant {name} is not allowed")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedError("duplicate key in JSON object")
    return obj


def parse_signed_trust_list(data: bytes | str) -> dict[str, object]:
    """Parse a signed trust list file strictly (RFC 8259): size cap, no duplicate keys, no floats or NaN."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_TRUST_LIST_BYTES:
        raise MalformedError(f"trust list larger than {MAX_TRUST_LIST_BYTES} bytes")
    try:
        value = json.loads(
            raw,
            object_pairs_hook=_no_duplicates,
            parse_float=lambda text: _reject_constant(f"float {text}"),
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedError("trust list is not valid JSON") from exc
    if not isinstance(value, dict):
        raise MalformedError("trust list must be a JSON object")
    return value


def _check_envelope(signed: Mapping[str, object], root_public_key: Ed25519PublicKey) -> bytes:
    """The root signature over the payload, checked; returns the verified signed bytes."""
    if not isinstance(signed, Mapping) or set(signed) != {"payload", "signature"}:
        raise VerificationError("trust list must be {payload, signature}")
    try:
        signature = _object(signed["signature"], {"alg", "kid", "sig"}, "signature")
        sig = _b64(signature["sig"], "signature")
        signed_bytes = _canonical(signed["payload"])
    except MalformedError as exc:
        raise VerificationError(f"trust list malformed: {exc}") from exc
    if signature["alg"] != "EdDSA" or signature["kid"] != b64url_encode(key_id_for(root_public_key)):
        raise VerificationError("trust list not signed by this region's root key")
    try:
        verify_signature(ALG_EDDSA, root_public_key, signed_bytes, sig)
    except VerificationError as exc:
        raise VerificationError("trust list signature does not verify") from exc
    return signed_bytes


def _check_chain(doc: TrustList, digest: str, previous: TrustList) -> None:
    if (doc.region_code, doc.log_origin) != (previous.region_code, previous.log_origin):
        raise VerificationError("trust list chain broken: region or log origin changed")
    if doc.version == previous.version:
        if digest != previous.digest():
            raise VerificationError(f"trust list chain broken: two different documents for version {doc.version}")
        return
    if doc.version < previous.version:
        raise VerificationError(f"trust list rolled back from version {previous.version} to {doc.version}")
    if doc.version != previous.version + 1:
        raise VerificationError(f"trust list chain has a gap: {previous.version} → {doc.version}")
    if doc.previous_sha256 != previous.digest():
        raise VerificationError("trust list chain broken: previous_sha256 does not match the previous version")
    if doc.issued_at < previous.issued_at:
        raise VerificationError("trust list chain broken: issued before the previous version")


def verify_trust_list(
    signed: Mapping[str, object],
    root_public_key: Ed25519PublicKey,
    now: datetime,
    previous: TrustList | None = None,
    *,
    allow_stale: bool = False,
) -> TrustList:
    """Verify a signed trust list (DESIGN §6) and return it; raises VerificationError naming the failed check."""
    # Steps: (1) envelope and root signature over RFC 8785 of the payload; (2) strict schema, non-empty issuers;
    # (3) hash chain to `previous` when given; (4) freshness against `next_update`.
    # (1): envelope shape and root signature
    signed_bytes = _check_envelope(signed, root_public_key)
    # (2): strict schema; construction fails closed on an empty issuer list
    try:
        doc = TrustList.from_payload(signed["payload"])
    except MalformedError as exc:
        raise VerificationError(f"trust list malformed: {exc}") from exc
    digest = hashlib.sha256(signed_bytes).hexdigest()
    if digest != doc.digest():  # defence in depth: parsing must be lossless
        raise VerificationError("trust list malformed: payload does not round-trip")
    # (3): chain to the version we already trust
    if previous is not None:
        _check_chain(doc, digest, previous)
    # (4): freshness
    if doc.is_stale_at(now) and not allow_stale:
        raise VerificationError(f"trust list stale: next update was due {_format_time(doc.next_update)}")
    return doc
