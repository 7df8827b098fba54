"""The REST models of read state (SPEC §7): moving a marker, a channel's receipts,
the caller's unread summary."""

from __future__ import annotations

from trichat.protocol.values import MAX_SEQ
from trichat.web.schema import Field, Model

ReadMove = Model(
    "ReadMove",
    [
        Field(
            "seq",
            int,
            required=True,
            minimum=0,
            maximum=MAX_SEQ,
            description="the highest seq read; past the channel's last is taken as the last",
        )
    ],
)
ReadState = Model(
    "ReadState",
    [
        Field("read_seq", int, required=True, description="your marker, after the move"),
        Field(
            "unread", int, required=True, description="messages above it, not yours, not deleted"
        ),
    ],
)
Receipt = Model(
    "Receipt",
    [
        Field("user_id", str, required=True),
        Field("seq", int, required=True),
        Field("read_at", str, required=True, fmt="date-time"),
    ],
)
Receipts = Model("Receipts", [Field("reads", ("array", Receipt), required=True)])
UnreadChannel = Model(
    "UnreadChannel",
    [
        Field("channel_id", str, required=True, fmt="uuid"),
        Field("unread", int, required=True),
        Field("mentions", int, required=True, description="of those, the ones mentioning you"),
        Field("read_seq", int, required=True),
        Field("last_seq", int, required=True),
    ],
)
Unread = Model(
    "Unread",
    [
        Field("channels", ("array", UnreadChannel), required=True),
        Field("total", int, required=True, description="the sum of their unread"),
    ],
)

ALL = [ReadMove, ReadState, Receipt, Receipts, UnreadChannel, Unread]
