"""C2SP tlog-tiles paths (docs/formats.md §1.4): how tiles are named, and the one strict parser of those names.

A tile of level L and index N is served at `tile/<L>/<N>[.p/<W>]`: N in decimal, left-padded with zeros to a multiple of
three digits, cut into groups of three, every group but the last prefixed with `x` (`x001/x234/067`); `.p/W` names
the first W (1-255) entries of a tile that is not full. Entry bundles use the same `<N>[.p/<W>]` after `tile/entries/`.

The parser accepts exactly the strings `tile_path` writes, nothing that merely means the same number: the text is
matched against an ASCII pattern before any `int()`, which would accept Unicode and full-width digits, a leading `+`,
surrounding whitespace (a URL's `%0A`) and `_` separators.
"""

from __future__ import annotations

import re

from ledger.edge import TILE_HEIGHT, TILE_WIDTH
from ledger.errors import LedgerError

MAX_LEVEL = 63  # 2^(8·64) leaves is beyond any tree; the level is one or two digits
MAX_INDEX = 2**53 - 1  # indexes stay in the I-JSON range, so a client's number type holds them exactly
MAX_PATH_CHARS = 64  # the longest canonical index path is 28 characters, `.p/255` adds 6
_LEVEL = re.compile(r"0|[1-9][0-9]?", re.ASCII)
_INDEX = re.compile(r"((?:x[0-9]{3}/)*)([0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?", re.ASCII)


def tile_path(level: int, index: int, width: int | None = None) -> str:
    """C2SP tlog-tiles path `tile/<L>/<N>[.p/<W>]`, N in 3-digit groups with `x` before all but the last."""
    suffix = "" if width is None or width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{index_path(index)}{suffix}"


def index_path(index: int) -> str:
    """The `x001/x234/067` form of a tile index."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def tile_paths(size: int) -> list[tuple[int, int, int]]:
    """(level, index, width) of every tile of a tree of `size` leaves."""
    out = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        entries = size >> (TILE_HEIGHT * level)
        out += [(level, i, TILE_WIDTH) for i in range(entries // TILE_WIDTH)]
        if entries % TILE_WIDTH:
            out.append((level, entries // TILE_WIDTH, entries % TILE_WIDTH))
        level += 1
    return out


def parse_level(text: str) -> int:
    """A tile level `0`..`63` in canonical decimal; LedgerError otherwise."""
    if not _LEVEL.fullmatch(text) or int(text) > MAX_LEVEL:
        raise LedgerError(f"no tile level {text[:8]!r}: a level is 0..{MAX_LEVEL} without leading zeros")
    return int(text)


def parse_index_path(text: str) -> tuple[int, int | None]:
    """`x001/x234/067[.p/W]` → (index, width or None), accepting only what `tile_path` writes; LedgerError otherwise."""
    m = _INDEX.fullmatch(text) if len(text) <= MAX_PATH_CHARS else None
    if m is None:
        raise LedgerError("not a tile path")
    groups, last, width = m.groups()
    if groups.startswith("x000"):
        raise LedgerError("tile index must not have leading zero groups")
    index = int(groups.replace("x", "").replace("/", "") + last)
    if index > MAX_INDEX:
        raise LedgerError("tile index out of range")
    if width is not None and int(width) >= TILE_WIDTH:
        raise LedgerError(f"partial width must be 1..{TILE_WIDTH - 1}")
    return index, None if width is None else int(width)
