"""The `trustledger` command (DESIGN §13). Exit codes: 0 success/valid, 1 checked and invalid or failed, 2 usage."""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from anchors.audit import AnchorReferences
from clock import Clock
from ledger.audit import AuditHook, run_audit
from ledger.errors import AuditFailure, LedgerError
from ledger.ids import LeafIndex
from ledger.log import Log
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore
from ledger.store_derived import scratch_database
from ledger.store_statusmap_audit import scratch_status_map
from ledger.trusted import TrustedFileError, read_trusted
from licences.derived_audit import LICENCE_TABLES, REGISTRY_TABLES, LicenceTablesAudit, RegistryAudit
from licences.status_audit import StatusMapAudit
from licences.store_audit import SCRATCH_TABLES as LICENCE_SCRATCH
from seals.derived_audit import SEAL_TABLES, SealRegistryAudit
from seals.store_audit import SCRATCH_TABLES as SEAL_SCRATCH
from signatures.errors import SignatureError
from signatures.note import NoteSigner
from trustledger import (
    cli_apikeys,
    cli_bulk,
    cli_catalogue,
    cli_licence,
    cli_peers,
    cli_remind,
    cli_seals,
    cli_status,
    cli_trust,
)
from trustledger.cli_common import CTX, ContractGroup, emit, fail, package_version, region
from trustledger.region import RegionConfig, RegionError, init_region, region_clock
from trustledger.settings import Settings
from trustledger.trust import root_signer
from trustlists.audit import TrustListAudit

app = typer.Typer(
    cls=ContractGroup,
    no_args_is_help=True,
    add_completion=False,
    help="TrustLedger: a trust ledger for e-licences.\n\nExit codes: 0 ok, 1 checked and found invalid or failed, "
    "2 usage error. --json (here or after the command) prints one JSON document on stdout; errors go to stderr.",
)
log_app = typer.Typer(no_args_is_help=True, help="Read the log: checkpoints, leaves, proofs.")
proof_app = typer.Typer(no_args_is_help=True, help="Inclusion and consistency proofs (RFC 9162).")
bench_app = typer.Typer(no_args_is_help=True, help="Built-in load generators.")
app.add_typer(log_app, name="log")
log_app.add_typer(proof_app, name="proof")
app.add_typer(bench_app, name="bench")

BENCH_TOPIC = "trustledger.bench:SyntheticEvent"
SCRATCH_ORIGIN = "bench.invalid/scratch-log"  # `.invalid` (RFC 6761): no verifier could mistake it for a region
# Re-derived from the events by `audit` besides the status map (docs/audit.md).
DERIVED_TABLES = [spec.name for spec in (*LICENCE_TABLES, *REGISTRY_TABLES, *SEAL_TABLES)]


def _print_version(wanted: bool) -> None:
    if wanted:
        text = package_version()
        emit({"version": text}, f"trustledger {text}")
        raise typer.Exit()


@app.callback()
def _root(
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON document on stdout (also accepted after the command)")
    ] = False,
    _version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="print the version and exit"),
    ] = False,
) -> None:
    CTX.json = as_json


@app.command()
def init(
    region_code: Annotated[str | None, typer.Option(help="6-digit administrative code, e.g. 410000")] = None,
    region_name: Annotated[str | None, typer.Option(help="region name, e.g. 河南省")] = None,
    origin: Annotated[str | None, typer.Option(help="log origin, e.g. ledger.ha.gov.example/log")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="add demo departments and licences")] = False,
) -> None:
    """Create keys, database and catalogue for a region (idempotent)."""
    try:  # a malformed identity option is a usage error; a different identity than the region's is refused (exit 1)
        RegionConfig(region_code or "410000", region_name or "-", origin or "example/log")
    except RegionError as exc:
        raise fail(str(exc), 2) from exc
    settings = Settings()
    try:
        r = init_region(settings, region_code, region_name, origin)
    except (RegionError, LedgerError, SignatureError) as exc:
        raise fail(str(exc)) from exc
    try:
        demo_ids: dict[str, str] = {}
        if demo:
            from trustledger.demo import add_demo  # lazy: optional, heavier imports

            demo_ids = add_demo(r)
        emit(
            {
                "region": r.config.code,
                "name": r.config.name,
                "origin": r.config.origin,
                "home": str(settings.home),
                "log_size": r.log.size(),
                **({"demo_licences": demo_ids} if demo else {}),
            },
            f"region {r.config.code} {r.config.name} ready at {settings.home} (origin {r.config.origin})"
            + "".join(f"\n  demo {name:<34} {licence_id}" for name, licence_id in demo_ids.items()),
        )
    finally:
        r.close()


