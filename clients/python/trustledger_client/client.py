"""A typed, synchronous Python client of the TrustLedger API for approval systems, departments and auditors.

    from trustledger_client import InvokedEvent, RevokedEvent, TrustLedgerClient

    client = TrustLedgerClient("https://ledger.example", api_key="tlk_…")
    answer = client.verify(licence_id, matter_code="410100-001", purpose="开办餐饮店", consent="授权书 A-1")

Every method returns the API's response model (pydantic, `trustledger_client.models`); every error answer raises
`ApiProblem` carrying the RFC 9457 problem, so callers switch on `exc.type` (a stable URI) or read `exc.field`. When
no answer comes (connection refused or dropped, timeout, broken exchange) it raises `ClientConnectionError`, naming
the base URL; both derive from `TrustLedgerClientError`. The methods follow the OpenAPI operation ids (`verify` is
`verifyLicence`, `history` is `getLicenceHistory`…).

    trail = client.history(licence_id)
    for entry in trail.events:
        match entry.event:  # the documented form of each event, told apart by `kind`
            case InvokedEvent(verifier=who, matter_code=matter, purpose=why):
                ...
            case RevokedEvent(reason=reason, revocation=kind):
                ...

Under load the server may answer 503 with `Retry-After` (problem type `busy`: nothing was written); the client waits
as told and tries again, up to `retries` times, before raising.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from trustledger_client.errors import ApiProblem, ClientConnectionError
from trustledger_client.matter_models import MatterList, MatterLookupOut, MatterOut
from trustledger_client.models import (
    FederationVerifyOut,
    Health,
    HistoryOut,
    LicenceOut,
    LicencePage,
    PdfCheckOut,
    Problem,
    PublicVerdict,
    TokenCheckOut,
    VerifyOut,
)

__all__ = ["TrustLedgerClient"]

_M = TypeVar("_M", bound=BaseModel)
_MAX_RETRY_AFTER = 30.0  # seconds: a longer Retry-After is not waited for here


class TrustLedgerClient:
    """The API over one `httpx.Client` (pass `http` to reuse one, e.g. a test client)."""

    def __init__(
        self,
        base_url: str = "",
        api_key: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._owned = http is None
        self._http = http if http is not None else httpx.Client(base_url=base_url, timeout=timeout)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._retries = retries
        self._sleep = sleep

    def close(self) -> None:
        """Close the connection pool (only if this client created it)."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> TrustLedgerClient:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        merged = {**self._headers, **(headers or {})}
        if idempotency_key is not None:
            merged["Idempotency-Key"] = idempotency_key
        query = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(self._retries + 1):
            response = self._request(method, path, json=json, params=query, content=content, headers=merged)
            wait = _retry_after(response)
            if wait is None or attempt == self._retries:
                break
            self._sleep(wait)
        if response.status_code >= 400:
            raise ApiProblem(_problem(response))
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One exchange; a transport failure becomes `ClientConnectionError` naming the base URL and the path (never
        the query, which may carry a licence token)."""
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            base = str(self._http.base_url).rstrip("/") or "(no base URL)"
            sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            what = "no answer from" if sent else "cannot connect to"
            message = f"{what} the TrustLedger API at {base} ({method} {path}): {type(exc).__name__}: {exc}"
            raise ClientConnectionError(message, base_url=base, sent=sent) from exc

    def _call(self, model: type[_M], method: str, path: str, **kwargs: Any) -> _M:
        return model.model_validate_json(self._send(method, path, **kwargs).content)

    # -- departments -------------------------------------------------------------------------------------------------

    def issue(
        self,
        *,
        type_code: str,
        holder_id: str,
        holder_name: str,
        fields: dict[str, str | int] | None = None,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> LicenceOut:
        """Issue a licence as the key's department."""
        body: dict[str, Any] = {"type_code": type_code, "holder_id": holder_id, "holder_name": holder_name}
        body["fields"] = fields or {}
        body |= {k: v.isoformat() for k, v in (("valid_from", valid_from), ("valid_until", valid_until)) if v}
        return self._call(LicenceOut, "POST", "/v1/licences", json=body, idempotency_key=idempotency_key)

    def renew(
        self, licence_id: str, *, valid_until: datetime | None = None, idempotency_key: str | None = None
    ) -> LicenceOut:
        """Renew within the renewal window."""
        body = {} if valid_until is None else {"valid_until": valid_until.isoformat()}
        return self._lifecycle(licence_id, "renew", body, idempotency_key)

    def amend(
        self,
        licence_id: str,
        *,
        changes: dict[str, str | int],
        holder_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> LicenceOut:
        """Amend registered particulars."""
        body: dict[str, Any] = {"changes": changes}
        if holder_name is not None:
            body["holder_name"] = holder_name
        return self._lifecycle(licence_id, "amend", body, idempotency_key)

    def suspend(self, licence_id: str, *, reason: str, idempotency_key: str | None = None) -> LicenceOut:
        """Suspend (暂扣)."""
        return self._lifecycle(licence_id, "suspend", {"reason": reason}, idempotency_key)

    def reinstate(self, licence_id: str, *, reason: str = "", idempotency_key: str | None = None) -> LicenceOut:
        """Lift a suspension."""
        return self._lifecycle(licence_id, "reinstate", {"reason": reason}, idempotency_key)

    def revoke(
        self,
        licence_id: str,
        *,
        reason: str,
        kind: Literal["voluntary", "penalty"] = "voluntary",
        idempotency_key: str | None = None,
    ) -> LicenceOut:
        """Revoke: 注销 (voluntary) or 吊销 (penalty)."""
        return self._lifecycle(licence_id, "revoke", {"reason": reason, "kind": kind}, idempotency_key)

    def _lifecycle(self, licence_id: str, verb: str, body: dict[str, Any], key: str | None) -> LicenceOut:
        return self._call(LicenceOut, "POST", f"/v1/licences/{licence_id}/{verb}", json=body, idempotency_key=key)

    def get(self, licence_id: str) -> LicenceOut:
        """One licence."""
        return self._call(LicenceOut, "GET", f"/v1/licences/{licence_id}")

    def list(
        self,
        *,
        holder: str | None = None,
        issuer: str | None = None,
        expiring_before: datetime | None = None,
        limit: int = 100,
        after: str | None = None,
    ) -> LicencePage:
        """Licences by holder, by issuer, or expiring before a time (exactly one)."""
        params = {"holder": holder, "issuer": issuer, "limit": limit, "after": after}
        params["expiring_before"] = None if expiring_before is None else expiring_before.isoformat()
        return self._call(LicencePage, "GET", "/v1/licences", params=params)

    def pdf(self, licence_id: str) -> bytes:
        """The sealed PDF of the current version."""
        return self._send("GET", f"/v1/licences/{licence_id}/pdf").content

    # -- approval systems --------------------------------------------------------------------------------------------

    def verify(
        self,
        licence_id: str,
        *,
        matter_code: str,
        purpose: str,
        consent: str,
        holder_digest: str | None = None,
        holder_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> VerifyOut:
        """Verify for a matter and record the use. The answer proves both the licence's current version
        (`inclusion_proof`) and the use's own leaf (`use.inclusion_proof`) under one signed `checkpoint`: keep it as
        the evidence that this use, accepted or refused, is on the ledger."""
        body = {"matter_code": matter_code, "purpose": purpose, "consent": consent}
        body |= {k: v for k, v in (("holder_digest", holder_digest), ("holder_id", holder_id)) if v is not None}
        path = f"/v1/licences/{licence_id}/verify"
        return self._call(VerifyOut, "POST", path, json=body, idempotency_key=idempotency_key)

    def verify_any_region(self, token: str, *, matter_code: str, purpose: str, consent: str) -> FederationVerifyOut:
        """Verify a licence token of this region or of a peer region for a matter, and record the use (ADR 0005).
        `use` has the members of `verify`'s, with the checkpoint note its `inclusion_proof` is against."""
        body = {"token": token, "matter_code": matter_code, "purpose": purpose, "consent": consent}
        return self._call(FederationVerifyOut, "POST", "/v1/federation/verify", json=body)

    def matters(self) -> MatterList:
        """The matter catalogue (事项目录): each matter's licence types and the fields it needs from each."""
        return self._call(MatterList, "GET", "/v1/matters")

    def matter(self, code: str) -> MatterOut:
        """One matter of the catalogue."""
        return self._call(MatterOut, "GET", f"/v1/matters/{quote(code, safe='')}")

    def lookup_matter_licences(
        self,
        code: str,
        *,
        holder_id: str,
        consent: str,
        purpose: str,
        idempotency_key: str | None = None,
        across_regions: bool = False,
    ) -> MatterLookupOut:
        """Licence-free handling (免证办): the holder's licences of the matter's types, each with only the fields the
        matter needs and each disclosure recorded as a use; `prefill` has those fields flattened for a form. Keep
        the answer: every use's leaf is proven under its `checkpoint`."""
        body: dict[str, Any] = {"holder_id": holder_id, "consent": consent, "purpose": purpose}
        if across_regions:  # also the peer regions whose licence types the region accepts, each answer checked
            body["across_regions"] = True
        path = f"/v1/matters/{quote(code, safe='')}/licences"
        return self._call(MatterLookupOut, "POST", path, json=body, idempotency_key=idempotency_key)

    def check_token(self, token: str) -> TokenCheckOut:
        """Check a QR token or URL (records no use)."""
        return self._call(TokenCheckOut, "POST", "/v1/verify/token", json={"token": token})

    def check_pdf(self, pdf: bytes) -> PdfCheckOut:
        """Check a sealed licence PDF."""
        headers = {"Content-Type": "application/pdf"}
        return self._call(PdfCheckOut, "POST", "/v1/verify/pdf", content=pdf, headers=headers)

    # -- auditors and the public -------------------------------------------------------------------------------------

    def history(self, licence_id: str, *, size: int | None = None, after: int | None = None) -> HistoryOut:
        """Every event, in its documented form by `kind` (`IssuedEvent`, `InvokedEvent`…), with its inclusion proof
        against one signed checkpoint."""
        params = {"size": size, "after": after}
        return self._call(HistoryOut, "GET", f"/v1/licences/{licence_id}/history", params=params)

    def public_verify(self, token: str) -> PublicVerdict:
        """The public (least-disclosure) answer for a token."""
        return self._call(PublicVerdict, "GET", "/v1/public/verify", params={"token": token})

    def checkpoint(self) -> str:
        """The latest signed checkpoint note."""
        return self._send("GET", "/checkpoint").text

    def health(self) -> Health:
        """Health of the worker that answered."""
        return self._call(Health, "GET", "/healthz")


def _problem(response: httpx.Response) -> Problem:
    try:
        return Problem.model_validate_json(response.content)
    except ValidationError:
        return Problem(
            type="about:blank",
            title=response.reason_phrase or "error",
            status=response.status_code,
            detail=response.text[:500],
        )


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait before retrying a 503 that says when to retry (delay-seconds form, RFC 9110 §10.2.3)."""
    if response.status_code != 503:
        return None
    value = response.headers.get("retry-after", "").strip()
    if not value.isascii() or not value.isdigit():
        return None
    seconds = float(int(value))
    return seconds if seconds <= _MAX_RETRY_AFTER else None
