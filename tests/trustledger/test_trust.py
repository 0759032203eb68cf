"""Trust list publishing (DESIGN §6): versions chained and signed, re-published only on change or at half-life."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from ledger.store import make_engine
from signatures.cose import Ed25519Signer
from signatures.errors import VerificationError
from signatures.keyring import KeyRecord
from signatures.trustlist import TrustList, parse_signed_trust_list, verify_trust_list
from tests.conftest import FakeClock
from tests.signatures import helpers as h
from trustlists.errors import TrustListConflictError
from trustlists.publisher import TrustInputs, TrustListPublisher, parse_document, trusted_issuers
from trustlists.store import TrustListRow, TrustListStore

PERIOD = timedelta(hours=24)


@dataclass(frozen=True)
class Issuer:
    uscc: str
    name: str
    licence_types: tuple[str, ...]


@dataclass
class FakeRegistry:
    """The two registry calls a trust list is built from."""

    issuer_list: list[Issuer]
    keys: list[KeyRecord] = field(default_factory=list)

    def issuers(self) -> Sequence[Issuer]:
        return self.issuer_list

    def keys_of(self, owner: str | None = None) -> Sequence[KeyRecord]:
        return [k for k in self.keys if owner is None or k.owner == owner]


def _key(label: str, owner: str, clock: FakeClock) -> KeyRecord:
    return KeyRecord.from_public_key(h.ed25519(label).public_key(), owner, clock.now - timedelta(days=1))


@pytest.fixture
def registry(clock: FakeClock) -> FakeRegistry:
    issuers = [
        Issuer(h.ISSUER_A, "河南省市场监督管理局", (h.TYPE_A,)),
        Issuer(h.ISSUER_B, "郑州市卫生健康委员会", (h.TYPE_B,)),
        Issuer("11410000004715759A", "河南省药品监督管理局", ("111000000098665482001",)),  # no key: left out
    ]
    return FakeRegistry(issuers, [_key("a", h.ISSUER_A, clock), _key("b", h.ISSUER_B, clock)])


def _inputs(registry: FakeRegistry) -> TrustInputs:
    return TrustInputs("410000", "河南省", h.ORIGIN, h.log_verifier_key(), trusted_issuers(registry))


@pytest.fixture(scope="module")
def root_signer() -> Ed25519Signer:
    return Ed25519Signer(h.ed25519("root"))


@pytest.fixture
def trust_store(db_url: str) -> Iterator[TrustListStore]:
    engine = make_engine(db_url)
    store = TrustListStore(engine)
    store.create_tables()
    yield store
    engine.dispose()


@pytest.fixture
def publisher(trust_store: TrustListStore, root_signer: Ed25519Signer, clock: FakeClock) -> TrustListPublisher:
    return TrustListPublisher(trust_store, root_signer, clock, PERIOD)


def _verify(
    row: TrustListRow, root_signer: Ed25519Signer, clock: FakeClock, previous: TrustListRow | None = None
) -> TrustList:
    before = None if previous is None else parse_document(previous)
    return verify_trust_list(
        parse_signed_trust_list(row.document), root_signer.private_key.public_key(), clock.now, before
    )


def test_trusted_issuers_keep_registry_order_and_leave_out_keyless(registry: FakeRegistry) -> None:
    issuers = trusted_issuers(registry)
    assert [i.uscc for i in issuers] == [h.ISSUER_A, h.ISSUER_B]
    assert issuers[0].keys == (registry.keys[0],)
    certs = trusted_issuers(registry, lambda uscc: [h.self_signed_pem(h.p256("s"), "x")] if uscc == h.ISSUER_B else [])
    assert certs[0].seal_certificates == () and len(certs[1].seal_certificates) == 1


def test_first_version_is_signed_by_the_root_key(
    publisher: TrustListPublisher, registry: FakeRegistry, root_signer: Ed25519Signer, clock: FakeClock
) -> None:
    row = publisher.current(_inputs(registry))
    doc = _verify(row, root_signer, clock)
    assert (doc.version, doc.previous_sha256, row.version) == (1, None, 1)
    assert doc.next_update == clock.now + PERIOD
    assert row.payload_sha256 == doc.digest()
    assert [i.uscc for i in doc.issuers] == [h.ISSUER_A, h.ISSUER_B]
    with pytest.raises(VerificationError, match="not signed by this region's root key"):
        verify_trust_list(parse_signed_trust_list(row.document), h.ed25519("other").public_key(), clock.now)


def test_unchanged_content_is_not_republished(
    publisher: TrustListPublisher, registry: FakeRegistry, trust_store: TrustListStore, clock: FakeClock
) -> None:
    first = publisher.current(_inputs(registry))
    clock.advance(hours=11, minutes=59)
    assert publisher.current(_inputs(registry)) == first
    assert trust_store.versions() == [1]


def test_changed_content_publishes_the_next_version_chained(
    publisher: TrustListPublisher, registry: FakeRegistry, root_signer: Ed25519Signer, clock: FakeClock
) -> None:
    first = publisher.current(_inputs(registry))
    clock.advance(minutes=5)
    registry.keys[0] = registry.keys[0].mark_compromised(clock.now - timedelta(minutes=1))
    second = publisher.current(_inputs(registry))
    doc = _verify(second, root_signer, clock, previous=first)
    assert (doc.version, doc.previous_sha256) == (2, first.payload_sha256)
    assert doc.issuers[0].keys[0].compromised_since == (clock.now - timedelta(minutes=1)).replace(microsecond=0)


def test_half_aged_version_is_refreshed_with_the_same_content(
    publisher: TrustListPublisher, registry: FakeRegistry, root_signer: Ed25519Signer, clock: FakeClock
) -> None:
    first = publisher.current(_inputs(registry))
    clock.advance(hours=12)
    second = publisher.current(_inputs(registry))
    assert second.version == 2 and second.content_sha256 == first.content_sha256
    assert _verify(second, root_signer, clock, previous=first).next_update == clock.now + PERIOD


def test_clock_going_back_never_dates_a_version_before_its_predecessor(
    publisher: TrustListPublisher, registry: FakeRegistry, clock: FakeClock
) -> None:
    first = publisher.current(_inputs(registry))
    clock.advance(hours=-1)
    registry.issuer_list.pop(1)
    assert publisher.current(_inputs(registry)) == first


def test_a_concurrent_publisher_wins_and_its_version_is_served(
    publisher: TrustListPublisher,
    registry: FakeRegistry,
    trust_store: TrustListStore,
    root_signer: Ed25519Signer,
    clock: FakeClock,
) -> None:
    first = publisher.current(_inputs(registry))
    registry.issuer_list.pop(1)
    other = TrustListPublisher(TrustListStore(trust_store.engine), root_signer, clock, PERIOD)
    real_latest = trust_store.latest
    calls = []

    def stale_latest() -> TrustListRow | None:
        # The first read races with the other publisher: it still sees version 1, then version 2 lands.
        calls.append(1)
        row = real_latest()
        if len(calls) == 1:
            other.current(_inputs(registry))
        return row

    trust_store.latest = stale_latest  # type: ignore[method-assign]
    served = publisher.current(_inputs(registry))
    assert served.version == 2 and len(calls) == 2
    assert trust_store.versions() == [1, 2]
    assert json.loads(served.document)["payload"]["previous_sha256"] == first.payload_sha256


def test_store_refuses_a_taken_version(trust_store: TrustListStore, clock: FakeClock) -> None:
    row = TrustListRow(1, "0" * 64, "1" * 64, clock.now, clock.now + PERIOD, "{}")
    trust_store.add(row)
    with pytest.raises(TrustListConflictError, match="version 1"):
        trust_store.add(row)
    assert trust_store.get(1) == row
    assert trust_store.get(2) is None
    assert trust_store.latest() == row


def test_period_must_be_sensible(trust_store: TrustListStore, root_signer: Ed25519Signer, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="period"):
        TrustListPublisher(trust_store, root_signer, clock, timedelta(seconds=1))
