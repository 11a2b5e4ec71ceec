"""Health settings (environment variables with the LIENTHONG_ prefix). Values the law leaves open are
settings with documented defaults; those marked (?) could not be confirmed from the legal text."""

from __future__ import annotations

from pydantic import Field

from lienthong.settings import AuditSettings, FieldCryptoSettings, PseudonymSettings, ServiceSettings
from services.health.domain.methadone import Rules
from services.health.domain.people import LAW_VERSIONS


class HealthSettings(ServiceSettings, PseudonymSettings, AuditSettings, FieldCryptoSettings):
    service_name: str = "health"
    database_url: str = "sqlite:///.lienthong/health.db"
    grpc_port: int = 50052
    metrics_port: int = 9102
    # Which agency operates health functions (the Ministry of Health's facilities).
    agency: str = "health"
    # Law version in force from each date (JSON in LIENTHONG_LAW_VERSIONS); recorded on every record.
    law_versions: dict[str, str] = Field(default_factory=lambda: dict(LAW_VERSIONS))
    # Circular 18/2021: maximum days from request to conclusion (?); a later conclusion is marked late.
    determination_max_days: int = Field(default=5, ge=1, le=90)
    # Decree 90/2016 termination for violation: >= N protocol breaches within M months ...
    violation_breaches: int = Field(default=2, ge=1, le=20)
    violation_breach_window_months: int = Field(default=6, ge=1, le=36)
    # ... or >= N consecutive opioid-positive tests within M months after reaching maintenance.
    violation_positive_tests: int = Field(default=2, ge=1, le=20)
    violation_test_window_months: int = Field(default=12, ge=1, le=36)
    # Consecutive days without a dose (after the last take-home cover) that make a dropout (?).
    methadone_dropout_days: int = Field(default=30, ge=1, le=365)
    # Longest take-home cover of one dose, in days (?).
    max_take_home_days: int = Field(default=7, ge=1, le=60)
    # Consumer of the registry's stream.
    max_deliver: int = Field(default=5, ge=1, le=100)
    batch_size: int = Field(default=100, ge=1, le=5000)
    ack_wait_seconds: float = Field(default=30.0, ge=1.0, le=600.0)

    def methadone_rules(self) -> Rules:
        return Rules(
            breaches_for_termination=self.violation_breaches,
            breach_window_months=self.violation_breach_window_months,
            positive_tests_for_termination=self.violation_positive_tests,
            test_window_months=self.violation_test_window_months,
            dropout_days=self.methadone_dropout_days,
            max_take_home_days=self.max_take_home_days,
        )
