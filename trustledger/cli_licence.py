"""Commands: `licence issue|show|history|renew|amend|suspend|reinstate|revoke|use` (DESIGN §13).

Dates on the command line are calendar dates in China Standard Time (licences show local dates); a full ISO 8601
date-time with an offset is accepted too. Domain refusals exit 1 with the reason; malformed options exit 2, and so do
a licence type, issuer or actor the catalogue does not know (named by code, USCC or catalogue key) and a LICENCE that
is neither a UUID nor a licence identifier. A well-formed LICENCE that is not in the library exits 1.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, time
from typing import Annotated, Any

import typer

from clock import CHINA_TIME
from licences.application import LicenceService, LicenceView
from licences.errors import InvalidFieldError, LicenceError
from licences.identifiers import parse_identifier
from licences.values import LicenceId, bounded
from trustledger.cli_common import CTX, emit, fail, region, resolve_department, resolve_type

CHINA = CHINA_TIME
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

licence_app = typer.Typer(no_args_is_help=True, help="Issue, inspect and manage licences (证照).")


def register(app: typer.Typer) -> None:
    """Add the `licence` sub-app to the root `trustledger` app."""
    app.add_typer(licence_app, name="licence")


def parse_when(text: str | None, option: str) -> datetime | None:
    """A calendar date (midnight China time) or an ISO 8601 date-time with offset; exit 2 naming the option."""
    if text is None:
        return None
    try:
        if _DATE.fullmatch(text):
            moment = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(0), CHINA)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: {text!r} is not a date (YYYY-MM-DD) or ISO 8601 date-time", 2) from None
    if moment.tzinfo is None:
        raise fail(f"{option}: a date-time needs its offset, e.g. +08:00", 2)
    try:
        bounded(moment, option)  # the same range as the API and bulk import; the offset as given is kept
    except InvalidFieldError as exc:
        raise fail(f"{option}: {exc.reason}", 2) from None
    return moment


def parse_fields(pairs: list[str] | None) -> dict[str, str]:
    """`--field K=V` options as a dict; exit 2 on a pair without '='."""
    fields: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise fail(f"--field: {pair!r} must be NAME=VALUE", 2)
        fields[name.strip()] = value
    return fields


@contextmanager
def service() -> Iterator[LicenceService]:
    """The region's licence service; licence errors become exit 1 naming the field when there is one."""
    with region() as r:
        try:
            yield r.licences
        except InvalidFieldError as exc:
            raise fail(str(exc)) from exc
        except (LicenceError, LookupError) as exc:
            raise fail(str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)) from exc


def _resolve(svc: LicenceService, text: str) -> LicenceId:
    """The licence LICENCE names; exit 2 if it is neither a UUID nor a licence identifier, 1 if it is not found."""
    value = text.strip()
    try:
        uuid.UUID(value)
    except ValueError:
        try:
            parse_identifier(value, strict=False, field="LICENCE")
        except InvalidFieldError as exc:
            msg = f"LICENCE: {text!r} is neither a licence id (UUID) nor a licence identifier: {exc.reason}"
            raise fail(msg, 2) from None
    return svc.resolve(value)


def _actor(svc: LicenceService, actor: str | None, licence_id: LicenceId) -> str:
    """The acting department's USCC: --actor (USCC or catalogue key; exit 2 if unknown), else the issuer."""
    if actor is None:
        return svc.get(licence_id).issuer
    return resolve_department(svc.catalogue, actor, "--actor").uscc


def show_licence(view: LicenceView) -> None:
    """Print a licence: JSON under --json, else a readable summary."""
    lines = [
        f"{view.type_name_zh} {view.identifier}",
        f"  id           {view.id}",
        f"  status       {view.status.value} (lifecycle {view.lifecycle}, version {view.licence_version:03d})",
        f"  issuer       {view.issuer_name} {view.issuer}",
        f"  valid        {view.valid_from.astimezone(CHINA):%Y-%m-%d} → "
        + ("长期 (no expiry)" if view.valid_until is None else f"{view.valid_until.astimezone(CHINA):%Y-%m-%d}"),
        f"  minted leaf  {view.minted_leaf}",
        *(f"  {name:<12} {value}" for name, value in view.fields.items()),
        f"  QR           {view.qr_url}",
    ]
    emit(view.to_json(), "\n".join(lines))


