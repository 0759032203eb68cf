"""Licence-free handling across regions (跨省通办): a matter lookup that also asks the peers whose licence types this
region accepts, and merges their answers, each licence marked with the region whose ledger holds it.

The peer is asked through its own `POST /v1/matters/{code}/licences`, with a verifier API key the peer issued to this
region (`trustledger matters peer-key ORIGIN KEY`, kept in `$TRUSTLEDGER_HOME/peer-api-keys.json`, mode 0600); the
peer records each use on its ledger. Nothing in the peer's answer is taken on its word:

1. only licences of types this region's acceptance rule for the peer recognises (`peers accept --types`) and this
   region's matter needs are kept; others are dropped unseen;
2. the answer's checkpoint must be signed by the peer's log key from its verified trust list (`peers sync`);
3. each minting leaf and each use leaf must be in the peer's log under that checkpoint (RFC 9162 proof over the leaf
   data fetched from the peer), and a use leaf must be a `LicenceInvoked` event;
4. each status is re-proven from the peer's status map at that checkpoint and must agree with the answer; validity
   is re-decided here on this region's clock;
5. only the fields this region's matter needs are kept, and only for a licence proven valid.

A peer that fails any step for any licence is reported with the reason and contributes nothing (fail closed); an
unreachable peer likewise. The peers are asked after the local lookup has committed, never inside its transaction.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eventsourcing.utils import get_topic
from pydantic import ValidationError

from anchors.errors import AnchorError
from anchors.federation import stored_trust_list
from anchors.model import PeerRecord
from anchors.peers import HttpPeerSource, parse_peer_status_proof
from ledger.envelope import parse_leaf_data
from ledger.errors import LedgerError
from ledger.merkle import leaf_hash, verify_inclusion
from licences.invocation import LicenceInvoked
from licences.matters import Matter
from signatures.errors import SignatureError
from signatures.note import CheckpointBody, open_checkpoint
from signatures.statusproof import StatusValue, verify_status_proof
from signatures.trustlist import TrustList
from trustledger.anchoring import anchor_store
from trustledger.crossregion import cross_region_store, verify_http_client
from trustledger.region_core import RegionCore
from trustledger_client.matter_models import MatterLicenceOut, MatterLookupOut
from trustledger_client.models import InclusionProofOut

PEER_KEYS_FILE = "peer-api-keys.json"
MAX_ANSWER_BYTES = 2 * 1024 * 1024
MAX_KEY_LENGTH = 200
INVOKED_TOPIC = get_topic(LicenceInvoked)
_PROVEN_STATUS = {"valid": "active", "expired": "active", "not_yet_valid": "active"}  # else the status itself


class PeerAnswerError(Exception):
    """A peer's answer failed a check: the whole answer is set aside."""


@dataclass(frozen=True)
class PeerLookup:
    """What one peer contributed: its verified, minimised licences, or why it contributed nothing."""

    origin: str
    region_code: str | None
    licences: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary line of the peer in a merged answer."""
        return {"origin": self.origin, "region": self.region_code, "licences": len(self.licences), "error": self.error}

    def answer_json(self) -> dict[str, Any]:
        """The peer's part of an API answer (`PeerMatterOut`): the summary with the licences themselves."""
        return {"origin": self.origin, "region": self.region_code, "error": self.error, "licences": self.licences}


# -- the peers' API keys -----------------------------------------------------------------------------------------------


def _keys_path(region: RegionCore) -> Path:
    return Path(region.settings.home) / PEER_KEYS_FILE


def peer_keys(region: RegionCore) -> dict[str, str]:
    """The verifier API keys peers issued to this region, by peer origin."""
    path = _keys_path(region)
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in doc.items()):
        raise ValueError(f"{path}: must map peer origins to API keys")
    return dict(doc)


def save_peer_key(region: RegionCore, origin: str, key: str) -> None:
    """Keep the verifier API key `origin` issued to this region (the peer must be registered: `peers add`)."""
    if anchor_store(region).peer(origin) is None:
        raise ValueError(f"no peer {origin!r}: run `trustledger peers add URL` first")
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(0x21 <= ord(c) <= 0x7E for c in key):
        raise ValueError(f"the key must be 1-{MAX_KEY_LENGTH} printable ASCII characters without spaces")
    keys = peer_keys(region) | {origin: key}
    path = _keys_path(region)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # an API key: readable by the operator only
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(keys, out, indent=2, sort_keys=True)


