"""Licence-free handling across regions (跨省通办) with three real servers (the fixture of test_three_regions): 江苏 B
asks 河南 A, whose 营业执照 it accepts, for a holder's licences of a matter; A records the use; B checks A's answer
against A's signed log and status map, keeps only what B's matter needs, and marks each licence's region. 广东 C,
which accepts nothing from A, asks nobody. A forged answer (a revoked licence claimed valid, a flipped proof bit, a
checkpoint signed by another key) contributes nothing; A down leaves B's own answer standing.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signatures.note import NoteSigner, sign_note
from tests.anchors.test_three_regions import (  # noqa: F401 - `regions` is the fixture
    BUSINESS,
    ZZ_AMR,
    Node,
    regions,
)
from tests.seals.wiring import FIELDS, holder_uscc
from trustledger.crossregion_matters import LookupRequest, ask_peers
from trustledger.matters import matter_catalogue
from trustledger.region import open_region
from trustledger.settings import Settings

MATTER = "410100-SPJY-002"  # 食品经营许可（延续）: 营业执照 (legal_representative, address) + 食品经营许可证
FOOD_TYPE = "food-business-licence"
FOOD = [
    "--field=legal_representative=张三", "--field=premises=河南省郑州市金水区花园路 123 号",
    "--field=main_format=餐饮服务经营者", "--field=business_items=热食类食品制售",
]  # fmt: skip
CONSENT, PURPOSE = "授权书 JS-2026-0002", "跨省通办：食品经营许可延续"


def _issue(node: Node, holder: str, type_code: str, fields: list[str]) -> dict[str, Any]:
    licence: dict[str, Any] = node.cli(
        "licence", "issue", "--type", type_code, "--holder", holder, "--holder-name", "郑州市龘鑫科技有限公司",
        "--issuer", ZZ_AMR, *fields,
    )  # fmt: skip
    return licence


def _log_size(node: Node) -> int:
    return int(node.cli("log", "checkpoint")["checkpoint"].split("\n")[1])


class _Tamper(httpx.BaseTransport):
    """Real HTTP, but the peer's matter answer is changed on the way, as a lying or compromised peer would."""

    def __init__(self, change: Callable[[dict[str, Any]], None]) -> None:
        self.inner = httpx.HTTPTransport()
        self.change = change

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method != "POST" or "/v1/matters/" not in request.url.path:
            return response
        response.read()
        doc = json.loads(response.content)
        self.change(doc)
        return httpx.Response(response.status_code, json=doc)


def _flip_use_proof(doc: dict[str, Any]) -> None:
    proof = doc["licences"][0]["use"]["inclusion_proof"]
    raw = bytearray(base64.b64decode(proof["hashes"][0]))
    raw[0] ^= 1
    proof["hashes"][0] = base64.b64encode(bytes(raw)).decode()


def _claim_valid(doc: dict[str, Any]) -> None:
    lic = doc["licences"][0]
    lic |= {
        "status": "valid",
        "outcome": "accepted",
        "refusal_reason": None,
        "fields": {"legal_representative": "李四"},
    }


def _resign_checkpoint(doc: dict[str, Any]) -> None:
    text = doc["checkpoint"]["note"].split("\n\n")[0] + "\n"
    doc["checkpoint"]["note"] = sign_note(text, NoteSigner(text.split("\n")[0], Ed25519PrivateKey.generate()))


