"""`trustledger audit` re-derives every derived table from the events and checks every trust list version (§4).

Each tampering is what an operator with write access to the database could do to what a verdict reads; the audit
must exit 1 naming the table, the row's key and, for an edited row, the column with its stored and derived values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import rfc8785
from sqlalchemy import Connection, delete, select, text, update
from typer.testing import CliRunner

from clock import StartedClock
from ledger.audit import run_audit
from ledger.errors import AuditFailure
from ledger.store_derived import scratch_database
from licences.derived_audit import LicenceTablesAudit
from licences.store import licence_history, licence_identifiers, licence_index
from licences.store_audit import SCRATCH_TABLES
from licences.store_registry import registry_keys
from seals.store import seal_certificates
from signatures.cose import Ed25519Signer
from signatures.kids import kid_text, parse_kid
from signatures.trustlist import TrustList, parse_signed_trust_list, sign_trust_list
from tests.trustledger.test_cli_audit import _sql, cli, demo, run  # noqa: F401  (fixtures)
from trustledger.region import open_region
from trustledger.settings import Settings
from trustledger.trust import root_signer
from trustlists.store import trust_lists

FAR = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture
def region(cli: CliRunner, demo: dict[str, str], process_clock: StartedClock) -> dict[str, str]:  # noqa: F811
    """A demo region where what the tamperings undo happened: a revoked licence, a compromised token key, a revoked
    seal certificate, and a published trust list (after the compromise); names of what each tampering edits."""
    licence = next(iter(demo.values()))
    run(cli, "licence", "revoke", licence, "--reason", "主动注销")
    keys = json.loads(run(cli, "--json", "keys", "list"))
    kid = next(k["kid"] for k in keys if len(k["owner"]) == 18)  # an issuer's key: the trust list lists it
    run(cli, "keys", "compromise", kid, "--since", "2020-01-01T00:00:00Z", "--reason", "测试")
    serial = json.loads(run(cli, "--json", "seals", "list"))["certificates"][0]["serial"]
    run(cli, "seals", "revoke", serial, "--reason", "key_compromise")
    # A trust list's issue time is cut to the second, so the audit accepts the registry of any moment in that second:
    # publish two seconds on (the clock is moved, not waited for) to make "after the compromise" unambiguous.
    process_clock.start += timedelta(seconds=2)
    run(cli, "trust-list", "export")
    # The audit names a key by its registry row, whose primary key is the hex form (a storage format).
    return {"licence": licence, "kid": parse_kid(kid).hex(), "serial": serial}


def _update(table: object, where: Callable[[], object], **values: object) -> Callable[[Connection], None]:
    def work(conn: Connection) -> None:
        assert conn.execute(update(table).where(where()).values(**values)).rowcount == 1  # type: ignore[arg-type]

    return work


def test_a_clean_region_passes(cli: CliRunner, region: dict[str, str]) -> None:  # noqa: F811
    report = json.loads(run(cli, "--json", "audit"))
    assert report["ok"] is True and report["trust_list_versions"] == 1
    assert {"licence_index", "licence_identifiers", "licence_history", "registry_keys"} <= set(report["derived_tables"])
    assert {"registry_entries", "registry_issuers", "seal_authorities", "seal_certificates"} <= set(
        report["derived_tables"]
    )


def _lifecycle(r: dict[str, str]) -> tuple[Callable[[Connection], None], str]:
    where = licence_index.c.licence_id == r["licence"]
    return (
        _update(licence_index, lambda: where, lifecycle="active"),
        f"licence_index row {r['licence']}: lifecycle stored 'active', derived 'revoked'",
    )


def _valid_until(r: dict[str, str]) -> tuple[Callable[[Connection], None], str]:
    where = licence_index.c.licence_id == r["licence"]
    return (
        _update(licence_index, lambda: where, valid_until=FAR),
        f"licence_index row {r['licence']}: valid_until stored '2099-01-01T00:00:00+00:00', derived ",
    )


def _identifier_deleted(r: dict[str, str]) -> tuple[Callable[[Connection], None], str]:
    def work(conn: Connection) -> None:
        first = conn.execute(
            select(licence_identifiers.c.identifier).order_by(licence_identifiers.c.identifier)
        ).first()
        assert first is not None
        conn.execute(delete(licence_identifiers).where(licence_identifiers.c.identifier == first[0]))

    return work, "licence_identifiers row "  # followed by the identifier


def _history_kind(r: dict[str, str]) -> tuple[Callable[[Connection], None], str]:
    def work(conn: Connection) -> None:
        leaf = conn.execute(
            select(licence_history.c.leaf_index).where(
                licence_history.c.licence_id == r["licence"], licence_history.c.kind == "revoked"
            )
        ).scalar_one()
        conn.execute(update(licence_history).where(licence_history.c.leaf_index == leaf).values(kind="suspended"))

    return work, f"licence_id {r['licence']}): kind stored 'suspended', derived 'revoked'"


def _compromise_forgotten(r: dict[str, str]) -> tuple[Callable[[Connection], None], str]:
    where = registry_keys.c.kid == r["kid"]
    return (
        _update(registry_keys, lambda: where, compromised_since=None),
        f"registry_keys row {r['kid']}: compromised_since stored NULL, derived '2020-01-01T00:00:00+00:00'",
    )


def _revocation_removed(r: dict[str, str]) -> tuple[Callable[[Connection], None], str]:
    where = seal_certificates.c.serial == r["serial"]
    cleared = dict.fromkeys(("revoked_at", "revocation_reason", "revocation_recorded_at", "revoked_leaf"))
    return (
        _update(seal_certificates, lambda: where, **cleared),
        f"seal_certificates row {r['serial']}: revoked_at stored NULL, derived '",
    )


def _trust_list_edited(r: dict[str, str]) -> tuple[Callable[[Connection], None], str]:
    def work(conn: Connection) -> None:
        document = conn.execute(select(trust_lists.c.document).where(trust_lists.c.version == 1)).scalar_one()
        edited = document.replace('"compromised_since":"2020-01-01T00:00:00Z"', '"compromised_since":null')
        assert edited != document
        conn.execute(update(trust_lists).where(trust_lists.c.version == 1).values(document=edited))

    return work, "trust_lists version 1: document: trust list signature does not verify"


@pytest.mark.parametrize(
    "tampering",
    [
        _lifecycle,
        _valid_until,
        _identifier_deleted,
        _history_kind,
        _compromise_forgotten,
        _revocation_removed,
        _trust_list_edited,
    ],
    ids=[
        "index-lifecycle",
        "index-valid-until",
        "identifier-deleted",
        "history-kind",
        "key-compromise-forgotten",
        "seal-revocation-removed",
        "trust-list-edited",
    ],
)
def test_a_tampered_derived_table_fails_naming_the_row(
    cli: CliRunner,  # noqa: F811
    region: dict[str, str],
    tampering: Callable[[dict[str, str]], tuple[Callable[[Connection], None], str]],
) -> None:
    run(cli, "audit")
    work, expected = tampering(region)
    _sql(work)
    out = run(cli, "audit", code=1)
    assert expected in out, out
    if tampering is _identifier_deleted:
        assert "missing (the events produce it)" in out


def _content_sha256(doc: TrustList) -> str:
    chain = ("version", "previous_sha256", "issued_at", "next_update")
    content = {k: v for k, v in doc.to_payload().items() if k not in chain}
    return hashlib.sha256(rfc8785.dumps(content)).hexdigest()  # type: ignore[arg-type]


def test_a_trust_list_resigned_without_the_compromise_fails(cli: CliRunner, region: dict[str, str]) -> None:  # noqa: F811
    """A rogue operator with the root key re-signs version 1 as if the key were not compromised: the registry of
    that time, re-derived from the events, says otherwise."""
    r = open_region(Settings())
    try:
        signer: Ed25519Signer = root_signer(r)
    finally:
        r.close()

    def work(conn: Connection) -> None:
        document = conn.execute(select(trust_lists.c.document).where(trust_lists.c.version == 1)).scalar_one()
        payload = parse_signed_trust_list(document)["payload"]
        text_payload = json.dumps(payload).replace(
            '"compromised_since": "2020-01-01T00:00:00Z"', '"compromised_since": null'
        )
        doc = TrustList.from_payload(json.loads(text_payload))
        signed = json.dumps(sign_trust_list(doc, signer), ensure_ascii=False)
        conn.execute(
            update(trust_lists)
            .where(trust_lists.c.version == 1)
            .values(document=signed, payload_sha256=doc.digest(), content_sha256=_content_sha256(doc))
        )

    _sql(work)
    out = run(cli, "audit", code=1)
    listed = kid_text(bytes.fromhex(region["kid"]))  # the trust list's own spelling of the kid
    assert f"trust_lists version 1: key {listed} compromised_since listed NULL" in out, out


def test_a_stored_row_no_event_produces_fails(cli: CliRunner, region: dict[str, str]) -> None:  # noqa: F811
    _sql(
        lambda conn: conn.execute(
            text(
                "INSERT INTO licence_history (licence_id, leaf_index, kind, licence_version) "
                "VALUES (:l, 999999, 'invoked', 1)"
            ),
            {"l": region["licence"]},
        )
    )
    out = run(cli, "audit", code=1)
    assert "licence_history row (leaf_index 999999, licence_id " in out and "stored, but no event produces it" in out


def test_small_batches_fold_through_the_scratch_tables(cli: CliRunner, region: dict[str, str]) -> None:  # noqa: F811
    """With a batch of 2 events almost every later event finds its licence in the scratch file, not in memory."""
    r = open_region(Settings())
    try:
        _sql(_update(licence_index, lambda: licence_index.c.licence_id == region["licence"], lifecycle="active"))
        with scratch_database(SCRATCH_TABLES) as derived:
            hook = LicenceTablesAudit(r.recording.mapper, derived, batch=2)
            with pytest.raises(AuditFailure, match="lifecycle stored 'active', derived 'revoked'"):
                run_audit(r.store, r.log_signer.verifier, r.config.origin, hooks=[hook])
        assert hook.events >= 10  # several batches
    finally:
        r.close()
