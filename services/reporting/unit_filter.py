"""The unit a request asks about: a province, communes, or both (then the communes must be in it)."""

from __future__ import annotations

from collections.abc import Sequence

from lienthong import units
from lienthong.errors import InvalidInput

MAX_COMMUNES = 5000


def checked_unit(province_code: str, commune_codes: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """(province, communes without repeats), every code official; refused with a bilingual message."""
    if province_code:
        units.province_name(province_code)
    if len(commune_codes) > MAX_COMMUNES:
        raise InvalidInput(
            "commune_codes.too_many",
            f"Chỉ được lọc tối đa {MAX_COMMUNES} xã/phường.",
            f"At most {MAX_COMMUNES} commune codes may be given.",
        )
    communes = tuple(dict.fromkeys(commune_codes))
    for code in communes:
        commune = units.commune(code, field="commune_codes")
        if province_code and commune.province_code != province_code:
            raise InvalidInput(
                "commune_codes.outside_province",
                f"{commune.name} ({code}) không thuộc tỉnh/thành phố có mã {province_code}.",
                f"Commune {code} is not in province {province_code}.",
            )
    return province_code, communes
