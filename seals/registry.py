"""The region's seal PKI on the ledger: CA and TSA certificates, department seal certificates and their revocation.

DESIGN §7: a region CA certifies one seal key per issuing department (P-256, keyUsage digitalSignature +
nonRepudiation, organisation name and USCC in the subject); issuing and revoking a seal certificate are ledger events
(`SealCertificateIssued`, `SealCertificateRevoked`), so what a validator trusts is exactly what the ledger says.
The CRL is derived from the revocation events. Private keys live in the region keystore, never in events.

Streams: one for the region's authorities (CA, TSA) and one per department, so two workers that race to certify the
same department clash on the stream version and only one certificate is issued.

Moved from `licences/seal_registry.py`: the events (`seals.events`) keep their released topics, the stream ids their
released namespace, the read models (`seals.store`) their tables.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from uuid import NAMESPACE_OID, UUID, uuid5

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from clock import Clock
from ledger.recording import Recording
from seals import pki
from seals.errors import SealRegistryError
from seals.events import SealAuthorityCertified, SealCertificateIssued, SealCertificateRevoked
from seals.image import render_seal_png
from seals.sign import SealKey
from seals.store import AuthorityRow, SealCertificateRow, SealStore
from signatures.errors import KeyStoreError
from signatures.keys import PrivateKey

if TYPE_CHECKING:  # the read models' SQL stays in seals/store.py
    from sqlalchemy import Connection

# The released stream ids: uuid5 under `licences.values.LICENCE_NAMESPACE` (the licence OID arc), spelled out here
# because seals imports no licence code (tests/seals/test_wiring_registry.py checks the two agree).
SEALS_NAMESPACE = uuid5(uuid5(NAMESPACE_OID, "1.2.156.3005.2"), "seals")
AUTHORITY_STREAM = uuid5(SEALS_NAMESPACE, "authority")
CA_LIFETIME = timedelta(days=365 * 20)
TSA_LIFETIME = timedelta(days=365 * 10)
SEAL_LIFETIME = timedelta(days=365 * 5)
RENEW_BEFORE = timedelta(days=30)
# Certificates start a little before the moment they are made, so a verifier whose clock lags is not refused.
BACKDATE = timedelta(minutes=5)
CRL_LIFETIME = timedelta(days=7)
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
}


class KeySource(Protocol):
    """Port: where the seal CA, TSA and department seal keys live (the region keystore)."""

    def load(self, name: str) -> PrivateKey:
        """The private key stored under `name`."""
        ...

    def store(self, name: str, key: PrivateKey) -> PrivateKey:
        """Keep a newly generated key under `name` (never overwriting)."""
        ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(moment: datetime, field: str = "now") -> datetime:
    """Return `moment` in UTC; naive date-times are refused because their zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise SealRegistryError(f"invalid {field}: must be timezone-aware")
    return moment.astimezone(UTC)


def department_stream(uscc: str) -> UUID:
    """The stream of one department's seal certificates."""
    return uuid5(SEALS_NAMESPACE, f"department/{uscc}")


def serial_hex(serial: int) -> str:
    """The stored form of a certificate serial number."""
    return format(serial, "x")


def seal_key_name(uscc: str, serial: str) -> str:
    """The keystore name of a seal certificate's private key."""
    return f"seal-{uscc.lower()}-{serial}"


def _fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(pki.certificate_der(certificate)).hexdigest()


def _random_serial() -> int:
    """A positive serial with 120 bits from the CSPRNG (RFC 5280 §4.1.2.2; at least 64 as CA/B BR 7.1 asks)."""
    return (1 << 120) | secrets.randbits(120)


