"""Wiring of cross-region verification (DESIGN §9): the verifier over the region's federation, peers read over HTTP,
uses recorded on this region's ledger, and the JSON form the API and the CLI both print.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from anchors.crossregion import ACTIVE, CrossRegionResult, CrossRegionVerifier
from anchors.sealed_documents import HttpPeerLicenceSource
from anchors.store_crossregion import CrossRegionStore
from anchors.uses import RecordedUse, UseRequest, record_peer_use
from clock import iso_utc
from trustledger.anchoring import region_federation
from trustledger.region_core import RegionCore
from verification.status import Reason, verdict_of

# Verification waits on the peer for the status only; an approval system must not hang on a dead region.
VERIFY_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


def verify_http_client() -> httpx.Client:
    """An HTTP client for verifying peers' licences: short timeouts, kept-alive connections, no proxies."""
    return httpx.Client(timeout=VERIFY_TIMEOUT, follow_redirects=False, trust_env=False)


def cross_region_store(region: RegionCore) -> CrossRegionStore:
    """The acceptance rules and proven peer leaves of the region database."""
    return CrossRegionStore(region.store.engine)


def cross_region_verifier(region: RegionCore, http: httpx.Client) -> CrossRegionVerifier:
    """The region's verifier of peer licences, reading peers over `http` (keep one per process: it caches)."""
    return CrossRegionVerifier(
        region_federation(region, http),
        cross_region_store(region),
        lambda base_url: HttpPeerLicenceSource(base_url, http),
    )


def _seconds(value: int) -> str:
    return iso_utc(datetime.fromtimestamp(value, UTC))


def use_facts(result: CrossRegionResult) -> dict[str, Any]:
    """What the use record keeps of a verification: the licence, the verdict and the evidence it rested on."""
    claims = result.claims
    return {
        "origin": result.origin,
        "identifier": "" if claims is None else claims.subject,
        "licence_version": 0 if claims is None else claims.version,
        "leaf_index": -1 if claims is None else claims.leaf_index,
        "verdict": result.verdict.value,
        "reasons": [f.code for f in result.reasons],
        "trust_list_version": None if result.trust_list is None else result.trust_list.version,
        "checkpoint_size": None if result.inclusion is None else result.inclusion.checkpoint.size,
        "acceptance_version": None if result.rule is None else result.rule.version,
    }


def record_use(region: RegionCore, result: CrossRegionResult, use: UseRequest) -> RecordedUse:
    """Record a use of a peer's licence on this region's ledger (accepted only for a `valid` verdict)."""
    return record_peer_use(region.recorder, region.clock(), use, use_facts(result))


def result_json(result: CrossRegionResult, use: RecordedUse | None = None) -> dict[str, Any]:
    """The API/CLI document of a cross-region verdict (claims only for an authentic token)."""
    trusted, inclusion = result.trusted, result.inclusion
    licence = None
    if trusted is not None:
        c = trusted.claims
        licence = {
            "identifier": c.subject,
            "type_code": c.licence_type,
            "issuer": c.issuer,
            "issuer_name": trusted.issuer.name,
            "licence_version": c.version,
            "valid_from": _seconds(c.not_before),
            "valid_until": None if c.expires_at is None else _seconds(c.expires_at),
            "leaf_index": c.leaf_index,
        }
    doc: dict[str, Any] = {
        "verdict": result.verdict.value,
        "valid": result.valid,
        "origin": result.origin,
        "local": False,
        "checked_at": iso_utc(result.checked_at),
        "reasons": [f.to_json() for f in result.reasons],
        "licence": licence,
        "status": _status_json(result),
        "status_proven": _proven_json(result),
        "trust_list": None,
        "inclusion": None,
        "acceptance": None if result.rule is None else result.rule.to_json(),
        "use": None if use is None else use_json(use),
        "source": source_json(result),
    }
    if result.trust_list is not None:
        t = result.trust_list
        doc["trust_list"] = {"version": t.version, "sha256": t.digest(), "next_update": iso_utc(t.next_update)}
    if inclusion is not None:
        doc["inclusion"] = {
            "leaf_index": inclusion.leaf_index,
            "tree_size": inclusion.checkpoint.size,
            "hashes": [base64.b64encode(h).decode() for h in inclusion.proof],
            "checkpoint": inclusion.checkpoint.note,
            "recorded_at": None if result.minted is None else result.minted.recorded_at,
        }
    return doc


