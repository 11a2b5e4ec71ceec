"""Text as Vietnamese users type it: NFC at the edge, no control characters, bounded length."""

from __future__ import annotations

import unicodedata

from lienthong.errors import InvalidInput

_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_PLAIN_WHITESPACE = frozenset(" \t\r\n")


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def clean_text(value: str, *, field: str, max_length: int = 200, required: bool = True) -> str:
    """NFC-normalise and trim ``value``; refuse control characters, over-long or (if required) empty text."""
    normalised = nfc(value)
    # Refuse control characters before collapsing whitespace: str.split() would turn some (U+001C-U+001F)
    # into spaces and hide them.
    if any(unicodedata.category(ch) in _REFUSED and ch not in _PLAIN_WHITESPACE for ch in normalised):
        raise InvalidInput(
            f"{field}.bad_characters",
            f"{field} chứa ký tự điều khiển hoặc không hợp lệ.",
            f"{field} contains control or unassigned characters.",
        )
    text = " ".join(normalised.split())
    if required and not text:
        raise InvalidInput(f"{field}.required", f"Thiếu {field}.", f"{field} is required.")
    if len(text) > max_length:
        raise InvalidInput(
            f"{field}.too_long",
            f"{field} dài quá {max_length} ký tự.",
            f"{field} is longer than {max_length} characters.",
        )
    return text
