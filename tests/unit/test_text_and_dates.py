"""Vietnamese text at the edge (NFC, whitespace, control characters) and the calendar arithmetic of terms.

Rules: reference/security-reliability.md §3.4.
"""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lienthong.dates import add_months, add_years, parse_date
from lienthong.errors import InvalidInput
from lienthong.text import clean_text, nfc

NGUYEN_NFC = "Nguy\u1ec5n"  # "Nguyễn" with precomposed U+1EC5 (what Unikey types)
NGUYEN_NFD = unicodedata.normalize("NFD", NGUYEN_NFC)  # e + U+0302 + U+0303 (Windows' keyboard)


def refused_text(value: str, **kwargs) -> InvalidInput:
    kwargs.setdefault("field", "full_name")
    with pytest.raises(InvalidInput) as caught:
        clean_text(value, **kwargs)
    error = caught.value
    assert error.vi.strip() and error.en.strip() and error.vi != error.en
    return error


def refused_date(value: str) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_date(value, field="date_of_birth")
    error = caught.value
    assert error.vi.strip() and error.en.strip() and error.vi != error.en
    return error


# --- NFC -------------------------------------------------------------------------------------------------------


def test_the_two_spellings_of_nguyen_differ_until_normalised():
    assert len(NGUYEN_NFC) == 6
    assert len(NGUYEN_NFD) == 8
    assert NGUYEN_NFC != NGUYEN_NFD
    assert nfc(NGUYEN_NFD) == NGUYEN_NFC


def test_nfd_input_becomes_the_six_code_point_nfc_form():
    cleaned = clean_text(NGUYEN_NFD, field="full_name")
    assert cleaned == NGUYEN_NFC
    assert len(cleaned) == 6
    assert "\u1ec5" in cleaned
    assert "\u0302" not in cleaned and "\u0303" not in cleaned


def test_nfc_and_nfd_full_names_clean_to_the_same_text():
    name = "Nguyễn Thị Hồng Nhung"
    nfd = unicodedata.normalize("NFD", name)
    assert nfd != name
    assert clean_text(nfd, field="full_name") == clean_text(name, field="full_name")
    assert unicodedata.is_normalized("NFC", clean_text(nfd, field="full_name"))


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_d_with_stroke_is_kept(form):
    name = unicodedata.normalize(form, "Đặng Văn Đức")
    cleaned = clean_text(name, field="full_name")
    assert cleaned == unicodedata.normalize("NFC", "Đặng Văn Đức")
    assert cleaned.count("\u0110") == 2  # Đ does not decompose and must not be turned into D
    assert "D" not in cleaned


def test_tone_placement_variants_stay_distinct_after_nfc():
    # Old and new tone placement are different strings even in NFC (§3.4); clean_text does not merge them.
    assert clean_text("Hòa", field="full_name") != clean_text("Hoà", field="full_name")


# --- whitespace ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Nguyễn   Văn  An  ", "Nguyễn Văn An"),
        ("Nguyễn\tVăn\nAn", "Nguyễn Văn An"),
        ("Nguyễn\r\nVăn", "Nguyễn Văn"),
        ("Nguyễn\u00a0Văn", "Nguyễn Văn"),  # no-break space
        ("Nguyễn\u3000Văn", "Nguyễn Văn"),  # ideographic space
        ("Nguyễn" + " " * 500 + "Văn", "Nguyễn Văn"),
        ("An", "An"),
    ],
)
def test_whitespace_is_trimmed_and_collapsed(raw, expected):
    assert clean_text(raw, field="full_name") == expected


