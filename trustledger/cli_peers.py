"""Commands: peers add|list|sync|alarms|accept|acceptance|verify, anchor, witness add-log|list|key (DESIGN §9, §13).

Exit codes: 0 success (`peers verify`: valid); 1 checked and failed (a peer unreachable or forked, a refused key, no
TSA answer, a licence not valid, a witness refusing our checkpoint as inconsistent); 2 usage (a malformed URL, key,
type code or token).
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import httpx
import typer
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anchors.acceptance import TYPE_CODE, AcceptanceError, parse_type_codes
from anchors.alarms import fork_alarms_total
from anchors.cosignature import parse_cosigner_key
from anchors.errors import AnchorError, ForkDetectedError, PeerError
from anchors.federation import SyncResult, stored_trust_list
from anchors.model import format_time
from anchors.peers import HttpPeerSource
from anchors.uses import UseInputError, UseRequest
from licences.errors import UnknownLicenceTypeError
from signatures.cose import decode_token, parse_token_text
from signatures.errors import MalformedError, SignatureError
from signatures.note import parse_verifier_key
from trustledger.anchoring import anchor_latest, anchor_store, http_client, region_federation, region_witness
from trustledger.cli_common import emit, fail, region
from trustledger.crossregion import (
    cross_region_store,
    cross_region_verifier,
    record_use,
    result_json,
    result_text,
    verify_http_client,
)
from trustledger.region import Region
from trustledger.verification import UsageError, parse_root_key

peers_app = typer.Typer(no_args_is_help=True, help="Federated regions: register, list, sync, fork alarms.")
witness_app = typer.Typer(no_args_is_help=True, help="This region as a C2SP tlog-witness for other logs.")


@contextmanager
def _anchors_errors() -> Iterator[None]:
    """Anchors and HTTP failures become exit 1 with the reason on stderr."""
    try:
        yield
    except (AnchorError, httpx.HTTPError) as exc:
        raise fail(str(exc)) from exc


def _root_key_raw(text: str) -> bytes:
    try:
        key = parse_root_key(text)
    except UsageError as exc:
        raise fail(str(exc), 2) from exc
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_witness_key(text: str, what: str) -> None:
    try:
        parse_cosigner_key(text)
    except MalformedError as exc:
        raise fail(f"{what}: {exc}", 2) from exc


def _identity(url: str, http: httpx.Client) -> dict[str, object] | None:
    try:
        return HttpPeerSource(url, http).identity()
    except PeerError as exc:
        sys.stderr.write(f"warning: could not read the peer's identity: {exc}\n")
        return None


def _pinned_keys(
    url: str, identity: dict[str, object] | None, origin: str | None, root_key: str | None, witness_key: str | None
) -> tuple[str, bytes, str | None]:
    """Origin, root key and witness key to pin: given ones must match what the peer says; missing ones come from it."""
    if identity is None:
        if origin is None or root_key is None:
            raise fail(f"peer {url} is unreachable: give --origin and --root-key to add it anyway")
        return origin, _root_key_raw(root_key), witness_key
    said_origin, said_root, said_witness = identity.get("origin"), identity.get("root_key"), identity.get("witness_key")
    if origin is not None and said_origin != origin:
        raise fail(f"peer {url} says its origin is {said_origin!r}, not {origin!r}")
    if not isinstance(said_origin, str):
        raise fail(f"peer {url} did not say its origin")
    if root_key is None:
        if not isinstance(said_root, str):
            raise fail(f"peer {url} did not publish a root key: give --root-key")
        sys.stderr.write(
            f"warning: root key of {said_origin} pinned on first use ({said_root}); compare it out of band with "
            "`trustledger trust-list root-key` run in that region\n"
        )
        root_raw = _root_key_raw(said_root)
    else:
        root_raw = _root_key_raw(root_key)
        if isinstance(said_root, str) and _root_key_raw(said_root) != root_raw:
            raise fail(f"peer {url} presents another root key than --root-key: refusing to pin it")
    if witness_key is None and isinstance(said_witness, str):
        witness_key = said_witness
    return said_origin, root_raw, witness_key


@peers_app.command("add")
def peers_add(
    url: Annotated[str, typer.Argument(help="base URL of the peer's API, e.g. https://ledger.js.gov.example")],
    origin: Annotated[str | None, typer.Option(help="the peer's log origin (checked against what it says)")] = None,
    root_key: Annotated[
        str | None, typer.Option("--root-key", help="the peer's trust-list root key (base64 SPKI, PEM or file)")
    ] = None,
    witness_key: Annotated[
        str | None, typer.Option("--witness-key", help="the peer's cosigner key <name>+<id>+<base64(0x04‖key)>")
    ] = None,
) -> None:
    """Register a peer region; keys not given are read from the peer and pinned on first use (with a warning)."""
    if not url.startswith(("http://", "https://")):
        raise fail(f"URL {url!r} must start with http:// or https://", 2)
    if root_key is not None:
        _root_key_raw(root_key)  # usage errors first, before anything is opened or fetched
    if witness_key is not None:
        _check_witness_key(witness_key, "--witness-key")
    with region() as r, _anchors_errors(), http_client() as http:
        the_origin, root_raw, the_witness = _pinned_keys(url, _identity(url, http), origin, root_key, witness_key)
        if the_witness is not None:
            _check_witness_key(the_witness, "the peer's witness key")
        peer = region_federation(r, http).add_peer(the_origin, url, root_raw, the_witness)
        emit(peer.to_json(), f"peer {peer.origin} added ({peer.base_url})")


@peers_app.command("list")
def peers_list() -> None:
    """The registered peers with their last sync."""
    with region() as r:
        store = anchor_store(r)
        rows = []
        for peer in store.peers():
            latest = store.latest_peer_checkpoint(peer.origin)
            rows.append(peer.to_json(None if latest is None else latest.size))
        lines = [
            f"{p['origin']}  {p['url']}  trust list v{p['trust_list_version'] or '-'}  "
            f"checkpoint {p['checkpoint_size'] if p['checkpoint_size'] is not None else '-'}"
            + (f"  ERROR {p['last_error']}" if p["last_error"] else "")
            for p in rows
        ]
        emit({"peers": rows}, "\n".join(lines) if lines else "no peers")


def _sync_lines(results: list[SyncResult | PeerError | SignatureError], origins: list[str]) -> list[str]:
    lines = []
    for origin, result in zip(origins, results, strict=True):
        if isinstance(result, SyncResult):
            new = "new" if result.new_checkpoint else "unchanged"
            lines.append(
                f"{origin}: ok, trust list v{result.trust_list_version}, checkpoint {result.checkpoint_size} ({new})"
            )
        else:
            kind = "FORK" if isinstance(result, ForkDetectedError) else "FAILED"
            lines.append(f"{origin}: {kind}: {result}")
    return lines


@peers_app.command("sync")
def peers_sync(
    origin: Annotated[str | None, typer.Argument(help="sync only this peer (default: all)")] = None,
) -> None:
    """Fetch and verify each peer's trust list and checkpoint; exit 1 if any peer failed or forked."""
    with region() as r, _anchors_errors(), http_client() as http:
        federation = region_federation(r, http)
        origins = [origin] if origin is not None else [p.origin for p in federation.store.peers()]
        results: list[SyncResult | PeerError | SignatureError] = []
        for o in origins:
            try:
                results.append(federation.sync(o))
            except (PeerError, SignatureError) as exc:
                results.append(exc)
        doc = [
            r_.to_json()
            if isinstance(r_, SyncResult)
            else {"origin": o, "error": str(r_), "fork": isinstance(r_, ForkDetectedError)}
            for o, r_ in zip(origins, results, strict=True)
        ]
        failed = [x for x in results if not isinstance(x, SyncResult)]
        emit({"results": doc, "ok": not failed}, "\n".join(_sync_lines(results, origins)) or "no peers")
        if failed:
            raise typer.Exit(1)


