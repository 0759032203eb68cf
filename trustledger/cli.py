"""The `trustledger` command (DESIGN §13). Exit codes: 0 success/valid, 1 checked and invalid or failed, 2 usage."""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from trustledger.cli_common import CTX, ContractGroup, LazyCommand, emit, fail, package_version, region

if TYPE_CHECKING:
    from clock import Clock
    from ledger.persistence import LedgerRecorder

# Heavy imports (SQLAlchemy, Alembic, pyHanko, aiohttp, the web stack) live inside the functions that use them, and
# the command groups of other modules load on first use (`LAZY` below): `trustledger --help` and `verify --offline`
# stay within a few times a bare interpreter's start-up (python -m bench cli; tests/trustledger/test_cli_startup.py).


def _catalogue(app: typer.Typer) -> None:
    from trustledger import cli_catalogue

    cli_catalogue.register(app)


def _licence_and_seals(app: typer.Typer) -> None:
    # One loader for both: `seals` also adds `licence pdf` to the licence group.
    from trustledger import cli_licence, cli_seals

    cli_licence.register(app)
    cli_seals.register(app)


def _bulk(app: typer.Typer) -> None:
    from trustledger import cli_bulk

    cli_bulk.register(app)


def _trust(app: typer.Typer) -> None:
    from trustledger import cli_trust

    cli_trust.register(app)


def _remind(app: typer.Typer) -> None:
    from trustledger import cli_remind

    cli_remind.register(app)


def _peers(app: typer.Typer) -> None:
    from trustledger import cli_peers

    cli_peers.register(app)


def _apikeys(app: typer.Typer) -> None:
    from trustledger import cli_apikeys

    cli_apikeys.register(app)


def _status(app: typer.Typer) -> None:
    from trustledger import cli_status

    cli_status.register(app)


def _matters(app: typer.Typer) -> None:
    # The matter catalogue commands come from their own module; until it lands, `matters` says so (exit 1).
    from trustledger.cli_matters import matters_app  # type: ignore[import-not-found, unused-ignore]

    app.add_typer(matters_app, name="matters")


# Each capability registers its commands from its own module, imported when one of its commands runs; the help here
# is what the root `--help` shows without importing it (tests/trustledger/test_cli_startup.py keeps it in step).
LAZY: dict[str, LazyCommand] = {
    "import": LazyCommand(
        "Import existing licences (存量证照): streaming, batched, resumable; rejected rows go to the rejects file.",
        _bulk,
    ),
    "verify": LazyCommand("Verify a licence token, QR URL or sealed PDF; print the verdict and every reason.", _trust),
    "anchor": LazyCommand(
        "Timestamp the latest checkpoint with the region TSA and collect cosignatures from the peers' witnesses.",
        _peers,
    ),
    "catalogue": LazyCommand("The licence catalogue: types, their fields, departments.", _catalogue),
    "licence": LazyCommand("Issue, inspect and manage licences (证照).", _licence_and_seals),
    "demo": LazyCommand("Demo content: synthetic licences.", _bulk),
    "trust-list": LazyCommand("The region's signed trust list (DESIGN §6).", _trust),
    "keys": LazyCommand("Signing keys and their lifecycle (registered, retired, compromised).", _trust),
    "seals": LazyCommand("The region's e-seals (电子印章): seal certificates, CRL, CA.", _licence_and_seals),
    "remind": LazyCommand("Proactive expiry reminders: scheduler, outbox, dead letters, contacts.", _remind),
    "peers": LazyCommand("Federated regions: register, list, sync, fork alarms.", _peers),
    "witness": LazyCommand("This region as a C2SP tlog-witness for other logs.", _peers),
    "apikey": LazyCommand("API keys: issuer, verifier, auditor, operator.", _apikeys),
    "status": LazyCommand("Status map proofs: a licence version's status, provable.", _status),
    "matters": LazyCommand("The matter catalogue and licence-free lookups (免证办).", _matters),
}


class RootGroup(ContractGroup):
    """`trustledger`: the contract group with this package's lazily loaded subcommands."""

    lazy = LAZY


app = typer.Typer(
    cls=RootGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain click help at the root: rendering it with rich costs ~45 ms per `--help`
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


def _derived_tables() -> list[str]:
    """The tables `audit` re-derives from the events besides the status map (docs/audit.md)."""
    from licences.derived_audit import LICENCE_TABLES, REGISTRY_TABLES
    from seals.derived_audit import SEAL_TABLES

    return [spec.name for spec in (*LICENCE_TABLES, *REGISTRY_TABLES, *SEAL_TABLES)]


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
    from ledger.errors import LedgerError
    from signatures.errors import SignatureError
    from trustledger.region import RegionConfig, RegionError, init_region
    from trustledger.settings import Settings

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
    from anchors.audit import AnchorReferences
    from ledger.audit import AuditHook, run_audit
    from ledger.errors import AuditFailure
    from ledger.store_derived import scratch_database
    from ledger.store_statusmap_audit import scratch_status_map
    from ledger.trusted import TrustedFileError, read_trusted
    from licences.derived_audit import LicenceTablesAudit, RegistryAudit
    from licences.status_audit import StatusMapAudit
    from licences.store_audit import SCRATCH_TABLES as LICENCE_SCRATCH
    from seals.derived_audit import SealRegistryAudit
    from seals.store_audit import SCRATCH_TABLES as SEAL_SCRATCH
    from signatures.errors import SignatureError
    from trustledger.region import RegionError
    from trustledger.trust import root_signer
    from trustlists.audit import TrustListAudit

    derived_tables = _derived_tables()
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
                "derived_tables": derived_tables,
                "trust_list_versions": trust_lists.count,
            },
            f"audit OK: {report.leaves} leaves, {report.tiles} tiles, {report.checkpoints} checkpoints, status map "
            f"re-derived, {len(derived_tables)} derived tables re-derived, {trust_lists.count} trust list version(s) "
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
    from ledger.ids import LeafIndex

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
    from ledger.ids import LeafIndex

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
    import tempfile

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.errors import LedgerError
    from ledger.log import Log
    from ledger.persistence import LedgerRecorder
    from ledger.store import LedgerStore
    from signatures.note import NoteSigner
    from trustledger.region import region_clock
    from trustledger.settings import Settings

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
    import uuid

    from eventsourcing.persistence import StoredEvent

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
    workers: Annotated[
        int | None,
        typer.Option(min=1, show_default=False, help="worker processes (default: TRUSTLEDGER_WORKERS, else per CPU)"),
    ] = None,
) -> None:
    """Run the HTTP service (initialises a demo region on first start if none exists)."""
    from trustledger.server import run  # lazy: the web stack loads only for `serve`

    run(host, port, workers)


def main() -> None:
    """Console-script entry point: a plain `verify --offline` runs without building the typer command (cli_fast)."""
    from trustledger import cli_fast

    code = cli_fast.main()
    if code is not None:
        sys.exit(code)
    app()
