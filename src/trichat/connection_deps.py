"""What every WebSocket session of an instance shares, in one bundle the front
door builds once: a `Session` and its parts take this instead of eight arguments."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from trichat.auth import Verifier
from trichat.config import Settings
from trichat.hub import Hub
from trichat.metrics import Metrics
from trichat.service import ChatService
from trichat.sessions import Sessions


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
