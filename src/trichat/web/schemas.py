"""The REST API's models (validation and OpenAPI in one)."""

from __future__ import annotations

from trichat.models import CHANNEL_TYPES, SYSTEM, USER
from trichat.protocol.frames import MAX_MESSAGE_ID
from trichat.protocol.values import MAX_SEQ
from trichat.web.schema import Field, Model

MAX_NAME = 100
MAX_DESCRIPTION = 1000
MAX_PARTICIPANTS = 1_000_000
MAX_BAN_SECONDS = 10 * 365 * 24 * 3600

ErrorBody = Model(
    "ErrorBody", [Field("code", str, required=True), Field("message", str, required=True)]
)
Error = Model("Error", [Field("error", ErrorBody, required=True)])

ChannelCreate = Model(
    "ChannelCreate",
    [
        Field("name", str, required=True, minimum=1, maximum=MAX_NAME),
        Field("description", str, maximum=MAX_DESCRIPTION),
        Field("channel_type", str, enum=CHANNEL_TYPES),
        Field("max_participants", int, nullable=True, minimum=1, maximum=MAX_PARTICIPANTS),
    ],
)
ChannelPatch = Model(
    "ChannelPatch",
    [
        Field("name", str, minimum=1, maximum=MAX_NAME),
        Field("description", str, maximum=MAX_DESCRIPTION),
        Field("is_active", bool),
        Field("max_participants", int, nullable=True, minimum=1, maximum=MAX_PARTICIPANTS),
        Field("read_receipts", bool, description="members see each other's read markers"),
    ],
)
Channel = Model(
    "Channel",
    [
        Field("id", str, required=True, fmt="uuid"),
        Field("name", str, required=True),
        Field("description", str, required=True),
        Field("channel_type", str, required=True, enum=CHANNEL_TYPES),
        Field("max_participants", int, required=True, nullable=True),
        Field("is_active", bool, required=True),
        Field("created_by", str, required=True),
        Field("created_at", str, required=True, fmt="date-time"),
        Field("updated_at", str, required=True, fmt="date-time"),
        Field("last_seq", int, required=True),
        Field("members_online", int, required=True),
        Field("read_receipts", bool, required=True),
        Field("read_seq", int, required=True, nullable=True, description="your read marker"),
        Field("unread", int, required=True, description="messages above it, not yours"),
        Field("mentions", int, required=True, description="of those, the ones mentioning you"),
    ],
)
ChannelList = Model(
    "ChannelList",
    [
        Field("channels", ("array", Channel), required=True),
        Field("total", int, required=True),
        Field("limit", int, required=True),
        Field("offset", int, required=True),
    ],
)
ListChannelsQuery = Model(
    "ListChannelsQuery",
    [
        Field("limit", int, minimum=1, maximum=100),
        Field("offset", int, minimum=0, maximum=10**9),
        Field("type", str, enum=CHANNEL_TYPES),
    ],
)

Reaction = Model(
    "Reaction",
    [
        Field("emoji", str, required=True),
        Field("count", int, required=True),
        Field("me", bool, required=True, description="the caller holds it"),
    ],
)
_MESSAGE_FIELDS = [
    Field("channel_id", str, required=True, fmt="uuid"),
    Field("seq", int, required=True),
    Field("message_id", str, required=True),
    Field("user_id", str, required=True),
    Field("username", str, required=True),
    Field("display_name", str, required=True, nullable=True),
    Field("avatar_url", str, required=True, nullable=True),
    Field("content", str, required=True),
    Field("timestamp", str, required=True, fmt="date-time"),
    Field("kind", str, required=True, enum=(USER, SYSTEM)),
    Field("parent_seq", int, required=True, nullable=True, description="a reply's root"),
    Field("edited_at", str, required=True, nullable=True, fmt="date-time"),
    Field("deleted", bool, required=True),
    Field("reply_count", int, required=True, description="replies not deleted"),
    Field("last_reply_at", str, required=True, nullable=True, fmt="date-time"),
]
Message = Model(
    "Message", [*_MESSAGE_FIELDS, Field("reactions", ("array", Reaction), required=True)]
)
MessageList = Model(
    "MessageList",
    [
        Field("messages", ("array", Message), required=True),
        Field(
            "next_cursor",
            int,
            required=True,
            nullable=True,
            description="pass as `before` (or `after`, when paging forward) for the next page",
        ),
    ],
)
MessagesQuery = Model(
    "MessagesQuery",
    [
        Field("limit", int, minimum=1, maximum=100),
        Field("before", int, minimum=0, maximum=MAX_SEQ),
        Field("after", int, minimum=0, maximum=MAX_SEQ),
        Field("top_level", bool, description="leave replies out"),
        Field("thread", int, minimum=1, maximum=MAX_SEQ, description="a root and its replies"),
    ],
)
MessagePost = Model(
    "MessagePost",
    [
        Field("content", str, required=True, minimum=1),
        Field("message_id", str, minimum=1, maximum=MAX_MESSAGE_ID),
        Field("kind", str, enum=(USER, SYSTEM)),
        Field("parent_seq", int, minimum=1, maximum=MAX_SEQ, description="reply in a thread"),
    ],
)
MessagePosted = Model(
    "MessagePosted",
    [
        Field("channel_id", str, required=True, fmt="uuid"),
        Field("message_id", str, required=True),
        Field("seq", int, required=True),
        Field("timestamp", str, required=True, fmt="date-time"),
    ],
)

