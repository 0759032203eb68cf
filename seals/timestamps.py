"""RFC 3161 time-stamp clients and token verification (used to anchor checkpoints; wired by trustledger).

`request_timestamp` asks a TSA over HTTP (RFC 3161 §3.4) for a token over a SHA-256 digest, with a nonce and
certReq; `LocalTimestamper` asks an in-process `TimeStampAuthority`. `verify_timestamp_token` checks a token
offline: the CMS SignedData signature over its signed attributes (RFC 5652 §5.4), the TSTInfo imprint (RFC 3161
§2.4.2), the ESS signingCertificateV2 binding (RFC 5816), the TSA certificate's critical timeStamping EKU (§2.3)
and its validity at genTime, and a chain to one of the given trusted roots.
"""

from __future__ import annotations

import hashlib
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from asn1crypto import cms, core, tsp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from seals.errors import TimestampError
from seals.tsa import TimeStampAuthority
from signatures.errors import VerificationError

MAX_RESPONSE_BYTES = 64 * 1024
_MAX_CHAIN = 4

__all__ = ["LocalTimestamper", "request_timestamp", "timestamp_query", "token_from_response", "verify_timestamp_token"]


def timestamp_query(digest: bytes, nonce: int) -> bytes:
    """A DER TimeStampReq (RFC 3161 §2.4.1) for a SHA-256 digest, asking for the TSA certificate in the token."""
    if len(digest) != 32:
        raise TimestampError("a SHA-256 digest is 32 bytes")
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return bytes(request.dump())


