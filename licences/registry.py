"""The registry of a region: catalogue entries (region, departments, licence types) and signing keys, as events.

DESIGN §5/§6: a change to the catalogue is itself a ledger event, and so is every step of a key's life (registered with
its validity window, retired, compromised since T). `init` publishes the packaged catalogue; the running service builds
its `Catalogue` from the registry read model, so what the service enforces is exactly what the ledger says.

Key records are cached per service for the online token check (`recent_keys_of`; `keys_of` and what publishes, the
trust list, always read). A key event saved by any service in this process (registered, retired, compromised) bumps
a process-wide generation, so the next check in this process re-reads the keys at once; a key event saved by another
process (another worker, the CLI) is seen once the cache re-checks the `registry_keys` stamp, at most
`KEY_RECHECK_SECONDS` (1 s) later. A compromise therefore takes effect at once in the process that recorded it and
within a second in every other worker on the same database.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID, uuid5

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.domain import DomainEvent

from clock import Clock
from licences.catalogue import Catalogue, build_catalogue
from licences.errors import CatalogueError, RegistryError
from licences.recording import Recording
from licences.store import LicenceStore
from licences.store_registry import IssuerRow, KeyRow
from licences.values import LICENCE_NAMESPACE, utc
from signatures.cose import ALG_EDDSA, ALG_ES256, Signer, key_id_for, public_key_spki, signer_for
from signatures.errors import VerificationError
from signatures.keyring import KeyRecord, check_key_valid_at
from signatures.kids import kid_text

if TYPE_CHECKING:  # the read models' SQL stays in licences/store.py
    from sqlalchemy import Connection

REGISTRY_NAMESPACE = uuid5(LICENCE_NAMESPACE, "registry")
CATALOGUE_RECHECK_SECONDS = 1.0
KEY_RECHECK_SECONDS = 1.0  # the longest another worker keeps trusting a key after a compromise (module doc)
MAX_CACHED_KEY_OWNERS = 4096  # a region has a few hundred issuers; past this the cache starts again
PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey


class NoUsableTokenKeyError(RegistryError):
    """An issuer has no token key valid now (each compromised, retired or expired): nothing of theirs can be minted
    until an operator registers a new one. Deliberately not done automatically on a compromise: the key store may be
    what was breached, and a new key belongs there only once the operator has dealt with that."""

    def __init__(self, issuer: str) -> None:
        super().__init__(
            f"issuer {issuer} has no token key valid now (compromised, retired or expired); "
            f"an operator must run `trustledger keys rotate {issuer}`"
        )
        self.issuer = issuer


class KeySource(Protocol):
    """Port: where the private halves of registered keys live (a keystore file directory, later an HSM)."""

    def load(self, name: str) -> PrivateKey:
        """The private key stored under `name`."""
        ...

    def store(self, name: str, key: PrivateKey) -> PrivateKey:
        """Keep a newly generated key under `name` (never overwriting)."""
        ...


# -- Events ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogueEntryPublished(DomainEvent):
    """A catalogue entry — the region, a department (发证机关) or a licence type — was published or changed."""

    kind: str
    key: str
    document: dict[str, Any]
    digest: str


@dataclass(frozen=True)
class SigningKeyRegistered(DomainEvent):
    """A public key was registered for an owner and purpose, valid over [not_before, not_after)."""

    kid: str
    owner: str
    purpose: str
    alg: int
    public_key: str
    not_before: datetime
    not_after: datetime | None


@dataclass(frozen=True)
class SigningKeyRetired(DomainEvent):
    """The key stopped signing at `retired_at`; what it signed before stays valid."""

    retired_at: datetime


@dataclass(frozen=True)
class SigningKeyCompromised(DomainEvent):
    """The key must not be trusted for anything signed at or after `compromised_since`."""

    compromised_since: datetime
    reason: str


ENTRY_KINDS = ("region", "department", "licence_type")


class _KeyGeneration:
    """A process-wide count of key events saved here: a cache filled under an older count is stale."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def bump(self) -> None:
        with self._lock:
            self.value += 1


_KEY_GENERATION = _KeyGeneration()


@dataclass(frozen=True)
class _KeyCache:
    """Key records by owner (None: every key), valid while the generation and the table's stamp are unchanged."""

    generation: int
    stamp: str
    checked_at: float
    by_owner: dict[str | None, tuple[KeyRecord, ...]]


def entry_stream(kind: str, key: str) -> UUID:
    """The stream of one catalogue entry."""
    return uuid5(REGISTRY_NAMESPACE, f"catalogue/{kind}/{key}")


def key_stream(kid_hex: str) -> UUID:
    """The stream of one signing key's lifecycle."""
    return uuid5(REGISTRY_NAMESPACE, f"key/{kid_hex}")


