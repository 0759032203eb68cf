"""Identifiers: known vectors, strict rejection naming the field, and the check-character laws (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from demo.synthetic import SyntheticHolders
from licences.errors import InvalidFieldError
from licences.identifiers import (
    MOD37_36_ALPHABET,
    USCC_ALPHABET,
    HolderKind,
    ResidentId,
    make_identifier,
    mask_id,
    mask_name,
    parse_holder_id,
    parse_identifier,
    parse_resident_id,
    parse_uscc,
    resident_id_check_char,
    uscc_check_char,
)

VECTOR = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"


def test_identifier_vector_from_design() -> None:
    identifier = make_identifier("11100000000013338W011", "11430000006122244L", "20230000403", 1)
    assert identifier.check == "U"
    assert str(identifier) == VECTOR
    assert parse_identifier(VECTOR) == identifier


def test_known_uscc_examples_validate() -> None:
    for code in ("91350100M000100Y43", "11100000000013338W", "11430000006122244L"):
        assert parse_uscc(code).value == code


def test_gb11643_example_validates() -> None:
    resident = parse_resident_id("11010519491231002X")
    assert resident.birth_date.isoformat() == "1949-12-31"
    assert not resident.is_male


@pytest.mark.parametrize(
    ("parse", "text", "field"),
    [
        (parse_uscc, "91350100M000100Y44", "uscc"),
        (parse_resident_id, "110105194912310021", "holder_id"),
        (parse_identifier, VECTOR[:-1] + "V", "identifier"),
    ],
)
def test_bad_check_character_names_the_field(parse, text: str, field: str) -> None:
    with pytest.raises(InvalidFieldError, match="check character") as info:
        parse(text)
    assert info.value.field == field


def test_field_name_is_chosen_by_the_caller() -> None:
    with pytest.raises(InvalidFieldError) as info:
        parse_uscc("91350100M000100Y44", field="issuer")
    assert info.value.field == "issuer"
    assert "issuer" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "11010519491231002x",  # lower-case x is not canonical
        "110105194902300023",  # 30 February
        "990105194912310021",  # no province 99
        "11010519491231002",  # too short
        " 11010519491231002X",  # no trimming at this layer
        "1101051949123100２X",  # full-width digit
    ],
)
def test_resident_id_is_parsed_strictly(text: str) -> None:
    with pytest.raises(InvalidFieldError):
        parse_resident_id(text)


@pytest.mark.parametrize("text", ["91350100M000100YI3", "9135O100M000100Y43", "91350100m000100Y43", "X" * 300])
def test_uscc_is_parsed_strictly(text: str) -> None:
    with pytest.raises(InvalidFieldError):
        parse_uscc(text)


@pytest.mark.parametrize(
    "text",
    [
        VECTOR.replace("1.2.156.3005.2.", "1.2.156.3005.1."),
        VECTOR.replace(".001.", ".1.", 1),
        VECTOR.replace(".001.", ".000.", 1),
        VECTOR + ".X",
        VECTOR.replace("11430000006122244L", "11430000006122244M"),
        VECTOR.lower(),
    ],
)
def test_identifier_structure_is_strict_even_when_not_strict(text: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        parse_identifier(text, strict=False)
    assert info.value.field == "identifier"


def test_non_strict_parse_keeps_and_flags_a_bad_check() -> None:
    imported = parse_identifier(VECTOR[:-1] + "V", strict=False)
    assert not imported.check_ok
    assert str(imported) == VECTOR[:-1] + "V"
    assert imported.with_version(2).check_ok


def test_parse_holder_id_follows_the_holder_kind() -> None:
    assert isinstance(parse_holder_id("11010519491231002X", HolderKind.EITHER), ResidentId)
    assert parse_holder_id("91350100M000100Y43", HolderKind.EITHER).value == "91350100M000100Y43"
    with pytest.raises(InvalidFieldError):
        parse_holder_id("91350100M000100Y43", HolderKind.CITIZEN)
    with pytest.raises(InvalidFieldError):
        parse_holder_id("11010519491231002X", HolderKind.ORGANISATION)


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三丰", "张*丰"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧**娜"),
        ("王", "*"),
        ("郑州鼎盛商贸有限公司", "郑州**有限公司"),
        ("某某有限公司", "某**有限公司"),
        ("河南省人民医院", "河南**医院"),
        ("", ""),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@given(st.integers(min_value=0, max_value=2**32))
def test_mask_id_never_reveals_the_number(seed: int) -> None:
    number = SyntheticHolders(seed).resident_id()
    masked = mask_id(number)
    assert len(masked) == len(number)
    assert masked[1:-1] == "*" * 16


# -- Laws: generated codes validate; any single-character change is caught -------------------------------------------

resident_ids = st.integers(min_value=0, max_value=2**32).map(lambda seed: SyntheticHolders(seed).resident_id())
usccs = st.integers(min_value=0, max_value=2**32).map(lambda seed: SyntheticHolders(seed).uscc())
serials = st.text(alphabet=MOD37_36_ALPHABET, min_size=1, max_size=20)
identifiers = st.builds(
    make_identifier,
    type_code=st.text(alphabet=MOD37_36_ALPHABET, min_size=21, max_size=21),
    issuer=usccs,
    serial=serials,
    version=st.integers(min_value=1, max_value=999),
)


def _substitute(text: str, position: int, char: str) -> str:
    return text[:position] + char + text[position + 1 :]


@given(resident_ids, st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_resident_id_law(number: str, position: int, char: str) -> None:
    assert parse_resident_id(number).value == number
    assert resident_id_check_char(number[:17]) == number[17]
    changed = _substitute(number, position, char)
    if changed != number:
        with pytest.raises(InvalidFieldError):
            parse_resident_id(changed)


@given(usccs, st.integers(min_value=0, max_value=17), st.sampled_from(USCC_ALPHABET))
def test_uscc_law(code: str, position: int, char: str) -> None:
    assert parse_uscc(code).value == code
    assert uscc_check_char(code[:17]) == code[17]
    changed = _substitute(code, position, char)
    if changed != code:
        with pytest.raises(InvalidFieldError):
            parse_uscc(changed)


@given(identifiers, st.data())
def test_identifier_law(identifier, data: st.DataObject) -> None:
    text = str(identifier)
    assert parse_identifier(text) == identifier
    position = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
    changed = _substitute(text, position, data.draw(st.sampled_from(MOD37_36_ALPHABET + ".")))
    if changed != text:
        with pytest.raises(InvalidFieldError):
            parse_identifier(changed)
