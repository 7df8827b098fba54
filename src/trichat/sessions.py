"""Every open connection of this instance: the caps (`MAX_CONNECTIONS`, WebSocket
and HTTP together; `MAX_CONNECTIONS_PER_USER`), in-flight work, and shutdown."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

import trio

from trichat import errors
from trichat.config import Settings
from trichat.keepalive import KeepAlive, KeptAlive, slack_for
from trichat.metrics import Metrics
from trichat.outbox import Outbox


class OpenSession(Protocol):
    id: int
    user_id: str
    outbox: Outbox
    liveness: KeptAlive  # what the instance's `KeepAlive` task calls for this session


@dataclass
class Sessions:
    """Every open session of this instance: caps, in-flight work, shutdown."""

    settings: Settings
    metrics: Metrics
    open: dict[int, OpenSession] = field(default_factory=dict)
    per_user: Counter[str] = field(default_factory=Counter)
    draining: bool = False
    inflight: int = 0
    http: int = 0  # HTTP connections being served (REST, the page): they count too
    idle: trio.Event = field(default_factory=trio.Event)
    empty: trio.Event = field(default_factory=trio.Event)
    keepalive: KeepAlive = field(init=False)

    def __post_init__(self) -> None:
        self.keepalive = KeepAlive(slack_for(self.settings.ping_interval))

    def refuse_reason(self, user_id: str) -> str | None:
        if self.draining:
            return "server is shutting down"
        if self.full:
            return "too many connections on this instance"
        if self.per_user[user_id] >= self.settings.max_connections_per_user:
            return "too many connections for this user"
        return None

    @property
    def full(self) -> bool:
        """`MAX_CONNECTIONS` reached, WebSocket and HTTP connections together."""
        return len(self.open) + self.http >= self.settings.max_connections

    def add(self, session: OpenSession) -> None:
        self.open[session.id] = session
        self.keepalive.schedule(session.liveness, trio.current_time())
        self.per_user[session.user_id] += 1
        self.metrics.connections_total.inc()
        self.metrics.connections_current.set(len(self.open))

    def remove(self, session: OpenSession) -> None:
        if self.open.pop(session.id, None) is not None:
            self.per_user[session.user_id] -= 1
            if self.per_user[session.user_id] <= 0:
                del self.per_user[session.user_id]
        self.metrics.connections_current.set(len(self.open))
        if not self.open:
            self.empty.set()

    def done_with_one(self) -> None:
        """One piece of in-flight work (a frame, a message awaiting its ack) done."""
        self.inflight -= 1
        if self.inflight == 0:
            self.idle.set()

    async def wait_empty(self) -> None:
        while self.open:
            self.empty = trio.Event()
            await self.empty.wait()

    async def drain(self, grace: float) -> None:
        """Stop taking frames, let in-flight ones finish (acks out), then close all
        with 1001 and wait for them to go, within `grace` seconds."""
        self.draining = True
        with trio.move_on_after(grace / 2):
            while self.inflight:
                self.idle = trio.Event()
                await self.idle.wait()
        for session in list(self.open.values()):
            session.outbox.close(errors.SHUTDOWN)
