"""Reporting periods as people write them: a year, a quarter, a half, a month, or a range of dates."""

from __future__ import annotations

import re
from datetime import date, timedelta

from lienthong.dates import add_months

_FORMS = "YYYY, YYYY-Q1..Q4, YYYY-H1/H2, YYYY-MM or YYYY-MM-DD..YYYY-MM-DD"


def parse_period(text: str) -> tuple[date, date]:
    """(first day, last day), both inclusive; ValueError naming the accepted forms."""
    value = text.strip().upper()
    try:
        if m := re.fullmatch(r"(\d{4})", value):
            year = int(m[1])
            return date(year, 1, 1), date(year, 12, 31)
        if m := re.fullmatch(r"(\d{4})-Q([1-4])", value):
            return _months(int(m[1]), 3 * int(m[2]) - 2, 3)
        if m := re.fullmatch(r"(\d{4})-H([12])", value):
            return _months(int(m[1]), 6 * int(m[2]) - 5, 6)
        if m := re.fullmatch(r"(\d{4})-(\d{2})", value):
            return _months(int(m[1]), int(m[2]), 1)
        if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", value):
            start, end = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if end < start:
                raise ValueError(f"the period {text!r} ends before it starts")
            return start, end
    except ValueError as exc:
        if "ends before" in str(exc):
            raise
        raise ValueError(f"{text!r} is not a real period ({exc})") from None
    raise ValueError(f"{text!r} is not a period; write {_FORMS}")


def _months(year: int, first_month: int, months: int) -> tuple[date, date]:
    start = date(year, first_month, 1)
    return start, add_months(start, months) - timedelta(days=1)
