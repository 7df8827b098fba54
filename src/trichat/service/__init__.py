"""The chat operations both doors use: the WebSocket reader and the REST routes call
these, so a rule (who may join, the rate limit, dedupe, ack semantics) lives in one
place. One module per resource; `ChatService` is all of them in one object."""

from __future__ import annotations

from trichat.service.core import new_message_id
from trichat.service.log import LogOps
from trichat.service.presence import PresenceOps
from trichat.service.reads import ReadOps

__all__ = ["ChatService", "new_message_id"]


class ChatService(LogOps, ReadOps, PresenceOps):
    """Channels (`channels.ChannelOps`), messages (`messages.MessageOps`) and the
    log's changes (`log.LogOps`, over both), read state (`reads.ReadOps`), and
    presence."""