def _organisation(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else ""


def _load_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


class SealRegistry:
    """Certifies, revokes and hands out the region's seal keys; every change is a ledger event with its read model."""

    def __init__(
        self, recording: Recording, store: SealStore, keys: KeySource, clock: Clock, crl_url: str | None = None
    ) -> None:
        self.recording = recording
        self.store = store
        self.keys = keys
        self.clock = clock
        self.crl_url = crl_url  # written into new seal certificates as cRLDistributionPoints (RFC 5280 §4.2.1.13)

    # -- authorities ------------------------------------------------------------------------------------------------

    def ca_certificate(self) -> x509.Certificate | None:
        """The current region seal CA certificate (no private key needed: what verifiers trust), or None."""
        rows = self.store.authorities("ca")
        return _load_pem(rows[-1].pem) if rows else None

    def region_ca(self) -> pki.RegionCA:
        """The region seal CA with its private key; SealRegistryError before `init` created it."""
        certificate = self.ca_certificate()
        if certificate is None:
            raise SealRegistryError("the region has no seal CA yet: run `trustledger init`")
        return pki.RegionCA(certificate, self._private("seal-ca"))

    def tsa(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """The region TSA's certificate and key; SealRegistryError before `init` created them."""
        rows = self.store.authorities("tsa")
        if not rows:
            raise SealRegistryError("the region has no time-stamp authority yet: run `trustledger init`")
        return _load_pem(rows[-1].pem), self._private("seal-tsa")

    def ensure_authorities(self, region_name: str) -> int:
        """Create the region seal CA and TSA certificates if absent or near expiry; returns how many were made."""
        now = _utc(self.clock())
        made = 0
        ca_rows = self.store.authorities("ca")
        if not ca_rows or ca_rows[-1].not_after - RENEW_BEFORE <= now:
            key = self._key_or_new("seal-ca")
            ca = pki.create_region_ca(
                key,
                region_name=region_name,
                not_before=now - BACKDATE,
                not_after=now + CA_LIFETIME,
                serial_number=_random_serial(),
            )
            self._certify_authority("ca", ca.certificate)
            made += 1
        tsa_rows = self.store.authorities("tsa")
        if made or not tsa_rows or tsa_rows[-1].not_after - RENEW_BEFORE <= now:
            ca = self.region_ca()
            key = self._key_or_new("seal-tsa")
            certificate = pki.issue_tsa_certificate(
                ca,
                key.public_key(),
                name=region_name,
                not_before=now - BACKDATE,
                not_after=min(now + TSA_LIFETIME, ca.certificate.not_valid_after_utc),
                serial_number=_random_serial(),
            )
            self._certify_authority("tsa", certificate)
            made += 1
        return made

    def _certify_authority(self, role: str, certificate: x509.Certificate) -> None:
        version = self._next_version(AUTHORITY_STREAM)
        event = SealAuthorityCertified(
            originator_id=AUTHORITY_STREAM,
            originator_version=version,
            timestamp=_utc(self.clock()),
            role=role,
            serial=serial_hex(certificate.serial_number),
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            cert_sha256=_fingerprint(certificate),
            pem=pki.certificate_pem(certificate).decode("ascii"),
        )

        def project(conn: Connection, leaves: Sequence[int]) -> None:
            row = AuthorityRow(
                role, event.serial, event.not_before, event.not_after, event.cert_sha256, event.pem, version, leaves[0]
            )
            SealStore.put_authority(conn, row)

        self.recording.save([event], project)

    # -- department seal certificates -------------------------------------------------------------------------------

    def certificates(self, uscc: str | None = None) -> list[SealCertificateRow]:
        """Seal certificates (of one department), in order of issue, revoked ones included, each with its revocation
        as the log records it."""
        return self._as_logged(self.store.certificates(uscc))

    def certificate(self, serial: int | str) -> SealCertificateRow | None:
        """A seal certificate by serial (an int, or hex text as stored), or None."""
        text = serial_hex(serial) if isinstance(serial, int) else serial.strip().lower().removeprefix("0x")
        row = self.store.certificate(text)
        found = self._as_logged([] if row is None else [row])
        return found[0] if found else None

    def _as_logged(self, rows: Sequence[SealCertificateRow]) -> list[SealCertificateRow]:
        """The rows the log backs, with their revocation re-derived from their department's stream of events.

        The seal tables only say which certificates to look at: clearing a revocation column changes no verdict and
        no CRL, and a row without its issuing event on the log is not one of ours (left out: fail closed)."""
        if not rows:
            return []
        streams = self.recording.load_streams(sorted({department_stream(r.issuer_uscc) for r in rows}, key=str))
        issued: dict[str, str] = {}  # serial -> SHA-256 of its DER, as the log recorded it
        revoked: dict[str, SealCertificateRevoked] = {}
        for events in streams.values():
            for event in events:
                if isinstance(event, SealCertificateIssued):
                    issued[event.serial] = event.cert_sha256
                elif isinstance(event, SealCertificateRevoked):
                    revoked.setdefault(event.serial, event)
        logged = []
        for row in rows:
            if issued.get(row.serial) != row.cert_sha256:
                continue
            revocation = revoked.get(row.serial)
            if revocation is not None:
                row = replace(
                    row,
                    revoked_at=revocation.revoked_at,
                    revocation_reason=revocation.reason,
                    revocation_recorded_at=revocation.timestamp,
                )
            logged.append(row)
        return logged

    def current_certificate(self, uscc: str, at: datetime) -> SealCertificateRow | None:
        """The department's newest unrevoked seal certificate valid at `at`, or None."""
        moment = _utc(at, "at")
        usable = [
            row
            for row in self.certificates(uscc)
            if row.revoked_at is None and row.not_before <= moment < row.not_after
        ]
        return usable[-1] if usable else None

    def ensure_seal_certificates(self, departments: Sequence[tuple[str, str]]) -> int:
        """Certify every (USCC, name) department without a usable seal certificate (none, near expiry, revoked, or
        issued under another name); returns how many certificates were issued."""
        now = _utc(self.clock())
        issued = 0
        for uscc, name in departments:
            row = self.current_certificate(uscc, now)
            fresh = row is not None and row.not_after - RENEW_BEFORE > now
            if fresh and row is not None and _organisation(_load_pem(row.pem)) == name:
                continue
            self.issue_seal_certificate(uscc, name)
            issued += 1
        return issued

    def issue_seal_certificate(self, uscc: str, department_name: str) -> SealCertificateRow:
        """Generate a P-256 seal key for the department, certify it under the region CA and record the issuance."""
        ca = self.region_ca()
        now = _utc(self.clock())
        serial = _random_serial()
        key = pki.generate_key()
        certificate = pki.issue_seal_certificate(
            ca,
            key.public_key(),
            department_name=department_name,
            uscc=uscc,
            not_before=now - BACKDATE,
            not_after=min(now + SEAL_LIFETIME, ca.certificate.not_valid_after_utc),
            serial_number=serial,
            crl_url=self.crl_url,
        )
        stream = department_stream(uscc)
        version = self._next_version(stream)
        self.keys.store(seal_key_name(uscc, serial_hex(serial)), key)  # an orphan key if the save fails: harmless
        event = SealCertificateIssued(
            originator_id=stream,
            originator_version=version,
            timestamp=now,
            serial=serial_hex(serial),
            issuer_uscc=uscc,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            cert_sha256=_fingerprint(certificate),
            pem=pki.certificate_pem(certificate).decode("ascii"),
        )
        row = SealCertificateRow(
            event.serial, uscc, event.not_before, event.not_after, event.cert_sha256, event.pem, issued_leaf=-1
        )
        leaves = self.recording.save([event], lambda conn, leaves: SealStore.put_certificate(conn, _at(row, leaves)))
        return _at(row, leaves)

    def revoke(self, serial: int | str, *, reason: str = "unspecified", revoked_at: datetime | None = None) -> None:
        """Revoke a seal certificate from `revoked_at` (default now; earlier for a key compromised in the past)."""
        row = self.certificate(serial)
        if row is None:
            raise SealRegistryError(f"no seal certificate with serial {serial}")
        if row.revoked_at is not None:
            since = row.revoked_at.isoformat()
            raise SealRegistryError(f"seal certificate {row.serial} is already revoked since {since}")
        if reason not in REVOCATION_REASONS:
            raise SealRegistryError(f"revocation reason must be one of {', '.join(REVOCATION_REASONS)}")
        now = _utc(self.clock())
        effective = _utc(revoked_at or now, "revoked_at").replace(microsecond=0)  # CRL times are whole seconds
        if effective > now:
            raise SealRegistryError("revoked_at: a revocation cannot take effect in the future")
        if effective < row.not_before:
            raise SealRegistryError("revoked_at: earlier than the certificate's notBefore")
        stream = department_stream(row.issuer_uscc)
        event = SealCertificateRevoked(
            originator_id=stream,
            originator_version=self._next_version(stream),
            timestamp=now,
            serial=row.serial,
            revoked_at=effective,
            reason=reason,
        )

        def project(conn: Connection, leaves: Sequence[int]) -> None:
            SealStore.mark_revoked(conn, row.serial, effective, reason, now, leaves[0])

        self.recording.save([event], project)

    def seal_key(self, uscc: str, at: datetime) -> SealKey:
        """Everything needed to seal for a department at `at`: its current certificate, key, chain and seal image."""
        row = self.current_certificate(uscc, at)
        if row is None:
            raise SealRegistryError(
                f"department {uscc} has no valid seal certificate: run `trustledger seals issue {uscc}`"
            )
        certificate = _load_pem(row.pem)
        private = self._private(seal_key_name(uscc, row.serial))
        ca = self.region_ca()
        return SealKey(certificate, private, (ca.certificate,), render_seal_png(_organisation(certificate)))

    # -- revocation list --------------------------------------------------------------------------------------------

    def crl(self) -> x509.CertificateRevocationList:
        """The CRL (RFC 5280 §5) of every revoked seal certificate, signed by the region CA.

        thisUpdate is the start of the current hour, or the last revocation's recording if later, and the cRLNumber
        is thisUpdate in Unix seconds × 1000 + the revocation count (mod 1000): the same revocations in the same hour
        give the same bytes (cacheable), and every revocation raises the number (§5.2.3), even two in one second."""
        ca = self.region_ca()
        revoked = sorted(
            (r for r in self.certificates() if r.revoked_at is not None),
            key=lambda r: (r.revocation_recorded_at or r.revoked_at or _EPOCH, r.serial),
        )
        now = _utc(self.clock())
        this_update = now.replace(minute=0, second=0, microsecond=0)
        recorded = [r.revocation_recorded_at for r in revoked if r.revocation_recorded_at is not None]
        if recorded:
            this_update = max(this_update, max(recorded).replace(microsecond=0))
        entries = [
            pki.RevokedSeal(int(r.serial, 16), r.revoked_at, REVOCATION_REASONS[r.revocation_reason or "unspecified"])
            for r in revoked
            if r.revoked_at is not None
        ]
        return pki.build_crl(
            ca,
            entries,
            this_update=this_update,
            next_update=this_update + CRL_LIFETIME,
            crl_number=int(this_update.timestamp()) * 1000 + len(revoked) % 1000,
        )

    # -- internals ----------------------------------------------------------------------------------------------------

    def _next_version(self, stream: UUID) -> int:
        last = self.recording.recorder.select_events(stream, desc=True, limit=1)
        return 1 if not last else int(last[0].originator_version) + 1

    def _private(self, name: str) -> ec.EllipticCurvePrivateKey:
        try:
            key = self.keys.load(name)
        except KeyStoreError as e:
            raise SealRegistryError(f"seal key {name!r} is missing from the keystore: {e}") from e
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise SealRegistryError(f"seal key {name!r} is not an ECDSA key")
        return key

    def _key_or_new(self, name: str) -> ec.EllipticCurvePrivateKey:
        """The stored key (a crash after storing it but before the event left it behind), or a new one."""
        try:
            return self._private(name)
        except SealRegistryError:
            key = pki.generate_key()
            self.keys.store(name, key)
            return key


def _at(row: SealCertificateRow, leaves: Sequence[int]) -> SealCertificateRow:
    return SealCertificateRow(
        row.serial, row.issuer_uscc, row.not_before, row.not_after, row.cert_sha256, row.pem, issued_leaf=leaves[0]
    )
