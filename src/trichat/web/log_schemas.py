"""The REST models of the channel log (SPEC §6): changes, reactions, the raw log."""

from __future__ import annotations

from trichat.protocol.frames import MAX_MESSAGE_ID
from trichat.protocol.values import MAX_SEQ
from trichat.web.schema import Field, Model
from trichat.web.schemas import _MESSAGE_FIELDS

MessageEdit = Model(
    "MessageEdit",
    [
        Field("content", str, required=True, minimum=1),
        Field("message_id", str, minimum=1, maximum=MAX_MESSAGE_ID),
    ],
)
Edited = Model(
    "Edited",
    [
        Field("seq", int, required=True, description="the edit's own seq"),
        Field("timestamp", str, required=True, fmt="date-time"),
    ],
)
Deleted = Model("Deleted", [Field("seq", int, required=True, description="the deletion's seq")])
ReactionChanged = Model(
    "ReactionChanged",
    [
        Field(
            "seq",
            int,
            required=True,
            nullable=True,
            description="null: nothing changed (already held, or not held)",
        )
    ],
)
ReactionHolders = Model(
    "ReactionHolders",
    [
        Field("emoji", str, required=True),
        Field("count", int, required=True),
        Field("user_ids", ("array", str), required=True, description="the first 100"),
    ],
)
ReactionList = Model(
    "ReactionList", [Field("reactions", ("array", ReactionHolders), required=True)]
)
LogReaction = Model(
    "LogReaction", [Field("emoji", str, required=True), Field("count", int, required=True)]
)
_KINDS = ("message", "message_edited", "message_deleted", "reaction_added", "reaction_removed")
LogEntry = Model(
    "LogEntry",
    [
        Field("type", str, required=True, enum=_KINDS),
        *[
            Field(f.name, f.type, nullable=f.nullable, fmt=f.fmt, enum=f.enum)
            for f in _MESSAGE_FIELDS
        ],
        Field("reactions", ("array", LogReaction)),
        Field("target_seq", int),
        Field("emoji", str),
        Field("count", int),
    ],
    description="one event of the log, as its WebSocket frame (a message in current state)",
)
LogPage = Model(
    "LogPage",
    [
        Field("events", ("array", LogEntry), required=True),
        Field("next_cursor", int, required=True, nullable=True, description="pass as `after`"),
    ],
)
EventsQuery = Model(
    "EventsQuery",
    [
        Field("after", int, required=True, minimum=0, maximum=MAX_SEQ),
        Field("limit", int, minimum=1, maximum=1000),
    ],
)

ALL = [
    MessageEdit,
    Edited,
    Deleted,
    ReactionChanged,
    ReactionHolders,
    ReactionList,
    LogReaction,
    LogEntry,
    LogPage,
    EventsQuery,
]
