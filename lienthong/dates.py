"""ISO dates at the edge, and calendar arithmetic the law uses (terms counted in years and months)."""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta, timezone

from lienthong.errors import InvalidInput

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def parse_date(value: str, *, field: str) -> date:
    """Parse ``YYYY-MM-DD`` (ASCII digits only); refuse anything else with a bilingual message."""
    if not _ISO_DATE.fullmatch(value or ""):
        raise InvalidInput(
            f"{field}.format",
            f"{field} phải có dạng YYYY-MM-DD (nhận được {value!r}).",
            f"{field} must be a date written YYYY-MM-DD (got {value!r}).",
        )
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{field}.invalid",
            f"{field} không phải ngày có thật: {value}.",
            f"{field} is not a real calendar date: {value}.",
        ) from None
    if parsed.year < 1900:
        raise InvalidInput(
            f"{field}.out_of_range",
            f"{field} trước năm 1900: {value}.",
            f"{field} is before 1900: {value}.",
        )
    return parsed


def add_months(start: date, months: int) -> date:
    """Same day ``months`` later; a day that does not exist in the target month becomes the 1st of the next.

    A term that starts on 31 January and lasts one month therefore runs until 1 March exclusive, so the
    person is never released a day early.
    """
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    last_day = calendar.monthrange(year, month)[1]
    if start.day <= last_day:
        return date(year, month, start.day)
    return date(year + (month == 12), month % 12 + 1, 1)


def add_years(start: date, years: int) -> date:
    return add_months(start, 12 * years)


VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")  # no daylight saving time


def today_in_vietnam() -> date:
    """The legal date of an act is the date in Vietnam, not in UTC (07:00 ahead)."""
    return datetime.now(VIETNAM_TIME).date()


def age_on(date_of_birth: date, day: date) -> int:
    """Age in full years on ``day``."""
    return day.year - date_of_birth.year - ((day.month, day.day) < (date_of_birth.month, date_of_birth.day))


def not_in_future(day: date, today: date, field: str) -> None:
    """Acts are recorded after they happen: a date after today (in Vietnam) is a typing error."""
    if day > today:
        raise InvalidInput(
            f"{field}.in_future",
            f"{field} ({day.isoformat()}) ở tương lai; hôm nay là {today.isoformat()}.",
            f"{field} ({day.isoformat()}) is in the future; today is {today.isoformat()}.",
        )


def not_before(day: date, start: date, field: str, start_name_vi: str, start_name_en: str) -> None:
    if day < start:
        raise InvalidInput(
            f"{field}.too_early",
            f"{field} ({day.isoformat()}) trước {start_name_vi} ({start.isoformat()}).",
            f"{field} ({day.isoformat()}) is before {start_name_en} ({start.isoformat()}).",
        )
