"""What the web layer is given by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from trichat.auth import Verifier
from trichat.config import Settings
from trichat.hub import Hub
from trichat.metrics import Metrics
from trichat.service import ChatService
from trichat.sessions import Sessions


@dataclass
class Deps:
    settings: Settings
    verifier: Verifier
    service: ChatService
    hub: Hub
    sessions: Sessions
    metrics: Metrics
