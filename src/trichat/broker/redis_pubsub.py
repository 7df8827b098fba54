"""The broker's one subscribed Redis connection, read on the trio side
(`redis_resp.RespConnection`).

It only receives, and receiving is per event. Through redis-py's asyncio PubSub one
event cost 224-250 µs of CPU at 3,000 events/s (`bench/pubsub_cost.py`): trio wakes
asyncio's loop, the loop wakes redis-py's reader task, redis-py's `get_message`
runs its retry, timeout and parse machinery for each message, and the event crosses
back to trio. Here one wake-up reads every event that has arrived, and each event is
one C call. docs/performance.md ("The Redis path") has the figures.
"""

from __future__ import annotations

from typing import Any

from trichat.broker.redis_resp import RespConnection, raise_error


class PubSubConnection(RespConnection):
    """SUBSCRIBE and UNSUBSCRIBE out, replies in (lists of bytes, as Redis sends
    them: `[b"message", channel, data]`, `[b"subscribe", channel, count]`, …); an
    error reply raises `ResponseError`."""

    async def subscribe(self, *channels: str) -> None:
        if channels:
            await self.send("SUBSCRIBE", *channels)

    async def unsubscribe(self, *channels: str) -> None:
        if channels:
            await self.send("UNSUBSCRIBE", *channels)

    async def receive(self) -> list[Any]:
        return [raise_error(reply) for reply in await super().receive()]
