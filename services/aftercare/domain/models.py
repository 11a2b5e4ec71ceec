"""The commune aftercare model (mô hình quản lý sau cai nghiện tại nơi cư trú): plans count communes that
start one and those that maintain one. A commune's history is a sequence of dated changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lienthong.dates import not_before, not_in_future
from lienthong.errors import PreconditionFailed

STATUSES = ("started", "maintained", "stopped")


@dataclass(frozen=True)
class ModelChanged:
    commune_code: str
    province_code: str
    on: date
    status: str
    version: int  # number of changes recorded for this commune, this one included


def change(
    history: list[tuple[date, str]],
    *,
    commune_code: str,
    province_code: str,
    on: date,
    status: str,
    today: date,
) -> ModelChanged:
    """``history`` is the commune's earlier changes in date order. A model already running before the
    system existed may be recorded first as maintained; otherwise the changes must make sense in order."""
    not_in_future(on, today, "on")
    last = history[-1] if history else None
    if last:
        not_before(on, last[0], "on", "lần ghi nhận trước", "the previous change")
    running = last is not None and last[1] in ("started", "maintained")
    if status == "started" and running:
        raise PreconditionFailed(
            "model.already_running",
            f"Xã {commune_code} đã có mô hình quản lý sau cai từ {last[0].isoformat()}.",
            f"Commune {commune_code} already runs an aftercare model since {last[0].isoformat()}.",
        )
    if status == "stopped" and not running:
        raise PreconditionFailed(
            "model.not_running",
            f"Xã {commune_code} không có mô hình quản lý sau cai đang hoạt động.",
            f"Commune {commune_code} runs no aftercare model.",
        )
    if status == "maintained" and last is not None and not running:
        raise PreconditionFailed(
            "model.stopped",
            f"Mô hình của xã {commune_code} đã dừng ngày {last[0].isoformat()}; hãy ghi nhận bắt đầu lại.",
            f"Commune {commune_code}'s model stopped on {last[0].isoformat()}; record it as started again.",
        )
    return ModelChanged(commune_code, province_code, on, status, len(history) + 1)