def test_a_matter_lookup_across_regions_asks_the_accepting_peers_and_checks_their_answers(
    regions: tuple[Node, Node, Node],  # noqa: F811
) -> None:
    a, b, c = regions
    for node in regions:
        for peer in regions:
            if peer is not node:
                node.cli("peers", "add", peer.url)
    for node in regions:
        assert node.cli("peers", "sync")["ok"] is True
    b.cli("peers", "accept", a.origin, "--types", BUSINESS, "--note", "跨省通办 营业执照")
    key_for_b = a.cli("apikey", "create", "--role", "verifier", "--principal", "江苏省政务服务平台")["key"]
    b.cli("matters", "peer-key", a.origin, key_for_b)
    c.cli(
        "matters", "peer-key", a.origin, a.cli("apikey", "create", "--role", "verifier", "--principal", "广东")["key"]
    )
    assert b.cli("matters", "peer-key", "ledger.nowhere.example/log", "k", code=2) is None  # not a peer

    holder = holder_uscc(31)
    in_a = _issue(a, holder, BUSINESS, [f"--field={k}={v}" for k, v in FIELDS.items()])
    a_food = _issue(a, holder, FOOD_TYPE, FOOD)  # B does not accept A's food licences: never disclosed to B
    in_b = _issue(b, holder, BUSINESS, ["--field=legal_representative=张三", "--field=address=江苏省南京市"])
    a_size = _log_size(a)

    merged = b.cli("matters", "lookup", MATTER, "--holder", holder, "--across-regions", "--consent", CONSENT,
                   "--purpose", PURPOSE)  # fmt: skip
    by_region = {lic["source_region"]: lic for lic in merged["licences"]}
    assert set(by_region) == {"320000", "410000"}
    assert by_region["320000"]["identifier"] == in_b["identifier"]
    from_a = by_region["410000"]
    assert from_a["identifier"] == in_a["identifier"] and from_a["source_origin"] == a.origin
    assert from_a["proven_valid"] is True
    assert from_a["fields"] == {"legal_representative": "张三", "address": FIELDS["address"]}  # no established_on
    assert a_food["identifier"] not in json.dumps(merged, ensure_ascii=False)
    assert merged["peers"] == [{"origin": a.origin, "region": "410000", "licences": 1, "error": None}]

    # -- A recorded the use (B's matter, purpose, consent, and who asked), and only for what B may see ---------------
    assert _log_size(a) == a_size + 1
    uses = [e for e in a.cli("licence", "history", in_a["id"])["events"] if e["kind"] == "invoked"]
    assert len(uses) == 1 and uses[0]["leaf_index"] == from_a["use"]["leaf_index"]
    assert not [e for e in a.cli("licence", "history", a_food["id"])["events"] if e["kind"] == "invoked"]

    # -- the same through B's API: B's own licences in `licences`, A's under `peers`, checked the same way ------------
    api = b.verifier_client().lookup_matter_licences(
        MATTER, holder_id=holder, consent=CONSENT, purpose=PURPOSE, across_regions=True
    )
    assert [lic.identifier for lic in api.licences] == [in_b["identifier"]]
    assert api.licences[0].source_region == "320000"
    assert api.peers is not None and len(api.peers) == 1 and api.peers[0].error is None
    (peer_licence,) = api.peers[0].licences
    assert (peer_licence.identifier, peer_licence.source_region) == (in_a["identifier"], "410000")
    assert peer_licence.proven_valid and set(peer_licence.fields) == {"legal_representative", "address"}
    assert api.prefill["address"].value == "江苏省南京市"  # the local licence's value comes first
    assert _log_size(a) == a_size + 2  # A recorded this use too
    without = b.verifier_client().lookup_matter_licences(MATTER, holder_id=holder, consent=CONSENT, purpose=PURPOSE)
    assert without.peers is None  # not asked: nothing asked of A
    assert _log_size(a) == a_size + 2

    # -- C accepts nothing from A: it asks nobody ------------------------------------------------------------------
    alone = c.cli("matters", "lookup", MATTER, "--holder", holder, "--across-regions")
    assert alone["licences"] == [] and alone["peers"] == []

    # -- forged answers contribute nothing -------------------------------------------------------------------------
    region_b = open_region(Settings(home=b.home, database_url=b.db_url, public_base_url=b.url))
    try:
        matter = matter_catalogue(region_b).matter(MATTER)
        request = LookupRequest(holder, CONSENT, PURPOSE)
        a.cli("licence", "revoke", in_a["identifier"], "--reason", "吊销营业执照", "--kind", "penalty")
        for forge, expected in (
            (_claim_valid, "contradicts the peer's status map"),
            (_flip_use_proof, "inclusion proof"),
            (_resign_checkpoint, "signature"),
        ):
            with httpx.Client(transport=_Tamper(forge), timeout=30) as http:
                (peer,) = ask_peers(region_b, matter, request, http)
            assert peer.licences == [] and peer.error is not None and expected in peer.error, (forge, peer)
        with httpx.Client(timeout=30) as http:  # the honest answer: revoked, proven, no fields
            (peer,) = ask_peers(region_b, matter, request, http)
        assert peer.error is None and peer.licences[0]["status"] == "revoked" and peer.licences[0]["fields"] == {}
        assert peer.licences[0]["proven_valid"] is False
    finally:
        region_b.close()

    # -- A down: B's own answer stands, A is reported unreachable ---------------------------------------------------
    a.stop()
    down = b.cli("matters", "lookup", MATTER, "--holder", holder, "--across-regions")
    assert [lic["source_region"] for lic in down["licences"]] == ["320000"]
    assert down["peers"][0]["origin"] == a.origin and down["peers"][0]["error"]
