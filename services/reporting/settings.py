"""Reporting settings (environment variables with the LIENTHONG_ prefix)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from lienthong.settings import ServiceSettings
from services.reporting.indicators import catalogue, plans


class ReportingSettings(ServiceSettings):
    service_name: str = "reporting"
    database_url: str = "sqlite:///.lienthong/reporting.db"
    grpc_port: int = 50055
    metrics_port: int = 9105
    # Deliveries of one event before it is dead-lettered.
    max_deliver: int = Field(default=5, ge=1, le=100)
    batch_size: int = Field(default=500, ge=1, le=5000)
    # Seconds JetStream waits for the ack of a delivered event before delivering it again.
    ack_wait_seconds: float = Field(default=30.0, ge=1.0, le=600.0)
    # The indicator catalogue (TOML); the shipped one unless an operator points elsewhere.
    indicator_catalogue: Path = catalogue.DEFAULT_PATH
    # More folders of plan files (*.toml) besides the shipped plans, as JSON: ["/etc/lienthong/plans"].
    plan_dirs: list[Path] = Field(default_factory=list)

    @model_validator(mode="after")
    def _catalogue_and_plans_load(self) -> ReportingSettings:
        """A wrong catalogue or plan file stops the service at start, naming the file and the place."""
        try:
            self.indicators()
            self.plans()
        except (OSError, catalogue.CatalogueError) as exc:
            raise ValueError(str(exc)) from None
        return self

    def indicators(self) -> catalogue.Catalogue:
        return catalogue.load(self.indicator_catalogue)

    def plans(self) -> dict[str, plans.Plan]:
        return plans.load_all(self.indicators(), tuple(self.plan_dirs))
