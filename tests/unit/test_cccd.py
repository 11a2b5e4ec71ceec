"""Table and property tests for the 12-digit personal identification number (CCCD).

Rules: reference/security-reliability.md §3.5 (Decree 137/2015 Art. 13, Circular 07/2016/TT-BCA) and §3.4
(Python's ``isdigit``/``int`` accept non-ASCII digits, so validation must use ``[0-9]`` only).
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.cccd import BIRTH_PROVINCE_CODES, Sex, validate_citizen_id
from lienthong.errors import ErrorKind, InvalidInput

ASCII_DIGITS = "0123456789"


def assert_bilingual(error: InvalidInput) -> None:
    assert error.vi.strip(), "Vietnamese message is empty"
    assert error.en.strip(), "English message is empty"
    assert error.vi != error.en
    assert error.message("vi") == error.vi
    assert error.message("en") == error.en
    assert error.kind is ErrorKind.INVALID
    assert error.code in str(error)


def refused(value, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_citizen_id(value, **kwargs)
    assert_bilingual(caught.value)
    return caught.value


# --- the province table ---------------------------------------------------------------------------


def test_province_codes_are_the_63_codes_of_circular_07_2016():
    assert len(BIRTH_PROVINCE_CODES) == 63
    assert all(len(code) == 3 and code.isascii() and code.isdigit() for code in BIRTH_PROVINCE_CODES)
    assert all("001" <= code <= "096" for code in BIRTH_PROVINCE_CODES)
    # Hà Nội, Hải Phòng, Hà Nam, Đà Nẵng, TP Hồ Chí Minh
    assert {"001", "031", "035", "048", "079"} <= BIRTH_PROVINCE_CODES


# --- valid numbers -----------------------------------------------------------------------------------

VALID = [
    # number, birth year it encodes, sex it encodes
    pytest.param("001099012345", 1999, Sex.MALE, id="ha-noi-male-1999"),
    pytest.param("035199000123", 1999, Sex.FEMALE, id="ha-nam-female-1999"),
    pytest.param("079000000001", 1900, Sex.MALE, id="century-digit-0-year-1900"),
    pytest.param("031185654321", 1985, Sex.FEMALE, id="century-digit-1"),
    pytest.param("048200123456", 2000, Sex.MALE, id="century-digit-2-year-2000"),
    pytest.param("001205999999", 2005, Sex.MALE, id="century-digit-2"),
    pytest.param("096310000000", 2010, Sex.FEMALE, id="century-digit-3"),
    pytest.param("001399000000", 2099, Sex.FEMALE, id="century-digit-3-year-2099"),
    pytest.param("001400000000", 2100, Sex.MALE, id="century-digit-4-22nd-century"),
    pytest.param("001512000000", 2112, Sex.FEMALE, id="century-digit-5-22nd-century"),
    pytest.param("001650000000", 2250, Sex.MALE, id="century-digit-6-23rd-century"),
    pytest.param("001799000000", 2299, Sex.FEMALE, id="century-digit-7-23rd-century"),
    pytest.param("001801000000", 2301, Sex.MALE, id="century-digit-8-24th-century"),
    pytest.param("001999000000", 2399, Sex.FEMALE, id="century-digit-9-24th-century"),
]


@pytest.mark.parametrize(("number", "year", "sex"), VALID)
def test_valid_number_is_returned_unchanged(number, year, sex):
    assert validate_citizen_id(number) == number


@pytest.mark.parametrize(("number", "year", "sex"), VALID)
def test_valid_number_agrees_with_its_birth_year_and_sex(number, year, sex):
    for day in (date(year, 1, 1), date(year, 6, 15), date(year, 12, 31)):
        assert validate_citizen_id(number, date_of_birth=day, sex=sex) == number
    assert validate_citizen_id(number, date_of_birth=date(year, 2, 1)) == number
    assert validate_citizen_id(number, sex=sex) == number


# --- malformed numbers ---------------------------------------------------------------------------------

MALFORMED = [
    pytest.param("", "citizen_id.format", id="empty"),
    pytest.param("00109901234", "citizen_id.format", id="11-digits"),
    pytest.param("0010990123456", "citizen_id.format", id="13-digits"),
    pytest.param("0010990123", "citizen_id.format", id="10-digits"),
    pytest.param("12345678", "citizen_id.format", id="8-digits"),
    pytest.param("123456789", "citizen_id.old_cmnd", id="9-digit-old-cmnd"),
    pytest.param("012345678", "citizen_id.old_cmnd", id="9-digit-old-cmnd-leading-zero"),
    pytest.param("００１０９９０１２３４５", "citizen_id.non_ascii_digits", id="full-width-digits"),
    pytest.param("٠٠١٠٩٩٠١٢٣٤٥", "citizen_id.non_ascii_digits", id="arabic-indic-digits"),
    pytest.param("۰۰۱۰۹۹۰۱۲۳۴۵", "citizen_id.non_ascii_digits", id="extended-arabic-indic-digits"),
    pytest.param("००१०९९०१२३४५", "citizen_id.non_ascii_digits", id="devanagari-digits"),
    pytest.param("00109901234５", "citizen_id.non_ascii_digits", id="one-full-width-digit"),
    pytest.param("１２３４５６７８９", "citizen_id.non_ascii_digits", id="9-full-width-digits-not-cmnd"),
    pytest.param("00109901234A", "citizen_id.format", id="trailing-letter"),
    pytest.param("O01099012345", "citizen_id.format", id="letter-O-for-zero"),
    pytest.param("ABCDEFGHIJKL", "citizen_id.format", id="letters"),
    pytest.param("001 099 012345", "citizen_id.format", id="inner-spaces"),
    pytest.param(" 001099012345", "citizen_id.format", id="leading-space"),
    pytest.param("001099012345 ", "citizen_id.format", id="trailing-space"),
    pytest.param("001099012345\n", "citizen_id.format", id="trailing-newline"),
    pytest.param("001-099-012345", "citizen_id.format", id="dashes"),
    pytest.param("+01099012345", "citizen_id.format", id="plus-sign"),
]


@pytest.mark.parametrize(("value", "code"), MALFORMED)
def test_malformed_number_is_refused_with_its_code(value, code):
    assert refused(value).code == code


@pytest.mark.parametrize("value", [None, 1099012345, 35199000123, b"001099012345"])
def test_non_string_is_refused_as_format(value):
    assert refused(value).code == "citizen_id.format"


def test_format_message_gives_the_length_received():
    error = refused("00109901234")
    assert "11" in error.en
    assert "11" in error.vi


@pytest.mark.parametrize("prefix", ["000", "003", "005", "097", "099", "100", "500", "999"])
def test_unknown_province_code_is_refused(prefix):
    error = refused(prefix + "099012345")
    assert error.code == "citizen_id.province"
    assert prefix in error.en
    assert prefix in error.vi


# --- cross-checks against the record ------------------------------------------------------------------------

YEAR_MISMATCH = [
    pytest.param("001099012345", date(1998, 5, 1), id="off-by-one-year"),
    pytest.param("001099012345", date(2099, 5, 1), id="right-two-digits-wrong-century"),
    pytest.param("001299012345", date(1999, 5, 1), id="century-digit-2-is-not-1900s"),
    pytest.param("035199000123", date(1991, 5, 1), id="female-wrong-year"),
    pytest.param("001400000000", date(2000, 1, 1), id="century-digit-4-is-not-2000s"),
]


@pytest.mark.parametrize(("number", "born"), YEAR_MISMATCH)
def test_birth_year_mismatch_is_refused(number, born):
    error = refused(number, date_of_birth=born)
    assert error.code == "citizen_id.birth_year_mismatch"
    assert str(born.year) in error.en
    assert str(born.year) in error.vi


SEX_MISMATCH = [
    pytest.param("001099012345", Sex.FEMALE, id="male-number-female-record"),
    pytest.param("035199000123", Sex.MALE, id="female-number-male-record"),
    pytest.param("001205999999", Sex.FEMALE, id="2000s-male-number"),
    pytest.param("001999000000", Sex.MALE, id="24th-century-female-number"),
]


@pytest.mark.parametrize(("number", "sex"), SEX_MISMATCH)
def test_sex_mismatch_is_refused(number, sex):
    error = refused(number, sex=sex)
    assert error.code == "citizen_id.sex_mismatch"


def test_sex_mismatch_messages_name_both_sexes():
    error = refused("035199000123", sex=Sex.MALE)
    assert "female" in error.en and "male" in error.en.replace("female", "")
    assert "nữ" in error.vi and "nam" in error.vi


def test_all_error_codes_are_distinct_and_bilingual():
    errors = [
        refused("00109901234"),
        refused("123456789"),
        refused("００１０９９０１２３４５"),
        refused("003099012345"),
        refused("001099012345", date_of_birth=date(1998, 1, 1)),
        refused("001099012345", sex=Sex.FEMALE),
    ]
    codes = [error.code for error in errors]
    assert len(set(codes)) == len(codes)
    assert all(code.startswith("citizen_id.") for code in codes)
    assert len({error.en for error in errors}) == len(errors)
    assert len({error.vi for error in errors}) == len(errors)


# --- properties ------------------------------------------------------------------------------------------------

known_province = st.sampled_from(sorted(BIRTH_PROVINCE_CODES))
nine_ascii_digits = st.text(alphabet=ASCII_DIGITS, min_size=9, max_size=9)
non_ascii_digit = st.characters(categories=["Nd"], exclude_characters=ASCII_DIGITS)


@given(
    province=known_province,
    rest=nine_ascii_digits,
    born=st.none() | st.dates(min_value=date(1900, 1, 1)),
    sex=st.none() | st.sampled_from(Sex),
)
def test_known_province_and_ascii_digits_validate_or_raise_invalid_input(province, rest, born, sex):
    number = province + rest
    try:
        assert validate_citizen_id(number, date_of_birth=born, sex=sex) == number
    except InvalidInput as error:
        assert error.code in {"citizen_id.birth_year_mismatch", "citizen_id.sex_mismatch"}
        assert_bilingual(error)


@given(province=known_province, rest=nine_ascii_digits)
def test_known_province_and_ascii_digits_validate_against_what_they_encode(province, rest):
    number = province + rest
    century_digit = int(number[3])
    year = 1900 + 100 * (century_digit // 2) + int(number[4:6])
    sex = Sex.MALE if century_digit % 2 == 0 else Sex.FEMALE
    assert validate_citizen_id(number, date_of_birth=date(year, 7, 1), sex=sex) == number


@given(before=st.text(max_size=15), digit=non_ascii_digit, after=st.text(max_size=15))
def test_any_string_containing_a_non_ascii_digit_is_refused(before, digit, after):
    error = refused(before + digit + after)
    assert error.code == "citizen_id.non_ascii_digits"


@given(
    digits=st.lists(st.sampled_from(ASCII_DIGITS) | non_ascii_digit, min_size=9, max_size=12).filter(
        lambda chars: any(not ch.isascii() for ch in chars)
    )
)
def test_digit_strings_of_cmnd_or_cccd_length_with_a_non_ascii_digit_are_refused(digits):
    error = refused("".join(digits))
    assert error.code == "citizen_id.non_ascii_digits"