@peers_app.command("alarms")
def peers_alarms() -> None:
    """Stored fork evidence (newest first); exit 1 when there is any."""
    with region() as r:
        alarms = anchor_store(r).alarms()
        emit(
            {"alarms": [a.to_json() for a in alarms], "raised_by_this_process": fork_alarms_total()},
            "\n".join(f"#{a.id} {a.origin} {a.kind}: {a.detail}" for a in alarms) or "no alarms",
        )
        if alarms:
            raise typer.Exit(1)


def _type_codes(r: Region, values: list[str]) -> tuple[str, ...]:
    """--types as type codes. Type codes are national (the same type has the same code in every region), so a key of
    this region's catalogue names the peer's type too; a code-shaped name this catalogue lacks is kept as given (the
    peer may issue types we do not), anything else is a usage error naming close matches."""
    codes: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if not name:
                continue
            try:
                codes.append(r.catalogue.licence_type(name).code)
            except UnknownLicenceTypeError as exc:
                if TYPE_CODE.fullmatch(name) is None:
                    raise fail(f"--types: {exc}", 2) from None
                codes.append(name)
    try:
        return parse_type_codes(codes)
    except AcceptanceError as exc:
        raise fail(f"--types: {exc}", 2) from exc


@peers_app.command("accept")
def peers_accept(
    origin: Annotated[str, typer.Argument(help="the peer's log origin")],
    types: Annotated[
        list[str] | None,
        typer.Option(
            "--types",
            help="licence types recognised from it (comma-separated): type codes, or this catalogue's keys for them "
            "(business-licence); a code this catalogue lacks is taken as given",
        ),
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="recognise none of its licence types (withdraw)")] = False,
    note: Annotated[str, typer.Option(help="why (kept with the rule version)")] = "",
) -> None:
    """Set which of a peer's licence types this region recognises; every change is a new rule version."""
    if none == bool(types):
        raise fail("give either --types T1,T2… or --none", 2)
    with region() as r, _anchors_errors():
        codes = () if none else _type_codes(r, types or [])
        if not none and not codes:
            raise fail("--types: no licence type code given", 2)
        peer = anchor_store(r).peer(origin)
        if peer is None:
            raise fail(f"no peer {origin!r} is registered: `trustledger peers add URL` first")
        listed = stored_trust_list(peer)
        if listed is not None:
            offered = {t for issuer in listed.issuers for t in issuer.licence_types}
            for code in sorted(set(codes) - offered):
                sys.stderr.write(f"warning: no issuer in {origin}'s trust list may issue {code} (yet)\n")
        try:
            rule = cross_region_store(r).add_rule(origin, codes, note, r.clock())
        except AcceptanceError as exc:
            raise fail(str(exc), 2) from exc
        text = ", ".join(rule.licence_types) or "nothing"
        emit(rule.to_json(), f"{origin}: acceptance rule version {rule.version} recognises {text}")


