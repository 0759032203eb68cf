"""Numbers in paths and query strings that name an immutable resource (a leaf, a tree size, a trust list version).

Each such number has exactly one spelling: ASCII decimal, no sign, no leading zeros (except `0` itself), nothing
around it. Python's `int()` and pydantic's lax integers accept far more (`+1`, `1_0`, ` 1`, `1\\n`, `٠١`, `０１`), and
every one of those would be a second URL for the same immutable, forever-cacheable response. `CANONICAL` checks the
raw text before pydantic turns it into an `int`, so an alias is a 422 problem naming the parameter; the bounds stay
on the `Path`/`Query` (`ge`, `le`), which keeps the OpenAPI schema an integer with its minimum and maximum.

Put `CANONICAL` after the `Path(...)`/`Query(...)` in the `Annotated` (before it, FastAPI writes `ge`/`le` into the
schema instead of `minimum`/`maximum`):

    index: Annotated[int, Path(ge=0, le=MAX_INDEX), CANONICAL]
"""

from __future__ import annotations

import re

from pydantic import BeforeValidator

MAX_DIGITS = 19  # 2^63 − 1, the largest bound any route states, has 19 digits; longer text is refused unparsed
_DECIMAL = re.compile(rf"0|[1-9][0-9]{{0,{MAX_DIGITS - 1}}}", re.ASCII)


def canonical_decimal(value: object) -> object:
    """The `int` of `value` if it is canonical decimal text; `None` passes (an absent optional parameter)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise ValueError(
            f"must be a decimal number of at most {MAX_DIGITS} ASCII digits, without sign, spaces, separators or "
            "leading zeros"
        )
    return int(value)


CANONICAL = BeforeValidator(canonical_decimal)
