"""Commands: `matters list|show|lookup` — the matter catalogue (事项目录) and licence-free handling (免证办).

`list` and `show CODE` print the matters as published on the region's ledger (the documents `GET /v1/matters`
serves). `lookup CODE --holder ID` is `POST /v1/matters/{code}/licences` run by the operator: the holder's licences of
the matter's types, each with only the fields the matter needs, each disclosure recorded as a use, each status proven
with the status map. It exits 0 when the lookup ran (refused licences are reported with their status), 2 for a bad
holder number, an unknown matter or a blank text.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from licences.errors import InvalidFieldError, LicenceError
from licences.matter_lookup import Disclosure, MatterLookup
from licences.matters import UnknownMatterError, matter_json
from trustledger.cli_common import emit, fail, region
from trustledger.crossregion_matters import LookupRequest, ask_peers, merge, save_peer_key
from trustledger.matters import matter_catalogue, matter_lookups
from trustledger.region import Region
from verification import prove_current

matters_app = typer.Typer(no_args_is_help=True, help="The matter catalogue and licence-free lookups (免证办).")

CODE = Annotated[str, typer.Argument(metavar="CODE", help="matter code (事项编码), e.g. 410100-SPJY-002")]


def _matter_text(doc: dict[str, Any]) -> str:
    lines = [
        f"{doc['code']}  {doc['name_zh']} / {doc['name_en']}",
        "  departments  " + ", ".join(f"{d['key']} {d['name_zh']}" for d in doc["departments"]),
    ]
    for t in doc["licence_types"]:
        lines.append(f"  {t['type_code']}  {t['name_zh']}: {', '.join(t['fields'])}")
    return "\n".join(lines)


@matters_app.command("list")
def matters_list() -> None:
    """Every matter: code, names, departments, and the fields it needs from each licence type."""
    with region() as r:
        catalogue = r.catalogue
        docs = [matter_json(m, catalogue) for m in matter_catalogue(r).matters()]
    emit({"matters": docs}, "\n".join(_matter_text(d) for d in docs))


@matters_app.command("show")
def matters_show(code: CODE) -> None:
    """One matter; exit 2 if the catalogue has no such code."""
    with region() as r:
        try:
            doc = matter_json(matter_catalogue(r).matter(code.strip()), r.catalogue)
        except UnknownMatterError as exc:
            raise fail(f"CODE: {exc}", 2) from exc
    emit(doc, _matter_text(doc))


def _disclosure_json(d: Disclosure, r: Region) -> dict[str, Any]:
    view, use = d.licence, d.use
    proven = prove_current(view, r.ledger_sources())  # the status printed is the one the signed map holds
    return {
        "id": str(view.id),
        "identifier": view.identifier,
        "type_code": view.type_code,
        "type_name_zh": view.type_name_zh,
        "status": view.status.value,
        "outcome": use.outcome,
        "refusal_reason": use.refusal_reason,
        "fields": d.fields,
        "leaf_index": view.minted_leaf,
        "use": {"invocation_id": str(use.invocation_id), "leaf_index": use.leaf_index},
        "status_proven": {"checkpoint_size": proven.size, "map_root": proven.map_root.hex()},
        "source_region": r.config.code,
        "source_origin": r.config.origin,
    }


def _lookup_text(result: MatterLookup, answer: dict[str, Any]) -> str:
    docs: list[dict[str, Any]] = answer["licences"]
    peers = [
        f"  peer {p['origin']}: {p['error'] or str(p['licences']) + ' licence(s)'}" for p in answer.get("peers", [])
    ]
    if not docs:
        empty = (
            f"{result.matter.code} {result.matter.name_zh}: the holder has no licence of its types (nothing recorded)"
        )
        return "\n".join([empty, *peers])
    lines = [f"{result.matter.code} {result.matter.name_zh}:"]
    for doc in docs:
        verdict = "ACCEPTED" if doc["outcome"] == "accepted" else f"REFUSED ({doc['refusal_reason']})"
        lines.append(
            f"  {verdict}: {doc['type_name_zh']} {doc['identifier']} ({doc['status']}, {doc['source_region']}), "
            f"use leaf {doc['use']['leaf_index']}"
        )
        lines += [f"    {name}: {value}" for name, value in doc["fields"].items()]
    return "\n".join(lines + peers)


@matters_app.command("lookup")
def matters_lookup(
    code: CODE,
    holder: Annotated[str, typer.Option(help="the holder's resident ID number (GB 11643) or USCC (GB 32100)")],
    purpose: Annotated[str, typer.Option(help="purpose of the use")] = "办理事项（命令行）",
    consent: Annotated[
        str, typer.Option(help="the holder's consent evidence")
    ] = "operator attests the holder's consent (CLI)",
    verifier: Annotated[str, typer.Option(help="who relies on the licences")] = "operator (CLI)",
    idempotency_key: Annotated[
        str | None, typer.Option(help="a retry with the same key returns the first answer and records nothing")
    ] = None,
    across_regions: Annotated[
        bool,
        typer.Option(
            "--across-regions",
            help="also ask the peers whose licence types this region accepts (`peers accept`) and whose API key it "
            "holds (`matters peer-key`); each peer records its uses; their answers are checked and merged",
        ),
    ] = False,
) -> None:
    """The holder's licences for the matter, only the fields it needs; each disclosure recorded as a use."""
    with region() as r:
        try:
            with r.store.write():  # one unit of work, as the API's
                result = matter_lookups(r).lookup(
                    code.strip(),
                    holder_id=holder,
                    verifier=verifier,
                    purpose=purpose,
                    consent=consent,
                    idempotency_key=idempotency_key,
                )
        except UnknownMatterError as exc:
            raise fail(f"CODE: {exc}", 2) from exc
        except InvalidFieldError as exc:
            option = {"holder_id": "--holder"}.get(exc.field, f"--{exc.field.replace('_', '-')}")
            raise fail(f"{option}: {exc.reason}", 2) from exc
        except LicenceError as exc:  # a reused idempotency key, a concurrent update
            raise fail(str(exc)) from exc
        docs = [_disclosure_json(d, r) for d in result.disclosures]
        answer: dict[str, Any] = {"matter": result.matter.code, "licences": docs, "prefill": result.prefill()}
        if across_regions:  # after the local unit of work has committed: no transaction waits on a peer
            request = LookupRequest(holder, consent, purpose, idempotency_key)
            answer = merge(answer, ask_peers(r, result.matter, request))
    emit(answer, _lookup_text(result, answer))


@matters_app.command("peer-key")
def matters_peer_key(
    origin: Annotated[str, typer.Argument(metavar="ORIGIN", help="the peer's log origin (as `peers list` shows)")],
    key: Annotated[str, typer.Argument(metavar="KEY", help="the verifier API key the peer issued to this region")],
) -> None:
    """Keep the verifier API key a peer region issued to this one, for `matters lookup --across-regions`."""
    with region() as r:
        try:
            save_peer_key(r, origin.strip(), key.strip())
        except ValueError as exc:
            raise fail(str(exc), 2) from exc
    emit({"origin": origin.strip(), "saved": True}, f"API key for {origin.strip()} saved")
