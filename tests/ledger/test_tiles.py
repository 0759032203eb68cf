"""C2SP tlog-tiles paths (docs/formats.md §1.4): the writer and the one strict parser agree, and the parser refuses
every spelling of a number that is not the canonical one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import LedgerError
from ledger.tiles import MAX_INDEX, index_path, parse_index_path, parse_level, tile_path, tile_paths


@pytest.mark.parametrize(
    ("index", "path"),
    [(0, "000"), (7, "007"), (1234, "x001/234"), (1234067, "x001/x234/067"), (1000000, "x001/x000/000")],
)
def test_index_paths_of_the_format_table(index: int, path: str) -> None:
    assert index_path(index) == path
    assert parse_index_path(path) == (index, None)
    assert parse_index_path(path + ".p/255") == (index, 255)


def test_tile_path_writes_full_tiles_without_a_width() -> None:
    assert tile_path(0, 2, 188) == "tile/0/002.p/188"
    assert tile_path(1, 1234, 256) == tile_path(1, 1234) == "tile/1/x001/234"
    assert tile_paths(700) == [(0, 0, 256), (0, 1, 256), (0, 2, 188), (1, 0, 2)]


@given(st.integers(min_value=0, max_value=MAX_INDEX), st.one_of(st.none(), st.integers(min_value=1, max_value=255)))
def test_the_parser_reads_back_what_the_writer_writes(index: int, width: int | None) -> None:
    level, _, rest = tile_path(5, index, width).removeprefix("tile/").partition("/")
    assert (parse_level(level), *parse_index_path(rest)) == (5, index, width)


NOT_INDEX_PATHS = [
    "٠٠٠",  # Arabic-Indic digits: int() reads them as 0
    "００７",  # full-width digits
    "+07",  # a sign
    " 007",
    "007 ",
    "007\n",  # `%0A` in a URL
    "\n007",
    "0_7",  # int("0_7") == 7
    "1_000",
    "07",  # not three digits
    "0007",
    "x000/007",  # a leading zero group
    "x001/",
    "x1/234",
    "X001/234",
    "001/234",  # a group without its `x`
    "007.p/0",  # width 1..255, canonical
    "007.p/256",
    "007.p/007",
    "007.p/+7",
    "007.p/７",
    "007.p/",
    "007.p/7 ",
    "x009/x007/x199/x254/x740/992",  # 2^53: beyond the I-JSON range
    "x001/" * 20 + "000",  # longer than any index path
    "",
]


@pytest.mark.parametrize("text", NOT_INDEX_PATHS)
def test_non_canonical_index_paths_are_refused(text: str) -> None:
    with pytest.raises(LedgerError):
        parse_index_path(text)


@pytest.mark.parametrize("text", ["+0", "00", "01", " 1", "1 ", "1\n", "1_0", "٠", "１", "64", "-0", "1.0", "", "0x1"])
def test_non_canonical_levels_are_refused(text: str) -> None:
    with pytest.raises(LedgerError):
        parse_level(text)


def test_the_largest_index_and_level_are_accepted() -> None:
    assert parse_index_path(index_path(MAX_INDEX)) == (MAX_INDEX, None)
    assert [parse_level(str(n)) for n in (0, 9, 10, 63)] == [0, 9, 10, 63]
