"""What happens in a channel, as the broker carries it between instances and the
channel state (`protocol.channel`) consumes it: a kind, the channel, and for a
message its seq and the encoded frame."""

from __future__ import annotations

from dataclasses import dataclass

MESSAGE = "message"
TYPING = "typing"
PRESENCE = "presence"
KICK = "kick"
CLOSED = "closed"
RESYNC = "resync"  # local only: re-read the store's last seq


@dataclass(frozen=True, slots=True)
class Event:
    """Something every member of a channel should see (or, for `kick`, lose)."""

    kind: str
    channel_id: str
    seq: int = 0
    payload: bytes = b""  # the encoded server frame to deliver, built once
    user_id: str = ""  # typing: whose (not echoed to them); kick: who is removed
    stamp: int = 0  # message: when the store acked it (epoch ms), for the latency metric
    reason: str = ""  # kick: why the user is removed (the `left` frame's reason)