@peers_app.command("acceptance")
def peers_acceptance(
    origin: Annotated[str | None, typer.Argument(help="only this peer (default: all)")] = None,
) -> None:
    """Every version of the acceptance rules (oldest first): which peer licence types were recognised when."""
    with region() as r:
        rules = cross_region_store(r).rules(origin)
        emit(
            {"rules": [x.to_json() for x in rules]},
            "\n".join(
                f"{x.origin} v{x.version} {format_time(x.set_at)}: {', '.join(x.licence_types) or 'nothing'}"
                for x in rules
            )
            or "no acceptance rules",
        )


def _use_of(verifier: str | None, matter: str | None, purpose: str | None, consent: str | None) -> UseRequest | None:
    given = [x is not None for x in (verifier, matter, purpose, consent)]
    if not any(given):
        return None
    if not all(given):
        raise fail("to record a use give all of --verifier, --matter, --purpose, --consent", 2)
    try:
        return UseRequest(verifier or "", matter or "", purpose or "", consent or "")
    except UseInputError as exc:
        raise fail(f"--{exc.field.replace('_code', '')}: {exc.reason}", 2) from exc


@peers_app.command("verify")
def peers_verify(
    token: Annotated[str, typer.Argument(metavar="TOKEN_OR_URL", help="a peer region's licence token or QR URL")],
    verifier: Annotated[str | None, typer.Option(help="approval system using the licence (records a use)")] = None,
    matter: Annotated[str | None, typer.Option(help="matter code (事项编码)")] = None,
    purpose: Annotated[str | None, typer.Option(help="why the licence is used")] = None,
    consent: Annotated[str | None, typer.Option(help="the holder's consent evidence")] = None,
) -> None:
    """Verify a peer region's licence here: its trust list, its log, its word on the status. Exit 0 only if valid."""
    use = _use_of(verifier, matter, purpose, consent)
    try:
        data = parse_token_text(token)
        origin = decode_token(data)[1].log_origin
    except MalformedError as exc:
        raise fail(f"TOKEN_OR_URL: not a licence token: {exc}", 2) from exc
    with region() as r, _anchors_errors(), verify_http_client() as http:
        if origin == r.config.origin:
            raise fail("this is this region's own licence: use `trustledger verify`", 2)
        checker = cross_region_verifier(r, http)
        try:
            result = checker.verify(data)
        finally:
            checker.close()
        recorded = None if use is None else record_use(r, result, use)
        doc = result_json(result, recorded)
        emit(doc, result_text(doc))
        if not result.valid:
            raise typer.Exit(1)