# -- asking the peers --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupRequest:
    """The lookup as the approval system asked it of this region, to be asked again of each peer."""

    holder_id: str
    consent: str
    purpose: str
    idempotency_key: str | None = None

    def peer_key(self, origin: str) -> str | None:
        """The idempotency key sent on to a peer: derived, so a retry here is a retry there, and the caller's own key
        is not passed on."""
        if self.idempotency_key is None:
            return None
        return hashlib.sha256(f"{origin}\n{self.idempotency_key}".encode()).hexdigest()


def ask_peers(
    region: RegionCore, matter: Matter, request: LookupRequest, http: httpx.Client | None = None
) -> list[PeerLookup]:
    """Ask every peer whose accepted types the matter needs and whose API key this region holds."""
    keys, rules = peer_keys(region), cross_region_store(region)
    client = http or verify_http_client()
    try:
        answers = []
        for peer in anchor_store(region).peers():
            rule = rules.latest_rule(peer.origin)
            wanted = {n.type_code for n in matter.needs if rule is not None and rule.accepts(n.type_code)}
            if wanted and peer.origin in keys:
                answers.append(_ask(region, peer, keys[peer.origin], matter, wanted, request, client))
        return answers
    finally:
        if http is None:
            client.close()


def _ask(
    region: RegionCore,
    peer: PeerRecord,
    key: str,
    matter: Matter,
    wanted: set[str],
    request: LookupRequest,
    http: httpx.Client,
) -> PeerLookup:
    trust_list = stored_trust_list(peer)
    if trust_list is None:
        return PeerLookup(peer.origin, None, error="no verified trust list of the peer yet: run `peers sync`")
    try:
        answer = _post(peer, key, matter, wanted, request, http)
        licences = _verified(region, peer, key, matter, wanted, trust_list, answer, http)
    except (PeerAnswerError, AnchorError, LedgerError, SignatureError) as exc:
        return PeerLookup(peer.origin, trust_list.region_code, error=str(exc))
    return PeerLookup(peer.origin, trust_list.region_code, licences)


def _post(
    peer: PeerRecord, key: str, matter: Matter, wanted: set[str], request: LookupRequest, http: httpx.Client
) -> MatterLookupOut:
    headers = {"Authorization": f"Bearer {key}"}
    idempotency = request.peer_key(peer.origin)
    if idempotency is not None:
        headers["Idempotency-Key"] = idempotency
    url = f"{peer.base_url.rstrip('/')}/v1/matters/{matter.code}/licences"
    body = {
        "holder_id": request.holder_id,
        "consent": request.consent,
        "purpose": request.purpose,
        "licence_types": sorted(wanted),  # the peer discloses (and records) nothing we would drop
    }
    try:
        response = http.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise PeerAnswerError(f"POST {url} failed: {exc}") from exc
    if response.status_code != 200:
        raise PeerAnswerError(f"POST {url} answered HTTP {response.status_code}: {response.text[:200]}")
    if len(response.content) > MAX_ANSWER_BYTES:
        raise PeerAnswerError(f"POST {url}: the answer is above the cap of {MAX_ANSWER_BYTES} bytes")
    try:
        answer = MatterLookupOut.model_validate_json(response.content)
    except ValidationError as exc:
        raise PeerAnswerError(f"POST {url}: not a matter lookup answer ({exc.error_count()} errors)") from exc
    if answer.matter != matter.code:
        raise PeerAnswerError(f"POST {url}: the answer is for matter {answer.matter!r}")
    return answer


