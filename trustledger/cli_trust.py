"""Commands: verify TOKEN_OR_URL_OR_PDF, trust-list export|root-key, keys list|rotate|compromise (DESIGN §13).

`verify` exit codes: 0 valid, 1 checked and not valid (every failed check listed), 2 usage (bad arguments, an
unreadable file, no root key to check the trust list with).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from licences.errors import LicenceError
from signatures.cose import key_id_for
from signatures.errors import MalformedError, SignatureError
from signatures.kids import kid_text, parse_kid
from trustledger.cli_common import emit, fail, region, resolve_department
from trustledger.verification import (
    Reason,
    UsageError,
    VerifyReport,
    ledger_sources,
    load_trust_list_file,
    parse_root_key,
    root_key_text,
)
from verification import TokenStatus, check_token_offline

if TYPE_CHECKING:
    from signatures.keyring import KeyRecord
    from signatures.trustlist import TrustList
    from trustledger.region import Region
    from trustledger.settings import Settings

# The PDF stack (cli_seals: pyHanko), the region (SQLAlchemy, Alembic) and the trust list publisher load inside the
# functions that need them: `verify --offline` with --at reads files only (python -m bench cli).

trust_list_app = typer.Typer(no_args_is_help=True, help="The region's signed trust list (DESIGN §6).")
keys_app = typer.Typer(
    no_args_is_help=True, help="Signing keys and their lifecycle (registered, retired, compromised)."
)


def _parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time with a zone (Z or ±hh:mm); a bare date means 00:00 UTC."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise fail(f"{option}: {text!r} is not an ISO 8601 time such as 2026-01-01T08:00:00Z", 2) from exc
    if value.utcoffset() is None:
        if len(text.strip()) != 10:
            raise fail(f"{option}: give a time zone (Z or +08:00), e.g. 2026-01-01T08:00:00+08:00", 2)
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _is_pdf(target: str) -> Path | None:
    path = Path(target)
    if target.lower().endswith(".pdf"):
        return path
    try:
        if path.is_file():
            with path.open("rb") as f:
                return path if f.read(5) == b"%PDF-" else None
    except OSError:
        return None
    return None


def _local_root_key(settings: Settings) -> Ed25519PublicKey:
    """The public half of this home's region root key, read from the keystore files (no database, no network)."""
    from signatures.keys import FileKeyStore, load_or_create_passphrase  # not needed when --root-key is given

    keys_dir = settings.home / "keys"
    if not settings.region_config_file().exists() or not (keys_dir / "root.pem").exists():
        raise UsageError("no root key to check the trust list against: pass --root-key (base64 SPKI or a file)")
    passphrase = settings.key_passphrase.encode() or load_or_create_passphrase(keys_dir / "passphrase")
    try:
        private = FileKeyStore(keys_dir, passphrase).load("root")
    except SignatureError as exc:
        raise UsageError(f"cannot read the region root key: {exc}") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise UsageError("the region root key is not Ed25519")
    return private.public_key()


def _settings() -> Settings:
    """The environment's settings; pydantic-settings loads only for a command that reads them."""
    from trustledger.settings import Settings

    return Settings()


def _region_now() -> datetime:
    """Now on the configured region's clock (`--at` not given), read from the settings alone: the offline check opens
    no region, so it does not import the region modules (and their storage stack) to learn the time."""
    return _settings().clock()()


def _file_trust_list(path: Path, root_key: str | None, now: datetime) -> tuple[TrustList | None, list[Reason]]:
    key = parse_root_key(root_key) if root_key else _local_root_key(_settings())
    return load_trust_list_file(path, key, now)


def _verify_offline(token: str, trust_list_file: Path, root_key: str | None, at: datetime | None) -> VerifyReport:
    now = at or _region_now()
    doc, reasons = _file_trust_list(trust_list_file, root_key, now)
    if doc is None:
        return VerifyReport(TokenStatus("offline", now, tuple(reasons)))
    return VerifyReport(check_token_offline(token, doc, now, list_reasons=tuple(reasons)))


