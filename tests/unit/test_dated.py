from datetime import date

import pytest

from lienthong.dated import Dated

OPERATOR = Dated({"2022-01-01": "labour", "2025-03-01": "police"})


@pytest.mark.parametrize(
    ("day", "agency"),
    [
        (date(2022, 1, 1), "labour"),
        (date(2025, 2, 28), "labour"),
        (date(2025, 3, 1), "police"),
        (date(2030, 1, 1), "police"),
    ],
)
def test_value_in_force_on_the_day_of_the_act(day, agency):
    assert OPERATOR.at(day) == agency


def test_before_the_first_change_nothing_is_in_force():
    with pytest.raises(ValueError, match="nothing in force on 2021-12-31"):
        OPERATOR.at(date(2021, 12, 31))


def test_an_empty_history_is_refused():
    with pytest.raises(ValueError):
        Dated({})
