"""Configuration from environment variables (prefix ``LIENTHONG_``), with defaults for the local run.

Each service subclasses :class:`ServiceSettings` to set its own ports and database file. A bad value is
refused at start-up with the variable's name.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(".lienthong")
# Only for the local run and tests: a deployment sets LIENTHONG_PSEUDONYM_KEY (hex, >= 32 bytes).
DEMO_PSEUDONYM_KEY = "6c69656e74686f6e672d64656d6f2d6b65792d6e6f742d666f722d70726f64756374696f6e"


def normalise_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver the project uses."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    scheme = url.split("://", 1)[0] if "://" in url else "(none)"
    # Never echo the URL itself: it may hold a password.
    raise ValueError(
        f"unsupported database URL scheme {scheme!r}: use sqlite:///path/file.db or postgresql://user@host:port/db"
    )


# Refusals name the variable but never repeat its value: URLs hold passwords and keys are secrets.
_CONFIG = SettingsConfigDict(env_prefix="LIENTHONG_", extra="ignore", hide_input_in_errors=True)


class ServiceSettings(BaseSettings):
    model_config = _CONFIG

    service_name: str = "service"
    nats_url: str = "nats://127.0.0.1:4222"
    database_url: str = "sqlite:///.lienthong/service.db"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=50050, ge=0, le=65535)
    # Monitoring binds to loopback by default: metrics are for the local Prometheus, not the world.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9100, ge=0, le=65535)
    log_level: str = "INFO"
    # The service's NATS user nkey seed (a file of mode 0600, written by lienthong.natsauth). When set, the
    # service runs under the accounts generated from the data-sharing policy: it declares the durables the
    # policy grants on its stream, and binds to (never creates) the durables granted to it.
    nats_nkey_seed_file: Path | None = None

    @property
    def nats_accounts(self) -> bool:
        return self.nats_nkey_seed_file is not None

    @field_validator("nats_nkey_seed_file")
    @classmethod
    def _seed_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("nats_nkey_seed_file must name an existing file (the service's nkey seed)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str) -> str:
        if not all(part.strip().startswith(("nats://", "tls://")) for part in value.split(",")):
            raise ValueError(
                f"nats_url must be nats://host:port (comma-separated for a cluster), got {value!r}"
            )
        return value


class PseudonymSettings(BaseSettings):
    """Settings of a department service that turns citizen IDs into pseudonyms."""

    model_config = _CONFIG

    pseudonym_key: SecretStr = SecretStr(DEMO_PSEUDONYM_KEY)
    pseudonym_key_version: int = Field(default=1, ge=1)

    @field_validator("pseudonym_key")
    @classmethod
    def _hex_key(cls, value: SecretStr) -> SecretStr:
        try:
            raw = bytes.fromhex(value.get_secret_value())
        except ValueError:
            raise ValueError("pseudonym_key must be hexadecimal") from None
        if len(raw) < 32:
            raise ValueError("pseudonym_key must hold at least 32 bytes (64 hex digits)")
        return value

    def pseudonym_key_bytes(self) -> bytes:
        return bytes.fromhex(self.pseudonym_key.get_secret_value())


# A fixed demo key so the local run works out of the box; production sets LIENTHONG_AUDIT_KEY.
DEMO_AUDIT_KEY = "6c69656e74686f6e672d64656d6f2d61756469742d6b65792d6e6f742d666f722d70726f64756374696f6e21"


class AuditSettings(BaseSettings):
    """Settings of a department service that records reads of personal data."""

    model_config = _CONFIG

    # The HMAC key of the audit chain: kept out of the database so a table writer cannot rebuild the chain.
    audit_key: SecretStr = SecretStr(DEMO_AUDIT_KEY)

    @field_validator("audit_key")
    @classmethod
    def _hex_audit_key(cls, value: SecretStr) -> SecretStr:
        try:
            raw = bytes.fromhex(value.get_secret_value())
        except ValueError:
            raise ValueError("audit_key must be hexadecimal") from None
        if len(raw) < 32:
            raise ValueError("audit_key must hold at least 32 bytes (64 hex digits)")
        return value

    def audit_key_bytes(self) -> bytes:
        return bytes.fromhex(self.audit_key.get_secret_value())


# A fixed demo key so the local run works out of the box; production sets LIENTHONG_MASTER_KEY.
DEMO_MASTER_KEY = (
    "6c69656e74686f6e672d64656d6f2d6d61737465722d6b65792d6e657665722d7573652d696e2d70726f64756374696f6e"
)


class FieldCryptoSettings(BaseSettings):
    """Settings of a department service that encrypts personal fields at rest (``lienthong.fieldcrypto``)."""

    model_config = _CONFIG

    # Wraps the data keys stored in the department's database: without it the database decrypts nothing.
    master_key: SecretStr = SecretStr(DEMO_MASTER_KEY)

    @field_validator("master_key")
    @classmethod
    def _hex_master_key(cls, value: SecretStr) -> SecretStr:
        try:
            raw = bytes.fromhex(value.get_secret_value())
        except ValueError:
            raise ValueError("master_key must be hexadecimal") from None
        if len(raw) < 32:
            raise ValueError("master_key must hold at least 32 bytes (64 hex digits)")
        return value

    def master_key_bytes(self) -> bytes:
        return bytes.fromhex(self.master_key.get_secret_value())
