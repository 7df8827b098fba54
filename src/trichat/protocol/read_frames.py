"""Read state on the wire (SPEC §7): the client's `read`, and the two `read` frames
the server sends — the full one on the user's own personal stream, the receipt
the other members of the channel get."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from trichat.errors import BAD_REQUEST, ClientError
from trichat.models import ReadMark
from trichat.protocol.values import MAX_SEQ, is_seq


@dataclass(frozen=True, slots=True)
class Read:
    """Move the sender's marker in `channel_id` up to `seq`."""

    channel_id: str
    seq: int


def parse_read(obj: dict[str, Any], channel_id: str) -> Read:
    seq = obj.get("seq")
    if seq is None:
        raise ClientError(BAD_REQUEST, "missing field 'seq'", channel_id=channel_id)
    if not is_seq(seq):
        message = f"field 'seq' must be an integer in 0..{MAX_SEQ}"
        raise ClientError(BAD_REQUEST, message, channel_id=channel_id)
    return Read(channel_id, seq)


def encode_read(mark: ReadMark) -> bytes:
    """To every connection of the marker's user: where it is, and what is left."""
    return orjson.dumps(
        {
            "type": "read",
            "channel_id": mark.channel_id,
            "user_id": mark.user_id,
            "seq": mark.seq,
            "unread": mark.unread,
            "mentions": mark.mentions,
        }
    )


def encode_receipt(mark: ReadMark) -> bytes:
    """To the channel's other members: who has read up to where."""
    return orjson.dumps(
        {"type": "read", "channel_id": mark.channel_id, "user_id": mark.user_id, "seq": mark.seq}
    )
