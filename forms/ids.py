"""Resident identity numbers (居民身份证号码, GB 11643-1999 公民身份号码).

Structure (18 characters): 6-digit address code (GB/T 2260), 8-digit birth date
YYYYMMDD, 3-digit sequence (odd = male, even = female), 1 check character computed
with ISO 7064 MOD 11-2. A lower-case ``x`` is accepted and stored as ``X``. Legacy
15-digit numbers (YYMMDD, no check character) can be upgraded on request.

A checksum-valid number proves nothing about identity (domain notes ID-03): the
authoritative check is the public-security source or the ID-card reader.

Pure: no clock. Whoever validates passes ``today`` (the engine's clock, in Beijing).
Never log a full number; use :func:`mask_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

#: weights of positions i = 1…17: 2^(18−i) mod 11 (domain notes write 2^(17−i) with 0-based i)
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
#: check character for S mod 11 = 0…10
CHECK_CHARS = "10X98765432"
#: first two digits of GB/T 2260 province-level codes (71 台湾, 81 香港, 82 澳门, 83 港澳台居民居住证)
PROVINCE_CODES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82", "83",
})
EARLIEST_BIRTH_YEAR = 1900

#: error code -> Chinese message shown to users
ID_MESSAGES = {
    "required": "请填写身份证号码",
    "type": "身份证号码应为文本",
    "length": "身份证号码应为 18 位",
    "legacy_not_allowed": "请填写 18 位身份证号码（不接受 15 位旧号码）",
    "digits": "身份证号码前 17 位应为数字",
    "check_char": "身份证号码最后一位应为数字或 X",
    "address": "身份证号码前 6 位不是有效的行政区划代码",
    "birth_date": "身份证号码中的出生日期无效",
    "birth_date_future": "身份证号码中的出生日期晚于今天",
    "checksum": "身份证号码校验位不正确，请核对后重新填写",
}


class IdNumberError(ValueError):
    """An invalid identity number; ``code`` is stable, ``message`` is Chinese. Never carries the number."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.message = ID_MESSAGES[code]
        super().__init__(self.message)


@dataclass(frozen=True)
class ResidentId:
    """A validated identity number and what it encodes."""

    #: the normalised 18-character number (upper-case X)
    number: str
    address_code: str
    birth_date: date
    #: "male" or "female" (17th digit odd / even)
    sex: str
    #: True when a 15-digit legacy number was upgraded
    upgraded: bool = False

    def __repr__(self) -> str:
        return f"<ResidentId {mask_id(self.number)}>"

    def age_on(self, day: date) -> int:
        """Completed years of age on ``day``."""
        return age_on(self.birth_date, day)


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("check_char needs exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARS[total % 11]


def upgrade_legacy(number15: str) -> str:
    """Upgrade a 15-digit number: insert "19" after the address code and append the check character."""
    if len(number15) != 15 or not number15.isdigit():
        raise IdNumberError("digits" if len(number15) == 15 else "length")
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + check_char(first17)


def parse_id_number(value: object, *, today: date, allow_legacy: bool = False) -> ResidentId:
    """Validate ``value`` and return what it encodes; raise :class:`IdNumberError` with the first problem.

    :param today: the current date (the engine clock in Beijing); birth dates after it are refused.
    :param allow_legacy: accept 15-digit numbers and upgrade them to 18 digits.
    """
    if value is None:
        raise IdNumberError("required")
    if not isinstance(value, str):
        raise IdNumberError("type")
    number = value.strip().upper()
    if not number:
        raise IdNumberError("required")
    upgraded = False
    if len(number) == 15:
        if not allow_legacy:
            raise IdNumberError("legacy_not_allowed")
        number, upgraded = upgrade_legacy(number), True
    if len(number) != 18:
        raise IdNumberError("length")
    if not number[:17].isdigit():
        raise IdNumberError("digits")
    if not (number[17].isdigit() or number[17] == "X"):
        raise IdNumberError("check_char")
    if number[:2] not in PROVINCE_CODES:
        raise IdNumberError("address")
    birth = _birth_date(number[6:14])
    if birth > today:
        raise IdNumberError("birth_date_future")
    if check_char(number[:17]) != number[17]:
        raise IdNumberError("checksum")
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ResidentId(number=number, address_code=number[:6], birth_date=birth, sex=sex, upgraded=upgraded)


def _birth_date(yyyymmdd: str) -> date:
    try:
        birth = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise IdNumberError("birth_date") from None
    if birth.year < EARLIEST_BIRTH_YEAR:
        raise IdNumberError("birth_date")
    return birth


def normalise_id_number(value: object, *, today: date, allow_legacy: bool = False) -> str:
    """The validated, normalised 18-character number (raises :class:`IdNumberError`)."""
    return parse_id_number(value, today=today, allow_legacy=allow_legacy).number


def is_valid_id_number(value: object, *, today: date) -> bool:
    """True for a valid 18-character number (upper- or lower-case X)."""
    try:
        parse_id_number(value, today=today)
    except IdNumberError:
        return False
    return True


def mask_id(number: str | None) -> str:
    """``2201**********1234``: first 4 and last 4 characters, the rest starred (lists, messages, logs)."""
    if not number:
        return "（无身份证号）"
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def age_on(birth: date, day: date) -> int:
    """Completed years of age on ``day`` (a 29 February birthday counts on 1 March in other years)."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
