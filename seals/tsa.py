"""An RFC 3161 time-stamp authority: TimeStampReq in, TimeStampResp out, plus a small HTTP transport (RFC 3161 §3.4).

The token is a CMS SignedData (RFC 5652 §5) over a TSTInfo (RFC 3161 §2.4.2), signed with ECDSA P-256 by a
certificate whose only, critical EKU is id-kp-timeStamping (§2.3), with the ESS signingCertificateV2 attribute
(RFC 5816 §2.2.1) binding the certificate. Time comes from an injected clock; serial numbers are unique 64-bit values.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import UTC
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar

from asn1crypto import algos, cms, core, tsp, x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from clock import Clock, system_clock
from seals.errors import TimestampError

__all__ = ["DEFAULT_POLICY_OID", "TimeStampAuthority", "TsaHttpServer"]

# A UUID-derived OID (ITU-T X.667 arc 2.25) needs no registration; deployments pass their own policy.
DEFAULT_POLICY_OID = "2.25.186542019839312487917163128702137216511"
MAX_REQUEST_BYTES = 16 * 1024
_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}


class _FailedResp(core.Sequence):  # type: ignore[misc]
    """TimeStampResp without a token (RFC 3161 §2.4.2); asn1crypto's own class wrongly requires the token."""

    _fields: ClassVar[list[tuple[str, type]]] = [("status", tsp.PKIStatusInfo)]


def _failure(info: str, text: str) -> bytes:
    status = tsp.PKIStatusInfo(
        {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({info})}
    )
    return bytes(_FailedResp({"status": status}).dump())


class TimeStampAuthority:
    """Issues RFC 3161 time-stamp tokens in process; `respond` maps request bytes to response bytes."""

    def __init__(
        self,
        certificate: cx509.Certificate,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        chain: tuple[cx509.Certificate, ...] = (),
        policy_oid: str = DEFAULT_POLICY_OID,
        clock: Clock = system_clock,
    ) -> None:
        try:
            eku = certificate.extensions.get_extension_for_class(cx509.ExtendedKeyUsage)
        except cx509.ExtensionNotFound:
            eku = None
        if eku is None or not eku.critical or list(eku.value) != [cx509.oid.ExtendedKeyUsageOID.TIME_STAMPING]:
            raise TimestampError("TSA certificate must have one critical EKU, id-kp-timeStamping (RFC 3161 §2.3)")
        self._key = private_key
        self._cert = x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))
        self._chain = [x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain]
        self._policy = policy_oid
        self._clock = clock
        # The parts of every token that depend only on the certificate, encoded once: asn1crypto re-encodes a
        # certificate each time it is placed in a new structure, which cost ~10 ms per token.
        self._tsa_name = x509.GeneralName(name="directory_name", value=self._cert.subject).dump()
        self._signing_cert = self._signing_certificate().dump()
        self._sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": self._cert.issuer, "serial_number": self._cert.serial_number},
        ).dump()
        self._certificates = cms.CertificateSet([self._cert, *self._chain]).dump()

    def respond(self, request_der: bytes) -> bytes:
        """Answer a DER TimeStampReq (RFC 3161 §2.4.1) with a DER TimeStampResp (§2.4.2); never raises on bad input."""
        if len(request_der) > MAX_REQUEST_BYTES:
            return _failure("bad_request", "request too large")
        try:
            request = tsp.TimeStampReq.load(request_der, strict=True)
            request.native  # noqa: B018 -- forces a full parse so malformed fields surface here
        except (ValueError, TypeError, OverflowError):
            return _failure("bad_data_format", "request is not a DER TimeStampReq")
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        status = tsp.PKIStatusInfo({"status": "granted"})
        return bytes(tsp.TimeStampResp({"status": status, "time_stamp_token": self._token(request)}).dump())

    def _refusal(self, request: tsp.TimeStampReq) -> bytes | None:
        if request["version"].native != "v1":
            return _failure("bad_request", "only version 1 requests are understood")
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if _DIGESTS.get(algorithm) != len(imprint["hashed_message"].native):
            return _failure("bad_alg", "unsupported hash algorithm or wrong digest length")
        policy = request["req_policy"].native
        if policy is not None and policy != self._policy:
            return _failure("unaccepted_policy", "requested policy is not offered by this TSA")
        if len(request["extensions"]) > 0:
            return _failure("unaccepted_extension", "request extensions are not supported")
        return None

    def _tst_info(self, request: tsp.TimeStampReq) -> tsp.TSTInfo:
        fields: dict[str, object] = {
            "version": "v1",
            "policy": self._policy,
            "message_imprint": request["message_imprint"],
            "serial_number": secrets.randbits(63) | (1 << 62),
            "gen_time": self._clock().astimezone(UTC),
            "accuracy": {"seconds": 1},
            "tsa": x509.GeneralName.load(self._tsa_name),
        }
        if request["nonce"].native is not None:
            fields["nonce"] = request["nonce"].native
        return tsp.TSTInfo(fields)

    def _signing_certificate(self) -> tsp.SigningCertificateV2:
        """ESS signingCertificateV2 (RFC 5816 §2.2.1): SHA-256 of the TSA certificate with its issuer and serial."""
        issuer_serial = {
            "issuer": [x509.GeneralName(name="directory_name", value=self._cert.issuer)],
            "serial_number": self._cert.serial_number,
        }
        cert_hash = hashlib.sha256(self._cert.dump()).digest()
        return tsp.SigningCertificateV2({"certs": [{"cert_hash": cert_hash, "issuer_serial": issuer_serial}]})

    def _signed_attrs(self, content_digest: bytes) -> cms.CMSAttributes:
        return cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [content_digest]},
                {"type": "signing_certificate_v2", "values": [tsp.SigningCertificateV2.load(self._signing_cert)]},
            ]
        )

    def _token(self, request: tsp.TimeStampReq) -> cms.ContentInfo:
        tst_der = self._tst_info(request).dump()
        attrs = self._signed_attrs(hashlib.sha256(tst_der).digest())
        signature = self._key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier.load(self._sid),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed_data = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst_der)},
            "signer_infos": [signer],
        }
        if request["cert_req"].native:
            signed_data["certificates"] = cms.CertificateSet.load(self._certificates)
        return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})


class _Handler(BaseHTTPRequestHandler):
    server: _TsaServer

    def do_POST(self) -> None:
        """RFC 3161 §3.4: POST application/timestamp-query, answer application/timestamp-reply."""
        if self.headers.get("Content-Type", "").split(";")[0].strip() != "application/timestamp-query":
            self._reply(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, b"", "text/plain")
            return
        length_text = self.headers.get("Content-Length", "")
        if not length_text.isdigit() or int(length_text) > MAX_REQUEST_BYTES:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"", "text/plain")
            return
        body = self.rfile.read(int(length_text))
        self._reply(HTTPStatus.OK, self.server.authority.respond(body), "application/timestamp-reply")

    def _reply(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging; the TSA is exercised thousands of times by the benchmark."""


class _TsaServer(ThreadingHTTPServer):
    daemon_threads = True
    authority: TimeStampAuthority


class TsaHttpServer:
    """The TSA served over HTTP on a local port (context manager; port 0 picks a free one)."""

    def __init__(self, authority: TimeStampAuthority, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _TsaServer((host, port), _Handler)
        self._server.authority = authority
        self._thread = threading.Thread(target=self._server.serve_forever, name="tsa-http", daemon=True)

    @property
    def url(self) -> str:
        """The URL to POST time-stamp queries to."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/tsa"

    def start(self) -> TsaHttpServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> TsaHttpServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