def _verify_online(
    r: Region, token: str, trust_list_file: Path | None, root_key: str | None, at: datetime | None
) -> VerifyReport:
    """The core's online check; with `--trust-list` the token is also held to that (verified) list."""
    from trustledger.trust import region_trust_inputs, trust_list_period
    from verification.online import check_token_online  # the ledger check's stack, never loaded by `--offline`

    now = at or r.clock()
    if trust_list_file is None:
        status = check_token_online(token, ledger_sources(r), at=now)
        # Not a verdict input: the trust list the region would publish now, shown as what the keys rest on.
        return VerifyReport(replace(status, trust_list=region_trust_inputs(r).build(now, now + trust_list_period(r))))
    doc, reasons = _file_trust_list(trust_list_file, root_key, now)
    if doc is None:
        return VerifyReport(TokenStatus("online", now, tuple(reasons)))
    online = check_token_online(token, ledger_sources(r), at=now)
    offline = check_token_offline(token, doc, now, list_reasons=tuple(reasons), recorded_at=online.signed_at)
    return VerifyReport(online.held_to(offline))


def _print_report(report: VerifyReport) -> None:
    emit(report.to_json(), report.text())
    if not report.valid:
        raise typer.Exit(1)


def _verify_pdf(path: Path, trust_list: Path | None, offline: bool, root_key: str | None, at: datetime | None) -> None:
    """Hand a PDF to the seals command's check (`cli_seals.verify_pdf`, which raises UsageError) and print its
    report."""
    from trustledger import cli_seals

    if not path.is_file():
        raise fail(f"no such PDF file: {path}", 2)
    valid, report = cli_seals.verify_pdf(path, trust_list=trust_list, offline=offline, root_key=root_key, at=at)
    emit(report, cli_seals.pdf_report_text(report))
    raise typer.Exit(0 if valid else 1)


def verify(
    target: Annotated[str, typer.Argument(metavar="TOKEN_OR_URL_OR_PDF", help="token, QR URL …/v/<token>, or PDF")],
    trust_list: Annotated[Path | None, typer.Option("--trust-list", help="signed trust list JSON file")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="no database, no network: trust list file only")] = False,
    root_key: Annotated[
        str | None, typer.Option("--root-key", help="region root public key (base64 SPKI, PEM or file)")
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="check as of this time (ISO 8601; default now)")] = None,
) -> None:
    """Verify a licence token, QR URL or sealed PDF; print the verdict and every reason. Exit 0 valid, 1 not valid."""
    when = None if at is None else _parse_time(at, "--at")
    pdf = _is_pdf(target)
    try:
        if pdf is not None:
            _verify_pdf(pdf, trust_list, offline, root_key, when)
        if offline:
            if trust_list is None:
                raise UsageError("--offline needs --trust-list FILE (no database, no network)")
            _print_report(_verify_offline(target, trust_list, root_key, when))
            return
        from trustledger import cli_verify  # a peer's token goes through federation (one verify for any region)

        with region() as r:
            peer = None if trust_list is not None else cli_verify.peer_token(r, target)
            if peer is not None:
                report = cli_verify.verify_peer_token(r, peer)
            else:
                report = _verify_online(r, target, trust_list, root_key, when)
        _print_report(report)
    except UsageError as exc:
        raise fail(str(exc), 2) from exc


# -- trust-list ----------------------------------------------------------------------------------------------------


@trust_list_app.command("export")
def trust_list_export(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write to FILE instead of stdout")] = None,
    version: Annotated[int | None, typer.Option("--version", min=1, help="an older published version")] = None,
) -> None:
    """The current signed trust list (publishing a new version first if the registry changed or it is half-aged)."""
    from trustledger.trust import current_trust_list
    from trustlists.store import TrustListStore

    with region() as r:
        row = current_trust_list(r) if version is None else TrustListStore(r.store.engine).get(version)
    if row is None:
        raise fail(f"no published trust list version {version}")
    if output is None:
        sys.stdout.write(row.document + "\n")
        return
    try:
        output.write_text(row.document + "\n", encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}", 2) from exc
    summary = {"version": row.version, "sha256": row.payload_sha256, "next_update": row.next_update.isoformat()}
    emit(summary | {"file": str(output)}, f"trust list version {row.version} written to {output}")


