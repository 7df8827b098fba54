"""One instance's pieces for session and front-door component tests, in process:
a real `ChatService` over `SqliteStore` (in a tmp dir) and `MemoryBroker`, a
running `Hub` and `KeepAlive`, and sessions over `FakeTransport`s. No network."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trio.testing

from tests.conftest import SECRET, test_settings
from tests.helpers.transport import FakeTransport
from trichat.auth import make_verifier, mint
from trichat.broker.memory import MemoryBroker, MemoryLimiter, MemoryPresence
from trichat.config import Settings
from trichat.connection import Session
from trichat.connection_deps import SessionDeps
from trichat.hub import Hub
from trichat.metrics import Metrics
from trichat.server import ensure_default_channel
from trichat.service import ChatService
from trichat.sessions import Sessions
from trichat.store.sqlite import SqliteStore, open_sqlite_store


@dataclass
class World:
    deps: SessionDeps
    store: SqliteStore
    general: str
    nursery: trio.Nursery

    @property
    def sessions(self) -> Sessions:
        return self.deps.sessions

    @property
    def metrics(self) -> Metrics:
        return self.deps.metrics

    def token(self, user: str, **kwargs: Any) -> str:
        return mint(SECRET, user, **kwargs)

    def session(
        self, user: str, transport: FakeTransport | None = None, **mint_args: Any
    ) -> Session:
        """A session for `user` over `transport` (a fresh fake by default), not serving."""
        principal = self.deps.verifier.verify(self.token(user, **mint_args))
        return Session(transport or FakeTransport(), principal, self.deps)

    async def serve(
        self, user: str, transport: FakeTransport | None = None, **mint_args: Any
    ) -> tuple[Session, FakeTransport]:
        """A session for `user`, serving in the world's nursery."""
        session = self.session(user, transport, **mint_args)
        self.nursery.start_soon(session.serve)
        await trio.testing.wait_all_tasks_blocked()
        return session, wire(session)

    def count(self, family: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(family, labels)
        return value or 0.0


def wire(session: Session) -> FakeTransport:
    """The fake under `session` (typed as one)."""
    assert isinstance(session.transport, FakeTransport)
    return session.transport


def wall_clock_on_trio_time() -> Callable[[], float]:
    """A wall clock that moves with trio's (a `MockClock` jump moves both)."""
    offset = time.time() - trio.current_time()
    return lambda: offset + trio.current_time()


@asynccontextmanager
async def open_world(
    tmp_path: Path, *, clock: Callable[[], float] = time.time, **overrides: Any
) -> AsyncIterator[World]:
    settings: Settings = test_settings(tmp_path / "data", **overrides)
    async with open_sqlite_store(tmp_path / "data") as store, trio.open_nursery() as nursery:
        metrics = Metrics()
        broker = MemoryBroker()
        hub = Hub(store, broker, metrics)
        presence, limits = MemoryPresence(), MemoryLimiter()
        service = ChatService(settings, store, broker, presence, limits, metrics)
        sessions = Sessions(settings, metrics)
        deps = SessionDeps(
            settings, make_verifier(settings), service, hub, sessions, metrics, clock
        )
        general = await ensure_default_channel(store)
        await nursery.start(hub.run)
        nursery.start_soon(sessions.keepalive.run)
        yield World(deps, store, general, nursery)
        nursery.cancel_scope.cancel()