PresenceUser = Model(
    "PresenceUser",
    [
        Field("user_id", str, required=True),
        Field("username", str, required=True),
        Field("status", str, required=True, enum=("online", "offline")),
        Field("last_seen", str, required=True, fmt="date-time"),
    ],
)
Presence = Model("Presence", [Field("users", ("array", PresenceUser), required=True)])
PresenceQuery = Model(
    "PresenceQuery",
    [Field("include", str, enum=("offline",))],
    description="include=offline adds the 100 users most recently seen, status offline",
)

BanCreate = Model(
    "BanCreate",
    [
        Field("reason", str, maximum=500),
        Field(
            "duration_seconds",
            int,
            nullable=True,
            minimum=1,
            maximum=MAX_BAN_SECONDS,
            description="omit or null: until lifted",
        ),
    ],
)
BanOut = Model(
    "Ban",
    [
        Field("channel_id", str, required=True, fmt="uuid"),
        Field("user_id", str, required=True),
        Field("reason", str, required=True),
        Field("banned_by", str, required=True),
        Field("created_at", str, required=True, fmt="date-time"),
        Field("expires_at", str, required=True, nullable=True, fmt="date-time"),
    ],
)
Membership = Model(
    "Membership",
    [
        Field("channel_id", str, required=True, fmt="uuid"),
        Field("user_id", str, required=True),
        Field("member", bool, required=True),
    ],
)
ModerationEntry = Model(
    "ModerationEntry",
    [
        Field("actor", str, required=True),
        Field("action", str, required=True),
        Field("target", str, required=True),
        Field("detail", str, required=True),
        Field("created_at", str, required=True, fmt="date-time"),
    ],
)
ModerationLog = Model(
    "ModerationLog", [Field("entries", ("array", ModerationEntry), required=True)]
)

Health = Model(
    "Health",
    [
        Field("status", str, required=True, enum=("ok", "degraded")),
        Field("connections", int, required=True, description="WebSocket connections"),
        Field("http_connections", int, required=True, description="HTTP connections open"),
        Field("channels", int, required=True),
        Field("broker", str, required=True, enum=("ok", "down")),
        Field("store", str, required=True, enum=("ok", "down")),
        Field("instance", str, required=True),
    ],
)
ChannelStats = Model(
    "ChannelStats",
    [
        Field("channel_id", str, required=True, fmt="uuid"),
        Field("connections", int, required=True, description="members on this instance"),
        Field("users_online", int, required=True, description="distinct users, whole cluster"),
    ],
)
Stats = Model(
    "Stats",
    [
        Field("instance", str, required=True),
        Field("connections", int, required=True),
        Field("channels_active", int, required=True),
        Field("channels", ("array", ChannelStats), required=True),
        Field(
            "cluster",
            Model(
                "ClusterStats",
                [
                    Field("users_online", int, required=True),
                    Field("channels_with_users", int, required=True),
                ],
            ),
            required=True,
        ),
    ],
)

DevTokenRequest = Model(
    "DevTokenRequest", [Field("user", str, required=True, minimum=1, maximum=64)]
)
DevToken = Model("DevToken", [Field("token", str, required=True)])

ALL = [
    ErrorBody,
    Reaction,
    Error,
    ChannelCreate,
    ChannelPatch,
    Channel,
    ChannelList,
    ListChannelsQuery,
    Message,
    MessageList,
    MessagesQuery,
    MessagePost,
    MessagePosted,
    PresenceUser,
    Presence,
    PresenceQuery,
    BanCreate,
    BanOut,
    Membership,
    ModerationEntry,
    ModerationLog,
    Health,
    ChannelStats,
    Stats,
    Stats.fields[4].type,
]
