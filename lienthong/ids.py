"""Time-ordered UUIDs (RFC 9562 version 7): event ids sort by creation time, which keeps indexes compact.

Within one millisecond the 12-bit ``rand_a`` field is a counter (RFC 9562 §6.2, method 1), so ids made
by one process also sort in creation order inside a millisecond.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_millis = 0
_counter = 0


def uuid7() -> str:
    global _last_millis, _counter
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis > _last_millis:
            _last_millis = millis
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count upwards
        else:
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_millis += 1
                _counter = 0
        millis, counter = _last_millis, _counter
    rand = int.from_bytes(os.urandom(8), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= counter << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))
