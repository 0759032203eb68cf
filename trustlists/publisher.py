"""The region's trust list from its registry (DESIGN §6): built, signed by the root key, versioned, chained, published.

What goes in: every registered issuer (USCC, name, licence types, in the registry's order) with its token keys and
their lifecycle, the region code and name, the log origin and its verifier key, and the seal CA certificate when the
region has one. An issuer with no key or no licence type cannot vouch for anything and is left out (fail closed).

When a new version is published: when the content differs from the latest version's, or when the latest has used
up half of its validity (issued_at → next_update), so verifiers that refresh on time never hold a stale list merely
because nothing changed. Otherwise the latest version is served as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import rfc8785

from clock import Clock
from signatures.cose import Signer
from signatures.keyring import KeyRecord
from signatures.trustlist import TrustedIssuer, TrustList, build_trust_list, sign_trust_list
from trustlists.errors import TrustListConflictError
from trustlists.store import TrustListRow, TrustListStore

DEFAULT_PERIOD = timedelta(hours=24)
_CHAIN_FIELDS = ("version", "previous_sha256", "issued_at", "next_update")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class IssuerEntry(Protocol):
    """An issuing department as the registry lists it."""

    @property
    def uscc(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def licence_types(self) -> Sequence[str]: ...


class RegistryView(Protocol):
    """The part of `licences.registry.RegistryService` a trust list is built from."""

    def issuers(self) -> Sequence[IssuerEntry]:
        """Registered issuers, in the order the trust list lists them."""
        ...

    def keys_of(self, owner: str | None = None) -> Sequence[KeyRecord]:
        """Registered keys with their lifecycle; an issuer's keys have its USCC as owner."""
        ...


@dataclass(frozen=True)
class TrustInputs:
    """Everything a trust list version says, apart from its number, chain link and times."""

    region_code: str
    region_name: str
    log_origin: str
    log_verifier_key: str
    issuers: tuple[TrustedIssuer, ...]
    seal_ca_certificates: tuple[str, ...] = ()

    def build(self, issued_at: datetime, next_update: datetime, previous: TrustList | None = None) -> TrustList:
        """The trust list version with these contents (DESIGN §6), chained to `previous`."""
        return build_trust_list(
            region_code=self.region_code,
            region_name=self.region_name,
            log_origin=self.log_origin,
            log_verifier_key=self.log_verifier_key,
            issuers=self.issuers,
            issued_at=issued_at,
            next_update=next_update,
            seal_ca_certificates=self.seal_ca_certificates,
            previous=previous,
        )

    def content_sha256(self) -> str:
        """SHA-256 of the RFC 8785 payload without version, chain link and times: equal iff the content is equal."""
        payload = self.build(_EPOCH, _EPOCH + timedelta(seconds=1)).to_payload()
        content = {k: v for k, v in payload.items() if k not in _CHAIN_FIELDS}
        return hashlib.sha256(_canonical(content)).hexdigest()


def _canonical(value: dict[str, object]) -> bytes:
    return rfc8785.dumps(value)  # type: ignore[arg-type]  # rfc8785's JSON type is narrower than dict[str, object]


def trusted_issuers(
    registry: RegistryView, seal_certificates: Callable[[str], Iterable[str]] | None = None
) -> tuple[TrustedIssuer, ...]:
    """The registry's issuers with their keys, in registry order; issuers without keys or types are left out."""
    keys: dict[str, list[KeyRecord]] = {}
    for key in registry.keys_of(None):
        keys.setdefault(key.owner, []).append(key)
    out = []
    for issuer in registry.issuers():
        own = keys.get(issuer.uscc, [])
        if not own or not issuer.licence_types:
            continue
        certs = tuple(seal_certificates(issuer.uscc)) if seal_certificates else ()
        out.append(TrustedIssuer(issuer.uscc, issuer.name, tuple(issuer.licence_types), tuple(own), certs))
    return tuple(out)


def parse_document(row: TrustListRow) -> TrustList:
    """The TrustList of a stored version (it was built and signed by us; parsed strictly all the same)."""
    return TrustList.from_payload(json.loads(row.document)["payload"])


class TrustListPublisher:
    """Publishes new trust list versions when the content changes or the latest is half-way to its next_update."""

    def __init__(self, store: TrustListStore, signer: Signer, clock: Clock, period: timedelta = DEFAULT_PERIOD) -> None:
        if period < timedelta(seconds=2):
            raise ValueError("trust list period must be at least 2 seconds")
        self.store = store
        self.signer = signer
        self.clock = clock
        self.period = period

    def _due(self, latest: TrustListRow, content: str, now: datetime) -> bool:
        if now < latest.issued_at:
            return False  # the clock went back: never issue a version dated before its predecessor
        half_life = latest.issued_at + (latest.next_update - latest.issued_at) / 2
        return latest.content_sha256 != content or now >= half_life

    def current(self, inputs: TrustInputs) -> TrustListRow:
        """The version to serve now, publishing a new one first if it is due."""
        content = inputs.content_sha256()
        for _ in range(3):  # a concurrent publisher may take the version number; then decide again
            latest = self.store.latest()
            now = self.clock()
            if latest is not None and not self._due(latest, content, now):
                return latest
            row = self._next(inputs, content, latest, now)
            try:
                self.store.add(row)
            except TrustListConflictError:
                continue
            return row
        latest = self.store.latest()
        assert latest is not None  # three conflicts mean others published
        return latest

    def _next(self, inputs: TrustInputs, content: str, latest: TrustListRow | None, now: datetime) -> TrustListRow:
        previous = None if latest is None else parse_document(latest)
        doc = inputs.build(now, now + self.period, previous)
        text = _canonical(sign_trust_list(doc, self.signer)).decode("utf-8")
        return TrustListRow(doc.version, doc.digest(), content, doc.issued_at, doc.next_update, text)