def _verified(
    region: RegionCore,
    peer: PeerRecord,
    key: str,
    matter: Matter,
    wanted: set[str],
    trust_list: TrustList,
    answer: MatterLookupOut,
    http: httpx.Client,
) -> list[dict[str, Any]]:
    """Steps 1-5 of the module docstring for every licence of the answer; `PeerAnswerError` at the first failure."""
    kept = [lic for lic in answer.licences if lic.type_code in wanted]  # (1): only what we recognise and need
    if not kept:
        return []
    if answer.checkpoint is None:
        raise PeerAnswerError("the answer has licences but no checkpoint")
    # (2): the checkpoint is signed by the peer's log key
    body = open_checkpoint(answer.checkpoint.note, trust_list.log_verifier(), peer.origin)
    source = HttpPeerSource(peer.base_url, http)
    out = []
    for lic in kept:
        # (3): the minting leaf and the use leaf are in the peer's log under that checkpoint
        _check_leaf(source, lic.leaf_index, lic.inclusion_proof, body, None)
        _check_leaf(source, lic.use.leaf_index, lic.use.inclusion_proof, body, INVOKED_TOPIC)
        # (4): the status is the one the peer's map commits to at that checkpoint
        value = _proven_status(peer, key, lic, body, trust_list, http)
        valid = (
            value.status == "active"
            and value.valid_from <= region.clock()
            and (value.valid_until is None or region.clock() < value.valid_until)
        )
        # (5): only this region's needed fields, only for a licence proven valid
        need = matter.need(lic.type_code)
        fields = {} if not valid or need is None else {n: lic.fields[n] for n in need.fields if n in lic.fields}
        out.append(_licence_json(lic, fields, valid, trust_list.region_code, peer.origin))
    return out


def _check_leaf(
    source: HttpPeerSource, index: int, proof: InclusionProofOut | None, body: CheckpointBody, topic: str | None
) -> None:
    if proof is None or proof.leaf_index != index or proof.tree_size != body.size:
        raise PeerAnswerError(f"leaf {index}: no inclusion proof under the answer's checkpoint")
    data = source.leaf(index)
    envelope = parse_leaf_data(data)
    if envelope.index != index or (topic is not None and envelope.type != topic):
        raise PeerAnswerError(f"leaf {index} is not what the answer says it is ({envelope.type})")
    try:
        hashes = [base64.b64decode(h, validate=True) for h in proof.hashes]
    except ValueError as exc:
        raise PeerAnswerError(f"leaf {index}: a proof hash is not base64") from exc
    verify_inclusion(index, body.size, leaf_hash(data), hashes, body.root_hash)


def _proven_status(
    peer: PeerRecord, key: str, lic: MatterLicenceOut, body: CheckpointBody, trust_list: TrustList, http: httpx.Client
) -> StatusValue:
    url = f"{peer.base_url.rstrip('/')}/v1/status/proof"
    params: dict[str, str | int] = {"identifier": lic.identifier, "size": body.size}
    try:
        response = http.get(url, params=params, headers={"Authorization": f"Bearer {key}"})
    except httpx.HTTPError as exc:
        raise PeerAnswerError(f"GET {url} failed: {exc}") from exc
    if response.status_code != 200:
        raise PeerAnswerError(f"GET {url} answered HTTP {response.status_code}")
    proven = verify_status_proof(
        parse_peer_status_proof(response.content, lic.identifier), trust_list.log_verifier(), peer.origin
    )
    value = proven.value
    claimed = _PROVEN_STATUS.get(lic.status, lic.status)
    if proven.size != body.size or value is None or value.version != lic.licence_version or value.status != claimed:
        raise PeerAnswerError(f"{lic.identifier}: the answer contradicts the peer's status map")
    return value


def _licence_json(
    lic: MatterLicenceOut, fields: dict[str, Any], valid: bool, region_code: str, origin: str
) -> dict[str, Any]:
    doc = lic.model_dump(mode="json", exclude={"fields", "source_region"})
    return doc | {"fields": fields, "proven_valid": valid, "source_region": region_code, "source_origin": origin}


def merge(local: dict[str, Any], peers: list[PeerLookup]) -> dict[str, Any]:
    """The local answer (as `matters lookup --json` prints it) with the peers' licences after it; `prefill` keeps
    the local value of a field first, then the first peer's."""
    licences = list(local["licences"]) + [lic for p in peers for lic in p.licences]
    prefill = dict(local["prefill"])
    for p in peers:
        for lic in p.licences:
            for name, value in lic["fields"].items():
                prefill.setdefault(
                    name,
                    {
                        "value": value,
                        "licence_id": lic["id"],
                        "identifier": lic["identifier"],
                        "type_code": lic["type_code"],
                    },
                )
    return local | {"licences": licences, "prefill": prefill, "peers": [p.to_json() for p in peers]}
