from datetime import date

import pytest

from lienthong.periods import parse_period


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2025", date(2025, 1, 1), date(2025, 12, 31)),
        ("2025-q2", date(2025, 4, 1), date(2025, 6, 30)),
        ("2025-H2", date(2025, 7, 1), date(2025, 12, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        (" 2025-01-15..2025-03-31 ", date(2025, 1, 15), date(2025, 3, 31)),
    ],
)
def test_periods_as_people_write_them(text, start, end):
    assert parse_period(text) == (start, end)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-Q5", "is not a period; write YYYY"),
        ("2025-13", "is not a real period"),
        ("2025-02-30..2025-03-01", "is not a real period"),
        ("2025-03-01..2025-01-01", "ends before it starts"),
        ("", "is not a period"),
    ],
)
def test_a_wrong_period_says_what_to_write(text, message):
    with pytest.raises(ValueError, match=message):
        parse_period(text)
