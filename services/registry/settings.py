"""Registry settings (environment variables with the LIENTHONG_ prefix)."""

from __future__ import annotations

from lienthong.settings import AuditSettings, FieldCryptoSettings, PseudonymSettings, ServiceSettings


class RegistrySettings(ServiceSettings, PseudonymSettings, AuditSettings, FieldCryptoSettings):
    service_name: str = "registry"
    database_url: str = "sqlite:///.lienthong/registry.db"
    grpc_port: int = 50051
    metrics_port: int = 9101
    # Which agency operates the registry (the police since 2022; dated agency configuration comes later).
    agency: str = "police"
