"""The online check's per-process caches (keys, verified checkpoints, minting leaves) never hide a change of verdict:
a key compromise or retirement is refused on the very next check in this process and within a second in another, a
suspension or revocation shows at once, and a forged checkpoint is refused however warm the cache. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import licences.registry as registry_module
from ledger import log as log_module
from ledger.ids import LeafIndex
from licences.application import LicenceView
from licences.errors import LicenceNotFoundError
from signatures.cose import b64url_decode, decode_token
from signatures.errors import VerificationError
from tests.conftest import FakeClock
from tests.licences.conftest import FOOD_FIELDS
from trustledger.region import Region, init_region, open_region
from trustledger.settings import Settings
from verification import check_token_online
from verification.checkpoints import VerifiedCheckpoints, verify_status_proof_remembering
from verification.status import Code, TokenStatus, Verdict

ZZ_AMR = "11410100007409378P"  # 郑州市市场监督管理局: issues 食品经营许可证
START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def region(db_url: str, tmp_path: Path, fake_clock: FakeClock) -> Iterator[Region]:
    r = init_region(Settings(home=tmp_path / "home", database_url=db_url), None, None, None, clock=fake_clock)
    yield r
    r.close()


def _issue(region: Region) -> LicenceView:
    return region.licences.issue(
        type_code="food-business-licence",
        issuer=ZZ_AMR,
        holder_id="91350100M000100Y43",
        holder_name="郑州鼎盛餐饮有限公司",
        fields=FOOD_FIELDS,
    )


def _check(region: Region, token: str) -> TokenStatus:
    return check_token_online(token, region.ledger_sources())


def _kid(view: LicenceView) -> bytes:
    return decode_token(b64url_decode(view.token))[0].kid


def _warm(region: Region, view: LicenceView) -> None:
    """Check twice, so the keys, the checkpoint and the leaf are all served from the caches next time."""
    for _ in range(2):
        assert _check(region, view.token).verdict is Verdict.VALID


def test_a_key_compromise_is_refused_on_the_next_check_in_this_process(region: Region) -> None:
    view = _issue(region)
    _warm(region, view)
    region.registry.compromise_key(_kid(view), since=view.valid_from - timedelta(seconds=5), reason="泄露")
    status = _check(region, view.token)  # no clock movement: the same instant, a warm cache
    assert status.verdict is Verdict.INVALID
    assert [r.code for r in status.reasons] == [Code.KEY_COMPROMISED]


def test_a_retirement_before_the_signature_is_refused_on_the_next_check(region: Region) -> None:
    view = _issue(region)
    _warm(region, view)
    region.registry.retire_key(_kid(view), at=view.valid_from - timedelta(seconds=5))
    assert [r.code for r in _check(region, view.token).reasons] == [Code.KEY_NOT_VALID]


def test_a_compromise_recorded_by_another_region_object_is_seen_at_once(region: Region, fake_clock: FakeClock) -> None:
    """The CLI opens its own region in the API's process: its key events reach the API's cache at once too."""
    view = _issue(region)
    _warm(region, view)
    other = open_region(region.settings, fake_clock)
    try:
        other.registry.compromise_key(_kid(view), since=view.valid_from - timedelta(seconds=5))
    finally:
        other.close()
    assert [r.code for r in _check(region, view.token).reasons] == [Code.KEY_COMPROMISED]


def test_a_compromise_recorded_by_another_process_is_seen_within_a_second(
    region: Region, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another worker's key event does not bump this process's generation: the stamp, re-read after a second, does."""
    view = _issue(region)
    _warm(region, view)
    other = open_region(region.settings, fake_clock)
    monkeypatch.setattr(registry_module._KEY_GENERATION, "bump", lambda: None)  # as if saved in another process
    try:
        other.registry.compromise_key(_kid(view), since=view.valid_from - timedelta(seconds=5))
    finally:
        other.close()
    fake_clock.advance(seconds=registry_module.KEY_RECHECK_SECONDS)
    assert [r.code for r in _check(region, view.token).reasons] == [Code.KEY_COMPROMISED]


