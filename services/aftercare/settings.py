"""Aftercare settings (environment variables with the LIENTHONG_ prefix). Values the law leaves open are
settings with documented defaults; those marked (?) could not be confirmed from the legal text."""

from __future__ import annotations

from pydantic import Field, field_validator

from lienthong.dated import Dated
from lienthong.settings import AuditSettings, FieldCryptoSettings, PseudonymSettings, ServiceSettings
from services.aftercare.domain.cases import Terms
from services.aftercare.domain.common import LAW_VERSIONS, OPERATORS


def _dated(value: dict[str, str]) -> dict[str, str]:
    Dated(value)  # refuses an empty map or a date that is not YYYY-MM-DD at start-up
    return value


class AftercareSettings(ServiceSettings, PseudonymSettings, AuditSettings, FieldCryptoSettings):
    service_name: str = "aftercare"
    database_url: str = "sqlite:///.lienthong/aftercare.db"
    grpc_port: int = 50054
    metrics_port: int = 9104
    # Which agency operates aftercare from each date (JSON in LIENTHONG_OPERATORS): Labour, then the Police
    # from 2025-03-01 (Decree 02/2025). Every event carries the operator on the date of its act.
    operators: dict[str, str] = Field(default_factory=lambda: dict(OPERATORS))
    # Law version in force from each date (JSON in LIENTHONG_LAW_VERSIONS); recorded on every case.
    law_versions: dict[str, str] = Field(default_factory=lambda: dict(LAW_VERSIONS))
    # Days a completer may wait for the commune's decision before the work list raises an alert (?).
    # Where the registry answers FindPersonByPseudonym (the local run passes the address it started).
    registry_target: str = "127.0.0.1:50051"
    placement_alert_days: int = Field(default=15, ge=1, le=365)
    # Aftercare terms, Law 73/2021 Art. 40: 1 year after voluntary rehab or methadone, 1 year for minors
    # and 2 years for adults after compulsory rehab. Settings because Law 120/2025 may change them.
    term_months_voluntary: int = Field(default=12, ge=1, le=60)
    term_months_methadone: int = Field(default=12, ge=1, le=60)
    term_months_compulsory_minor: int = Field(default=12, ge=1, le=60)
    term_months_compulsory_adult: int = Field(default=24, ge=1, le=60)
    # Consumers of the REHAB and HEALTH streams.
    max_deliver: int = Field(default=5, ge=1, le=100)
    batch_size: int = Field(default=100, ge=1, le=5000)
    ack_wait_seconds: float = Field(default=30.0, ge=1.0, le=600.0)

    @field_validator("operators", "law_versions")
    @classmethod
    def _valid_dated(cls, value: dict[str, str]) -> dict[str, str]:
        return _dated(value)

    def terms(self) -> Terms:
        return Terms(
            voluntary_months=self.term_months_voluntary,
            methadone_months=self.term_months_methadone,
            compulsory_minor_months=self.term_months_compulsory_minor,
            compulsory_adult_months=self.term_months_compulsory_adult,
        )
