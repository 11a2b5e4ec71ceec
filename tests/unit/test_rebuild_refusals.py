"""Refusals of a rebuild that need no broker: the answer comes before anything is touched."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from lienthong.errors import InvalidInput, PreconditionFailed
from services.reporting.rebuild import Rebuilder


def rebuilder(*, granted: bool) -> Rebuilder:
    consumers = [SimpleNamespace(granted=granted) for _ in range(4)]
    return Rebuilder(sessions=None, broker=None, consumers=consumers, dead_letters=None)


def test_a_rebuild_under_department_accounts_is_refused_with_what_to_do():
    with pytest.raises(PreconditionFailed) as refused:
        rebuilder(granted=True).start(confirm=True)
    assert refused.value.code == "rebuild.needs_owner_rights"
    assert "LIENTHONG_NATS_NKEY_SEED_FILE" in refused.value.en


def test_a_rebuild_without_confirmation_is_refused():
    with pytest.raises(InvalidInput):
        rebuilder(granted=False).start(confirm=False)