def token_from_response(response_der: bytes, digest: bytes, nonce: int) -> bytes:
    """The DER token of a granted TimeStampResp whose imprint and nonce are the ones asked for."""
    try:
        status = tsp.PKIStatusInfo.load(core.Sequence.load(response_der)[0].dump())
        granted = status["status"].native in ("granted", "granted_with_mods")
        if not granted:
            text = status["status_string"].native or []
            raise TimestampError(f"TSA refused: {status['status'].native} {' '.join(text)}".strip())
        response = tsp.TimeStampResp.load(response_der)
        token = response["time_stamp_token"]
        tst = token["content"]["encap_content_info"]["content"].parsed
        imprint, echoed = tst["message_imprint"]["hashed_message"].native, tst["nonce"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError("TSA answer is not a DER TimeStampResp") from exc
    if imprint != digest or echoed != nonce:
        raise TimestampError("TSA answered for another digest or nonce")
    return bytes(token.dump())


def request_timestamp(url: str, digest: bytes, *, timeout: float = 10.0) -> bytes:
    """A token over `digest` from the TSA at `url` (RFC 3161 §3.4: POST application/timestamp-query)."""
    nonce = secrets.randbits(63)
    req = urllib.request.Request(  # noqa: S310 -- the operator configures an http(s) TSA URL
        url, data=timestamp_query(digest, nonce), headers={"Content-Type": "application/timestamp-query"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            if response.headers.get("Content-Type", "").split(";")[0].strip() != "application/timestamp-reply":
                raise TimestampError(f"TSA at {url} did not answer application/timestamp-reply")
            body = response.read(MAX_RESPONSE_BYTES + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise TimestampError(f"TSA at {url} unreachable: {exc}") from exc
    if len(body) > MAX_RESPONSE_BYTES:
        raise TimestampError(f"TSA answer larger than {MAX_RESPONSE_BYTES} bytes")
    return token_from_response(body, digest, nonce)


class LocalTimestamper:
    """Tokens from an in-process `TimeStampAuthority` (the region's own TSA, no HTTP round trip)."""

    def __init__(self, authority: TimeStampAuthority) -> None:
        self.authority = authority

    def timestamp(self, digest: bytes) -> bytes:
        """A token over `digest`."""
        nonce = secrets.randbits(63)
        return token_from_response(self.authority.respond(timestamp_query(digest, nonce)), digest, nonce)


def _check_signature(cert: x509.Certificate, data: bytes, signature: bytes, algorithm: str) -> None:
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm in ("sha256_ecdsa", "ecdsa"):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey) and algorithm in ("sha256_rsa", "rsassa_pkcs1v15"):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise VerificationError(f"timestamp signature algorithm {algorithm} is not supported")
    except InvalidSignature as exc:
        raise VerificationError("timestamp token signature does not verify") from exc


def _chain_to_root(cert: x509.Certificate, pool: list[x509.Certificate], roots: Sequence[x509.Certificate]) -> None:
    current = cert
    for _ in range(_MAX_CHAIN):
        for root in roots:
            if current.issuer == root.subject:
                try:
                    current.verify_directly_issued_by(root)
                except (ValueError, TypeError, InvalidSignature):
                    continue
                return
        parent = next((c for c in pool if c.subject == current.issuer and c != current), None)
        if parent is None:
            break
        try:
            current.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise VerificationError("timestamp certificate chain has a bad signature") from exc
        current = parent
    raise VerificationError("timestamp certificate does not chain to a trusted root")


def _signer_certificate(
    signed_data: cms.SignedData, signer: cms.SignerInfo, ess_hash: bytes
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The certificate named by the signer id and bound by the ESS hash (a CA may share issuer and serial with it)."""
    sid = signer["sid"]
    if sid.name != "issuer_and_serial_number":
        raise VerificationError("timestamp signer must be identified by issuer and serial number")
    wanted = sid.chosen
    pool = []
    found = None
    for choice in signed_data["certificates"] or []:
        der = choice.chosen.dump()
        pool.append(x509.load_der_x509_certificate(der))
        named = (
            choice.chosen.issuer == wanted["issuer"] and choice.chosen.serial_number == wanted["serial_number"].native
        )
        if named and hashlib.sha256(der).digest() == ess_hash:
            found = pool[-1]
    if found is None:
        raise VerificationError("the token does not carry the TSA certificate its signingCertificateV2 names")
    return found, pool


def _check_tsa_certificate(cert: x509.Certificate, gen_time: datetime) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise VerificationError("TSA certificate has no extendedKeyUsage") from exc
    if not eku.critical or list(eku.value) != [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]:
        raise VerificationError("TSA certificate must have one critical EKU, id-kp-timeStamping (RFC 3161 §2.3)")
    if not cert.not_valid_before_utc <= gen_time <= cert.not_valid_after_utc:
        raise VerificationError("TSA certificate was not valid at the token's genTime")


def _attribute(attrs: cms.CMSAttributes, name: str) -> Any:
    values = [a["values"] for a in attrs if a["type"].native == name]
    if len(values) != 1 or len(values[0]) != 1:
        raise VerificationError(f"token needs exactly one {name} signed attribute")
    return values[0][0]


def verify_timestamp_token(token: bytes, digest: bytes, trusted_roots: Sequence[x509.Certificate]) -> datetime:
    """The genTime of a valid RFC 3161 token over the SHA-256 `digest` from a TSA chaining to `trusted_roots`."""
    if not trusted_roots:
        raise VerificationError("no trusted TSA roots: nothing could be verified")  # fail closed
    try:
        return _verify_token(token, digest, trusted_roots)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:  # asn1crypto/cryptography parsing
        raise VerificationError(f"timestamp token is malformed: {exc}") from exc


def _verify_token(token: bytes, digest: bytes, trusted_roots: Sequence[x509.Certificate]) -> datetime:
    # Steps: (1) CMS SignedData over a TSTInfo; (2) imprint = digest; (3) one signer, its certificate in the token,
    # bound by signingCertificateV2; (4) signed attributes: content type and message digest; (5) signature;
    # (6) TSA certificate: critical timeStamping EKU, valid at genTime, chained to a trusted root.
    # (1): structure
    try:
        info = cms.ContentInfo.load(token, strict=True)
        if info["content_type"].native != "signed_data":
            raise VerificationError("timestamp token is not CMS SignedData")
        signed_data = info["content"]
        encap = signed_data["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise VerificationError("timestamp token does not carry a TSTInfo")
        tst_der = encap["content"].contents
        tst = tsp.TSTInfo.load(tst_der, strict=True)
        imprint = tst["message_imprint"]
        gen_time: datetime = tst["gen_time"].native.astimezone(UTC)
        signers = signed_data["signer_infos"]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise VerificationError("timestamp token is not a DER RFC 3161 token") from exc
    # (2): it covers our digest
    if imprint["hash_algorithm"]["algorithm"].native != "sha256" or imprint["hashed_message"].native != digest:
        raise VerificationError("timestamp token is over another message (imprint mismatch)")
    # (3): the signer and its certificate
    if len(signers) != 1:
        raise VerificationError("timestamp token must have exactly one signer")
    signer = signers[0]
    attrs = signer["signed_attrs"]
    ess = _attribute(attrs, "signing_certificate_v2")["certs"][0]
    if ess["hash_algorithm"]["algorithm"].native != "sha256":
        raise VerificationError("signingCertificateV2 must use SHA-256")
    cert, pool = _signer_certificate(signed_data, signer, ess["cert_hash"].native)
    # (4): signed attributes bind the TSTInfo
    if signer["digest_algorithm"]["algorithm"].native != "sha256":
        raise VerificationError("timestamp token digest algorithm must be SHA-256")
    if _attribute(attrs, "content_type").native != "tst_info":
        raise VerificationError("signed content type is not TSTInfo")
    if _attribute(attrs, "message_digest").native != hashlib.sha256(tst_der).digest():
        raise VerificationError("signed message digest does not match the TSTInfo")
    # (5): the signature over the DER SET OF signed attributes (RFC 5652 §5.4)
    attrs_der = b"\x31" + signer["signed_attrs"].dump()[1:]
    _check_signature(cert, attrs_der, signer["signature"].native, signer["signature_algorithm"]["algorithm"].native)
    # (6): the TSA certificate
    _check_tsa_certificate(cert, gen_time)
    _chain_to_root(cert, pool, trusted_roots)
    return gen_time