# --- control and invisible characters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("\x00", id="NUL"),
        pytest.param("\x07", id="BEL"),
        pytest.param("\x1b", id="ESC"),
        pytest.param("\x7f", id="DEL"),
        pytest.param("\u200b", id="zero-width-space"),
        pytest.param("\u200d", id="zero-width-joiner"),
        pytest.param("\u202e", id="right-to-left-override"),
        pytest.param("\ufeff", id="byte-order-mark"),
        pytest.param("\u00ad", id="soft-hyphen"),
        pytest.param("\ue000", id="private-use"),
        pytest.param("\u0378", id="unassigned"),
        pytest.param("\ud800", id="lone-surrogate"),
    ],
)
def test_control_and_invisible_characters_are_refused(bad):
    error = refused_text(f"Nguyễn{bad}Văn")
    assert error.code == "full_name.bad_characters"


@pytest.mark.parametrize("bad", ["\x1c", "\x1d", "\x1e", "\x1f"])
def test_information_separators_are_refused_as_control_characters(bad):
    error = refused_text(f"Nguyễn{bad}Văn")
    assert error.code == "full_name.bad_characters"


# --- length and presence -----------------------------------------------------------------------------------------


def test_text_at_the_limit_is_accepted_and_one_more_is_refused():
    assert clean_text("a" * 200, field="full_name") == "a" * 200
    error = refused_text("a" * 201)
    assert error.code == "full_name.too_long"
    assert "200" in error.en and "200" in error.vi


def test_custom_max_length():
    assert clean_text("Hà Nam", field="place", max_length=6) == "Hà Nam"
    assert refused_text("Hà Nội!", field="place", max_length=6).code == "place.too_long"


def test_length_is_counted_after_nfc_and_whitespace_collapsing():
    nfd = unicodedata.normalize("NFD", "ễ" * 200)
    assert len(nfd) == 600
    assert clean_text(nfd, field="full_name") == "ễ" * 200
    assert clean_text("  " + "a " * 100, field="full_name", max_length=199) == " ".join("a" * 100)


@pytest.mark.parametrize("blank", ["", " ", "   \t\n  ", "\u00a0\u3000"])
def test_required_text_cannot_be_blank(blank):
    error = refused_text(blank, field="address")
    assert error.code == "address.required"


@pytest.mark.parametrize("blank", ["", "  \t "])
def test_optional_text_may_be_blank(blank):
    assert clean_text(blank, field="note", required=False) == ""


def test_error_codes_are_prefixed_with_the_field_name():
    codes = {
        refused_text("", field="alias").code,
        refused_text("x" * 300, field="alias").code,
        refused_text("a\x00b", field="alias").code,
    }
    assert codes == {"alias.required", "alias.too_long", "alias.bad_characters"}


@given(st.text(max_size=60))
def test_clean_text_output_is_nfc_trimmed_and_collapsed_or_refused(value):
    try:
        cleaned = clean_text(value, field="f", required=False)
    except InvalidInput as error:
        assert error.code in {"f.too_long", "f.bad_characters"}
        return
    assert unicodedata.is_normalized("NFC", cleaned)
    assert cleaned == cleaned.strip()
    assert "  " not in cleaned
    assert clean_text(cleaned, field="f", required=False) == cleaned  # idempotent


