"""Per-address token buckets for the public endpoints (TRUSTLEDGER_PUBLIC_RATE_LIMIT per minute; 0 = off).

In-process: with W workers an address gets up to W times the limit, which is acceptable for a politeness limit
(the hard limit belongs at the edge proxy). Memory is bounded: beyond `max_addresses` the least recently seen
address is forgotten, which can only ever grant it a fresh bucket.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

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


def public_rate_limit(request: Request) -> None:
    """Dependency of the public endpoints: 429 problem with Retry-After when the caller's address is over."""
    limiter: RateLimiter = request.app.state.rate_limiter
    address = request.client.host if request.client else "unknown"
    wait = limiter.take(address)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise ProblemError(
            RATE_LIMITED,
            f"more than {limiter.per_minute} public requests a minute from this address; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


RateLimited = Annotated[None, Depends(public_rate_limit)]
