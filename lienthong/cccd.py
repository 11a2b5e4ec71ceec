"""The 12-digit personal identification number (CCCD, Decree 137/2015 Art. 13).

Layout: 3 digits province of birth registration, 1 digit century and sex, 2 digits year of birth,
6 random digits. There is no check digit, so the only protection against typos is to cross-check the
century, sex and year against the record, which this module does.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum

from lienthong.errors import InvalidInput

_TWELVE_ASCII_DIGITS = re.compile(r"[0-9]{12}", re.ASCII)

# Province codes of Circular 07/2016/TT-BCA (the 63 pre-2025 provinces). The number is set for life, so
# the 2025 mergers do not change it.
BIRTH_PROVINCE_CODES = frozenset(
    """001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035 036 037
    038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072 074 075 077 079 080
    082 083 084 086 087 089 091 092 093 094 095 096""".split()
)


class Sex(Enum):
    MALE = "male"
    FEMALE = "female"


def _invalid(code: str, vi: str, en: str) -> InvalidInput:
    return InvalidInput(f"citizen_id.{code}", vi, en)


def validate_citizen_id(value: str, *, date_of_birth: date | None = None, sex: Sex | None = None) -> str:
    """Return the citizen ID if it is well formed and agrees with the date of birth and sex given."""
    if not isinstance(value, str) or not _TWELVE_ASCII_DIGITS.fullmatch(value):
        if isinstance(value, str) and len(value) == 9 and value.isascii() and value.isdigit():
            raise _invalid(
                "old_cmnd",
                "Số CMND 9 chữ số cũ không được chấp nhận; hãy dùng số định danh cá nhân 12 chữ số.",
                "A 9-digit old identity card number is not accepted; use the 12-digit personal ID number.",
            )
        if isinstance(value, str) and any(ch.isdigit() and not ch.isascii() for ch in value):
            raise _invalid(
                "non_ascii_digits",
                "Số CCCD chỉ được gồm chữ số ASCII 0-9 (không dùng chữ số toàn độ rộng hay chữ số khác).",
                "The citizen ID must use ASCII digits 0-9 only (no full-width or other Unicode digits).",
            )
        length = len(value) if isinstance(value, str) else 0
        raise _invalid(
            "format",
            f"Số CCCD phải gồm đúng 12 chữ số (nhận được {length} ký tự).",
            f"The citizen ID must be exactly 12 digits (got {length} characters).",
        )
    if value[:3] not in BIRTH_PROVINCE_CODES:
        raise _invalid(
            "province",
            f"Mã tỉnh nơi đăng ký khai sinh {value[:3]} trong số CCCD không tồn tại.",
            f"The birth-registration province code {value[:3]} in the citizen ID does not exist.",
        )
    century_digit = int(value[3])
    century = 1900 + (century_digit // 2) * 100
    encoded_sex = Sex.MALE if century_digit % 2 == 0 else Sex.FEMALE
    encoded_year = century + int(value[4:6])
    if date_of_birth is not None and date_of_birth.year != encoded_year:
        raise _invalid(
            "birth_year_mismatch",
            f"Số CCCD mã hóa năm sinh {encoded_year}, nhưng ngày sinh khai là năm {date_of_birth.year}.",
            f"The citizen ID encodes birth year {encoded_year}, but the date of birth given is in "
            f"{date_of_birth.year}.",
        )
    if sex is not None and sex is not encoded_sex:
        vi_sex = {Sex.MALE: "nam", Sex.FEMALE: "nữ"}
        raise _invalid(
            "sex_mismatch",
            f"Số CCCD mã hóa giới tính {vi_sex[encoded_sex]}, nhưng giới tính khai là {vi_sex[sex]}.",
            f"The citizen ID encodes sex {encoded_sex.value}, but the sex given is {sex.value}.",
        )
    return value
