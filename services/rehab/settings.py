"""Rehab settings (environment variables with the LIENTHONG_ prefix). Values the law leaves open are
settings with documented defaults; those marked (?) could not be confirmed from the legal text."""

from __future__ import annotations

from pydantic import Field, field_validator

from lienthong.dated import Dated
from lienthong.settings import AuditSettings, FieldCryptoSettings, PseudonymSettings, ServiceSettings
from services.rehab.domain.people import LAW_VERSIONS, OPERATORS
from services.rehab.domain.terms import DEFAULT_TERMS, Kind, Rules, term_key

_TERM_KEYS = {term_key(k, m) for k in Kind for m in (False, True)}


class RehabSettings(ServiceSettings, PseudonymSettings, AuditSettings, FieldCryptoSettings):
    service_name: str = "rehab"
    database_url: str = "sqlite:///.lienthong/rehab.db"
    grpc_port: int = 50053
    metrics_port: int = 9103
    # Which agency operates rehab from each date (JSON in LIENTHONG_OPERATORS): Labour (LĐ-TB&XH) until
    # 2025-02-28, the Police from 2025-03-01 (Decree 02/2025). Every event names the operator on the act's date.
    operators: dict[str, str] = Field(default_factory=lambda: dict(OPERATORS))
    # Law version in force from each date (JSON in LIENTHONG_LAW_VERSIONS); recorded on every admission.
    law_versions: dict[str, str] = Field(default_factory=lambda: dict(LAW_VERSIONS))
    # Term ranges in months by law version and kind (JSON in LIENTHONG_TERMS): voluntary_family,
    # voluntary_community, voluntary_facility 6-12; compulsory_adult 12-24; compulsory_minor 6-12 (Law 73/2021).
    # Law 120/2025 is reported to set 24 months the first time and 36 after (?): until the text is confirmed
    # its defaults are Law 73's; change them here, not in code.
    terms: dict[str, dict[str, tuple[int, int]]] = Field(default_factory=lambda: DEFAULT_TERMS)
    # Reduction of a compulsory term, possible after half of it is served (Decree 116/2021).
    reduction_min_months: int = Field(default=3, ge=1, le=24)
    reduction_max_months: int = Field(default=6, ge=1, le=24)
    # Consumer of the registry's stream.
    max_deliver: int = Field(default=5, ge=1, le=100)
    batch_size: int = Field(default=100, ge=1, le=5000)
    ack_wait_seconds: float = Field(default=30.0, ge=1.0, le=600.0)

    @field_validator("operators", "law_versions")
    @classmethod
    def _dated(cls, value: dict[str, str]) -> dict[str, str]:
        Dated(value)  # refuses an empty map or a malformed date at start-up
        return value

    @field_validator("terms")
    @classmethod
    def _terms(cls, value: dict[str, dict[str, tuple[int, int]]]) -> dict:
        for version, ranges in value.items():
            missing = _TERM_KEYS - set(ranges)
            if missing:
                raise ValueError(f"terms[{version!r}] lacks {sorted(missing)}")
            for key, (low, high) in ranges.items():
                if not 1 <= low <= high <= 60:
                    raise ValueError(f"terms[{version!r}][{key!r}] must be 1 <= min <= max <= 60 months")
        return value

    def rules(self) -> Rules:
        missing = {v for _, v in Dated(self.law_versions).changes()} - set(self.terms)
        if missing:
            raise ValueError(f"terms has no ranges for law versions {sorted(missing)}")
        return Rules(
            terms=self.terms,
            reduction_min_months=self.reduction_min_months,
            reduction_max_months=self.reduction_max_months,
        )
