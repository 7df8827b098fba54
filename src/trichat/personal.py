"""Personal streams (SPEC §8): each user's own events — `read` now; `mention`,
`channel_added`, `channel_removed` later — reach every connection of that user on
every instance, joined to any channel or not.

The service publishes a `personal` event for the user; the broker routes it per
user (a Redis channel per user, subscribed to while the user has a connection on
this instance; in-process, the bridge sees every event), and the hub's bridge hands
it here. Each connection's `Outbox` is the bound, as for channel traffic: a
connection that cannot keep up is closed as a slow consumer and loses nothing of
the log (a client reads its state again on reconnect: `joined`, `GET /me/unread`).
"""

from __future__ import annotations

from typing import Protocol

from trichat.broker.base import Broker, Event
from trichat.protocol.channel import Outlet
from trichat.protocol.frames import ws_frame


class Receiver(Protocol):
    id: int
    user_id: str
    outbox: Outlet


class PersonalStreams:
    """This instance's connections, by user."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._users: dict[str, dict[int, Receiver]] = {}

    def add(self, receiver: Receiver) -> None:
        here = self._users.get(receiver.user_id)
        if here is None:
            here = self._users[receiver.user_id] = {}
            self._broker.subscribe_user(receiver.user_id)
        here[receiver.id] = receiver

    def remove(self, receiver: Receiver) -> None:
        here = self._users.get(receiver.user_id)
        if here is None or here.pop(receiver.id, None) is None:
            return
        if not here:
            del self._users[receiver.user_id]
            self._broker.unsubscribe_user(receiver.user_id)

    def deliver(self, event: Event) -> int:
        """Offer the event's frame to each of its user's connections here; how many."""
        here = self._users.get(event.user_id)
        if not here:
            return 0
        frame = ws_frame(event.payload)
        for receiver in here.values():
            receiver.outbox.offer(frame)
        return len(here)
