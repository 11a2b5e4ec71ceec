"""Errors that carry a stable code and a message in Vietnamese and English.

Domain code raises these; the gRPC edge turns them into status codes (see ``lienthong.grpcserver``).
"""

from __future__ import annotations

from enum import Enum


class ErrorKind(Enum):
    INVALID = "invalid_argument"
    PRECONDITION = "failed_precondition"
    NOT_FOUND = "not_found"
    CONFLICT = "already_exists"
    DENIED = "permission_denied"
    UNAVAILABLE = "unavailable"
    INTEGRITY = "data_loss"  # stored data that does not decrypt or check where it is


class DomainError(Exception):
    kind = ErrorKind.INVALID

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.code = code
        self.vi = vi
        self.en = en

    def message(self, language: str = "vi") -> str:
        return self.en if language.lower().startswith("en") else self.vi


class InvalidInput(DomainError):
    kind = ErrorKind.INVALID


class PreconditionFailed(DomainError):
    kind = ErrorKind.PRECONDITION


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class AlreadyExists(DomainError):
    kind = ErrorKind.CONFLICT


class PermissionDenied(DomainError):
    kind = ErrorKind.DENIED


class Unavailable(DomainError):
    """Another department's service that this act needs does not answer; retrying later may work."""

    kind = ErrorKind.UNAVAILABLE
