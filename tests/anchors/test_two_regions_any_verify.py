"""One verify for any region, and mutual recognition of seals (跨省通办), with two regions as real servers: 河南 A on
SQLite and 江苏 B on PostgreSQL (B's federation tables, A's sealed-document lookup: one backend each way).

After `peers add`, `sync` and `accept`, B verifies A's token and A's sealed PDF through `trustledger verify` and
through `POST /v1/verify/token` and `POST /v1/verify/pdf`, in the shape A's own answers have, `source` naming A. B
refuses: a type it has not accepted (saying so), a PDF sealed under a CA it knows from no trust list, a PDF whose
`DocumentSealed` is not on A's log (sealed by a copy of A's home), and, after A revokes, A's token and PDF alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.anchors.test_three_regions import BUSINESS, ZZ_AMR, Node, _issue, _snapshot
from tests.seals.wiring import FIELDS, holder_uscc

OTHER_TYPE = "11100000000013338W011"  # 食品经营许可证  # a type B recognises from A instead, to see BUSINESS refused


@pytest.fixture
def pair(tmp_path: Path, pg_schema: str) -> Iterator[tuple[Node, Node]]:
    a = Node(
        "410000",
        "河南省",
        "ledger.ha.gov.example/log",
        tmp_path / "ha",
        f"sqlite:///{tmp_path / 'ha' / 'trustledger.db'}",
    )
    b = Node("320000", "江苏省", "ledger.js.gov.example/log", tmp_path / "js", pg_schema)
    inits = [n.init() for n in (a, b)]
    for n, p in zip((a, b), inits, strict=True):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (n.origin, out, err)
    for n in (a, b):
        n.start()
    try:
        for n in (a, b):
            n.wait_ready()
        yield a, b
    finally:
        for n in (a, b):
            n.stop()


def _key(node: Node, role: str) -> dict[str, str]:
    key = node.cli("apikey", "create", "--role", role, "--principal", f"{node.name}审批系统")["key"]
    return {"Authorization": f"Bearer {key}"}


def _token(node: Node, headers: dict[str, str], token: str) -> dict[str, Any]:
    response = httpx.post(f"{node.url}/v1/verify/token", json={"token": token}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _pdf(node: Node, headers: dict[str, str], pdf: bytes) -> dict[str, Any]:
    headers = headers | {"Content-Type": "application/pdf"}
    response = httpx.post(f"{node.url}/v1/verify/pdf", content=pdf, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _sealed(node: Node, licence: dict[str, Any], path: Path) -> bytes:
    node.cli("licence", "pdf", licence["id"], "-o", str(path))
    node.cli("log", "checkpoint")
    return path.read_bytes()


def _failed(answer: dict[str, Any]) -> dict[str, str]:
    return {name: c["code"] for name, c in answer["checks"].items() if c["ok"] is False}


def test_one_verify_for_any_region_and_seals_recognised(pair: tuple[Node, Node], tmp_path: Path) -> None:
    a, b = pair
    assert b.cli("peers", "add", a.url)["origin"] == a.origin
    assert b.cli("peers", "sync")["ok"] is True
    b.cli("peers", "accept", a.origin, "--types", BUSINESS)
    licence = _issue(a, 1)
    pdf = _sealed(a, licence, tmp_path / "a.pdf")
    in_a, in_b = _key(a, "verifier"), _key(b, "verifier")

    # -- the token: B's CLI and API answer as A's own do, with `source` naming A --------------------------------------
    own_cli = a.cli("verify", licence["token"])
    by_cli = b.cli("verify", licence["qr_url"])
    assert by_cli["valid"] is True and by_cli["verdict"] == "valid", by_cli
    assert set(by_cli) == set(own_cli) and by_cli["mode"] == "cross-region" and own_cli["source"]["region"] == "local"
    assert by_cli["source"]["region"] == a.origin and by_cli["source"]["cross_region_verdict"] == "valid"
    assert by_cli["token"]["sub"] == licence["identifier"]
    own_api, by_api = _token(a, in_a, licence["token"]), _token(b, in_b, licence["token"])
    assert set(by_api) == set(own_api) and own_api["source"]["region"] == "local"
    assert by_api["verdict"] == "valid" and by_api["valid"] is True, by_api
    assert by_api["source"]["region"] == a.origin and by_api["source"]["peer_url"] == a.url
    assert (
        by_api["leaf_index"] == licence["leaf_index"]
        and by_api["inclusion_proof"]["leaf_index"] == licence["leaf_index"]
    )
    assert by_api["status_proven"]["checkpoint_size"] > licence["leaf_index"]

    # -- the sealed PDF: B trusts A's seal CA and TSA from A's trust list, and proves its DocumentSealed on A's log ----
    own_pdf, by_pdf = _pdf(a, in_a, pdf), _pdf(b, in_b, pdf)
    assert set(by_pdf) == set(own_pdf) and own_pdf["valid"] is True and own_pdf["source"]["region"] == "local"
    assert by_pdf["valid"] is True and by_pdf["verdict"] == "valid", by_pdf["checks"]
    assert by_pdf["source"]["region"] == a.origin and by_pdf["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert "of ledger.ha.gov.example/log's log" in by_pdf["checks"]["on_ledger"]["detail"]
    assert by_pdf["identifier"] == licence["identifier"] and by_pdf["sealed_version"] == 1
    pdf_cli = b.cli("verify", str(tmp_path / "a.pdf"))
    assert pdf_cli["valid"] is True and pdf_cli["source"]["region"] == a.origin, pdf_cli["checks"]

    # -- a type B has not accepted from A is refused, and says so ---------------------------------------------------
    b.cli("peers", "accept", a.origin, "--types", OTHER_TYPE)
    refused = _token(b, in_b, licence["token"])
    assert refused["valid"] is False and refused["reason_code"] == "type_not_accepted", refused
    assert refused["source"]["cross_region_verdict"] == "refused"
    assert b.cli("verify", licence["token"], code=1)["reasons"][0]["code"] == "type_not_accepted"
    refused_pdf = _pdf(b, in_b, pdf)
    assert refused_pdf["valid"] is False and _failed(refused_pdf) == {"trusted_chain": "type_not_accepted"}
    assert "version 2" in refused_pdf["checks"]["trusted_chain"]["detail"]
    b.cli("peers", "accept", a.origin, "--types", BUSINESS)

    # -- a PDF sealed under a CA B knows from no trust list: A's catalogue, another region's CA, not a peer of B -----
    stranger = Node(
        "410000", "河南省", "ledger.stranger.example/log", tmp_path / "xx", f"sqlite:///{tmp_path / 'xx' / 'tl.db'}"
    )
    out, err = stranger.init().communicate(timeout=120)
    foreign = _sealed(stranger, stranger.cli("licence", "issue", *_issue_args(2)), tmp_path / "x.pdf")
    unknown_ca = _pdf(b, in_b, foreign)
    assert unknown_ca["valid"] is False and unknown_ca["source"]["region"] == "local", (out, err)
    assert _failed(unknown_ca)["trusted_chain"] == "untrusted_chain"

    # -- sealed with A's own keys by a copy of A's home: A's log has no DocumentSealed of it --------------------------
    _snapshot(a.home, tmp_path / "ha-copy")
    copy = Node(a.code, a.name, a.origin, tmp_path / "ha-copy", f"sqlite:///{tmp_path / 'ha-copy' / 'trustledger.db'}")
    unlogged = _sealed(copy, licence, tmp_path / "copy.pdf")
    off_log = _pdf(b, in_b, unlogged)
    assert off_log["valid"] is False and off_log["source"]["region"] == a.origin
    assert _failed(off_log) == {"on_ledger": "not_in_peer_log"}, off_log["checks"]
    assert "no DocumentSealed" in off_log["checks"]["on_ledger"]["detail"]

    # -- A revokes: once B sees A's newer checkpoint and status proof, it refuses the token and the PDF ---------------
    a.cli("licence", "revoke", licence["identifier"], "--reason", "申请注销")
    a.cli("log", "checkpoint")
    revoked = _token(b, in_b, licence["token"])
    assert revoked["verdict"] == "revoked" and revoked["valid"] is False, revoked
    assert b.cli("verify", licence["token"], code=1)["reasons"][0]["code"] == "revoked"
    revoked_pdf = _pdf(b, in_b, pdf)
    assert revoked_pdf["valid"] is False and _failed(revoked_pdf) == {"licence_status": "revoked"}
    assert b.cli("verify", str(tmp_path / "a.pdf"), code=1)["checks"]["licence_status"]["code"] == "revoked"


def _issue_args(n: int) -> list[str]:
    fields = [f"--field={k}={v}" for k, v in FIELDS.items()]
    return [
        "--type",
        BUSINESS,
        "--holder",
        holder_uscc(n),
        "--holder-name",
        "郑州市龘鑫科技有限公司",
        "--issuer",
        ZZ_AMR,
        *fields,
    ]
