"""Field-level encryption at rest: AES-256-GCM per value, keyed blind indexes, wrapped data keys.

A personal field (a name, a citizen ID, free text, a decision number) is stored as a token

    "<key version>:<base64url(nonce ‖ ciphertext ‖ tag)>"

encrypted under the data key of that version with a fresh random 96-bit nonce. The associated data binds
the table, the column, the row id and the key version, so a token copied to another row or column, or
relabelled with another version, does not decrypt: :class:`Undecryptable`, never someone else's name.
The plaintext is padded to a multiple of 32 bytes first, so the length of a token does not give away the
length of a name.

Data keys are random 256-bit keys kept in each department's database wrapped (AES-256-GCM) under a
key-encryption key derived with HKDF-SHA256 from the master key in configuration (``LIENTHONG_MASTER_KEY``);
the database alone decrypts nothing. Lookups by citizen ID go through a blind index: HMAC-SHA256 of the
normalised value under a separate random key stored wrapped the same way, never the plaintext.

This module is the pure part (no I/O); ``lienthong.fieldkeys`` keeps the keys in the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from lienthong.errors import DomainError, ErrorKind

FORMAT = "lienthong.field/1"  # in every value's associated data: a later format cannot be confused with it
DATA_KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # random per value; far below the 2**32 values per key where random nonces get risky
PAD_TO = 32
MIN_MASTER_KEY_BYTES = 32


class KeyRingError(RuntimeError):
    """The keys cannot be used: none yet, a master key that does not unwrap them, a changed key row."""


class Undecryptable(DomainError):
    """A stored value that does not decrypt where it is: moved from another row or column, or changed."""

    kind = ErrorKind.INTEGRITY

    def __init__(self, table: str, column: str, row_id: object, why_en: str, why_vi: str) -> None:
        super().__init__(
            "field.undecryptable",
            f"Không giải mã được trường {table}.{column} của bản ghi {row_id}: {why_vi}.",
            f"Field {table}.{column} of record {row_id} does not decrypt: {why_en}.",
        )
        self.table, self.column, self.row_id = table, column, str(row_id)


class UnknownKeyVersion(Undecryptable):
    """A value names a key version this cipher does not hold (a newer one than it was built with, or none)."""


class ColumnLike(Protocol):
    """A SQLAlchemy ``Column`` of a table (only its name and its table's name are used)."""

    @property
    def name(self) -> str: ...

    @property
    def table(self) -> object: ...


def associated_data(table: str, column: str, row_id: object, version: int) -> bytes:
    """What a value is bound to: its place (table, column, row) and the version of the key."""
    return json.dumps([FORMAT, table, column, str(row_id), version], separators=(",", ":")).encode()


def _pad(data: bytes) -> bytes:
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % PAD_TO)


def _unpad(data: bytes) -> bytes:
    body = data.rstrip(b"\x00")
    if not body.endswith(b"\x80"):
        raise ValueError("bad padding")
    return body[:-1]


def version_of(token: str) -> int:
    """The key version a token was written with; ``ValueError`` when it is not a token at all."""
    head, sep, _ = token.partition(":")
    if not sep or not head.isascii() or not head.isdigit():
        raise ValueError("not an encrypted field value")
    return int(head)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode("ascii"))


