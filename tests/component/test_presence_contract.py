"""The `Presence` contract, run against every implementation (in-process and
Redis), as one instance sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.component.backends import KINDS, open_backends
from trichat.broker.base import Presence
from trichat.models import PresenceEntry


@pytest.fixture(params=KINDS)
async def presence(request: pytest.FixtureRequest) -> AsyncIterator[Presence]:
    async with open_backends(request) as (_, presence, _):
        yield presence


async def test_presence_counts_users_not_connections(presence: Presence) -> None:
    alice = PresenceEntry("alice", "Alice", 1000)
    assert await presence.join("c1", alice, "conn-1") is True
    assert await presence.join("c1", alice, "conn-2") is False  # second tab
    assert await presence.join("c1", PresenceEntry("bob", "Bob", 1001), "conn-3")
    assert await presence.join("c2", alice, "conn-1") is True
    present = sorted(await presence.online("c1"), key=lambda p: p.user_id)
    assert [(p.user_id, p.username) for p in present] == [("alice", "Alice"), ("bob", "Bob")]
    assert await presence.counts() == {"c1": 2, "c2": 1}
    assert await presence.leave("c1", "alice", "conn-1") is False  # conn-2 remains
    assert await presence.leave("c1", "alice", "conn-2") is True
    assert await presence.leave("c1", "alice", "conn-2") is False  # already gone
    assert [p.user_id for p in await presence.online("c1")] == ["bob"]
    assert await presence.leave("c1", "bob", "conn-3") is True
    assert await presence.online("c1") == []
    assert await presence.counts() == {"c2": 1}


async def test_an_entry_comes_back_as_it_joined(presence: Presence) -> None:
    carol = PresenceEntry("carol", "Carol \u00e9\U0001f600", 1_700_000_000_123)
    await presence.join("c1", carol, "conn-1")
    assert await presence.online("c1") == [carol]


async def test_nobody_present_is_an_empty_answer(presence: Presence) -> None:
    assert await presence.online("nowhere") == []
    assert await presence.counts() == {}
    assert await presence.leave("nowhere", "alice", "conn-1") is False


async def test_a_user_joins_each_channel_separately(presence: Presence) -> None:
    alice = PresenceEntry("alice", "Alice", 1000)
    assert await presence.join("c1", alice, "conn-1") is True
    assert await presence.join("c2", alice, "conn-1") is True  # one connection, two channels
    assert await presence.leave("c1", "alice", "conn-1") is True
    assert [p.user_id for p in await presence.online("c2")] == ["alice"]
    assert await presence.counts() == {"c2": 1}
