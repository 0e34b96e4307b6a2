from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common import region_code, resident_id
from services.common.resident_id import InvalidIdNumber, Sex


def test_documented_examples_are_valid() -> None:
    a = resident_id.parse("11010519491231002X")
    assert a.birth_date == date(1949, 12, 31)
    assert a.sex is Sex.FEMALE
    b = resident_id.parse("440524188001010014")
    assert b.birth_date == date(1880, 1, 1)
    assert b.sex is Sex.MALE


@pytest.mark.parametrize(
    "raw",
    ["11010519491231002Y", "110105194912310021", "1101051949123100", "11010519491331002X", ""],
)
def test_invalid_numbers(raw: str) -> None:
    with pytest.raises(InvalidIdNumber):
        resident_id.parse(raw)


def test_lowercase_x_is_accepted_and_normalised() -> None:
    assert resident_id.parse("11010519491231002x").number == "11010519491231002X"


def test_mask_and_redact() -> None:
    assert resident_id.mask("37132719900101123X") == "3713**********123X"
    text = "failed for 11010519491231002X in row 3"
    assert "11010519491231002X" not in resident_id.redact_id_numbers(text)


def test_age_on_birthday_boundary() -> None:
    born = date(2000, 6, 15)
    assert resident_id.age_on(born, date(2030, 6, 14)) == 29
    assert resident_id.age_on(born, date(2030, 6, 15)) == 30


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)),
    st.integers(min_value=0, max_value=999),
)
def test_made_numbers_round_trip(birth: date, seq: int) -> None:
    number = resident_id.make_id_number("371327", birth, seq)
    parsed = resident_id.parse(number)
    assert parsed.birth_date == birth
    assert parsed.sex is (Sex.MALE if seq % 2 else Sex.FEMALE)
    # any single changed digit in the body breaks the check character
    flipped = str((int(number[5]) + 1) % 10)
    assert not resident_id.is_valid(number[:5] + flipped + number[6:])


def test_region_codes() -> None:
    assert region_code.parent("371327001") == "371327"
    assert region_code.ancestors_and_self("371327") == ["37", "3713", "371327"]
    assert region_code.is_valid("3713")
    assert not region_code.is_valid("37132")
    assert region_code.within("371327", "3713")
    assert region_code.within("371327", "")
    assert not region_code.within("3714", "3713")
