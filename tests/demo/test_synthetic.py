"""Synthetic holders: deterministic, and always valid."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from demo.synthetic import FEMALE_GIVEN, MALE_GIVEN, SyntheticHolders, organisation_code_check
from licences.identifiers import parse_resident_id, parse_uscc


def test_same_seed_same_holders() -> None:
    a, b = SyntheticHolders(42), SyntheticHolders(42)
    assert [a.citizen() for _ in range(5)] == [b.citizen() for _ in range(5)]
    assert [a.organisation() for _ in range(5)] == [b.organisation() for _ in range(5)]


def test_organisation_code_check_matches_known_codes() -> None:
    # 000013338 (国家市场监督管理总局) and M000100Y4 (the GB 32100 example) are real GB 11714 codes.
    assert organisation_code_check("00001333") == "8"
    assert organisation_code_check("M000100Y") == "4"


@given(st.integers(min_value=0, max_value=2**32))
def test_generated_holders_are_valid(seed: int) -> None:
    holders = SyntheticHolders(seed)
    citizen = holders.citizen()
    resident = parse_resident_id(citizen.id_number)
    assert resident.area_code.startswith("41")
    assert resident.is_male == citizen.is_male
    assert citizen.name[1:] in (MALE_GIVEN if citizen.is_male else FEMALE_GIVEN)
    organisation = holders.organisation()
    assert parse_uscc(organisation.uscc).area_code.startswith("41")
    assert organisation.name.startswith(organisation.city)
    assert len(holders.serial(2024)) == 11