def document_digest(document: dict[str, Any]) -> str:
    """SHA-256 of a document's canonical JSON: what `init` compares to decide whether anything changed."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class IssuerRecord:
    """An issuing department as registered: USCC, name, region, the licence types it may issue."""

    uscc: str
    name: str
    region_code: str
    licence_types: tuple[str, ...]
    leaf_index: int


def key_record(row: KeyRow) -> KeyRecord:
    """The signatures-package view of a registered key."""
    return KeyRecord(
        kid=bytes.fromhex(row.kid),
        alg=row.alg,
        public_key=base64.b64decode(row.public_key),
        owner=row.owner,
        not_before=row.not_before,
        not_after=row.not_after,
        retired_at=row.retired_at,
        compromised_since=row.compromised_since,
    )


def key_record_from_log(events: Sequence[Any]) -> KeyRecord | None:
    """A key's record folded from its stream's events (None without a registration)."""
    record: KeyRecord | None = None
    for event in events:
        if isinstance(event, SigningKeyRegistered):
            record = KeyRecord(
                kid=bytes.fromhex(event.kid),
                alg=event.alg,
                public_key=base64.b64decode(event.public_key),
                owner=event.owner,
                not_before=event.not_before,
                not_after=event.not_after,
                retired_at=None,
                compromised_since=None,
            )
        elif record is not None and isinstance(event, SigningKeyRetired):
            record = dataclasses.replace(record, retired_at=event.retired_at)
        elif record is not None and isinstance(event, SigningKeyCompromised):
            earliest = event.compromised_since
            if record.compromised_since is not None:
                earliest = min(earliest, record.compromised_since)
            record = dataclasses.replace(record, compromised_since=earliest)
    return record


class RegistryService:
    """Publishes the catalogue and manages signing keys, each change a ledger event with its read-model row."""

    def __init__(self, recording: Recording, store: LicenceStore, keys: KeySource, clock: Clock) -> None:
        self.recording = recording
        self.store = store
        self.keys = keys
        self.clock = clock
        self._lock = threading.Lock()
        self._catalogue: tuple[str, Catalogue] | None = None
        self._checked_at = 0.0
        self._keys: _KeyCache | None = None

    # -- catalogue --------------------------------------------------------------------------------------------------

    def publish_catalogue(self, departments_document: dict[str, Any], type_documents: Sequence[dict[str, Any]]) -> int:
        """Publish every entry whose document is new or changed; returns how many events were written.

        The whole catalogue is validated first (`build_catalogue`), so a bad data file publishes nothing.
        """
        build_catalogue(departments_document, [(str(d.get("key")), d) for d in type_documents])
        region = dict(departments_document["region"])
        entries: list[tuple[str, str, dict[str, Any]]] = [("region", str(region["code"]), region)]
        entries += [("department", str(d["key"]), dict(d)) for d in departments_document["departments"]]
        entries += [("licence_type", str(d["code"]), dict(d)) for d in type_documents]
        events: list[CatalogueEntryPublished] = []
        for kind, key, document in entries:
            digest = document_digest(document)
            known = self.store.registry_entry(kind, key)
            if known is not None and known[1] == digest:
                continue
            version = 1 if known is None else known[2] + 1
            events.append(
                CatalogueEntryPublished(
                    originator_id=entry_stream(kind, key),
                    originator_version=version,
                    timestamp=utc(self.clock()),
                    kind=kind,
                    key=key,
                    document=document,
                    digest=digest,
                )
            )
        if not events:
            return 0
        catalogue = self._catalogue_with(events)
        order = {d["key"]: i for i, d in enumerate(departments_document["departments"])}

        def project(conn: Connection, leaves: Sequence[int]) -> None:
            for event, leaf in zip(events, leaves, strict=True):
                LicenceStore.put_registry_entry(
                    conn, event.kind, event.key, event.document, event.digest, event.originator_version, leaf
                )
            for department in catalogue.departments:
                types = tuple(t.code for t in catalogue.types_for(department))
                row = IssuerRow(
                    department.uscc,
                    department.name_zh,
                    department.region_code,
                    types,
                    order[department.key],
                    leaves[-1],
                )
                LicenceStore.put_issuer(conn, row)

        self.recording.save(events, project)
        self._catalogue = None
        return len(events)

    def _catalogue_with(self, events: Sequence[CatalogueEntryPublished]) -> Catalogue:
        documents: dict[tuple[str, str], dict[str, Any]] = {}
        for kind in ENTRY_KINDS:
            for key, document in self.store.registry_documents(kind):
                documents[(kind, key)] = document
        for event in events:
            documents[(event.kind, event.key)] = event.document
        return _build(documents)

    def catalogue(self) -> Catalogue:
        """The catalogue as published on the ledger, re-checked against the registry at most once a second.

        The catalogue changes only when `init` publishes new data; a second's delay before another process sees the
        change costs nothing, while a registry query on every command cost a fifth of a batch's time.
        """
        now = self.clock.monotonic()
        cached = self._catalogue
        if cached is not None and now - self._checked_at < CATALOGUE_RECHECK_SECONDS:
            return cached[1]
        stamp = self.store.registry_stamp()
        self._checked_at = now
        if cached is not None and cached[0] == stamp:
            return cached[1]
        documents = {(kind, key): doc for kind in ENTRY_KINDS for key, doc in self.store.registry_documents(kind)}
        catalogue = _build(documents)
        self._catalogue = (stamp, catalogue)
        return catalogue

    def issuers(self) -> list[IssuerRecord]:
        """Registered issuers in catalogue order (the region's lead market regulator first)."""
        return [
            IssuerRecord(r.uscc, r.name, r.region_code, r.licence_types, r.leaf_index) for r in self.store.issuers()
        ]

    # -- keys -------------------------------------------------------------------------------------------------------

    def keys_of(self, owner: str | None = None) -> list[KeyRecord]:
        """Registered keys with their lifecycle, oldest first, as the log records them.

        The `registry_keys` table only says which keys to look at: each key's record is re-derived from its own
        stream of events (registered, retired, compromised), so clearing a column (a compromise, a retirement)
        changes no verdict and no published trust list. A row the log does not back is left out (fail closed)."""
        return self._keys_from_log(owner)

    def recent_keys_of(self, owner: str | None = None) -> list[KeyRecord]:
        """`keys_of`, cached for the online token check: a key event is seen at once in this process and within
        `KEY_RECHECK_SECONDS` in others (module doc). What publishes (the trust list) reads `keys_of`."""
        generation = _KEY_GENERATION.value  # read before the keys: an event landing meanwhile makes the entry stale
        cache = self._fresh_key_cache(generation)
        if cache is not None and owner in cache.by_owner:
            return list(cache.by_owner[owner])
        stamp = cache.stamp if cache is not None else self.store.key_stamp()
        records = self._keys_from_log(owner)
        if not records:  # the owner comes from an unchecked token: caching every unknown name would grow unbounded
            return records
        by_owner = dict(cache.by_owner) if cache is not None and len(cache.by_owner) < MAX_CACHED_KEY_OWNERS else {}
        by_owner[owner] = tuple(records)
        checked_at = cache.checked_at if cache is not None else self.clock.monotonic()
        self._keys = _KeyCache(generation, stamp, checked_at, by_owner)
        return records

    def _fresh_key_cache(self, generation: int) -> _KeyCache | None:
        """The key cache if nothing says it is stale: same generation, and the stamp re-read at most once a second."""
        cache = self._keys
        if cache is None or cache.generation != generation:
            return None
        now = self.clock.monotonic()
        if now - cache.checked_at < KEY_RECHECK_SECONDS:
            return cache
        stamp = self.store.key_stamp()
        if stamp != cache.stamp:
            return None
        cache = _KeyCache(generation, stamp, now, cache.by_owner)
        self._keys = cache
        return cache

    def _keys_from_log(self, owner: str | None) -> list[KeyRecord]:
        rows = self.store.keys(owner)
        streams = self.recording.load_streams([key_stream(row.kid) for row in rows])
        records = []
        for row in rows:
            record = key_record_from_log(streams[key_stream(row.kid)])
            if record is not None and record.kid.hex() == row.kid and (owner is None or record.owner == owner):
                records.append(record)
        return records

    def register_key(
        self, owner: str, purpose: str, key: PrivateKey, not_before: datetime, not_after: datetime | None = None
    ) -> KeyRecord:
        """Keep a private key and register its public half on the ledger."""
        public = key.public_key()
        kid = key_id_for(public).hex()
        self.keys.store(f"{purpose}-{kid}", key)
        event = SigningKeyRegistered(
            originator_id=key_stream(kid),
            originator_version=1,
            timestamp=utc(self.clock()),
            kid=kid,
            owner=owner,
            purpose=purpose,
            alg=ALG_EDDSA if isinstance(key, Ed25519PrivateKey) else ALG_ES256,
            public_key=base64.b64encode(public_key_spki(public)).decode(),
            not_before=utc(not_before, "not_before"),
            not_after=None if not_after is None else utc(not_after, "not_after"),
        )

        def project(conn: Connection, leaves: Sequence[int]) -> None:
            row = KeyRow(
                kid,
                owner,
                purpose,
                event.alg,
                event.public_key,
                event.not_before,
                event.not_after,
                None,
                None,
                1,
                leaves[0],
            )
            LicenceStore.put_key(conn, row)

        try:
            self.recording.save([event], project)
        finally:
            _KEY_GENERATION.bump()
        return key_record(self._key_row(kid))

    def ensure_token_keys(self) -> int:
        """Give every issuer without a usable token key a new Ed25519 key; returns how many were registered."""
        now = utc(self.clock())
        added = 0
        for issuer in self.issuers():
            if self._usable_token_key(issuer.uscc, now) is None:
                self.register_key(issuer.uscc, "token", Ed25519PrivateKey.generate(), now)
                added += 1
        return added

    def rotate_token_key(self, uscc: str) -> KeyRecord:
        """Register a new token key for an issuer and retire its current ones now (their tokens stay valid)."""
        if uscc not in {i.uscc for i in self.issuers()}:
            raise RegistryError(f"no registered issuer {uscc}")
        now = utc(self.clock())
        old = [r for r in self.store.keys(uscc) if r.purpose == "token" and r.retired_at is None]
        record = self.register_key(uscc, "token", Ed25519PrivateKey.generate(), now)
        for row in old:
            self._key_event(row, SigningKeyRetired, retired_at=now)
        return record

    def retire_key(self, kid: bytes, at: datetime | None = None) -> KeyRecord:
        """Retire a key at `at` (default now)."""
        row = self._key_row(kid.hex())
        if row.retired_at is not None:
            raise RegistryError(f"key {kid_text(kid)} is already retired")
        self._key_event(row, SigningKeyRetired, retired_at=utc(at or self.clock(), "at"))
        return key_record(self._key_row(kid.hex()))

    def compromise_key(self, kid: bytes, since: datetime, reason: str = "") -> KeyRecord:
        """Mark a key compromised since `since`: its signatures from then on are refused everywhere."""
        row = self._key_row(kid.hex())
        if row.compromised_since is not None and row.compromised_since <= utc(since, "since"):
            raise RegistryError(f"key {kid_text(kid)} is already compromised since {row.compromised_since.isoformat()}")
        self._key_event(row, SigningKeyCompromised, compromised_since=utc(since, "since"), reason=reason[:500])
        return key_record(self._key_row(kid.hex()))

    def token_signer(self, uscc: str, at: datetime) -> tuple[KeyRecord, Signer]:
        """The issuer's token key valid at `at`, with its signer; RegistryError if it has none."""
        row = self._usable_token_key(uscc, utc(at, "at"))
        if row is None:
            raise NoUsableTokenKeyError(uscc)
        return key_record(row), signer_for(self.keys.load(f"token-{row.kid}"))

    def _usable_token_key(self, uscc: str, at: datetime) -> KeyRow | None:
        usable = []
        for row in self.store.keys(uscc):
            if row.purpose != "token":
                continue
            try:
                check_key_valid_at(key_record(row), at)
            except VerificationError:
                continue
            if row.retired_at is None or row.retired_at > at:
                usable.append(row)
        return usable[-1] if usable else None

    def _key_row(self, kid_hex: str) -> KeyRow:
        for row in self.store.keys(owner=None):
            if row.kid == kid_hex:
                return row
        raise RegistryError(f"no registered key {kid_text(bytes.fromhex(kid_hex))}")

    def _key_event(self, row: KeyRow, cls: type[SigningKeyRetired | SigningKeyCompromised], **changes: Any) -> None:
        event = cls(
            originator_id=key_stream(row.kid),
            originator_version=row.version + 1,
            timestamp=utc(self.clock()),
            **changes,
        )

        def project(conn: Connection, leaves: Sequence[int]) -> None:
            updated = KeyRow(
                row.kid,
                row.owner,
                row.purpose,
                row.alg,
                row.public_key,
                row.not_before,
                row.not_after,
                changes.get("retired_at", row.retired_at),
                changes.get("compromised_since", row.compromised_since),
                row.version + 1,
                row.leaf_index,
            )
            LicenceStore.put_key(conn, updated)

        try:
            self.recording.save([event], project)
        finally:
            _KEY_GENERATION.bump()


def _build(documents: dict[tuple[str, str], dict[str, Any]]) -> Catalogue:
    regions = [doc for (kind, _), doc in documents.items() if kind == "region"]
    if len(regions) != 1:
        raise CatalogueError("the registry holds no catalogue yet: run `trustledger init`")
    departments = {"region": regions[0], "departments": [d for (k, _), d in documents.items() if k == "department"]}
    types = [(key, doc) for (kind, key), doc in documents.items() if kind == "licence_type"]
    return build_catalogue(departments, types)