Actor = Annotated[str | None, typer.Option(help="acting department (USCC or key); default: the licence's issuer")]
IdemKey = Annotated[str | None, typer.Option("--idempotency-key", help="a retry with the same key writes nothing")]


@licence_app.command("issue")
def issue(
    licence_type: Annotated[
        str, typer.Option("--type", help="licence type code or catalogue key, e.g. business-licence")
    ],
    holder: Annotated[str, typer.Option(help="holder's resident ID number or USCC")],
    holder_name: Annotated[str, typer.Option(help="holder's name")],
    issuer: Annotated[str, typer.Option(help="issuing department's USCC or catalogue key, e.g. ha-amr")],
    valid_from: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: now)")] = None,
    valid_until: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: the type's validity rule)")] = None,
    field: Annotated[list[str] | None, typer.Option("--field", help="NAME=VALUE, repeatable")] = None,
    idempotency_key: IdemKey = None,
) -> None:
    """Issue a licence; prints its id, identifier, leaf index, token and QR URL."""
    start, end, fields = (
        parse_when(valid_from, "--valid-from"),
        parse_when(valid_until, "--valid-until"),
        parse_fields(field),
    )
    with service() as svc:
        catalogue = svc.catalogue
        view = svc.issue(
            type_code=resolve_type(catalogue, licence_type, "--type").code,
            issuer=resolve_department(catalogue, issuer, "--issuer").uscc,
            holder_id=holder,
            holder_name=holder_name,
            fields=fields,
            valid_from=start,
            valid_until=end,
            idempotency_key=idempotency_key,
        )
        show_licence(view)


@licence_app.command("show")
def show(licence: Annotated[str, typer.Argument(help="licence id or identifier")]) -> None:
    """Show a licence and its status now."""
    with service() as svc:
        show_licence(svc.get(_resolve(svc, licence)))


@licence_app.command("history")
def history(licence: Annotated[str, typer.Argument(help="licence id or identifier")]) -> None:
    """List a licence's events (lifecycle and uses) with their leaf indexes."""
    with service() as svc:
        licence_id = _resolve(svc, licence)
        entries = svc.history(licence_id)
        doc: dict[str, Any] = {"id": str(licence_id), "events": [e.to_json() for e in entries]}
        text = "\n".join(f"{e.leaf_index:>10}  {e.recorded_at}  {e.kind:<10} v{e.licence_version:03d}" for e in entries)
        emit(doc, text or "(no events)")


@licence_app.command("renew")
def renew(
    licence: Annotated[str, typer.Argument(help="licence id or identifier")],
    valid_until: Annotated[str | None, typer.Option(help="new end of validity (default: the type's rule)")] = None,
    actor: Actor = None,
    idempotency_key: IdemKey = None,
) -> None:
    """Renew within the renewal window (new validity, version + 1, new token)."""
    end = parse_when(valid_until, "--valid-until")
    with service() as svc:
        licence_id = _resolve(svc, licence)
        by = _actor(svc, actor, licence_id)
        show_licence(svc.renew(licence_id, actor=by, valid_until=end, idempotency_key=idempotency_key))


@licence_app.command("amend")
def amend(
    licence: Annotated[str, typer.Argument(help="licence id or identifier")],
    field: Annotated[list[str] | None, typer.Option("--field", help="NAME=VALUE, repeatable")] = None,
    holder_name: Annotated[str | None, typer.Option(help="the holder's new name")] = None,
    actor: Actor = None,
    idempotency_key: IdemKey = None,
) -> None:
    """Change registered particulars (version + 1, new token)."""
    changes = parse_fields(field)
    if not changes and holder_name is None:
        raise fail("amend needs at least one --field NAME=VALUE or --holder-name", 2)
    with service() as svc:
        licence_id = _resolve(svc, licence)
        by = _actor(svc, actor, licence_id)
        view = svc.amend(
            licence_id, actor=by, changes=changes, holder_name=holder_name, idempotency_key=idempotency_key
        )
        show_licence(view)