def normalise(value: str) -> str:
    """The form a blind index is computed on: NFC, case-folded, without surrounding spaces."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold().strip())


@dataclass(frozen=True)
class MasterKey:
    """The key-encryption key's source, from configuration. It wraps data keys and never touches a field."""

    raw: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.raw) < MIN_MASTER_KEY_BYTES:
            raise ValueError(f"the master key must hold at least {MIN_MASTER_KEY_BYTES} bytes")

    @property
    def key_id(self) -> str:
        """A public fingerprint, stored beside each wrapped key: says which master key is needed."""
        return hmac.new(self.raw, b"lienthong.master-key-id/1", hashlib.sha256).hexdigest()[:16]

    def _kek(self) -> AESGCM:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"lienthong.data-key-wrapping/1"
        ).derive(self.raw)
        return AESGCM(derived)

    @staticmethod
    def _ad(purpose: str, version: int) -> bytes:
        return json.dumps(["lienthong.data-key/1", purpose, version], separators=(",", ":")).encode()

    def wrap(self, purpose: str, version: int, key: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        return _b64(nonce + self._kek().encrypt(nonce, key, self._ad(purpose, version)))

    def unwrap(self, purpose: str, version: int, wrapped: str, wrapped_by: str) -> bytes:
        if wrapped_by != self.key_id:
            raise KeyRingError(
                f"data key {purpose} v{version} was wrapped by master key {wrapped_by}, but the configured "
                f"LIENTHONG_MASTER_KEY is {self.key_id}: set the master key this database was created with"
            )
        try:
            blob = _unb64(wrapped)
            return self._kek().decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], self._ad(purpose, version))
        except (InvalidTag, ValueError, binascii.Error):
            raise KeyRingError(
                f"data key {purpose} v{version} does not unwrap under master key {self.key_id}: "
                "its row in data_keys was changed or moved"
            ) from None


class FieldCipher:
    """Encrypts with the active data key, decrypts with whichever version a value names, and computes
    blind indexes. A snapshot of a key ring: build a new one when keys are added."""

    def __init__(self, keys: Mapping[int, bytes], active: int, index_key: bytes) -> None:
        if active not in keys:
            raise KeyRingError(f"no data key of version {active}")
        if len(index_key) < 32:
            raise KeyRingError("the blind-index key must hold at least 32 bytes")
        self._aead = {version: AESGCM(key) for version, key in keys.items()}
        self.active_version = active
        self._index_key = index_key

    @property
    def versions(self) -> frozenset[int]:
        return frozenset(self._aead)

    def encrypt(self, table: str, column: str, row_id: object, plaintext: str) -> str:
        version = self.active_version
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[version].encrypt(
            nonce, _pad(plaintext.encode("utf-8")), associated_data(table, column, row_id, version)
        )
        return f"{version}:{_b64(nonce + sealed)}"

    def decrypt(self, table: str, column: str, row_id: object, token: str) -> str:
        try:
            version = version_of(token)
        except ValueError:
            raise Undecryptable(
                table, column, row_id, "it is not an encrypted value", "đây không phải giá trị đã mã hoá"
            ) from None
        aead = self._aead.get(version)
        if aead is None:
            raise UnknownKeyVersion(
                table,
                column,
                row_id,
                f"no data key of version {version} is known",
                f"không có khoá dữ liệu phiên bản {version}",
            )
        try:
            blob = _unb64(token[len(str(version)) + 1 :])
            padded = aead.decrypt(
                blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data(table, column, row_id, version)
            )
            return _unpad(padded).decode("utf-8")
        except (InvalidTag, ValueError, binascii.Error):
            raise Undecryptable(
                table,
                column,
                row_id,
                f"under key version {version} it belongs to another record or column, or it was changed",
                f"với khoá phiên bản {version}, giá trị này thuộc bản ghi hoặc trường khác, hoặc đã bị sửa",
            ) from None

    def seal(self, column: ColumnLike, row_id: object, plaintext: str | None) -> str | None:
        """``encrypt`` for a table column (``None`` stays ``None``)."""
        if plaintext is None:
            return None
        return self.encrypt(column.table.name, column.name, row_id, plaintext)  # type: ignore[attr-defined]

    def open(self, column: ColumnLike, row_id: object, token: str | None) -> str | None:
        """``decrypt`` for a table column (``None`` stays ``None``)."""
        if token is None:
            return None
        return self.decrypt(column.table.name, column.name, row_id, token)  # type: ignore[attr-defined]

    def is_current(self, token: str) -> bool:
        return version_of(token) == self.active_version

    def blind_index(self, value: str, kind: str = "citizen_id") -> str:
        """HMAC-SHA256 of the normalised value, labelled with its kind (equal values of two kinds differ)."""
        message = f"lienthong.blind-index/1\x00{kind}\x00{normalise(value)}".encode()
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()
