"""Age bands of Decision 127/2009 (as amended by 13/2019): the only age that leaves a department, taken
at the date of each act. Codes match ``lienthong.events.v1.AgeBand`` in the contracts."""

from __future__ import annotations

from datetime import date

from lienthong.dates import age_on

AGE_BANDS = ("under_14", "14_to_16", "16_to_18", "18_to_30", "30_and_over")
_UPPER_LIMITS = ((14, "under_14"), (16, "14_to_16"), (18, "16_to_18"), (30, "18_to_30"))


def age_band(date_of_birth: date, day: date) -> str:
    age = age_on(date_of_birth, day)
    for limit, band in _UPPER_LIMITS:
        if age < limit:
            return band
    return "30_and_over"
