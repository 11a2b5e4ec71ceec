"""Inbox: the ids of events a consumer has applied, written in the same transaction as their effect.

Insert-or-ignore decides whether an event is new, so a redelivered or duplicated event is a no-op
whatever crashed in between (commit then crash before ack, relay published twice, replay).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncSession

from lienthong.db import insert_ignoring_duplicates


def define_table_v1(metadata: MetaData) -> Table:
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )


INBOX = define_table_v1(MetaData())


async def claim_new(session: AsyncSession, consumer: str, event_ids: Iterable[str]) -> set[str]:
    """Record ``event_ids`` as processed by ``consumer``; return those that were not recorded before."""
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return set()
    now = datetime.now(UTC)
    statement = insert_ignoring_duplicates(INBOX, session.bind.dialect.name).returning(INBOX.c.event_id)
    result = await session.execute(
        statement, [{"consumer": consumer, "event_id": event_id, "processed_at": now} for event_id in ids]
    )
    return set(result.scalars().all())
