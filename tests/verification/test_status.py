"""The one vocabulary: every code has one verdict, the verdict is the most severe reason's, the API's verdict values
are the enum's, the documented table is the code's table, and cross-region and PDF results read in the same terms."""

from __future__ import annotations

import re
import typing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from anchors import crossregion as cross
from anchors.crossregion import CrossRegionResult, CrossVerdict, Finding
from signatures.cose import TokenReason
from verification import CODES, Code, Reason, TokenStatus, Verdict, verdict_of_code
from verification.crossregion import cross_region_status, cross_verdict_of
from verification.pdf import CHECKS, Check, PdfCheck
from verification.status import PRECEDENCE, verdict_of
from verify_api import schemas

NOW = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
DOC = Path(__file__).parents[2] / "docs" / "verification.md"


def _reasons(*codes: str) -> tuple[Reason, ...]:
    return tuple(Reason(c, f"because {c}") for c in codes)


def test_the_enum_is_the_api_vocabulary() -> None:
    """The HTTP/JSON verdicts do not change: the enum holds exactly the values the API schemas allow."""
    assert {v.value for v in Verdict} == set(typing.get_args(schemas.Verdict))
    assert set(PRECEDENCE) == set(Verdict)


def test_every_code_has_one_verdict_and_every_check_code_is_listed() -> None:
    assert {c.value for c in Code} == set(CODES)
    assert {r.value for r in TokenReason} <= set(CODES)  # signatures.offline's codes
    peer_codes = {
        cross.UNKNOWN_REGION,
        cross.PEER_FORKED,
        cross.TRUST_LIST_STALE,
        cross.TYPE_NOT_ACCEPTED,
        cross.NOT_IN_PEER_LOG,
        cross.INCLUSION_UNCONFIRMED,
        cross.STATUS_UNCONFIRMED,
        cross.PEER_DISOWNS,
        cross.STATUS_PROOF_INVALID,
        *cross.NOT_IN_FORCE,
    }
    assert peer_codes <= set(CODES)
    assert verdict_of_code("no_such_code") is Verdict.INVALID  # fail closed


def test_the_documented_table_is_the_code_table() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \|", DOC.read_text(), re.M)
    assert dict(rows) == {code: verdict.value for code, (verdict, _) in CODES.items()}


@pytest.mark.parametrize(
    ("codes", "verdict"),
    [
        ((), Verdict.VALID),
        (("expired", "superseded"), Verdict.SUPERSEDED),
        (("revoked", "superseded"), Verdict.REVOKED),
        (("expired", "revoked"), Verdict.REVOKED),
        (("suspended", "superseded"), Verdict.SUSPENDED),
        (("trust_list_stale",), Verdict.INVALID),
        (("trust_list_stale", "expired"), Verdict.INVALID),
        (("unknown_licence",), Verdict.UNKNOWN),
        (("other_log",), Verdict.OTHER_REGION),
    ],
)
def test_the_most_severe_reason_decides(codes: tuple[str, ...], verdict: Verdict) -> None:
    assert verdict_of(_reasons(*codes)) is verdict


def test_a_status_names_its_deciding_reason() -> None:
    status = TokenStatus("online", NOW, _reasons("expired", "superseded"))
    assert (status.verdict, status.bottom_line, status.reason_code) == (Verdict.SUPERSEDED, False, "superseded")
    assert status.reason == "because superseded" and status.primary == Reason("superseded", "because superseded")
    valid = TokenStatus("offline", NOW)
    assert (valid.verdict, valid.bottom_line, valid.reason_code, valid.primary) == (Verdict.VALID, True, "valid", None)
    assert "online check" in valid.reason
    assert Reason("key_compromised", "x").to_json() == {
        "code": "key_compromised",
        "title": "key compromised",
        "detail": "x",
    }


def _cross(verdict: CrossVerdict, *codes: str) -> CrossRegionResult:
    return CrossRegionResult("ledger.hb.gov.example/log", verdict, tuple(Finding(c, c) for c in codes), NOW)


@pytest.mark.parametrize(
    ("result", "verdict"),
    [
        (_cross(CrossVerdict.VALID), Verdict.VALID),
        (_cross(CrossVerdict.VALID_UNCONFIRMED, "status_unconfirmed"), Verdict.UNKNOWN),
        (_cross(CrossVerdict.UNCONFIRMED, "inclusion_unconfirmed", "status_unconfirmed"), Verdict.UNKNOWN),
        (_cross(CrossVerdict.INVALID, "revoked"), Verdict.REVOKED),
        (_cross(CrossVerdict.INVALID, "superseded"), Verdict.SUPERSEDED),
        (_cross(CrossVerdict.INVALID, "bad_signature"), Verdict.INVALID),
        (_cross(CrossVerdict.INVALID, "peer_forked"), Verdict.INVALID),
        (_cross(CrossVerdict.REFUSED, "unknown_region"), Verdict.OTHER_REGION),
        (_cross(CrossVerdict.REFUSED, "type_not_accepted"), Verdict.UNKNOWN),
        (_cross(CrossVerdict.INVALID), Verdict.INVALID),  # no finding: still refused
    ],
)
def test_cross_region_results_read_in_the_same_terms(result: CrossRegionResult, verdict: Verdict) -> None:
    status = cross_region_status(result)
    assert status.verdict is verdict
    assert status.bottom_line is result.valid
    assert status.claims is None  # nothing authentic in these hand-made results


def test_a_local_token_in_the_federation_shape() -> None:
    assert cross_verdict_of(TokenStatus("online", NOW)) is CrossVerdict.VALID
    for code in ("revoked", "superseded", "bad_signature", "unknown_licence"):
        assert cross_verdict_of(TokenStatus("online", NOW, _reasons(code))) is CrossVerdict.INVALID


def _pdf(*failed: tuple[str, str]) -> PdfCheck:
    failures = dict(failed)
    checks = tuple(
        Check(name, False, f"failed: {failures[name]}", failures[name]) if name in failures else Check(name, True, "ok")
        for name in CHECKS
    )
    return PdfCheck("online", NOW, "00" * 32, checks)


def test_pdf_checks_speak_the_same_verdicts() -> None:
    assert (_pdf().verdict, _pdf().bottom_line, _pdf().reasons) == (Verdict.VALID, True, ())
    assert _pdf(("licence_status", "revoked")).verdict is Verdict.REVOKED
    assert _pdf(("licence_status", "superseded")).verdict is Verdict.SUPERSEDED
    altered = _pdf(("intact", "altered"), ("licence_status", "revoked"))
    assert (altered.verdict, altered.bottom_line) == (Verdict.INVALID, False)
    assert [r.code for r in altered.reasons] == ["altered", "revoked"]
