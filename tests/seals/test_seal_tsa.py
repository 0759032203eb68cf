"""The RFC 3161 TSA, checked by `openssl ts -verify` over HTTP."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import core, tsp

from seals import pki
from seals.tsa import TimeStampAuthority, TsaHttpServer
from tests.seals.helpers import Pki


def _status(response_der: bytes) -> tsp.PKIStatusInfo:
    # asn1crypto's TimeStampResp insists on a token, which a rejection (RFC 3161 §2.4.2) does not carry.
    return tsp.PKIStatusInfo.load(core.Sequence.load(response_der)[0].dump())


def _post(url: str, body: bytes, content_type: str = "application/timestamp-query") -> tuple[str, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Content-Type"], response.read()


def test_openssl_verifies_our_reply(region: Pki, tsa: TsaHttpServer, work_dir: Path) -> None:
    (work_dir / "data.bin").write_bytes(b"licence 1.2.156.3005.2")
    (work_dir / "ca.pem").write_bytes(pki.certificate_pem(region.ca.certificate))
    query = work_dir / "q.tsq"
    subprocess.run(
        ["openssl", "ts", "-query", "-data", str(work_dir / "data.bin"), "-sha256", "-cert", "-out", str(query)],
        check=True,
        capture_output=True,
    )
    content_type, reply = _post(tsa.url, query.read_bytes())
    assert content_type == "application/timestamp-reply"
    (work_dir / "r.tsr").write_bytes(reply)
    result = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-queryfile",
            str(query),
            "-in",
            str(work_dir / "r.tsr"),
            "-CAfile",
            str(work_dir / "ca.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "Verification: OK" in result.stdout


def test_garbage_gets_a_rejection_not_an_exception(region: Pki) -> None:
    authority = TimeStampAuthority(region.tsa_cert, region.tsa_key)
    status = _status(authority.respond(b"\x30\x03\x02\x01\x07"))
    assert status["status"].native == "rejection"
    assert status["fail_info"].native == {"bad_data_format"}


def test_wrong_digest_length_is_bad_alg(region: Pki) -> None:
    authority = TimeStampAuthority(region.tsa_cert, region.tsa_key)
    request = tsp.TimeStampReq(
        {"version": "v1", "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"x" * 20}}
    )
    assert _status(authority.respond(request.dump()))["fail_info"].native == {"bad_alg"}


def test_http_refuses_other_content_types(tsa: TsaHttpServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        _post(tsa.url, b"hello", "text/plain")
    assert err.value.code == 415


def test_seal_certificate_cannot_be_a_tsa(region: Pki) -> None:
    with pytest.raises(Exception, match="timeStamping"):
        TimeStampAuthority(region.seal_key.certificate, region.seal_key.private_key)
