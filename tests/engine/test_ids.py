"""GB 11643 resident identity numbers (DO-3, domain notes §5.2) as a decision table.

The numbers are the published test vectors or synthetic ones built with a valid check
character; none identifies a real person.
"""

from __future__ import annotations

from datetime import date

import pytest

from forms.ids import ID_MESSAGES
from forms.ids import WEIGHTS
from forms.ids import IdNumberError
from forms.ids import age_on
from forms.ids import check_char
from forms.ids import is_valid_id_number
from forms.ids import mask_id
from forms.ids import normalise_id_number
from forms.ids import parse_id_number
from forms.ids import upgrade_legacy

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(("number", "sex", "birth"), [
    ("360426199101010071", "male", date(1991, 1, 1)),
    ("120103198806018241", "female", date(1988, 6, 1)),
    ("230306196304054513", "male", date(1963, 4, 5)),
    ("110101202311012176", "male", date(2023, 11, 1)),
    ("11010119800101007X", "male", date(1980, 1, 1)),
])
def test_valid_numbers_give_birth_date_and_sex(number: str, sex: str, birth: date) -> None:
    resident = parse_id_number(number, today=TODAY)
    assert (resident.number, resident.sex, resident.birth_date, resident.address_code) == (number, sex, birth,
                                                                                           number[:6])
    assert not resident.upgraded


@pytest.mark.parametrize(("value", "code"), [
    ("360426199101010072", "checksum"),          # published invalid vector
    ("230307196304054513", "checksum"),          # published invalid vector (address digit changed)
    ("11010119800101007Y", "check_char"),
    ("36042619910101007", "length"),
    ("3604261991010100711", "length"),
    ("36042619910A010071", "digits"),
    ("00010119900101001X", "address"),           # no province 00, although the check character fits
    ("360426199102300070", "birth_date"),        # 30 February, check character fits
    ("220104189901010016", "birth_date"),        # before 1900
    ("220104202701010015", "birth_date_future"), # born after "today"
    ("360426910101007", "legacy_not_allowed"),   # 15 digits without allow_legacy
    ("", "required"),
    ("   ", "required"),
    (None, "required"),
    (360426199101010071, "type"),
])
def test_invalid_numbers_are_refused_with_a_stable_code(value: object, code: str) -> None:
    with pytest.raises(IdNumberError) as info:
        parse_id_number(value, today=TODAY)
    assert info.value.code == code
    assert info.value.message == ID_MESSAGES[code]
    assert not is_valid_id_number(value, today=TODAY)


def test_lower_case_x_and_spaces_are_normalised() -> None:
    assert normalise_id_number(" 11010119800101007x ", today=TODAY) == "11010119800101007X"
    assert is_valid_id_number("11010119800101007x", today=TODAY)


def test_born_today_is_valid_but_tomorrow_is_not() -> None:
    first17 = "22010420261123001"
    today_number = first17 + check_char(first17)
    assert parse_id_number(today_number, today=TODAY).birth_date == TODAY
    with pytest.raises(IdNumberError) as info:
        parse_id_number(today_number, today=date(2026, 11, 22))
    assert info.value.code == "birth_date_future"


def test_legacy_fifteen_digit_numbers_are_upgraded_on_request() -> None:
    assert upgrade_legacy("360426910101007") == "360426199101010071"
    resident = parse_id_number("360426910101007", today=TODAY, allow_legacy=True)
    assert resident.number == "360426199101010071" and resident.upgraded and resident.sex == "male"
    with pytest.raises(IdNumberError):
        upgrade_legacy("36042691010100A")


def test_weights_are_powers_of_two_mod_eleven() -> None:
    assert WEIGHTS == tuple(2 ** (18 - i) % 11 for i in range(1, 18))
    with pytest.raises(ValueError):
        check_char("123")


@pytest.mark.parametrize(("number", "masked"), [
    ("360426199101010071", "3604**********0071"),
    ("11010119800101007X", "1101**********007X"),
    ("12345678", "********"),
    (None, "（无身份证号）"),
    ("", "（无身份证号）"),
])
def test_mask_shows_first_four_and_last_four(number: str | None, masked: str) -> None:
    assert mask_id(number) == masked


def test_messages_are_chinese_and_never_echo_the_number() -> None:
    for code, message in ID_MESSAGES.items():
        assert not message.isascii(), code
    with pytest.raises(IdNumberError) as info:
        parse_id_number("360426199101010072", today=TODAY)
    assert "360426199101010072" not in str(info.value) and "360426199101010072" not in repr(info.value.args)
    assert "360426199101010071" not in repr(parse_id_number("360426199101010071", today=TODAY))


@pytest.mark.parametrize(("birth", "day", "age"), [
    (date(2008, 11, 23), date(2026, 11, 23), 18),
    (date(2008, 11, 24), date(2026, 11, 23), 17),
    (date(2008, 2, 29), date(2026, 2, 28), 17),
    (date(2008, 2, 29), date(2026, 3, 1), 18),
])
def test_age_counts_completed_years(birth: date, day: date, age: int) -> None:
    assert age_on(birth, day) == age
