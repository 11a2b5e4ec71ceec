"""Values that change on a date: which agency operates a function, which law version is in force.

A record is judged by what was in force on the date of the act, so lookups take that date, never "now".
Configuration writes them as ``{"2022-01-01": "labour", "2025-03-01": "police"}``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from datetime import date
from typing import Generic, TypeVar

T = TypeVar("T")


class Dated(Generic[T]):
    def __init__(self, changes: Mapping[date | str, T]) -> None:
        if not changes:
            raise ValueError("a dated value needs at least one starting date")
        parsed = sorted((d if isinstance(d, date) else date.fromisoformat(d), v) for d, v in changes.items())
        self._starts = [d for d, _ in parsed]
        self._values = [v for _, v in parsed]

    def at(self, day: date) -> T:
        """The value in force on ``day``; a day before the first change is refused (nothing was in force)."""
        index = bisect_right(self._starts, day) - 1
        if index < 0:
            raise ValueError(
                f"nothing in force on {day.isoformat()}: the first value starts {self._starts[0]}"
            )
        return self._values[index]

    def changes(self) -> list[tuple[date, T]]:
        return list(zip(self._starts, self._values, strict=True))
