"""Commands: `apikey create|list|revoke` — API keys bound to a role and a principal (DESIGN §8)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from licences.errors import LicenceError
from trustledger.cli_common import emit, fail, region
from verify_api.apikeys import ApiKeyRecord, Role, check_key_id, parse_role
from verify_api.errors import ApiKeyError
from verify_api.store import ApiKeyStore

apikey_app = typer.Typer(no_args_is_help=True, help="API keys: issuer, verifier, auditor, operator.")


def _json(record: ApiKeyRecord) -> dict[str, Any]:
    return {
        "id": record.key_id,
        "role": record.role.value,
        "principal": record.principal,
        "name": record.name,
        "created_at": record.created_at.isoformat(),
        "revoked_at": None if record.revoked_at is None else record.revoked_at.isoformat(),
        "active": record.active,
    }


@apikey_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="issuer | verifier | auditor | operator")],
    principal: Annotated[str, typer.Option(help="issuer: the department's USCC; others: a name")],
    name: Annotated[str, typer.Option(help="a label for the key, e.g. the system's owner")] = "",
) -> None:
    """Create a key and print it ONCE (only its SHA-256 is stored)."""
    with region() as r:
        try:
            parsed = parse_role(role)
            if parsed is Role.ISSUER:
                _check_issuer(r.catalogue.department, principal)
            created = ApiKeyStore(r.store.engine).create(parsed, principal, name, r.clock())
        except (ApiKeyError, LicenceError) as exc:
            raise fail(str(exc), 2) from exc
        emit(
            {**_json(created.record), "key": created.key},
            f"{created.key}\n(id {created.record.key_id}, role {parsed.value}, principal {created.record.principal}; "
            "store it now: it is not shown again)",
        )


def _check_issuer(department: Any, principal: str) -> None:
    """An issuer key must name a department of the region's catalogue (the USCC the service authorises)."""
    try:
        found = department(principal)
    except LicenceError as exc:
        raise ApiKeyError(f"no issuing department {principal!r} in this region's catalogue") from exc
    if found.uscc != principal:
        raise ApiKeyError(f"give the department's USCC ({found.uscc}), not its key {principal!r}")


@apikey_app.command("list")
def list_keys() -> None:
    """List keys (never the keys themselves): id, role, principal, name, created, revoked."""
    with region() as r:
        records = ApiKeyStore(r.store.engine).list()
        lines = [
            f"{k.key_id}  {k.role.value:8}  {k.principal:32}  {k.name or '-':20}  "
            f"{'revoked ' + k.revoked_at.isoformat() if k.revoked_at else 'active'}"
            for k in records
        ]
        emit([_json(k) for k in records], "\n".join(lines) if lines else "no API keys")


@apikey_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="the key id shown by `apikey list`")]) -> None:
    """Revoke a key: it stops authenticating at once (idempotent)."""
    try:
        check_key_id(key_id)
    except ApiKeyError as exc:
        raise fail(str(exc), 2) from exc
    with region() as r:
        try:
            record = ApiKeyStore(r.store.engine).revoke(key_id, r.clock())
        except ApiKeyError as exc:
            raise fail(str(exc)) from exc
        emit(_json(record), f"revoked {record.key_id} ({record.role.value} {record.principal})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root `trustledger` app."""
    app.add_typer(apikey_app, name="apikey")
