"""Keyed person pseudonyms: HMAC-SHA256 of the citizen ID under a secret key, tagged with the key version.

A plain hash of a citizen ID can be reversed by brute force (about a million candidates once the
province, sex and birth year are known), so the key is what protects it. The version prefix lets the
key rotate: old pseudonyms stay recognisable as made with the old key.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class Pseudonymiser:
    key: bytes = field(repr=False)
    version: int

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ValueError(f"pseudonym key must be at least {MIN_KEY_BYTES} bytes, got {len(self.key)}")
        if self.version < 1:
            raise ValueError("pseudonym key version must be 1 or more")

    def of(self, citizen_id: str) -> str:
        """Pseudonym of an already validated citizen ID: ``<version>:<32 hex digits>``."""
        mac = hmac.new(self.key, citizen_id.encode("ascii"), hashlib.sha256).hexdigest()
        return f"{self.version}:{mac[:32]}"
