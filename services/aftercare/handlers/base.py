"""What every aftercare command shares: one transaction holding the new state and its outbox rows, one
retry when another command changed the same person meanwhile, the relay woken after commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lienthong.audit import AuditLog
from lienthong.dated import Dated
from lienthong.dates import today_in_vietnam
from lienthong.outbox import add_to_outbox
from services.aftercare import storage
from services.aftercare.domain.cases import Terms
from services.aftercare.domain.common import dated_value
from services.aftercare.event_mapping import DomainEvent, to_envelope

T = TypeVar("T")


@dataclass
class Commands:
    sessions: async_sessionmaker[AsyncSession]
    operators: Dated[str]
    laws: Dated[str]
    terms: Terms
    placement_alert_days: int
    clock: Callable[[], date] = today_in_vietnam
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # Every read of personal data is recorded here before it is returned (set by the composition root).
    audit: AuditLog | None = field(default=None, kw_only=True)

    def audit_log(self) -> AuditLog:
        if self.audit is None:
            raise RuntimeError("this service was built without its audit log")
        return self.audit

    def act_date(self, day: date, field: str) -> str:
        """Refuse an act no law and no operator covers; return the law version it is judged by."""
        dated_value(self.operators, day, field, "aftercare có cơ quan quản lý", "aftercare had an operator")
        return dated_value(self.laws, day, field, "luật áp dụng có hiệu lực", "the first law in force")

    async def outbox(self, session: AsyncSession, events: Sequence[DomainEvent]) -> None:
        for event in events:
            await add_to_outbox(session, to_envelope(event, operators=self.operators))

    async def _command(self, work: Callable[[AsyncSession], Awaitable[tuple[T, Sequence[DomainEvent]]]]) -> T:
        # One retry on a concurrent change of the same person: the second attempt sees the new state.
        for attempt in range(2):
            try:
                async with self.sessions.begin() as session:
                    result, events = await work(session)
                    await self.outbox(session, events)
                break
            except (storage.ConcurrentChange, IntegrityError):
                if attempt == 1:
                    raise storage.concurrent_change_error() from None
        for wake in self.after_commit:
            wake()
        return result