@licence_app.command("suspend")
def suspend(
    licence: Annotated[str, typer.Argument(help="licence id or identifier")],
    reason: Annotated[str, typer.Option(help="why (recorded on the ledger)")],
    actor: Actor = None,
    idempotency_key: IdemKey = None,
) -> None:
    """Suspend a licence (暂扣) until reinstated."""
    with service() as svc:
        licence_id = _resolve(svc, licence)
        by = _actor(svc, actor, licence_id)
        show_licence(svc.suspend(licence_id, actor=by, reason=reason, idempotency_key=idempotency_key))


@licence_app.command("reinstate")
def reinstate(
    licence: Annotated[str, typer.Argument(help="licence id or identifier")],
    reason: Annotated[str, typer.Option(help="why (optional)")] = "",
    actor: Actor = None,
    idempotency_key: IdemKey = None,
) -> None:
    """Lift a suspension."""
    with service() as svc:
        licence_id = _resolve(svc, licence)
        by = _actor(svc, actor, licence_id)
        show_licence(svc.reinstate(licence_id, actor=by, reason=reason, idempotency_key=idempotency_key))


@licence_app.command("revoke")
def revoke(
    licence: Annotated[str, typer.Argument(help="licence id or identifier")],
    reason: Annotated[str, typer.Option(help="why (recorded on the ledger)")],
    kind: Annotated[str, typer.Option(help="voluntary (注销) or penalty (吊销)")] = "voluntary",
    actor: Actor = None,
    idempotency_key: IdemKey = None,
) -> None:
    """Revoke a licence for good."""
    with service() as svc:
        licence_id = _resolve(svc, licence)
        by = _actor(svc, actor, licence_id)
        view = svc.revoke(licence_id, actor=by, reason=reason, kind=kind, idempotency_key=idempotency_key)
        show_licence(view)


@licence_app.command("use")
def use(
    licence: Annotated[str, typer.Argument(help="licence id or identifier")],
    verifier: Annotated[str, typer.Option(help="the approval system relying on the licence")],
    matter: Annotated[str, typer.Option(help="matter code (事项编码)")],
    purpose: Annotated[str, typer.Option(help="purpose of the use")],
    consent: Annotated[
        str, typer.Option(help="the holder's consent evidence (a use without consent is refused)")
    ] = "operator attests the holder's consent (CLI)",
    idempotency_key: IdemKey = None,
) -> None:
    """Record a use of a licence and print the verification result; exit 1 if the use was refused."""
    with service() as svc:
        result = svc.use(
            _resolve(svc, licence),
            verifier=verifier,
            matter_code=matter,
            purpose=purpose,
            consent=consent,
            idempotency_key=idempotency_key,
        )
    accepted = result.outcome == "accepted"
    verdict = "ACCEPTED" if accepted else f"REFUSED ({result.refusal_reason})"
    emit(
        result.to_json(),
        f"{verdict}: {result.licence.type_name_zh} {result.licence.identifier}, leaf {result.leaf_index}",
    )
    if not accepted:
        if not CTX.json:
            sys.stderr.write(f"use refused: {result.refusal_reason}\n")
        raise typer.Exit(1)


@licence_app.command("shred-holder")
def shred_holder(
    holder: Annotated[str, typer.Argument(help="the holder's resident ID number or USCC")],
    yes: Annotated[bool, typer.Option("--yes", help="confirm: this cannot be undone")] = False,
) -> None:
    """Erase a holder (right to erasure): destroy their data key and reminder contacts; every leaf still verifies."""
    if not yes:
        raise fail("shredding cannot be undone: repeat with --yes", 2)
    from reminders.store_outbox import OutboxStore  # the reminder contacts live beside the outbox

    with region() as r:
        try:
            digest = r.licences.holder_digest_of(holder)
            r.licences.shred_holder(holder)
        except InvalidFieldError as exc:  # a malformed ID number or USCC: a usage error
            raise fail(f"HOLDER: {exc.reason}", 2) from exc
        contacts = OutboxStore(r.store.engine).forget_holder(digest)
        emit(
            {"holder_digest": digest, "shredded": True, "contacts_removed": contacts},
            f"holder {digest} shredded: personal data in their licences can no longer be opened "
            f"({contacts} reminder contact(s) removed)",
        )
