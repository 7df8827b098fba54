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
RECEIPT = "receipt"  # a member's read marker moved: the others see it
PERSONAL = "personal"  # for one user's connections, wherever they are (SPEC §8)


@dataclass(slots=True)  # not frozen: one per message (see models.Message)
class Event:
    """Something every member of a channel should see (or, for `kick`, lose); or,
    for `personal`, something every connection of the user `user_id` should see,
    joined to any channel or not (`channel_id` is then empty)."""

    kind: str
    channel_id: str
    seq: int = 0
    payload: bytes = b""  # the encoded server frame to deliver, built once
    # typing, receipt: whose (not echoed to them); kick: who is removed; personal:
    # whose connections get it
    user_id: str = ""
    stamp: int = 0  # message: when the store acked it (epoch ms), for the latency metric
    reason: str = ""  # kick: why the user is removed (the `left` frame's reason)
