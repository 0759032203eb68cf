"""Idempotency records reveal nothing by guessing (ADR 0013): the stored fingerprint is HMAC-SHA-256 under a region
secret, never a bare hash of the request, and shredding a holder blinds the records about the holder's licences."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.envelope import parse_leaf_data
from licences.application import LicenceService, LicenceView
from licences.errors import IdempotencyConflictError, PrivacyError
from licences.idempotency import Idempotency, fingerprint_key, request_hash
from licences.invocation import invocation_id_for
from licences.issuing import IssueRequest, issue_request_hash
from licences.store import SHREDDED_FINGERPRINT, idempotency_keys
from tests.conftest import FakeClock
from tests.licences.conftest import FOOD_FIELDS
from trustledger.region import Region, init_region
from trustledger.settings import Settings

HOLDER_ID = "91350100M000100Y43"
HOLDER_NAME = "郑州鼎盛餐饮有限公司"
ZZ_AMR = "11410100007409378P"  # 郑州市市场监督管理局
OTHER_ID, OTHER_NAME = "91410100MA0000000T", "郑州惠民超市有限公司"
NAMES = ["郑州惠民超市有限公司", HOLDER_NAME, "河南百味餐饮管理有限公司", "开封老街小吃店"]  # the attacker's list


@pytest.fixture
def region(db_url: str, tmp_path: Path) -> Iterator[Region]:
    clock = FakeClock(datetime(2026, 11, 21, 2, 0, tzinfo=UTC))
    r = init_region(Settings(home=tmp_path / "home", database_url=db_url), None, None, None, clock=clock)
    yield r
    r.close()


def request(name: str = HOLDER_NAME, holder_id: str = HOLDER_ID) -> IssueRequest:
    return IssueRequest("food-business-licence", ZZ_AMR, holder_id, name, FOOD_FIELDS)


def issue(svc: LicenceService, key: str | None, name: str = HOLDER_NAME, holder_id: str = HOLDER_ID) -> LicenceView:
    r = request(name, holder_id)
    return svc.issue(
        type_code=r.type_code,
        issuer=r.issuer,
        holder_id=r.holder_id,
        holder_name=r.holder_name,
        fields=r.fields,
        idempotency_key=key,
    )


def stored(svc: LicenceService, key: str) -> tuple[str, str | None]:
    with svc.store.read() as conn:
        row = conn.execute(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.licence_id).where(idempotency_keys.c.key == key)
        ).one()
    return row[0], row[1]


def dictionary_attack(svc: LicenceService, fingerprint: str) -> list[str]:
    """Every name in the list whose request, hashed bare or keyed with the region's own secret, gives `fingerprint`."""
    keyed = svc.idempotency
    found = []
    for name in NAMES:
        digest = issue_request_hash(request(name))
        if fingerprint in (digest, hashlib.sha256(digest.encode()).hexdigest(), keyed.fingerprint(digest)):
            found.append(name)
    return found


def test_the_stored_fingerprint_is_keyed_and_a_retry_still_matches(region: Region) -> None:
    svc = region.licences
    first = issue(svc, "req-1")
    fingerprint, licence_id = stored(svc, "req-1")
    digest = issue_request_hash(request())
    assert fingerprint != digest and len(fingerprint) == 64  # not the SHA-256 of the request
    key = fingerprint_key(svc.salt)
    assert fingerprint == hmac.new(key, digest.encode(), hashlib.sha256).hexdigest()
    assert licence_id == str(first.id)
    again = issue(svc, "req-1")
    assert again.id == first.id  # the retry finds its first result
    with pytest.raises(IdempotencyConflictError):  # the same key with a different request is still a conflict
        issue(svc, "req-1", "另一家公司")
    svc.suspend(first.id, actor=ZZ_AMR, reason="检查", idempotency_key="s-1")
    with pytest.raises(IdempotencyConflictError):  # and so is reuse for another command
        svc.revoke(first.id, actor=ZZ_AMR, reason="检查", idempotency_key="s-1")


def test_a_dictionary_attack_finds_nothing_once_the_holder_is_shredded(region: Region) -> None:
    svc = region.licences
    view = issue(svc, "req-1")
    svc.suspend(view.id, actor=ZZ_AMR, reason="检查", idempotency_key="s-1")
    other = issue(svc, "o-1", OTHER_NAME, OTHER_ID)
    before, _ = stored(svc, "req-1")
    assert dictionary_attack(svc, before) == [HOLDER_NAME]  # the region's secret alone still lets the region test
    svc.shred_holder(HOLDER_ID)
    after, licence_id = stored(svc, "req-1")
    assert after == SHREDDED_FINGERPRINT and licence_id == str(view.id)
    assert dictionary_attack(svc, after) == []
    assert stored(svc, "s-1")[0] == SHREDDED_FINGERPRINT
    with pytest.raises(IdempotencyConflictError, match="shredded"):  # refused: neither replayed nor run again
        issue(svc, "req-1")
    assert stored(svc, "o-1")[0] != SHREDDED_FINGERPRINT  # another holder's record is untouched
    assert issue(svc, "o-1", OTHER_NAME, OTHER_ID).id == other.id


def test_uses_are_linked_and_blinded_too(region: Region) -> None:
    svc = region.licences
    view = issue(svc, None)
    svc.use(view.id, verifier="v", matter_code="m", purpose="p", consent="c", idempotency_key="u-1")
    assert stored(svc, "u-1")[1] == str(view.id)
    svc.shred_holder(HOLDER_ID)
    assert stored(svc, "u-1")[0] == SHREDDED_FINGERPRINT


def test_fingerprints_depend_on_the_secret() -> None:
    digest = request_hash(["issue", HOLDER_ID, HOLDER_NAME])
    a = Idempotency(None, b"a" * 16)  # type: ignore[arg-type]  # fingerprint() touches no store
    b = Idempotency(None, b"b" * 16)  # type: ignore[arg-type]
    assert a.fingerprint(digest) != b.fingerprint(digest) and a.fingerprint(digest) == a.fingerprint(digest)
    assert json.dumps(a.fingerprint(digest)).strip('"') != digest
    with pytest.raises(PrivacyError):
        Idempotency(None, b"short")  # type: ignore[arg-type]


def test_a_use_cannot_be_found_in_the_public_log_by_guessing_its_key(region: Region) -> None:
    svc = region.licences
    view = issue(svc, None)
    used = svc.use(view.id, verifier="v", matter_code="m", purpose="p", consent="c", idempotency_key="1")
    assert used.invocation_id != invocation_id_for(view.id, "1")  # licence id and key are guessable; the stream is not
    assert used.invocation_id == invocation_id_for(view.id, svc.idempotency.use_key("1"))
    assert parse_leaf_data(region.log.leaf(used.leaf_index)[0]).stream == str(used.invocation_id)  # what is public
    again = svc.use(view.id, verifier="v", matter_code="m", purpose="p", consent="c", idempotency_key="1")
    assert again.invocation_id == used.invocation_id