TRUSTED_HELP = (
    "a file of signed checkpoint notes of this log published earlier, or a witness's or peer's view of it: each note "
    "as published (text, a blank line, its signature lines; cosignature lines of others are ignored), notes separated "
    "by blank lines (docs/formats.md); repeatable. The log must still hold each one (else 'rollback') with the same "
    "root and status map (else 'rewrite'). A file with no note signed by our log key is a usage error (exit 2)"
)


@app.command()
def audit(
    trusted_checkpoint: Annotated[
        list[Path] | None, typer.Option("--trusted-checkpoint", metavar="FILE", help=TRUSTED_HELP)
    ] = None,
) -> None:
    """Full audit of the log and of everything a verdict reads; exit 1 naming the first bad index or row.

    Re-derives every leaf, tile and checkpoint, the status map at each checkpoint (its `status-map` line and the
    stored map) and the newest stored map rows, and checks that every anchored (timestamped or cosigned) checkpoint is
    still stored. Re-derives every derived table from the events (licence index, identifiers and history, the
    registry's keys, catalogue and issuers, the seal certificates and their revocations) and names the first row and
    column that differ; checks every published trust list version (root signature, chain, its keys' states as the
    registry had them at its issue time). docs/audit.md lists what is covered and what is not. Deleting the newest
    checkpoints and re-signing is caught only against a checkpoint kept outside the database: pass those with
    --trusted-checkpoint.
    """
    with region() as r:
        verifier = r.log_signer.verifier
        trusted = []
        for path in trusted_checkpoint or []:
            try:
                trusted += read_trusted(path.read_bytes(), str(path), verifier, r.config.origin)
            except OSError as exc:
                raise fail(f"--trusted-checkpoint {path}: {exc.strerror or exc}", code=2) from exc
            except TrustedFileError as exc:
                raise fail(f"--trusted-checkpoint {exc}", code=2) from exc
        try:
            root_key = root_signer(r).private_key.public_key()  # the trust lists' signer
        except (RegionError, SignatureError) as exc:
            raise fail(f"audit: cannot load the region root key: {exc}") from exc
        with scratch_status_map() as scratch, scratch_database([*LICENCE_SCRATCH, *SEAL_SCRATCH]) as derived:
            mapper = r.recording.mapper
            status_map, anchors = StatusMapAudit(mapper, scratch), AnchorReferences()
            registry = RegistryAudit(mapper, derived)
            trust_lists = TrustListAudit(root_key, registry)  # before `registry`: it sees each event unfolded
            licences, seals = LicenceTablesAudit(mapper, derived), SealRegistryAudit(mapper, derived)
            hooks: list[AuditHook] = [status_map, anchors, trust_lists, registry, licences, seals]
            try:
                report = run_audit(r.store, verifier, r.config.origin, hooks=hooks, trusted=trusted)
            except AuditFailure as exc:
                if CTX.json:
                    doc = {"ok": False, "first_bad_index": exc.index, "reason": exc.reason}
                    sys.stdout.write(json.dumps(doc) + "\n")
                where = f" at index {exc.index}" if exc.index >= 0 else ""
                raise fail(f"audit FAILED{where}: {exc.reason}") from exc
        emit(
            {
                "ok": True,
                "leaves": report.leaves,
                "tiles": report.tiles,
                "checkpoints": report.checkpoints,
                "root_hash": base64.b64encode(report.root_hash).decode(),
                "status_map_root": base64.b64encode(status_map.root or bytes(32)).decode(),
                "anchored_checkpoints": anchors.count,
                "trusted_checkpoints": report.trusted,
                "derived_tables": DERIVED_TABLES,
                "trust_list_versions": trust_lists.count,
            },
            f"audit OK: {report.leaves} leaves, {report.tiles} tiles, {report.checkpoints} checkpoints, status map "
            f"re-derived, {len(DERIVED_TABLES)} derived tables re-derived, {trust_lists.count} trust list version(s) "
            f"checked, {anchors.count} anchored checkpoint(s) present, {report.trusted} trusted checkpoint(s) matched",
        )


@log_app.command("checkpoint")
def log_checkpoint() -> None:
    """Print the latest signed checkpoint note verbatim (signing one if the tree grew)."""
    with region() as r:
        note = r.sign_checkpoint()
        if CTX.json:
            emit({"checkpoint": note})
        else:
            sys.stdout.write(note)


@log_app.command("verifier-key")
def log_verifier_key() -> None:
    """Print the Go-note verifier key string of the log key."""
    with region() as r:
        key = r.log_signer.verifier.to_string()
        emit({"verifier_key": key}, key)