# --- parse_date ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01", date(2025, 3, 1)),
        ("2024-02-29", date(2024, 2, 29)),
        ("1900-01-01", date(1900, 1, 1)),
        ("9999-12-31", date(9999, 12, 31)),
    ],
)
def test_parse_date_accepts_iso_dates(text, expected):
    assert parse_date(text, field="date_of_birth") == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("", "date_of_birth.format", id="empty"),
        pytest.param("2025-3-1", "date_of_birth.format", id="no-zero-padding"),
        pytest.param("01/03/2025", "date_of_birth.format", id="vietnamese-dd-mm-yyyy"),
        pytest.param("2025/03/01", "date_of_birth.format", id="slashes"),
        pytest.param("20250301", "date_of_birth.format", id="iso-basic-format"),
        pytest.param("2025-03-01T00:00:00", "date_of_birth.format", id="datetime"),
        pytest.param(" 2025-03-01", "date_of_birth.format", id="leading-space"),
        pytest.param("2025-03-01\n", "date_of_birth.format", id="trailing-newline"),
        pytest.param("２０２５-０３-０１", "date_of_birth.format", id="full-width-digits"),
        pytest.param("٢٠٢٥-٠٣-٠١", "date_of_birth.format", id="arabic-indic-digits"),
        pytest.param("2025-02-30", "date_of_birth.invalid", id="30-february"),
        pytest.param("2023-02-29", "date_of_birth.invalid", id="29-february-common-year"),
        pytest.param("2025-13-01", "date_of_birth.invalid", id="month-13"),
        pytest.param("2025-04-31", "date_of_birth.invalid", id="31-april"),
        pytest.param("2025-00-10", "date_of_birth.invalid", id="month-0"),
        pytest.param("1899-12-31", "date_of_birth.out_of_range", id="before-1900"),
        pytest.param("0001-01-01", "date_of_birth.out_of_range", id="year-1"),
    ],
)
def test_parse_date_refuses_with_a_specific_code(text, code):
    assert refused_date(text).code == code


def test_parse_date_codes_are_distinct_and_quote_the_input():
    errors = [refused_date("2025-3-1"), refused_date("2025-02-30"), refused_date("1899-12-31")]
    assert len({error.code for error in errors}) == 3
    for error, text in zip(errors, ["2025-3-1", "2025-02-30", "1899-12-31"], strict=True):
        assert text in error.en and text in error.vi


# --- add_months / add_years ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        pytest.param(date(2025, 1, 31), 1, date(2025, 3, 1), id="31-jan-plus-1-month"),
        pytest.param(date(2024, 1, 31), 1, date(2024, 3, 1), id="31-jan-plus-1-month-leap-year"),
        pytest.param(date(2024, 1, 29), 1, date(2024, 2, 29), id="29-jan-leap-year"),
        pytest.param(date(2025, 1, 29), 1, date(2025, 3, 1), id="29-jan-common-year"),
        pytest.param(date(2025, 8, 31), 1, date(2025, 10, 1), id="31-aug-plus-1-month"),
        pytest.param(date(2025, 11, 30), 3, date(2026, 3, 1), id="30-nov-plus-3-months"),
        pytest.param(date(2025, 3, 15), 1, date(2025, 4, 15), id="normal-day-kept"),
        pytest.param(date(2025, 12, 15), 1, date(2026, 1, 15), id="over-the-new-year"),
        pytest.param(date(2025, 12, 31), 1, date(2026, 1, 31), id="31-dec-plus-1-month"),
        pytest.param(date(2025, 1, 15), 24, date(2027, 1, 15), id="24-months"),
        pytest.param(date(2025, 6, 30), 6, date(2025, 12, 30), id="6-months"),
        pytest.param(date(2025, 5, 20), 0, date(2025, 5, 20), id="zero-months"),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("start", "years", "expected"),
    [
        pytest.param(date(2024, 2, 29), 1, date(2025, 3, 1), id="29-feb-plus-1-year"),
        pytest.param(date(2024, 2, 29), 4, date(2028, 2, 29), id="29-feb-plus-4-years"),
        pytest.param(date(2025, 6, 10), 2, date(2027, 6, 10), id="normal-day-kept"),
        pytest.param(date(2025, 2, 28), 1, date(2026, 2, 28), id="28-feb"),
    ],
)
def test_add_years(start, years, expected):
    assert add_years(start, years) == expected


@given(start=st.dates(max_value=date(9000, 12, 31)), months=st.integers(min_value=1, max_value=1200))
def test_add_months_is_always_later(start, months):
    end = add_months(start, months)
    assert end > start
    assert end.day in {start.day, 1}


@given(start=st.dates(max_value=date(9000, 12, 31)), years=st.integers(min_value=0, max_value=100))
def test_add_years_is_add_months_times_twelve(start, years):
    assert add_years(start, years) == add_months(start, 12 * years)
