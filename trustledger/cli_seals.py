"""Commands: `licence pdf ID -o FILE`, `seals list|issue|revoke|crl|ca` (DESIGN §7, §13), and `verify_pdf`,
which `trustledger verify FILE.pdf` (cli_trust) delegates to.

Exit codes: 0 success, 1 refused or failed (a revoked licence, a shredded holder, a missing seal certificate), 2 usage.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding

from clock import iso_utc
from licences.errors import LicenceError
from seals.errors import SealError
from seals.validate import MAX_PDF_BYTES
from signatures.errors import SignatureError
from signatures.keys import FileKeyStore, load_or_create_passphrase
from signatures.trustlist import TrustList
from trustledger.cli_common import emit, fail, region, resolve_department
from trustledger.cli_licence import licence_app
from trustledger.region import Region, load_config, region_now
from trustledger.seal_checks import PdfCheck, check_sealed_pdf, check_sealed_pdf_offline
from trustledger.sealing import LEVELS, current_crl, seal_ca_pem, seal_licence_pdf, seal_registry
from trustledger.settings import Settings
from trustledger.verification import UsageError, load_trust_list_file, parse_root_key, root_key_text

seals_app = typer.Typer(no_args_is_help=True, help="The region's e-seals (电子印章): seal certificates, CRL, CA.")


def register(app: typer.Typer) -> None:
    """Add `licence pdf` to the `licence` sub-app and the `seals` sub-app to the root `trustledger` app."""
    licence_app.command("pdf")(licence_pdf)
    app.add_typer(seals_app, name="seals")


def licence_pdf(
    licence: Annotated[str, typer.Argument(help="licence id or identifier")],
    output: Annotated[Path, typer.Option("-o", "--output", help="where to write the sealed PDF")],
    level: Annotated[str, typer.Option(help="PAdES level: b-lta (with the region CRL) or b-t")] = "b-lta",
) -> None:
    """The sealed PDF of a licence: rendered, sealed with the issuer's e-seal, its SHA-256 recorded on the ledger."""
    if level not in LEVELS:
        raise fail(f"--level: must be one of {', '.join(LEVELS)}", 2)
    with region() as r:
        try:
            licence_id = r.licences.resolve(licence)
            sealed = seal_licence_pdf(r, licence_id, level=level)
        except (LicenceError, SealError, LookupError) as exc:
            raise fail(str(exc).strip("'\"")) from exc
    try:
        output.write_bytes(sealed.pdf)
    except OSError as exc:
        raise fail(f"cannot write {output}: {exc.strerror}", 2) from exc
    doc = {
        "file": str(output),
        "licence_id": str(licence_id),
        "sha256": sealed.sha256,
        "leaf_index": sealed.leaf_index,
        "bytes": len(sealed.pdf),
        "level": level,
    }
    emit(doc, f"{output}\n  sha256 {sealed.sha256}\n  leaf   {sealed.leaf_index} (DocumentSealed)")


# -- seals ---------------------------------------------------------------------------------------------------------


@seals_app.command("list")
def seals_list(
    issuer: Annotated[str | None, typer.Option(help="only this department's (USCC)")] = None,
) -> None:
    """Seal certificates with their validity and revocation."""
    with region() as r:
        rows = seal_registry(r).certificates(issuer)
    items = [
        {
            "serial": row.serial,
            "issuer": row.issuer_uscc,
            "not_before": iso_utc(row.not_before, fraction=True),
            "not_after": iso_utc(row.not_after, fraction=True),
            "sha256": row.cert_sha256,
            "revoked_at": None if row.revoked_at is None else iso_utc(row.revoked_at, fraction=True),
            "reason": row.revocation_reason,
            "leaf_index": row.issued_leaf,
        }
        for row in rows
    ]
    lines = [
        f"{i['serial']}  {i['issuer']}  {i['not_before']} → {i['not_after']}"
        + ("" if i["revoked_at"] is None else f"  REVOKED {i['revoked_at']} ({i['reason']})")
        for i in items
    ]
    emit({"certificates": items}, "\n".join(lines) or "(no seal certificates)")


@seals_app.command("issue")
def seals_issue(uscc: Annotated[str, typer.Argument(help="the department's USCC (or catalogue key)")]) -> None:
    """Issue a new seal certificate to a department (after a revocation, or to replace an old one)."""
    with region() as r:
        department = resolve_department(r.catalogue, uscc, "USCC")  # unknown: exit 2 naming the argument
        try:
            row = seal_registry(r).issue_seal_certificate(department.uscc, department.name_zh)
        except (LicenceError, LookupError) as exc:
            raise fail(str(exc).strip("'\"")) from exc
    doc = {"serial": row.serial, "issuer": row.issuer_uscc, "leaf_index": row.issued_leaf, "sha256": row.cert_sha256}
    emit(doc, f"seal certificate {row.serial} issued to {row.issuer_uscc} (leaf {row.issued_leaf})")


@seals_app.command("revoke")
def seals_revoke(
    serial: Annotated[str, typer.Argument(help="certificate serial (hex, as `seals list` shows it)")],
    reason: Annotated[str, typer.Option(help="key_compromise, superseded, cessation_of_operation, …")] = "unspecified",
    since: Annotated[str | None, typer.Option(help="effective time (ISO 8601 with zone; default now)")] = None,
) -> None:
    """Revoke a seal certificate: a ledger event; the CRL lists it from then on."""
    when = None if since is None else _parse_time(since, "--since")
    with region() as r:
        try:
            seal_registry(r).revoke(serial, reason=reason, revoked_at=when)
            row = seal_registry(r).certificate(serial)
        except LicenceError as exc:
            raise fail(str(exc)) from exc
    assert row is not None and row.revoked_at is not None
    doc = {"serial": row.serial, "revoked_at": iso_utc(row.revoked_at, fraction=True), "reason": row.revocation_reason}
    emit(doc | {"leaf_index": row.revoked_leaf}, f"seal certificate {row.serial} revoked since {doc['revoked_at']}")


