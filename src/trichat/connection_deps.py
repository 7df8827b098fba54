"""What every WebSocket session of an instance shares, in one bundle the front
door builds once: a `Session` and its parts take this instead of eight arguments."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import trio

from trichat.auth import Verifier
from trichat.config import Settings
from trichat.hub import Hub
from trichat.metrics import Metrics
from trichat.service import ChatService
from trichat.sessions import Sessions

# joins checked and started at once, the rest waiting their turn: a storm of them
# (every client of a restarted instance) would otherwise queue in the store's pool,
# past its deadlines, and fail (docs/performance.md, "Join storms")
JOINS = 32


@dataclass(frozen=True, slots=True)
class SessionDeps:
    settings: Settings
    verifier: Verifier
    service: ChatService
    hub: Hub
    sessions: Sessions
    metrics: Metrics
    # the wall clock, for a token's `exp` (epoch seconds; trio's clock is not one):
    # injected so a test can expire a token without waiting for it
    clock: Callable[[], float] = time.time
    join_slots: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(JOINS))
