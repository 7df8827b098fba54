"""The in-process implementations: one instance, no services. Events go through a
bounded memory channel to this instance's bridge; presence and rate limits live in
dicts (`local`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import trio

from trichat.broker.base import Departure, Event, drain, hand_over
from trichat.broker.local import LocalLimiter, LocalMarks, LocalPresence
from trichat.models import PresenceEntry, ReadMark

EVENT_BUFFER = 65_536


class MemoryBroker:
    name = "memory"

    def __init__(self, *, buffer: int = EVENT_BUFFER) -> None:
        self._send, self._recv = trio.open_memory_channel[Event](buffer)
        self.local_route: Callable[[Event], None] | None = None
        self.dropped = 0

    @property
    def healthy(self) -> bool:
        return True

    async def publish(self, event: Event) -> None:
        self.publish_now(event)

    def publish_now(self, event: Event) -> None:
        if not hand_over(event, self.local_route, self._send):
            self.dropped += 1  # supervisors see the seq gap and read the store

    def events(self) -> AsyncIterator[Event]:
        return drain(self._recv)

    async def subscribe(self, channel_id: str) -> None:
        return None

    async def unsubscribe(self, channel_id: str) -> None:
        return None

    def subscribe_user(self, user_id: str) -> None:
        return None  # every event reaches this instance's bridge, which routes it

    def unsubscribe_user(self, user_id: str) -> None:
        return None


class MemoryPresence:
    """Presence of the one instance there is: nobody's instance dies under them, so
    there are never departures."""

    def __init__(self) -> None:
        self._local = LocalPresence()

    async def join(self, channel_id: str, entry: PresenceEntry, conn_key: str) -> bool:
        return self._local.join(channel_id, entry, conn_key)

    async def leave(self, channel_id: str, user_id: str, conn_key: str) -> bool:
        return self._local.leave(channel_id, user_id, conn_key)

    async def online(self, channel_id: str) -> list[PresenceEntry]:
        return self._local.entries(channel_id)

    async def counts(self) -> dict[str, int]:
        return self._local.counts()

    async def departures(self) -> AsyncIterator[Departure]:
        await trio.sleep_forever()
        yield  # type: ignore[misc]  # unreachable: makes this an async generator


class MemoryLimiter:
    def __init__(self) -> None:
        self._local = LocalLimiter()

    async def spend(self, key: str, capacity: int, period: float) -> float:
        return self._local.take(key, capacity, period)


class MemoryMarks:
    def __init__(self) -> None:
        self._local = LocalMarks()

    async def raise_mark(self, mark: ReadMark, floor: int) -> bool:
        return self._local.raise_mark(mark, floor)

    async def of_user(self, user_id: str) -> dict[str, ReadMark]:
        return self._local.of_user(user_id)

    async def of_channel(self, channel_id: str) -> dict[str, ReadMark]:
        return self._local.of_channel(channel_id)