def _anchor(r: Region) -> None:
    report = anchor_latest(r)
    a = report.anchor
    doc = {
        "tree_size": a.tree_size,
        "note_sha256": a.note_sha256.hex(),
        "gen_time": format_time(a.gen_time),
        "timestamp_token": base64.b64encode(a.token).decode(),
        "cosignatures": [c.line for c in report.cosignatures],
        "witness_errors": list(report.witness_errors),
        "witness_inconsistent": list(report.inconsistent),
    }
    text = f"checkpoint {a.tree_size} anchored at {format_time(a.gen_time)}; {len(report.cosignatures)} cosignature(s)"
    for error in report.witness_errors:
        if error not in report.inconsistent:
            sys.stderr.write(f"warning: witness {error}\n")
    emit(doc, text)
    if report.inconsistent:
        for error in report.inconsistent:
            sys.stderr.write(
                f"ALARM: witness {error}: it refuses checkpoint {a.tree_size} as inconsistent with what it cosigned "
                "for this log before (a fork or a rollback of this region's log, or the witness saw another view); "
                "run `trustledger audit` and compare with the witness\n"
            )
        raise typer.Exit(1)


def anchor() -> None:
    """Timestamp the latest checkpoint with the region TSA and collect cosignatures from the peers' witnesses.

    Exit codes: 0 anchored (also when a witness is unreachable or refuses for another reason: a warning on stderr,
    listed in `witness_errors`; the next round asks again); 1 a witness refuses our checkpoint as inconsistent with
    what it cosigned for us before (HTTP 422 `witness-inconsistent`, or a 409 for our own size: an ALARM on stderr,
    an ERROR in the log, listed in `witness_inconsistent`), or anchoring failed (no TSA answer, no region)."""
    with region() as r, _anchors_errors():
        _anchor(r)


@witness_app.command("add-log")
def witness_add_log(
    origin: Annotated[str, typer.Argument(help="the log's origin line")],
    verifier_key: Annotated[str, typer.Argument(help="its Go-note checkpoint key <name>+<id>+<base64>")],
) -> None:
    """Witness another log: cosign its checkpoints that grow consistently, under this key."""
    try:
        parse_verifier_key(verifier_key)
    except MalformedError as exc:
        raise fail(f"VERIFIER_KEY: {exc}", 2) from exc
    with region() as r, _anchors_errors():
        try:
            state = region_witness(r).add_log(origin, [verifier_key])
        except MalformedError as exc:
            raise fail(str(exc), 2) from exc
        emit(
            {"origin": state.origin, "verifier_keys": list(state.verifier_keys), "size": state.size},
            f"witnessing {state.origin} (cosigned size {state.size})",
        )


@witness_app.command("list")
def witness_list() -> None:
    """The logs this region witnesses and the size it last cosigned for each."""
    with region() as r:
        logs = anchor_store(r).witnessed_logs()
        emit(
            {"logs": [{"origin": w.origin, "size": w.size, "verifier_keys": list(w.verifier_keys)} for w in logs]},
            "\n".join(f"{w.origin}  cosigned size {w.size}" for w in logs) or "no logs witnessed",
        )


@witness_app.command("key")
def witness_key() -> None:
    """This region's cosigner key (C2SP tlog-cosignature vkey) that peers pin."""
    with region() as r:
        key = region_witness(r).signer.verifier.to_string()
        emit({"witness_key": key}, key)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root `trustledger` app."""
    app.add_typer(peers_app, name="peers")
    app.add_typer(witness_app, name="witness")
    app.command("anchor")(anchor)