def source_json(result: CrossRegionResult) -> dict[str, Any]:
    """Whose ledger the verdict rests on (the peer's), as local and cross-region answers both carry it."""
    return {
        "region": result.origin,
        "peer_url": result.peer_url,
        "cross_region_verdict": result.verdict.value,
        "reasons": [f.to_json() for f in result.reasons],
    }


def _status_json(result: CrossRegionResult) -> dict[str, Any] | None:
    """The issuing region's status of the licence version as its status map proves it (the shape peers used to send
    as their word, `GET /v1/federation/status`): `unknown` when the map proves it has no entry."""
    proven = result.proven
    if proven is None:
        return None
    value = proven.value
    if value is None:
        verdict, version = "unknown", None
    else:
        verdict = "valid" if value.status == ACTIVE else value.status
        version = None if value.status == "superseded" else value.version
    if verdict == "valid":  # active, but the proven validity period decides (proven_findings)
        verdict = next((f.code for f in result.reasons if f.code in ("not_yet_valid", "expired")), verdict)
    return {"origin": result.origin, "verdict": verdict, "reason_code": verdict, "current_version": version}


def _proven_json(result: CrossRegionResult) -> dict[str, Any] | None:
    """Against which checkpoint of the issuing region the status was proven, the entry, and where the proof is."""
    proven = result.proven
    if proven is None:
        return None
    doc: dict[str, Any] = {
        "checkpoint_size": proven.size,
        "map_root": base64.b64encode(proven.map_root).decode(),
        "identifier": proven.identifier,
        "value": None if proven.value is None else proven.value.to_canonical(),
        "proof_url": None,
    }
    if result.peer_url is not None:
        query = urlencode({"identifier": proven.identifier, "size": proven.size})
        doc["proof_url"] = f"{result.peer_url}/v1/status/proof?{query}"
    return doc


def use_json(use: RecordedUse) -> dict[str, Any]:
    """Where a use was recorded."""
    return {"recorded": True, "use_id": str(use.use_id), "leaf_index": use.leaf_index, "outcome": use.outcome}


def result_text(doc: dict[str, Any]) -> str:
    """The human form of a verdict document (CLI)."""
    lines = [f"{doc['verdict'].upper()}  ({doc['origin']})"]
    # The same findings in the token checks' terms (docs/verification.md): "invalid" because the peer says revoked
    # reads "revoked"; "valid_unconfirmed" reads "unknown".
    same_terms = verdict_of([Reason(r["code"], r["detail"]) for r in doc["reasons"]]).value
    if same_terms != doc["verdict"]:
        lines.append(f"  verdict: {same_terms}")
    lines += [f"  reason: {r['code']}: {r['detail']}" for r in doc["reasons"]]
    if doc["licence"] is not None:
        lic = doc["licence"]
        lines.append(f"  licence: {lic['identifier']} (version {lic['licence_version']}, type {lic['type_code']})")
        lines.append(f"  issuer: {lic['issuer_name']} ({lic['issuer']})")
    if doc["status"] is not None:
        proven = doc["status_proven"]
        where = "" if proven is None else f" (proven at its checkpoint {proven['checkpoint_size']})"
        lines.append(f"  issuing region's status map: {doc['status']['verdict']}{where}")
    if doc["trust_list"] is not None:
        t = doc["trust_list"]
        lines.append(f"  trust list: version {t['version']}, next update {t['next_update']}")
    if doc["inclusion"] is not None:
        i = doc["inclusion"]
        lines.append(f"  minting event: leaf {i['leaf_index']} under checkpoint {i['tree_size']} (verified here)")
    if doc["acceptance"] is not None:
        lines.append(f"  acceptance rule: version {doc['acceptance']['version']}")
    if doc["use"] is not None:
        lines.append(f"  use recorded: leaf {doc['use']['leaf_index']} ({doc['use']['outcome']})")
    return "\n".join(lines)
