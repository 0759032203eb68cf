"""Per-address token buckets for the public endpoints (TRUSTLEDGER_PUBLIC_RATE_LIMIT per minute; 0 = off).

In-process: with W workers an address gets up to W times the limit, which is acceptable for a politeness limit
(the hard limit belongs at the edge proxy). Memory is bounded: beyond `max_addresses` the least recently seen
address is forgotten, which can only ever grant it a fresh bucket.

The refusal speaks the route's language: a JSON endpoint answers 429 problem+json, a page (a route whose response
class is HTML: the scan page, the provenance page) answers a 429 page in Chinese and English. Both carry Retry-After.
The address is the TCP peer's: `serve` trusts no forwarding header, so behind a NAT or a reverse proxy every caller
shares one bucket (README, configuration).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from verify_api.pages import render
from verify_api.problems import RATE_LIMITED, ProblemError


class RateLimiter:
    """`per_minute` requests per address, bursting up to `per_minute`; `per_minute = 0` admits everything.

    `clock` is monotonic seconds: the app hands in its region clock's `monotonic`.
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float], max_addresses: int = 100_000) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must be >= 0")
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (tokens, last seen)
        self._lock = threading.Lock()

    def take(self, address: str) -> float:
        """Spend one token for `address`: 0.0 if admitted, else the seconds until a token is back."""
        if self.per_minute == 0:
            return 0.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(address, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * self._rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self._rate
            self._buckets[address] = (tokens, now)
            while len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        return wait


class RateLimitedPageError(ProblemError):
    """The rate limit refusal of a page: `install` renders it as HTML (a JSON client still gets the problem)."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(RATE_LIMITED, detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def _answers_html(request: Request) -> bool:
    """Whether the matched route is a page (declared `response_class=HTMLResponse`)."""
    response_class = getattr(request.scope.get("route"), "response_class", None)
    return isinstance(response_class, type) and issubclass(response_class, HTMLResponse)


def public_rate_limit(request: Request) -> None:
    """Dependency of the public endpoints: 429 with Retry-After when the caller's address is over (problem+json for
    an endpoint, a page for a page)."""
    limiter: RateLimiter = request.app.state.rate_limiter
    address = request.client.host if request.client else "unknown"
    wait = limiter.take(address)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        detail = f"more than {limiter.per_minute} public requests a minute from this address; retry in {seconds} s"
        if _answers_html(request):
            raise RateLimitedPageError(detail, retry_after=seconds)
        raise ProblemError(RATE_LIMITED, detail, headers={"Retry-After": str(seconds)})


async def rate_limited_page(request: Request, exc: Exception) -> HTMLResponse:
    """The 429 page: what happened and when to try again, in Chinese and English (no script, like every page)."""
    assert isinstance(exc, RateLimitedPageError)
    seconds = exc.retry_after
    context = {
        "region_name": request.app.state.region.config.name,
        "code": "rate_limited",
        "tone": "warn",
        "title_zh": "查询过于频繁，请稍后再试",
        "title_en": "Too many checks from this network",
        "text_zh": f"本网络地址在一分钟内的查询次数已达上限。请在 {seconds} 秒后刷新本页。"
        "证照本身不受影响。政务服务大厅等多人共用网络的场所，请联系运维人员调整限额。",
        "text_en": f"This network address has reached its limit of checks per minute. Reload this page in {seconds} s. "
        "The licence itself is not affected. Service halls where many people share one network: ask the operators "
        "to raise the limit.",
        "retry_after": seconds,
    }
    response = render(request, "message.html", context, 429)
    response.headers.update(exc.headers)
    return response


def install(app: FastAPI) -> None:
    """Answer a page's rate limit refusal with the 429 page (the subclass's handler wins over `ProblemError`'s)."""
    app.add_exception_handler(RateLimitedPageError, rate_limited_page)


RateLimited = Annotated[None, Depends(public_rate_limit)]
