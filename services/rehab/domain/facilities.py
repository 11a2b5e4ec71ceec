"""Rehab facilities (cơ sở cai nghiện ma túy): public or private, type, capacity. Compulsory rehab only
at public facilities (Law 73/2021 Art. 28); private facilities take voluntary rehab only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from lienthong.errors import InvalidInput, PreconditionFailed
from services.rehab.domain.terms import Kind


class FacilityType(Enum):
    MULTI_FUNCTION = "multi_function"  # compulsory and voluntary
    COMPULSORY_ONLY = "compulsory_only"
    VOLUNTARY_ONLY = "voluntary_only"


@dataclass(frozen=True)
class Facility:
    code: str
    name: str
    public: bool
    operator: str  # the organisation running it (a department or a private company), as registered
    capacity: int
    type: FacilityType
    commune_code: str
    province_code: str


def parse_type(value: str) -> FacilityType:
    try:
        return FacilityType(value)
    except ValueError:
        known = ", ".join(t.value for t in FacilityType)
        raise InvalidInput(
            "type.unknown",
            f"Loại cơ sở {value[:40]!r} không có trong danh mục ({known}).",
            f"Facility type {value[:40]!r} is not one of: {known}.",
        ) from None


def check_facility(facility: Facility) -> Facility:
    if not 1 <= facility.capacity <= 100_000:
        raise InvalidInput(
            "capacity.out_of_range",
            f"Sức chứa phải từ 1 đến 100000 (nhận được {facility.capacity}).",
            f"Capacity must be 1 to 100000 (got {facility.capacity}).",
        )
    if not facility.public and facility.type is not FacilityType.VOLUNTARY_ONLY:
        raise InvalidInput(
            "type.private_voluntary_only",
            "Cơ sở ngoài công lập chỉ được cai nghiện tự nguyện (loại voluntary_only).",
            "A private facility may only take voluntary rehab (type voluntary_only).",
        )
    return facility


def check_admits(facility: Facility, kind: Kind, occupancy: int) -> None:
    """May this facility take one more person of this kind today?"""
    if kind.compulsory and not facility.public:
        raise PreconditionFailed(
            "facility.not_public",
            f"Cai nghiện bắt buộc chỉ tại cơ sở công lập; {facility.code} là cơ sở ngoài công lập.",
            f"Compulsory rehab happens only at public facilities; {facility.code} is private.",
        )
    if (kind.compulsory and facility.type is FacilityType.VOLUNTARY_ONLY) or (
        not kind.compulsory and facility.type is FacilityType.COMPULSORY_ONLY
    ):
        raise PreconditionFailed(
            "facility.wrong_type",
            f"Cơ sở {facility.code} ({facility.type.value}) không nhận cai nghiện {kind.value}.",
            f"Facility {facility.code} ({facility.type.value}) does not take {kind.value} rehab.",
        )
    if occupancy >= facility.capacity:
        raise PreconditionFailed(
            "facility.full",
            f"Cơ sở {facility.code} đã đủ {facility.capacity} người; không thể tiếp nhận thêm.",
            f"Facility {facility.code} is full ({facility.capacity} people); no one more can be admitted.",
        )
