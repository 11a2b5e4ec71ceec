"""Administrative units from the official list shipped by ``vietnam-provinces`` (two-level structure
since 2025-07-01: province → commune/ward/special zone). Codes are strings: 2-digit provinces, 5-digit
communes, as in the official list."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from vietnam_provinces import Province, ProvinceCode, Ward

from lienthong.errors import InvalidInput

_COMMUNE_CODE = re.compile(r"[0-9]{5}", re.ASCII)
_PROVINCE_CODE = re.compile(r"[0-9]{2}", re.ASCII)


@dataclass(frozen=True)
class Commune:
    code: str
    name: str
    province_code: str
    province_name: str


@cache
def _communes() -> dict[str, Commune]:
    provinces = {int(p.code): p.name for p in Province.iter_all()}
    return {
        f"{int(w.code):05d}": Commune(
            code=f"{int(w.code):05d}",
            name=w.name,
            province_code=f"{int(w.province_code):02d}",
            province_name=provinces[int(w.province_code)],
        )
        for w in Ward.iter_all()
    }


def commune(code: str, *, field: str = "commune_code") -> Commune:
    """The commune with this official code, or a bilingual InvalidInput naming the problem."""
    if not _COMMUNE_CODE.fullmatch(code or ""):
        raise InvalidInput(
            f"{field}.format",
            f"Mã xã/phường phải gồm 5 chữ số theo danh mục hành chính (nhận được {code!r}).",
            f"A commune code is 5 digits from the official list (got {code!r}).",
        )
    found = _communes().get(code)
    if found is None:
        raise InvalidInput(
            f"{field}.unknown",
            f"Mã xã/phường {code} không có trong danh mục đơn vị hành chính hiện hành.",
            f"Commune code {code} is not in the current official list of administrative units.",
        )
    return found


def province_name(code: str, *, field: str = "province_code") -> str:
    if _PROVINCE_CODE.fullmatch(code or ""):
        try:
            return Province.from_code(ProvinceCode(int(code))).name
        except ValueError:
            pass
    raise InvalidInput(
        f"{field}.unknown",
        f"Mã tỉnh/thành phố {code!r} không có trong danh mục hiện hành.",
        f"Province code {code!r} is not in the current official list.",
    )


def communes_of(province_code: str) -> list[Commune]:
    province_name(province_code)
    return sorted((c for c in _communes().values() if c.province_code == province_code), key=lambda c: c.name)


__all__ = ["Commune", "commune", "communes_of", "province_name"]