@trust_list_app.command("root-key")
def trust_list_root_key() -> None:
    """The region root public key (base64 DER SPKI) that verifiers pin to check trust lists (`--root-key`)."""
    from trustledger.trust import root_signer

    with region() as r:
        public = root_signer(r).private_key.public_key()
    text = root_key_text(public)
    emit({"root_key": text, "kid": kid_text(key_id_for(public))}, text)


# -- keys ----------------------------------------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _key_json(k: KeyRecord) -> dict[str, Any]:
    return {
        "kid": kid_text(k.kid),
        "owner": k.owner,
        "alg": {-8: "EdDSA", -7: "ES256"}.get(k.alg, str(k.alg)),
        "not_before": _time(k.not_before),
        "not_after": _time(k.not_after),
        "retired_at": _time(k.retired_at),
        "compromised_since": _time(k.compromised_since),
    }


def _key_line(k: dict[str, Any]) -> str:
    state = "compromised" if k["compromised_since"] else "retired" if k["retired_at"] else "active"
    when = k["compromised_since"] or k["retired_at"] or k["not_before"]
    return f"{k['kid']}  {k['owner']:<18}  {k['alg']:<5}  {state:<11}  {when}"


def _kid_argument(text: str) -> bytes:
    """KID as typed: base64url as the trust list writes it, or 16 hex digits as earlier versions printed."""
    try:
        return parse_kid(text)
    except MalformedError as exc:
        raise fail(f"KID: {exc}", 2) from exc


@keys_app.command("list")
def keys_list(
    owner: Annotated[str | None, typer.Option(help="only the keys of this department (USCC or catalogue key)")] = None,
) -> None:
    """Registered signing keys with their lifecycle."""
    with region() as r:
        uscc = None if owner is None else resolve_department(r.catalogue, owner, "--owner").uscc
        records = [_key_json(k) for k in r.registry.keys_of(uscc)]
    emit(records, "\n".join(_key_line(k) for k in records) or "no keys")


@keys_app.command("rotate")
def keys_rotate(
    issuer: Annotated[
        str, typer.Argument(metavar="ISSUER", help="the issuing department's USCC or catalogue key, e.g. ha-amr")
    ],
) -> None:
    """Give a department a new token key and retire its current one now; what the old key signed stays valid."""
    with region() as r:
        uscc = resolve_department(r.catalogue, issuer, "ISSUER").uscc
        try:
            record = r.registry.rotate_token_key(uscc)
        except LicenceError as exc:
            raise fail(str(exc)) from exc
    doc = _key_json(record)
    emit(doc, f"new token key {doc['kid']} for {uscc}; earlier keys retired at {doc['not_before']}")


# A base64url kid may begin with "-" (1 in 64 do): let such an argument through as KID rather than refuse it as an
# unknown option (the command has no short options, so `-e…` cannot be mistaken for one). `--` before KID also works.
@keys_app.command("compromise", context_settings={"ignore_unknown_options": True})
def keys_compromise(
    kid: Annotated[str, typer.Argument(help="key id as `keys list` shows it (base64url; 16 hex digits accepted)")],
    since: Annotated[str, typer.Option("--since", help="distrust everything signed from this time (ISO 8601)")],
    reason: Annotated[str, typer.Option("--reason", help="why (kept on the ledger)")] = "",
) -> None:
    """Mark a key compromised since T: tokens it signed at or after T are refused everywhere, earlier ones stand."""
    kid_bytes = _kid_argument(kid)
    when = _parse_time(since, "--since")
    with region() as r:
        try:
            record = r.registry.compromise_key(kid_bytes, when, reason)
        except LicenceError as exc:
            raise fail(str(exc)) from exc
    doc = _key_json(record)
    emit(doc, f"key {doc['kid']} of {doc['owner']} compromised since {doc['compromised_since']}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root `trustledger` app."""
    app.command("verify")(verify)
    app.add_typer(trust_list_app, name="trust-list")
    app.add_typer(keys_app, name="keys")