@log_app.command("leaf")
def log_leaf(index: int) -> None:
    """Print base64 of a leaf's data."""
    with region() as r:
        data, leaf_hash = r.log.leaf(LeafIndex(index))  # the log refuses a negative index
        b64 = base64.b64encode(data).decode()
        emit({"index": index, "leaf_data": b64, "leaf_hash": base64.b64encode(leaf_hash).decode()}, b64)


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@proof_app.command("inclusion")
def proof_inclusion(
    index: int, size: Annotated[int | None, typer.Option(help="tree size (default: now)")] = None
) -> None:
    """Inclusion proof of leaf INDEX."""
    with region() as r:
        n, proof = r.log.inclusion_proof(LeafIndex(index), size)  # the proof refuses one beyond the tree
        doc = {"leaf_index": index, "tree_size": n, "hashes": _b64(proof)}
        sys.stdout.write(json.dumps(doc) + "\n")


@proof_app.command("consistency")
def proof_consistency(first: int, second: int) -> None:
    """Consistency proof from tree size FIRST to SECOND."""
    with region() as r:
        proof = r.log.consistency_proof(first, second)
        sys.stdout.write(json.dumps({"first": first, "second": second, "hashes": _b64(proof)}) + "\n")


@contextmanager
def _bench_log(into_region: bool) -> Iterator[tuple[LedgerRecorder, Clock, Callable[[], object]]]:
    """(recorder, clock, sign a checkpoint) of the log `bench append` writes to: a scratch log, or the region's."""
    if into_region:
        with region() as r:
            if r.licence_store.count():
                raise fail(
                    f"region {r.config.code} holds licences: `bench append --into-region` would leave synthetic events "
                    "in its append-only log for good; leave out --into-region to measure a scratch log",
                    code=2,
                )
            yield r.recorder, r.clock, r.sign_checkpoint
        return
    settings = Settings()
    clock = region_clock(settings)
    with tempfile.TemporaryDirectory(prefix="trustledger-bench-") as scratch:
        store = LedgerStore.from_url(f"sqlite:///{Path(scratch) / 'bench.sqlite'}", settings.write_limits())
        try:
            store.create_tables()
            log, signer = Log(store, SCRATCH_ORIGIN), NoteSigner(SCRATCH_ORIGIN, Ed25519PrivateKey.generate())
            yield LedgerRecorder(store, clock=clock), clock, lambda: log.sign_checkpoint(signer, clock())
        except LedgerError as exc:
            raise fail(str(exc)) from exc
        finally:
            store.close()


@bench_app.command("append")
def bench_append(
    events: Annotated[int, typer.Option(min=1, help="number of synthetic events")],
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="events per transaction")] = 1,
    into_region: Annotated[
        bool,
        typer.Option(
            "--into-region",
            help="append to the configured region's own log (its database and settings) instead of a scratch log; "
            "refused (exit 2) once the region holds any licence",
        ),
    ] = False,
) -> None:
    """Append N synthetic ledger events (their own stream type) and print the rate.

    The events go to a scratch log, a temporary SQLite database deleted afterwards, so no synthetic event ever lands in
    a region's append-only log (docs/adr/0011-bench-append-scratch-log.md). `--into-region` measures the region's own
    database instead, only on a region that holds no licence yet (a fresh one, before it goes live).
    """
    with _bench_log(into_region) as (recorder, clock, sign_checkpoint):
        started = clock.monotonic()
        done = 0
        while done < events:
            n = min(batch, events - done)
            stream = uuid.uuid4()
            recorder.insert_events(
                [StoredEvent(stream, v, BENCH_TOPIC, json.dumps({"n": done + v}).encode()) for v in range(1, n + 1)]
            )
            done += n
        seconds = clock.monotonic() - started
        sign_checkpoint()
        rate = events / seconds if seconds else float("inf")
        emit(
            {"events": events, "batch": batch, "seconds": round(seconds, 3), "events_per_second": round(rate, 1)},
            f"appended {events} events in batches of {batch}: {seconds:.2f} s, {rate:,.0f} events/s",
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Run the HTTP service (initialises a demo region on first start if none exists)."""
    from trustledger.server import run  # lazy: the web stack loads only for `serve`

    run(host, port, workers)


# Each capability registers its commands from its own module (DESIGN §13 names stay here in one list).
for _module in (
    cli_catalogue,
    cli_licence,
    cli_bulk,
    cli_trust,
    cli_seals,
    cli_remind,
    cli_peers,
    cli_apikeys,
    cli_status,
):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