@pytest.mark.parametrize(("change", "verdict"), [("suspend", Verdict.SUSPENDED), ("revoke", Verdict.REVOKED)])
def test_a_suspension_or_revocation_shows_on_the_next_check(region: Region, change: str, verdict: Verdict) -> None:
    view = _issue(region)
    _warm(region, view)
    getattr(region.licences, change)(view.id, actor=ZZ_AMR, reason="暂扣" if change == "suspend" else "吊销")
    assert _check(region, view.token).verdict is verdict


def test_a_forged_checkpoint_is_refused_after_the_genuine_one_was_remembered(region: Region) -> None:
    view = _issue(region)
    proof = region.log.status_proof(view.identifier)
    verifier = region.log_signer.verifier
    origin = region.config.origin
    checkpoints = VerifiedCheckpoints()
    first = verify_status_proof_remembering(proof, verifier, origin, checkpoints)
    assert verify_status_proof_remembering(proof, verifier, origin, checkpoints) == first
    assert len(checkpoints) == 1
    body, signatures = proof.checkpoint.split("\n\n", 1)
    lines = body.split("\n")
    lines[1] = str(int(lines[1]) + 1)  # the tree size, under the genuine signature
    forged = type(proof)("\n".join(lines) + "\n\n" + signatures, *_rest(proof))
    with pytest.raises(VerificationError):
        verify_status_proof_remembering(forged, verifier, origin, checkpoints)
    with pytest.raises(VerificationError):  # a failure is not remembered: refused again
        verify_status_proof_remembering(forged, verifier, origin, checkpoints)
    assert len(checkpoints) == 1
    with pytest.raises(VerificationError):  # the remembered note under another origin is not trusted
        verify_status_proof_remembering(proof, verifier, "ledger.hb.gov.example/log", checkpoints)


def _rest(proof: object) -> tuple[object, ...]:
    return (proof.identifier, proof.value, proof.leaf, proof.siblings)  # type: ignore[attr-defined]


def test_the_checkpoint_table_is_bounded(region: Region) -> None:
    with pytest.raises(ValueError, match="at least one"):
        VerifiedCheckpoints(0)
    checkpoints = VerifiedCheckpoints(2)
    notes = []
    for _ in range(3):  # each issuance signs a checkpoint of its own
        notes.append(region.log.status_proof(_issue(region).identifier).checkpoint)
        checkpoints.open(notes[-1], region.log_signer.verifier, region.config.origin)
    assert len(set(notes)) == 3 and len(checkpoints) == 2


def test_remembered_leaves_are_the_stored_ones_and_bounded(region: Region, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(log_module, "MAX_REMEMBERED_LEAVES", 3)
    size = region.log.size()
    for index in range(size):
        assert region.log.remembered_leaf(LeafIndex(index)) == region.log.leaf(LeafIndex(index))
        assert region.log.remembered_leaf(LeafIndex(index)) == region.log.leaf(LeafIndex(index))  # from the table
    assert len(region.log._leaves) == min(3, size)
    with pytest.raises(log_module.LedgerError):
        region.log.remembered_leaf(LeafIndex(size))  # beyond the log: nothing to remember


def test_find_reads_the_licence_of_any_of_its_identifiers_in_one_query(region: Region) -> None:
    view = _issue(region)
    amended = region.licences.amend(view.id, actor=ZZ_AMR, changes={"premises": "郑州市金水区花园路2号"})
    for text in (view.identifier, amended.identifier, str(view.id), f" {view.identifier} "):
        assert region.licences.find(text) == region.licences.get(region.licences.resolve(text))
    for unknown in (view.identifier[:-1] + "9", "00000000-0000-0000-0000-000000000000", ""):
        with pytest.raises(LicenceNotFoundError):
            region.licences.find(unknown)


def test_unknown_owners_are_not_cached(region: Region) -> None:
    """A token's issuer is unchecked input: asking for the keys of names nobody registered keeps nothing."""
    assert region.registry.recent_keys_of(ZZ_AMR)
    for n in range(50):
        assert region.registry.recent_keys_of(f"9141010000000{n:05d}") == []
    cache = region.registry._keys
    assert cache is not None and set(cache.by_owner) == {ZZ_AMR}
