"""Reporting settings (environment variables with the LIENTHONG_ prefix)."""

from __future__ import annotations

from pydantic import Field

from lienthong.settings import ServiceSettings


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