@seals_app.command("crl")
def seals_crl(
    output: Annotated[Path | None, typer.Option("-o", "--output", help="write the DER CRL to FILE")] = None,
) -> None:
    """The region's current seal CRL (DER to a file, or PEM on stdout)."""
    with region() as r:
        der = _or_fail(lambda: current_crl(r))
    if output is None:
        sys.stdout.write(x509.load_der_x509_crl(der).public_bytes(Encoding.PEM).decode("ascii"))
        return
    output.write_bytes(der)
    emit({"file": str(output), "bytes": len(der)}, f"CRL written to {output}")


@seals_app.command("ca")
def seals_ca() -> None:
    """The region seal CA certificate (PEM), for NSS databases and other verifiers."""
    with region() as r:
        sys.stdout.write(_or_fail(lambda: seal_ca_pem(r)))


def _or_fail(call: Any) -> Any:
    try:
        return call()
    except LicenceError as exc:
        raise fail(str(exc)) from exc


# -- verify FILE.pdf -----------------------------------------------------------------------------------------------


def _parse_time(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise fail(f"{option}: {text!r} is not an ISO 8601 time such as 2026-01-01T08:00:00Z", 2) from exc
    if value.utcoffset() is None:
        raise fail(f"{option}: give a time zone (Z or +08:00)", 2)
    return value.astimezone(UTC)


def _read_pdf(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(MAX_PDF_BYTES + 1)  # one byte over: the validator refuses it as too large
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _home_root_key(settings: Settings) -> Ed25519PublicKey:
    """This home's region root public key, from the keystore files (no database)."""
    keys_dir = settings.home / "keys"
    if load_config(settings) is None or not (keys_dir / "root.pem").exists():
        raise UsageError("no root key to check the trust list against: pass --root-key (base64 SPKI or a file)")
    passphrase = settings.key_passphrase.encode() or load_or_create_passphrase(keys_dir / "passphrase")
    try:
        key = FileKeyStore(keys_dir, passphrase).load("root").public_key()
    except SignatureError as exc:
        raise UsageError(f"cannot read the region root key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError("the region root key must be Ed25519")
    return key


def _trust_list(path: Path, root_key: str | None, now: datetime) -> tuple[TrustList | None, dict[str, Any] | None]:
    """The verified trust list, or the report saying why it cannot be used."""
    key = parse_root_key(root_key) if root_key else _home_root_key(Settings())
    doc, reasons = load_trust_list_file(path, key, now)
    if doc is not None and not reasons:
        return doc, None
    report = {
        "verdict": "invalid",
        "valid": False,
        "reasons": [{"code": r.code, "check": "trust_list", "detail": r.detail} for r in reasons],
    }
    return None, report


def verify_pdf(
    path: Path,
    *,
    offline: bool,
    trust_list: Path | None,
    root_key: str | None = None,
    at: datetime | None = None,
) -> tuple[bool, dict[str, Any]]:
    """Check a sealed licence PDF; returns (valid, the JSON report with every check and reason).

    Online: the region CA (or the seal CAs of a verified `trust_list` file), the region CRL and registry, the ledger's
    `DocumentSealed` and the licence's status now. Offline: the trust list file alone (`--offline` needs one); the
    ledger is not consulted. Raises `UsageError` (exit 2) for an unreadable file or trust list, or no root key."""
    data = _read_pdf(path)
    # pyHanko logs what it finds wrong as warnings; the report lists every failed check, so keep stderr clean.
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    if offline:
        if trust_list is None:
            raise UsageError("--offline needs --trust-list FILE (no database, no network)")
        now = at or region_now(Settings())
        doc, refused = _trust_list(trust_list, root_key, now)
        if doc is None:
            assert refused is not None
            return False, refused
        return _result(check_sealed_pdf_offline(data, doc, now))
    with region() as r:
        doc = None
        if trust_list is not None:
            doc, refused = _trust_list(trust_list, root_key or _region_root_key(r), at or r.clock())
            if doc is None:
                assert refused is not None
                return False, refused
        return _result(check_sealed_pdf(r, data, trust_list=doc))


def _region_root_key(r: Region) -> str:
    public = r.keys.load("root").public_key()
    assert isinstance(public, Ed25519PublicKey)
    return root_key_text(public)


def _result(check: PdfCheck) -> tuple[bool, dict[str, Any]]:
    return check.valid, check.to_json()


def pdf_report_text(report: dict[str, Any]) -> str:
    """The human form of a `verify_pdf` report: the verdict, then each check (or the reasons it was refused)."""
    lines = ["VALID" if report.get("valid") else "NOT VALID"]
    if "sha256" in report:
        lines.append(f"  sha256: {report['sha256']}")
    marks = {True: "ok  ", False: "FAIL", None: "--  "}
    checks = report.get("checks") or {}
    lines += [f"  {marks[c['ok']]} {name:<15} {c['detail']}" for name, c in checks.items()]
    if not checks:
        lines += [f"  reason: {r['detail']} ({r['code']})" for r in report.get("reasons", [])]
    if report.get("identifier"):
        lines.append(f"  licence: {report['identifier']}")
    return "\n".join(lines) + "\n"


__all__ = ["pdf_report_text", "register", "seals_app", "verify_pdf"]
